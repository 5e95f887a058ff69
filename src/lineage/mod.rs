//! The lineage index: one document per minted credential (`_id` = its access key), written from
//! the minting events of each delivered batch, after delivery and before the batch's events are
//! acknowledged, so that a checkpoint never passes a minting event whose lineage is not written.
//! A replay writes nothing twice (`create`: an existing id answers 409).
//!
//! Readers follow `parent` by id (`_mget`, one request per level, see [`root`]): exact and cheap
//! beside the search of the events' `flat_object` copy that finds a minting event without it.

pub mod root;
pub mod store;

use crate::sink::bulk::BulkItem;
use crate::sink::opensearch::{Client, ConnectError};

/// How deep a chain of minted credentials is followed to its root (role chaining beyond a few
/// hops is rare; a loop is cut by it anyway).
pub const MAX_DEPTH: usize = 6;

#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("OpenSearch refused {what} (HTTP {status}): {body}")]
    Refused {
        what: &'static str,
        status: u16,
        body: String,
    },
    /// A deployment mistake with a known fix, told as such (exit code 3, as other refused
    /// permissions).
    #[error(
        "OpenSearch refused {what} (HTTP {status}): the user lacks a permission the lineage \
         index needs. Give it the trailscope_writer role of deploy/opensearch-roles (`trailscope \
         setup --print-roles`), which covers it, or run with --no-lineage. OpenSearch said: {body}"
    )]
    Forbidden {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("OpenSearch answered {what} without {missing}")]
    Unreadable {
        what: &'static str,
        missing: &'static str,
    },
    #[error("cannot encode a lineage document: {0}")]
    Encode(serde_json::Error),
}

impl LineageError {
    /// OpenSearch's refusal of `what`: a missing permission (401/403) is told apart.
    pub fn refused(what: &'static str, status: u16, body: &serde_json::Value) -> Self {
        let body = crate::sink::opensearch::truncate(&body.to_string(), 500);
        if status == 401 || status == 403 {
            LineageError::Forbidden { what, status, body }
        } else {
            LineageError::Refused { what, status, body }
        }
    }
}

/// Writes the lineage documents of delivered batches.
pub struct Recorder {
    client: Client,
    index: String,
}

impl Recorder {
    /// Creates the lineage index when missing (a refusal stops the start: exit code 3 when it
    /// is a permission).
    pub async fn start(client: Client, index: String) -> Result<Recorder, LineageError> {
        store::ensure_index(&client, &index).await?;
        Ok(Recorder { client, index })
    }

    pub fn index(&self) -> &str {
        &self.index
    }

    /// Writes the credentials the delivered `items` minted: one `_bulk` when some did, no
    /// request otherwise. Returns how many documents were new.
    pub async fn record(&self, items: &[BulkItem]) -> Result<usize, LineageError> {
        let minted: Vec<_> = items.iter().filter_map(|i| i.minted.as_deref()).collect();
        if minted.is_empty() {
            return Ok(0);
        }
        let created = store::create(&self.client, &self.index, &minted).await?;
        let new = created.iter().filter(|c| **c).count();
        tracing::debug!(
            minted = minted.len(),
            new,
            index = %self.index,
            "lineage: minted credentials written"
        );
        Ok(new)
    }
}

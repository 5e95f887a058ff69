//! The checkpoint kept in an OpenSearch index (`--checkpoint-index`, by default
//! `.trailscope-state`) instead of a local file: for containers without a persistent volume, and
//! for several instances sharing the work.
//!
//! One document per (job, log group), read with a real-time GET (a search could miss a save made
//! less than a refresh interval ago, right before a crash) and written with optimistic
//! concurrency (`if_seq_no`/`if_primary_term`). When another instance saved the same group in
//! between, the two states are merged — the later watermark, the union of the delivered ids —
//! and written again. Merging is safe because a watermark only ever claims that everything
//! before it is in OpenSearch, whoever delivered it; and documents have idempotent ids, so two
//! instances reading the same group cost work, never duplicates.

use super::state::{CheckpointError, GroupState};
use crate::sink::opensearch::{truncate, Client};
use backon::{BackoffBuilder, ExponentialBuilder};
use opensearch::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub const DEFAULT_INDEX: &str = ".trailscope-state";

/// How long a request is retried while OpenSearch cannot answer it.
const RETRY_FOR: Duration = Duration::from_secs(60);

/// How often a save retries after losing a race with another instance.
const MAX_CONFLICTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Version {
    seq_no: i64,
    primary_term: i64,
}

/// The stored document: written from a borrowed state (`S = &GroupState`), read into an owned
/// one.
#[derive(Serialize, Deserialize)]
struct StateDoc<S> {
    job: String,
    log_group: String,
    #[serde(flatten)]
    state: S,
    updated: String,
}

pub struct CheckpointIndex {
    client: Client,
    index: String,
    job: String,
    /// The version of each group's document as last read or written by this process.
    versions: Mutex<HashMap<String, Version>>,
}

impl CheckpointIndex {
    /// Connects to the index, creating it when missing (hidden, one shard, the delivered ids
    /// stored but not indexed: they are only ever read back whole).
    pub async fn open(client: Client, index: &str, job: &str) -> Result<Self, CheckpointError> {
        let store = CheckpointIndex {
            client,
            index: index.to_owned(),
            job: job.to_owned(),
            versions: Mutex::new(HashMap::new()),
        };
        let body = json!({
            "settings": {
                "index": {"number_of_shards": 1, "auto_expand_replicas": "0-1", "hidden": true}
            },
            "mappings": {
                "dynamic": false,
                "properties": {
                    "job": {"type": "keyword"},
                    "log_group": {"type": "keyword"},
                    "watermark": {"type": "date", "format": "epoch_millis"},
                    "max_ingestion_delay": {"type": "long"},
                    "max_ingestion_delay_at": {"type": "long"},
                    "seen": {"type": "object", "enabled": false},
                    "updated": {"type": "date"}
                }
            }
        });
        let (status, reply) = store
            .request(
                Method::Put,
                &format!("/{}", store.index),
                Some(body),
                "create",
            )
            .await?;
        let exists = reply["error"]["type"] == "resource_already_exists_exception";
        if status != 200 && !exists {
            return Err(store.error("create", status, &reply));
        }
        Ok(store)
    }

    pub fn describe(&self) -> String {
        format!(
            "OpenSearch index {} at {} (job {})",
            self.index, self.client.url, self.job
        )
    }

    pub fn index(&self) -> &str {
        &self.index
    }

    /// A group's saved state (None: never saved), read in real time.
    pub async fn load_group(&self, group: &str) -> Result<Option<GroupState>, CheckpointError> {
        let Some((state, version)) = self.fetch(group).await? else {
            return Ok(None);
        };
        self.versions
            .lock()
            .unwrap()
            .insert(group.to_owned(), version);
        Ok(Some(state))
    }

    /// Saves a group's state; returns what was stored, which is `state` merged with another
    /// instance's save when one came in between.
    pub async fn save_group(
        &self,
        group: &str,
        state: &GroupState,
    ) -> Result<GroupState, CheckpointError> {
        // Copied only when another writer's progress has to be merged in.
        let mut state = std::borrow::Cow::Borrowed(state);
        for _ in 0..MAX_CONFLICTS {
            let version = self.versions.lock().unwrap().get(group).copied();
            let path = format!("/{}/_doc/{}", self.index, self.doc_id(group));
            let query = match version {
                Some(v) => format!("?if_seq_no={}&if_primary_term={}", v.seq_no, v.primary_term),
                // Never saved by this process: create it, or learn that someone else did.
                None => "?op_type=create".to_owned(),
            };
            let doc = StateDoc {
                job: self.job.clone(),
                log_group: group.to_owned(),
                state: &state,
                updated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            };
            let body = serde_json::to_value(&doc).expect("checkpoint state always serializes");
            let (status, reply) = self
                .request(Method::Put, &format!("{path}{query}"), Some(body), "save")
                .await?;
            match status {
                200 | 201 => {
                    let version =
                        version_of(&reply).ok_or_else(|| self.error("save", status, &reply))?;
                    self.versions
                        .lock()
                        .unwrap()
                        .insert(group.to_owned(), version);
                    return Ok(state.into_owned());
                }
                409 => {
                    // Someone else saved this group: take their progress in, then try again.
                    if let Some((theirs, version)) = self.fetch(group).await? {
                        tracing::info!(
                            log_group = group,
                            index = %self.index,
                            "another instance saved this log group's checkpoint; merging"
                        );
                        state.to_mut().merge(&theirs);
                        self.versions
                            .lock()
                            .unwrap()
                            .insert(group.to_owned(), version);
                    } else {
                        self.versions.lock().unwrap().remove(group);
                    }
                }
                _ => return Err(self.error("save", status, &reply)),
            }
        }
        Err(CheckpointError::Index {
            action: "save",
            index: self.index.clone(),
            message: format!(
                "log group {group}: still in conflict with other writers after {MAX_CONFLICTS} \
                 attempts"
            ),
        })
    }

    /// Whether the index answers (for /readyz).
    pub async fn check(&self) -> Result<(), CheckpointError> {
        let (status, reply) = self
            .request(
                Method::Get,
                &format!("/{}/_count", self.index),
                None,
                "read",
            )
            .await?;
        if status == 200 {
            Ok(())
        } else {
            Err(self.error("read", status, &reply))
        }
    }

    async fn fetch(&self, group: &str) -> Result<Option<(GroupState, Version)>, CheckpointError> {
        let path = format!("/{}/_doc/{}", self.index, self.doc_id(group));
        let (status, mut reply) = self.request(Method::Get, &path, None, "read").await?;
        match status {
            200 => {
                let version =
                    version_of(&reply).ok_or_else(|| self.error("read", status, &reply))?;
                let doc: StateDoc<GroupState> = serde_json::from_value(reply["_source"].take())
                    .map_err(|e| CheckpointError::Index {
                        action: "read",
                        index: self.index.clone(),
                        message: format!("log group {group}: not a trailscope checkpoint: {e}"),
                    })?;
                Ok(Some((doc.state, version)))
            }
            404 => Ok(None),
            _ => Err(self.error("read", status, &reply)),
        }
    }

    /// One id per job and group; hashed because a log group name may be 512 characters of
    /// `/`, `#` and `.` that would need escaping in a URL path.
    fn doc_id(&self, group: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.job.as_bytes());
        h.update([0]);
        h.update(group.as_bytes());
        hex::encode(h.finalize())
    }

    /// One request, retried for a while when OpenSearch is briefly unable to answer (a shard
    /// not allocated yet right after the index was created, a node restarting, 429): a hiccup
    /// must not stop the job, and nothing is lost by waiting.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        action: &'static str,
    ) -> Result<(u16, serde_json::Value), CheckpointError> {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .with_total_delay(Some(RETRY_FOR))
            .without_max_times()
            .build();
        loop {
            let outcome = self
                .client
                .json(method, path, &[], body.as_ref())
                .await
                .map_err(|e| CheckpointError::Index {
                    action,
                    index: self.index.clone(),
                    message: e.to_string(),
                });
            let transient = match &outcome {
                Ok((status, _)) => matches!(status, 429 | 502 | 503 | 504),
                Err(_) => true,
            };
            match delays.next() {
                Some(delay) if transient => {
                    tracing::debug!(path, ?delay, "checkpoint index not ready, retrying");
                    tokio::time::sleep(delay).await;
                }
                _ => return outcome,
            }
        }
    }

    fn error(
        &self,
        action: &'static str,
        status: u16,
        reply: &serde_json::Value,
    ) -> CheckpointError {
        let reason = reply["error"]["reason"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| truncate(&reply.to_string(), 300));
        CheckpointError::Index {
            action,
            index: self.index.clone(),
            message: format!("HTTP {status}: {reason}"),
        }
    }
}

fn version_of(reply: &serde_json::Value) -> Option<Version> {
    Some(Version {
        seq_no: reply["_seq_no"].as_i64()?,
        primary_term: reply["_primary_term"].as_i64()?,
    })
}

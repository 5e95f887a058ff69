//! The findings index: its mapping, and writing findings with `create` so that each is written
//! once whatever replays (an existing id answers 409: already there, which is fine).

use super::finding::Finding;
use super::FindingsError;
use crate::sink::opensearch::{truncate, Client, CreateError};
use serde_json::Value;

/// The index's settings and mapping as `PUT /<index>` takes them: `mappings/findings-index.json`,
/// which `dashboards/generate.py` reads too (the findings index pattern's fields), so the two
/// cannot drift apart.
pub const INDEX: &str = include_str!("../../mappings/findings-index.json");

/// The mapping of `trailscope-findings` (`dynamic: false`: only these fields are searchable).
pub fn mapping() -> Value {
    // A unit test parses the file, so this cannot fail in a build that passed its tests.
    serde_json::from_str(INDEX).expect("mappings/findings-index.json is JSON")
}

/// Creates the index with its mapping unless it exists.
pub async fn ensure_index(client: &Client, index: &str) -> Result<(), FindingsError> {
    match client.ensure_index(index, &mapping()).await? {
        None => Ok(()),
        Some((status, body)) => Err(FindingsError::refused(
            "creating the findings index",
            status,
            truncate(&body.to_string(), 500),
        )),
    }
}

/// Writes `findings` with `create`; returns, for each, whether this call created it (false: it
/// was there already).
pub async fn create(
    client: &Client,
    index: &str,
    findings: &[Finding],
) -> Result<Vec<bool>, FindingsError> {
    let ids: Vec<String> = findings.iter().map(Finding::id).collect();
    let docs = ids
        .iter()
        .zip(findings)
        .map(|(id, f)| Ok((id.as_str(), serde_json::to_string(f)?)))
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(FindingsError::Encode)?;
    let text = |v: &Value| truncate(&v.to_string(), 500);
    client.create_each(index, &docs).await.map_err(|e| match e {
        CreateError::Connect(e) => e.into(),
        CreateError::Request { status, answer } => {
            FindingsError::refused("writing findings", status, text(&answer))
        }
        CreateError::Unreadable => FindingsError::Unreadable {
            what: "writing findings",
            missing: "one item per finding",
        },
        CreateError::Item { status, error } => {
            FindingsError::refused("writing a finding", status, text(&error))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_file_is_json_with_every_field_a_finding_writes() {
        let mapping = mapping();
        let properties = mapping["mappings"]["properties"].as_object().unwrap();
        for field in [
            "@timestamp",
            "detected_at",
            "identity",
            "identity_type",
            "lineage_root",
            "lineage_root_known",
            "access_key",
            "kind",
            "value",
            "first_event_id",
            "severity",
            "reason",
        ] {
            assert!(properties.contains_key(field), "{field} is not mapped");
        }
        assert_eq!(mapping["mappings"]["dynamic"], "false");
    }
}

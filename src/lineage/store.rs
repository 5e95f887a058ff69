//! The lineage index: its mapping, writing documents with `create`, reading them by id.

use super::LineageError;
use crate::event::minting::Minted;
use crate::sink::opensearch::{Client, CreateError};
use opensearch::http::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The index's settings and mapping as `PUT /<index>` takes them.
pub const INDEX: &str = include_str!("../../mappings/lineage-index.json");

/// The default name (`--lineage-index`): one index whatever the events' prefix, as the findings
/// index; an access key id is unique across AWS, so prefixes cannot collide in it.
pub const DEFAULT_INDEX: &str = "trailscope-lineage";

/// The mapping of the lineage index (`dynamic: false`: only these fields are searchable).
pub fn mapping() -> Value {
    // A unit test parses the file, so this cannot fail in a build that passed its tests.
    serde_json::from_str(INDEX).expect("mappings/lineage-index.json is JSON")
}

/// Creates the index with its mapping unless it exists.
pub async fn ensure_index(client: &Client, index: &str) -> Result<(), LineageError> {
    match client.ensure_index(index, &mapping()).await? {
        None => Ok(()),
        Some((status, body)) => Err(LineageError::refused(
            "creating the lineage index",
            status,
            &body,
        )),
    }
}

/// Writes `minted` with `create`, `_id` = the access key; returns, for each, whether this call
/// created it (false: it was there already, e.g. a replay).
pub async fn create(
    client: &Client,
    index: &str,
    minted: &[&Minted],
) -> Result<Vec<bool>, LineageError> {
    let docs = minted
        .iter()
        .map(|m| Ok((m.access_key.as_str(), serde_json::to_string(m)?)))
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(LineageError::Encode)?;
    client.create_each(index, &docs).await.map_err(|e| match e {
        CreateError::Connect(e) => e.into(),
        CreateError::Request { status, answer } => {
            LineageError::refused("writing lineage", status, &answer)
        }
        CreateError::Unreadable => LineageError::Unreadable {
            what: "writing lineage",
            missing: "one item per document",
        },
        CreateError::Item { status, error } => {
            LineageError::refused("writing a lineage document", status, &error)
        }
    })
}

/// Whether the lineage index exists (a run with it on has created it).
pub async fn exists(client: &Client, index: &str) -> Result<bool, LineageError> {
    let (status, answer) = client
        .json(Method::Head, &format!("/{index}"), &[], None)
        .await?;
    match status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(LineageError::refused("reading lineage", status, &answer)),
    }
}

/// The documents of `keys` that exist, by key: one `_mget` (real-time: a document written a
/// moment ago is read without waiting for a refresh). A missing index holds none (`audit` reads
/// the default index whether or not a run ever wrote it).
pub async fn get(
    client: &Client,
    index: &str,
    keys: &[&str],
) -> Result<HashMap<String, Minted>, LineageError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (status, answer) = client
        .json(
            Method::Post,
            &format!("/{index}/_mget"),
            &[],
            Some(&json!({"ids": keys})),
        )
        .await?;
    if status == 404 && answer["error"]["type"] == "index_not_found_exception" {
        return Ok(HashMap::new());
    }
    if status != 200 {
        return Err(LineageError::refused("reading lineage", status, &answer));
    }
    let docs = answer["docs"].as_array().ok_or(LineageError::Unreadable {
        what: "reading lineage",
        missing: "docs",
    })?;
    let mut found = HashMap::with_capacity(docs.len());
    for doc in docs {
        // A missing index answers 200 with this error in each document (measured on 2.19.1).
        if doc["error"]["type"] == "index_not_found_exception" {
            continue;
        }
        if !doc["error"].is_null() {
            // A refused document carries no status, only the error's type.
            let status = match doc["status"].as_u64() {
                Some(status) => status as u16,
                None if doc["error"]["type"] == "security_exception" => 403,
                None => 0,
            };
            return Err(LineageError::refused(
                "reading a lineage document",
                status,
                &doc["error"],
            ));
        }
        if doc["found"] != true {
            continue;
        }
        // A document that is not one of ours (written by hand) is as good as none: the
        // readers fall back to the events' search.
        if let Ok(m) = serde_json::from_value::<Minted>(doc["_source"].clone()) {
            found.insert(m.access_key.clone(), m);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_file_is_json_with_every_field_a_document_has() {
        let mapping = mapping();
        let properties = mapping["mappings"]["properties"].as_object().unwrap();
        let doc = Minted {
            access_key: "ASIA1".into(),
            parent: Some("AKIA1".into()),
            parent_type: Some("IAMUser".into()),
            parent_arn: Some("arn:aws:iam::1:user/u".into()),
            minted_by: "GetSessionToken".into(),
            minted_at: chrono::DateTime::UNIX_EPOCH,
            minting_event: Some("e".into()),
            session_arn: Some("s".into()),
            account: Some("1".into()),
            source_identity: Some("alice".into()),
            expiration: Some("x".into()),
            expires_at: Some(chrono::DateTime::UNIX_EPOCH),
        };
        let doc = serde_json::to_value(&doc).unwrap();
        for field in doc.as_object().unwrap().keys() {
            assert!(properties.contains_key(field), "{field} is not mapped");
        }
        assert_eq!(properties.len(), doc.as_object().unwrap().len());
        assert_eq!(mapping["mappings"]["dynamic"], "false");
    }
}

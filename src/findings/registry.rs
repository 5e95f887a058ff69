//! Registered policies: what an identity was granted, as one or more IAM policy documents kept
//! verbatim in a small index (`trailscope policy set`), one document per identity (`_id` = the
//! access key or principal ARN). The findings stage reads them to tell `not_granted` actions;
//! `audit` compares with them when no `--policy` is given.

use crate::audit::policy::{PolicyDocument, PolicyError, PolicySet};
use crate::sink::opensearch::{truncate, Client, ConnectError};
use chrono::{DateTime, Utc};
use opensearch::http::Method;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The index's settings and mapping as `PUT /<index>` takes them (`dynamic: false`; the
/// documents are kept in `_source` only, never indexed).
pub const INDEX: &str = include_str!("../../mappings/policies-index.json");
pub const DEFAULT_INDEX: &str = "trailscope-policies";
/// At most this many identities are read (one search, OpenSearch's default result window):
/// with a typical policy of a few KB, under ~50 MB of parsed statements whatever is registered.
pub const MAX_REGISTERED: usize = 10_000;

/// How the identity of a registration is written in CloudTrail events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holder {
    /// `userIdentity.accessKeyId`.
    AccessKey,
    /// `userIdentity.arn` or, for a role, `sessionContext.sessionIssuer.arn`.
    PrincipalArn,
}

impl Holder {
    pub fn label(self) -> &'static str {
        match self {
            Holder::AccessKey => "access key",
            Holder::PrincipalArn => "principal",
        }
    }
}

/// One policy document as it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDocument {
    /// The file name it was registered from (shown in findings and reports).
    pub name: String,
    /// The file's text, verbatim.
    pub text: String,
}

/// What is indexed for one identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub identity: String,
    pub identity_type: Holder,
    pub registered_at: DateTime<Utc>,
    pub registered_by: String,
    pub documents: Vec<StoredDocument>,
}

impl Registration {
    /// The documents parsed with audit's parser, named `registered:<file name>`.
    pub fn policy_set(&self) -> Result<PolicySet, PolicyError> {
        let documents = self
            .documents
            .iter()
            .map(|d| PolicyDocument::parse(&format!("registered:{}", d.name), &d.text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PolicySet::new(documents))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("OpenSearch refused {what} (HTTP {status}): {body}")]
    Refused {
        what: &'static str,
        status: u16,
        body: String,
    },
    /// A deployment mistake with a known fix (exit code 3, as other refused permissions).
    #[error(
        "OpenSearch refused {what} (HTTP {status}): the user lacks a permission on the registered \
         policies index. forward, ingest and lambda need to search it (role trailscope_writer), \
         `trailscope policy` needs to write it (role trailscope_admin): `trailscope setup \
         --print-roles` prints both. OpenSearch said: {body}"
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
}

impl RegistryError {
    fn refused(what: &'static str, status: u16, body: &Value) -> Self {
        let body = truncate(&body.to_string(), 500);
        if status == 401 || status == 403 {
            RegistryError::Forbidden { what, status, body }
        } else {
            RegistryError::Refused { what, status, body }
        }
    }
}

fn doc_path(index: &str, identity: &str) -> String {
    // ARNs hold `:` and `/`: the id is one path segment only once encoded.
    format!(
        "/{index}/_doc/{}",
        utf8_percent_encode(identity, NON_ALPHANUMERIC)
    )
}

/// Creates the index with its mapping unless it exists.
pub async fn ensure_index(client: &Client, index: &str) -> Result<(), RegistryError> {
    let mapping: Value = serde_json::from_str(INDEX).expect("mappings/policies-index.json is JSON");
    match client.ensure_index(index, &mapping).await? {
        None => Ok(()),
        Some((status, body)) => Err(RegistryError::refused(
            "creating the policies index",
            status,
            &body,
        )),
    }
}

/// Registers (or replaces) the policies of one identity; searchable when this returns.
pub async fn put(client: &Client, index: &str, r: &Registration) -> Result<(), RegistryError> {
    let body = serde_json::to_value(r).expect("a registration serializes");
    let (status, answer) = client
        .json(
            Method::Put,
            &doc_path(index, &r.identity),
            &[("refresh", "wait_for")],
            Some(&body),
        )
        .await?;
    if status == 200 || status == 201 {
        return Ok(());
    }
    Err(RegistryError::refused(
        "registering the policy",
        status,
        &answer,
    ))
}

/// The registration of `identity`, if any (none when the index does not exist).
pub async fn get(
    client: &Client,
    index: &str,
    identity: &str,
) -> Result<Option<Registration>, RegistryError> {
    let (status, answer) = client
        .json(Method::Get, &doc_path(index, identity), &[], None)
        .await?;
    match status {
        200 => Ok(Some(registration(&answer["_source"])?)),
        404 => Ok(None),
        _ => Err(RegistryError::refused(
            "reading a registered policy",
            status,
            &answer,
        )),
    }
}

/// Removes the registration of `identity`; false when there was none.
pub async fn remove(client: &Client, index: &str, identity: &str) -> Result<bool, RegistryError> {
    let (status, answer) = client
        .json(
            Method::Delete,
            &doc_path(index, identity),
            &[("refresh", "wait_for")],
            None,
        )
        .await?;
    match status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(RegistryError::refused(
            "removing a registered policy",
            status,
            &answer,
        )),
    }
}

fn registration(source: &Value) -> Result<Registration, RegistryError> {
    serde_json::from_value(source.clone()).map_err(|_| RegistryError::Unreadable {
        what: "a registered policy",
        missing: "identity, identity_type, registered_at, registered_by and documents",
    })
}

/// Every registration (at most [`MAX_REGISTERED`], by identity), and how many there are.
pub async fn list(client: &Client, index: &str) -> Result<(Vec<Registration>, u64), RegistryError> {
    let query = json!({"size": MAX_REGISTERED, "track_total_hits": true,
        "sort": [{"identity": "asc"}], "query": {"match_all": {}}});
    let (status, answer) = client
        .json(
            Method::Post,
            &format!("/{index}/_search"),
            &[("ignore_unavailable", "true"), ("allow_no_indices", "true")],
            Some(&query),
        )
        .await?;
    if status != 200 {
        return Err(RegistryError::refused(
            "searching the registered policies",
            status,
            &answer,
        ));
    }
    let hits = answer["hits"]["hits"]
        .as_array()
        .ok_or(RegistryError::Unreadable {
            what: "the registered policies search",
            missing: "hits",
        })?;
    let total = answer["hits"]["total"]["value"]
        .as_u64()
        .unwrap_or(hits.len() as u64);
    let registrations = hits
        .iter()
        .map(|h| registration(&h["_source"]))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((registrations, total))
}

/// The registered policies as the findings stage uses them: parsed once per load.
#[derive(Debug, Default)]
pub struct Registered {
    by_identity: HashMap<String, PolicySet>,
    access_keys: usize,
}

impl Registered {
    /// Reads every registration. A stored document that no longer parses (edited by hand) is
    /// left out with a warning: it must not stop the indexing of events.
    pub async fn load(client: &Client, index: &str) -> Result<Registered, RegistryError> {
        let (registrations, total) = list(client, index).await?;
        if total as usize > registrations.len() {
            tracing::warn!(
                registered = total,
                used = registrations.len(),
                "more identities have a registered policy than are read: not_granted is told \
                 for the first {MAX_REGISTERED} by identity only"
            );
        }
        Ok(Registered::of(registrations))
    }

    pub fn of(registrations: Vec<Registration>) -> Registered {
        let mut out = Registered::default();
        for r in registrations {
            match r.policy_set() {
                Ok(set) => {
                    if r.identity_type == Holder::AccessKey {
                        out.access_keys += 1;
                    }
                    out.by_identity.insert(r.identity, set);
                }
                Err(e) => tracing::warn!(
                    identity = %r.identity,
                    "the policy registered for {} is left out: {e}",
                    r.identity
                ),
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.by_identity.is_empty()
    }

    /// Whether some registration is for an access key (a session's lineage root may be one).
    pub fn has_access_keys(&self) -> bool {
        self.access_keys > 0
    }

    pub fn get(&self, identity: &str) -> Option<(&str, &PolicySet)> {
        self.by_identity
            .get_key_value(identity)
            .map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_file_maps_what_a_registration_writes() {
        let mapping: Value = serde_json::from_str(INDEX).unwrap();
        let properties = mapping["mappings"]["properties"].as_object().unwrap();
        let r = Registration {
            identity: "AKIA1".into(),
            identity_type: Holder::AccessKey,
            registered_at: DateTime::from_timestamp(1_767_000_000, 0).unwrap(),
            registered_by: "ops".into(),
            documents: vec![StoredDocument {
                name: "p.json".into(),
                text: "{}".into(),
            }],
        };
        for field in serde_json::to_value(&r)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
        {
            assert!(properties.contains_key(field), "{field} is not mapped");
        }
        assert_eq!(mapping["mappings"]["dynamic"], "false");
    }

    #[test]
    fn an_arn_is_one_path_segment() {
        assert_eq!(
            doc_path("p", "arn:aws:iam::1:role/ci"),
            "/p/_doc/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fci"
        );
    }

    #[test]
    fn a_stored_document_that_no_longer_parses_is_left_out() {
        let at = DateTime::from_timestamp(1_767_000_000, 0).unwrap();
        let r = |identity: &str, text: &str| Registration {
            identity: identity.into(),
            identity_type: Holder::AccessKey,
            registered_at: at,
            registered_by: "ops".into(),
            documents: vec![StoredDocument {
                name: "p.json".into(),
                text: text.into(),
            }],
        };
        let registered = Registered::of(vec![
            r(
                "AKIAGOOD",
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
            ),
            r(
                "AKIABAD",
                r#"{"Statement":{"Effect":"Alow","Action":"s3:*"}}"#,
            ),
        ]);
        assert!(registered.get("AKIAGOOD").is_some());
        assert!(registered.get("AKIABAD").is_none());
        assert!(registered.has_access_keys());
    }
}

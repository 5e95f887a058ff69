//! Credential lineage: the temporary credentials an identity minted through STS (GetSessionToken,
//! AssumeRole*, GetFederationToken), the ones those minted in turn, and — for an access key — the
//! event that minted it, as far as the indexed events show it.
//!
//! CloudTrail records a minted key in the minting event's `responseElements.credentials.accessKeyId`
//! (searchable by dotted path in the `flat_object` copy `aws.cloudtrail.flattened.response_elements`,
//! not aggregatable: so minting events are read as hits, which are few) and later events of the
//! derived credential carry it as `userIdentity.accessKeyId`. Nothing is inferred beyond that: a
//! temporary key whose minting event is not indexed has an unknown parent.
//!
//! An audited key's parent and root are read from the lineage index first (by id: exact, and
//! still there once retention has deleted the minting event), then from the events. What a key
//! minted is searched among the events: those indexed before the lineage index existed, or with
//! `--no-lineage`, have no lineage document, and every lineage document of the period comes from
//! an event the search finds anyway.

use super::{query, rfc3339, search, ser_time, AuditError, Identity, Period};
use crate::lineage::root::{self, Root};
use crate::sink::opensearch::Client;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet, VecDeque};

pub use crate::event::facts::{is_temporary, MINTING_EVENTS};
/// How deep a chain is followed (role chaining beyond a few hops is rare; a loop is cut by the
/// seen-set anyway).
pub const MAX_DEPTH: usize = crate::lineage::MAX_DEPTH;
/// How many derived credentials one audit follows at most: each is one search.
pub const MAX_DERIVED: usize = 200;
/// The longest a minted credential lives (GetSessionToken and GetFederationToken: 36 h), so a key
/// minted that long before the period can still act in it.
const MAX_SESSION_HOURS: i64 = 36;

const MINTED_KEY: &str = "aws.cloudtrail.flattened.response_elements.credentials.accessKeyId";
const ACCESS_KEY: &str = "aws.cloudtrail.user_identity.access_key_id";

/// One credential minted by its parent, with what it did and minted in turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Derived {
    pub access_key: String,
    /// The STS call that minted it (`AssumeRole`, `GetSessionToken`, ...).
    pub minted_by: String,
    #[serde(serialize_with = "ser_time")]
    pub minted_at: Option<DateTime<Utc>>,
    /// `event.id` of the minting event.
    pub minting_event: Option<String>,
    /// The role session (`assumedRoleUser.arn`) or federated user (`federatedUser.arn`); none
    /// for GetSessionToken (the same user).
    pub session_arn: Option<String>,
    /// The account of the session, from its ARN.
    pub account: Option<String>,
    /// Events of this key in the period.
    pub events: u64,
    pub derived: Vec<Derived>,
}

/// Where an audited access key came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Parent {
    /// The indexed minting event.
    Minted {
        /// Who called STS: their access key, else their ARN.
        by: String,
        via: String,
        #[serde(serialize_with = "ser_time")]
        at: Option<DateTime<Utc>>,
        event: Option<String>,
    },
    /// A temporary (`ASIA…`) key whose minting event is not in the indexed events.
    UnknownOutsidePeriod,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lineage {
    /// Only for an audited access key that is temporary or was found minted.
    pub parent: Option<Parent>,
    /// Only for an audited temporary key, from the lineage index: where its chain of parents
    /// ends (or stops, `root_known: false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    pub derived: Vec<Derived>,
    /// The derived credentials in the tree (all depths).
    pub derived_keys: usize,
    /// Set when [`MAX_DEPTH`] or [`MAX_DERIVED`] cut the tree.
    pub cut: Option<String>,
}

impl Lineage {
    /// Every derived access key, depth first.
    pub fn keys(&self) -> Vec<String> {
        fn walk(d: &[Derived], out: &mut Vec<String>) {
            for c in d {
                out.push(c.access_key.clone());
                walk(&c.derived, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.derived, &mut out);
        out
    }
}

/// `arn:aws:sts::222233334444:assumed-role/X/s` → `222233334444`.
fn account_of(arn: &str) -> Option<String> {
    crate::event::minting::account_of(arn).map(str::to_owned)
}

fn hits(response: &Value) -> &[Value] {
    response["hits"]["hits"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn time_of(source: &Value) -> Option<DateTime<Utc>> {
    source["@timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

const SOURCE_FIELDS: [&str; 6] = [
    "@timestamp",
    "event.id",
    "event.action",
    "aws.cloudtrail.user_identity.access_key_id",
    "aws.cloudtrail.user_identity.arn",
    "aws.cloudtrail.flattened.response_elements",
];

/// The minting events of `who` (STS calls that answered with credentials) from
/// [`MAX_SESSION_HOURS`] before the period to its end, oldest first.
fn minted_by_body(who: &Value, period: &Period, size: usize) -> Value {
    json!({
        "size": size,
        "sort": [{"@timestamp": {"order": "asc"}}],
        "_source": {"includes": SOURCE_FIELDS},
        "query": {"bool": {"filter": [
            who,
            {"terms": {"event.action": MINTING_EVENTS}},
            // `exists` on a flat_object leaf matches nothing on OpenSearch 2.19.1 (measured);
            // a `*` wildcard on the dotted path does.
            {"wildcard": {MINTED_KEY: {"value": "*"}}},
            {"range": {"@timestamp": {
                "gte": (period.since - chrono::Duration::hours(MAX_SESSION_HOURS)).to_rfc3339(),
                "lt": period.until.to_rfc3339(),
                "format": "strict_date_optional_time"
            }}}
        ]}}
    })
}

fn derived_from_hit(source: &Value) -> Option<Derived> {
    let response = &source["aws"]["cloudtrail"]["flattened"]["response_elements"];
    let key = response["credentials"]["accessKeyId"].as_str()?;
    let session_arn = response["assumedRoleUser"]["arn"]
        .as_str()
        .or_else(|| response["federatedUser"]["arn"].as_str())
        .map(str::to_owned);
    Some(Derived {
        access_key: key.to_owned(),
        minted_by: source["event"]["action"].as_str().unwrap_or("?").to_owned(),
        minted_at: time_of(source),
        minting_event: source["event"]["id"].as_str().map(str::to_owned),
        account: session_arn.as_deref().and_then(account_of),
        session_arn,
        events: 0,
        derived: Vec::new(),
    })
}

/// The event that minted `key`: its lineage document, else searched in every indexed event (not
/// only the period): a session's parent may well be older than the audited period.
async fn parent_of(
    client: &Client,
    pattern: &str,
    lineage: Option<&str>,
    key: &str,
) -> Result<Option<Parent>, AuditError> {
    if let Some(index) = lineage {
        if let Some(m) = crate::lineage::store::get(client, index, &[key])
            .await?
            .remove(key)
        {
            return Ok(Some(Parent::Minted {
                by: m.parent.unwrap_or_else(|| "(unknown caller)".to_owned()),
                via: m.minted_by,
                at: Some(m.minted_at),
                event: m.minting_event,
            }));
        }
    }
    let body = json!({
        "size": 1,
        "sort": [{"@timestamp": {"order": "desc"}}],
        "_source": {"includes": SOURCE_FIELDS},
        "query": {"bool": {"filter": [{"term": {MINTED_KEY: key}}]}}
    });
    let response = search(client, pattern, &body).await?;
    if let Some(hit) = hits(&response).first() {
        let s = &hit["_source"];
        let identity = &s["aws"]["cloudtrail"]["user_identity"];
        let by = identity["access_key_id"]
            .as_str()
            .or_else(|| identity["arn"].as_str())
            .unwrap_or("(unknown caller)")
            .to_owned();
        return Ok(Some(Parent::Minted {
            by,
            via: s["event"]["action"].as_str().unwrap_or("?").to_owned(),
            at: time_of(s),
            event: s["event"]["id"].as_str().map(str::to_owned),
        }));
    }
    Ok(is_temporary(key).then_some(Parent::UnknownOutsidePeriod))
}

/// Events per access key in the period, for the keys of the tree.
async fn event_counts(
    client: &Client,
    pattern: &str,
    keys: &[String],
    period: &Period,
) -> Result<BTreeMap<String, u64>, AuditError> {
    if keys.is_empty() {
        return Ok(BTreeMap::new());
    }
    let body = json!({
        "size": 0,
        "query": {"bool": {"filter": [
            {"terms": {ACCESS_KEY: keys}},
            query::period_filter(period)
        ]}},
        "aggs": {"keys": {"terms": {"field": ACCESS_KEY, "size": keys.len()}}}
    });
    let response = search(client, pattern, &body).await?;
    Ok(response["aggregations"]["keys"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| Some((b["key"].as_str()?.to_owned(), b["doc_count"].as_u64()?)))
        .collect())
}

/// Follows what `root` minted, breadth first, bounded by [`MAX_DEPTH`] and [`MAX_DERIVED`].
/// `lineage` is the lineage index, read for the parent and root of an audited key.
pub async fn discover(
    client: &Client,
    pattern: &str,
    lineage: Option<&str>,
    root: &Identity,
    period: &Period,
) -> Result<Lineage, AuditError> {
    let parent = match root {
        Identity::AccessKey(k) => parent_of(client, pattern, lineage, k).await?,
        _ => None,
    };
    // No root where no lineage index was ever written: "unknown" would then say nothing.
    let origin = match (root, lineage) {
        (Identity::AccessKey(k), Some(index))
            if is_temporary(k) && crate::lineage::store::exists(client, index).await? =>
        {
            root::resolve(client, index, &[k.as_str()])
                .await?
                .remove(k.as_str())
        }
        _ => None,
    };
    // Flat list of found credentials with the index of their parent (None = the root).
    let mut found: Vec<(Option<usize>, Derived)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    if let Identity::AccessKey(k) = root {
        seen.insert(k.clone());
    }
    // Where each found key sits: a root that is an ARN also selects the events of the keys it
    // minted (same user), so a minting event is hung under the key that called STS when known.
    let mut position: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue: VecDeque<(Option<usize>, Value, usize)> = VecDeque::new();
    queue.push_back((None, query::identity_query(root), 0));
    let mut cut = None;
    while let Some((at, who, depth)) = queue.pop_front() {
        if depth >= MAX_DEPTH {
            cut.get_or_insert_with(|| format!("chains deeper than {MAX_DEPTH} are not followed"));
            continue;
        }
        let room = MAX_DERIVED.saturating_sub(found.len());
        // One more than room tells whether the limit cut something.
        let response = search(client, pattern, &minted_by_body(&who, period, room + 1)).await?;
        for hit in hits(&response) {
            let source = &hit["_source"];
            let Some(d) = derived_from_hit(source) else {
                continue;
            };
            let caller = source["aws"]["cloudtrail"]["user_identity"]["access_key_id"].as_str();
            let at = caller.and_then(|k| position.get(k).copied()).or(at);
            if !seen.insert(d.access_key.clone()) {
                continue;
            }
            if found.len() >= MAX_DERIVED {
                cut.get_or_insert_with(|| {
                    format!("more than {MAX_DERIVED} derived credentials: the rest are not shown")
                });
                break;
            }
            let who = json!({"term": {ACCESS_KEY: d.access_key}});
            position.insert(d.access_key.clone(), found.len());
            found.push((at, d));
            queue.push_back((Some(found.len() - 1), who, depth + 1));
        }
    }
    let keys: Vec<String> = found.iter().map(|(_, d)| d.access_key.clone()).collect();
    let counts = event_counts(client, pattern, &keys, period).await?;
    for (_, d) in &mut found {
        d.events = counts.get(&d.access_key).copied().unwrap_or(0);
    }
    let derived_keys = found.len();
    Ok(Lineage {
        parent,
        root: origin,
        derived: assemble(found),
        derived_keys,
        cut,
    })
}

/// Builds the tree from (parent index, node) pairs whose parents come first.
fn assemble(found: Vec<(Option<usize>, Derived)>) -> Vec<Derived> {
    let mut nodes: Vec<Option<Derived>> = Vec::with_capacity(found.len());
    let mut parents = Vec::with_capacity(found.len());
    for (p, d) in found {
        parents.push(p);
        nodes.push(Some(d));
    }
    // Children are later than their parent: attach from the last one back.
    for i in (0..nodes.len()).rev() {
        if let Some(p) = parents[i] {
            let child = nodes[i].take().expect("each node is attached once");
            if let Some(parent) = nodes[p].as_mut() {
                parent.derived.insert(0, child);
            }
        }
    }
    nodes.into_iter().flatten().collect()
}

/// The tree as text lines (the same for the terminal and Markdown).
pub fn tree_lines(root: &Identity, events: u64, lineage: &Lineage) -> Vec<String> {
    let mut lines = vec![format!("{root} ({events} events in all)")];
    match &lineage.parent {
        Some(Parent::Minted { by, via, at, .. }) => lines.push(format!(
            "  minted by {by} via {via} at {}",
            at.map(rfc3339).unwrap_or_else(|| "-".into())
        )),
        Some(Parent::UnknownOutsidePeriod) => lines.push(
            "  parent unknown (outside the period): no indexed event minted this temporary key"
                .into(),
        ),
        None => {}
    }
    match &lineage.root {
        Some(r) if r.root_known => lines.push(format!(
            "  root: {} ({} hop{} up, from the lineage index)",
            r.root,
            r.chain.len(),
            if r.chain.len() == 1 { "" } else { "s" }
        )),
        Some(r) => lines.push(format!(
            "  root unknown: the lineage index follows it up to {} and no further",
            r.root
        )),
        None => {}
    }
    fn walk(nodes: &[Derived], prefix: &str, lines: &mut Vec<String>) {
        for (i, d) in nodes.iter().enumerate() {
            let last = i + 1 == nodes.len();
            let what = match (&d.session_arn, &d.account) {
                (Some(arn), Some(acct)) => format!(" → {arn} in account {acct}"),
                (Some(arn), None) => format!(" → {arn}"),
                _ => " (same user)".into(),
            };
            lines.push(format!(
                "{prefix}{} {} via {} at {}{what}: {} event{}",
                if last { "└─" } else { "├─" },
                d.access_key,
                d.minted_by,
                d.minted_at.map(rfc3339).unwrap_or_else(|| "-".into()),
                d.events,
                if d.events == 1 { "" } else { "s" }
            ));
            let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
            walk(&d.derived, &deeper, lines);
        }
    }
    walk(&lineage.derived, "", &mut lines);
    if lineage.derived.is_empty() {
        lines.push("  no credentials derived from it in the period".into());
    }
    if let Some(cut) = &lineage.cut {
        lines.push(format!("  cut: {cut}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, derived: Vec<Derived>) -> Derived {
        Derived {
            access_key: key.into(),
            minted_by: "AssumeRole".into(),
            minted_at: None,
            minting_event: None,
            session_arn: Some(format!("arn:aws:sts::222233334444:assumed-role/R/{key}")),
            account: Some("222233334444".into()),
            events: 1,
            derived,
        }
    }

    #[test]
    fn tree_is_assembled_from_parent_indices() {
        let found = vec![
            (None, node("A", vec![])),
            (None, node("B", vec![])),
            (Some(0), node("A1", vec![])),
            (Some(2), node("A11", vec![])),
            (Some(0), node("A2", vec![])),
        ];
        let tree = assemble(found);
        let expected = vec![
            node(
                "A",
                vec![node("A1", vec![node("A11", vec![])]), node("A2", vec![])],
            ),
            node("B", vec![]),
        ];
        assert_eq!(tree, expected);
    }

    #[test]
    fn minted_credential_from_a_hit() {
        let hit = json!({"@timestamp": "2026-01-05T10:00:00Z", "event": {"id": "e1", "action": "AssumeRole"},
            "aws": {"cloudtrail": {"flattened": {"response_elements": {
                "credentials": {"accessKeyId": "ASIAX"},
                "assumedRoleUser": {"arn": "arn:aws:sts::222233334444:assumed-role/R/s"}}}}}});
        let d = derived_from_hit(&hit).unwrap();
        assert_eq!(d.access_key, "ASIAX");
        assert_eq!(d.account.as_deref(), Some("222233334444"));
        assert_eq!(d.minting_event.as_deref(), Some("e1"));
        assert!(derived_from_hit(&json!({"event": {"action": "AssumeRole"}})).is_none());
    }
}

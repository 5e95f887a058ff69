//! "New in this period": what the audited identity did in the period that it never did in a
//! baseline period just before it (actions, services, regions, source networks, countries,
//! user-agent fingerprints), and hours of denied calls when the baseline had none.
//!
//! Two `size: 0` searches, whatever the data: one over the period gathers the candidates
//! (bounded `terms` aggregations, each bucket with its earliest event), one over the baseline
//! asks, with a `filters` aggregation holding one filter per candidate, which of them it has
//! seen. Networks (/24, /48) and user-agent fingerprints (family + major version) are not stored
//! fields, so their filters are a CIDR `term` on `source.ip` and a version prefix: exact, and no
//! script runs on the cluster.

use super::query::{authorization_failure_query, period_filter};
use super::{ser_time, AuditError, Period};
pub use crate::event::facts::network_of;
use crate::event::facts::Fingerprint;
pub use crate::findings::kind::{sensitive, Kind, Severity};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The learning period: a shorter baseline would call ordinary weekly habits new.
pub const MIN_BASELINE_DAYS: i64 = 7;
/// Candidates per kind read from the period (the report says when a kind had more).
pub const MAX_CANDIDATES: usize = 200;
const ACTION: &str = "aws.cloudtrail.iam_action";
const SERVICE: &str = "event.provider";
const REGION: &str = "cloud.region";
const ASN: &str = "source.as.number";
const IP: &str = "source.ip";
const COUNTRY: &str = "source.geo.country_iso_code";
const UA_ORIGINAL: &str = "user_agent.original";

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub value: String,
    pub severity: Severity,
    /// Why the severity is high.
    pub reason: Option<String>,
    #[serde(serialize_with = "ser_time")]
    pub first_seen: Option<DateTime<Utc>>,
    pub first_event_id: Option<String>,
    /// Events in the period with this value.
    pub count: u64,
}

/// What the baseline allowed to be said.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Novelty {
    /// The identity has no event in the baseline: nothing can be called new.
    NoHistory { baseline: Period },
    /// The identity's history starts less than [`MIN_BASELINE_DAYS`] before the period: too
    /// short to know its habits, so nothing is called new yet.
    Learning {
        baseline: Period,
        #[serde(serialize_with = "ser_time")]
        history_since: Option<DateTime<Utc>>,
    },
    Compared {
        baseline: Period,
        baseline_events: u64,
        findings: Vec<Finding>,
        /// Kinds with more distinct values in the period than were compared.
        truncated: Vec<Kind>,
    },
}

/// How to compare.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub baseline: chrono::Duration,
    /// Authorization failures in one hour that make a burst.
    pub denied_burst: u64,
}

/// One value of the period that the baseline may or may not have seen.
#[derive(Debug, Clone)]
struct Candidate {
    kind: Kind,
    value: String,
    /// Selects the baseline events that have this value; `None` for a denied burst, which is
    /// decided by whether the baseline had any authorization failure.
    filter: Option<Value>,
    first_seen: Option<DateTime<Utc>>,
    first_event_id: Option<String>,
    count: u64,
}

fn earliest() -> Value {
    json!({"top_hits": {"size": 1, "sort": [{"@timestamp": {"order": "asc"}}],
        "_source": {"includes": ["@timestamp", "event.id", "aws.user_agent", "source.ip"]}}})
}

fn terms(field: &str, only: Option<Value>) -> Value {
    let agg = json!({"terms": {"field": field, "size": MAX_CANDIDATES},
        "aggs": {"first": earliest()}});
    match only {
        Some(q) => json!({"filter": q, "aggs": {"values": agg}}),
        None => json!({"filter": {"match_all": {}}, "aggs": {"values": agg}}),
    }
}

/// How the values of one period aggregation become candidates.
#[derive(Debug, Clone, Copy)]
enum Values {
    /// The field's value as it is (`kind`, field).
    Term(Kind, &'static str),
    /// `source.as.number`, as `AS<n>`.
    Asn,
    /// `source.ip` of events without an ASN, as its /24 or /48.
    Network,
    /// `user_agent.original`, as its fingerprint.
    UserAgent,
}

/// The period's aggregations of candidates, by name.
const VALUES: [(&str, Values); 7] = [
    ("new_action", Values::Term(Kind::NewAction, ACTION)),
    ("new_service", Values::Term(Kind::NewService, SERVICE)),
    ("new_region", Values::Term(Kind::NewRegion, REGION)),
    ("asn", Values::Asn),
    ("ip", Values::Network),
    ("new_country", Values::Term(Kind::NewCountry, COUNTRY)),
    ("new_user_agent", Values::UserAgent),
];

impl Values {
    fn kind(self) -> Kind {
        match self {
            Values::Term(kind, _) => kind,
            Values::Asn | Values::Network => Kind::NewNetwork,
            Values::UserAgent => Kind::NewUserAgent,
        }
    }

    fn aggregation(self) -> Value {
        match self {
            Values::Term(_, field) => terms(field, None),
            Values::Asn => terms(ASN, None),
            // An address without an ASN is compared by its /24 or /48.
            Values::Network => terms(
                IP,
                Some(json!({"bool": {"must_not": {"exists": {"field": ASN}}}})),
            ),
            Values::UserAgent => terms(UA_ORIGINAL, None),
        }
    }

    /// The value to report and the baseline filter that finds it; `None` for a bucket that is
    /// no value of this kind (a service name in `source.ip` cannot be, but stay safe).
    fn candidate(self, bucket: &Value, first: &Value) -> Option<(String, Value)> {
        let raw = key(bucket);
        Some(match self {
            Values::Term(_, field) => (raw.clone(), json!({"term": {field: raw}})),
            Values::Asn => (format!("AS{raw}"), json!({"term": {ASN: bucket["key"]}})),
            Values::Network => {
                let net = network_of(&raw)?;
                (net.clone(), json!({"term": {IP: net}}))
            }
            Values::UserAgent => fingerprint(first)
                .unwrap_or_else(|| (raw.clone(), json!({"term": {UA_ORIGINAL: raw}}))),
        })
    }
}

/// The period search: the candidates of every kind, and the hours with denied calls.
pub fn period_body(selection: &Value, period: &Period, settings: &Settings) -> Value {
    let mut aggs: serde_json::Map<String, Value> = VALUES
        .iter()
        .map(|(name, values)| ((*name).to_owned(), values.aggregation()))
        .collect();
    aggs.insert(
        "denied".into(),
        json!({
                "filter": authorization_failure_query(),
                "aggs": {"hours": {
                    "date_histogram": {"field": "@timestamp", "fixed_interval": "1h",
                        "min_doc_count": settings.denied_burst.max(1)},
                    "aggs": {"first": earliest()}
                }}
        }),
    );
    json!({
        "size": 0,
        "query": {"bool": {"filter": [selection, period_filter(period)]}},
        "aggs": aggs
    })
}

/// The baseline search: how many events, whether any was denied, and one filter per candidate.
fn baseline_body(selection: &Value, baseline: &Period, candidates: &[Candidate]) -> Value {
    let filters: serde_json::Map<String, Value> = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((i.to_string(), c.filter.clone()?)))
        .collect();
    let mut aggs = json!({
        "denied": {"filter": authorization_failure_query()},
        "first": {"min": {"field": "@timestamp"}}
    });
    if !filters.is_empty() {
        aggs["seen"] = json!({"filters": {"filters": filters}});
    }
    json!({
        "size": 0,
        "track_total_hits": true,
        "query": {"bool": {"filter": [selection, period_filter(baseline)]}},
        "aggs": aggs
    })
}

fn first_hit(bucket: &Value) -> (Option<DateTime<Utc>>, Option<String>, &Value) {
    let src = &bucket["first"]["hits"]["hits"][0]["_source"];
    let time = src["@timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    (time, src["event"]["id"].as_str().map(str::to_owned), src)
}

fn key(b: &Value) -> String {
    match &b["key"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A user agent's fingerprint as the parser wrote it (`aws.user_agent.*` of an event's
/// `_source`), with the filter that finds the same fingerprint; `None` when the parser
/// recognised neither a tool nor an SDK.
fn fingerprint(parsed: &Value) -> Option<(String, Value)> {
    let ua = &parsed["aws"]["user_agent"];
    let f = Fingerprint::of(
        ua["tool"].as_str(),
        ua["tool_version"].as_str(),
        ua["sdk"].as_str(),
        ua["sdk_version"].as_str(),
    )?;
    Some((f.value(), f.filter()))
}

/// Reads the period's candidates, values of one kind folded together (two addresses of one /24
/// are one network, seen first by the earlier one).
fn candidates(response: &Value) -> Result<(Vec<Candidate>, Vec<Kind>), AuditError> {
    let aggs = &response["aggregations"];
    if !aggs.is_object() {
        return Err(AuditError::Unreadable {
            message: "the period search answered without aggregations".into(),
        });
    }
    let mut folded: BTreeMap<(Kind, String), Candidate> = BTreeMap::new();
    let mut truncated = Vec::new();
    let mut add = |c: Candidate| {
        folded
            .entry((c.kind, c.value.clone()))
            .and_modify(|e| {
                e.count += c.count;
                if c.first_seen < e.first_seen {
                    e.first_seen = c.first_seen;
                    e.first_event_id = c.first_event_id.clone();
                }
            })
            .or_insert(c);
    };
    for (name, kind_of) in VALUES {
        let kind = kind_of.kind();
        let values = &aggs[name]["values"];
        if values["sum_other_doc_count"].as_u64().unwrap_or(0) > 0 && !truncated.contains(&kind) {
            truncated.push(kind);
        }
        let buckets = values["buckets"]
            .as_array()
            .ok_or_else(|| AuditError::Unreadable {
                message: format!("the period search answered without buckets for {name}"),
            })?;
        for b in buckets {
            let (first_seen, first_event_id, src) = first_hit(b);
            let Some((value, filter)) = kind_of.candidate(b, src) else {
                continue;
            };
            add(Candidate {
                kind,
                value,
                filter: Some(filter),
                first_seen,
                first_event_id,
                count: b["doc_count"].as_u64().unwrap_or(0),
            });
        }
    }
    let mut out: Vec<Candidate> = folded.into_values().collect();
    for b in aggs["denied"]["hours"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let (first_seen, first_event_id, _) = first_hit(b);
        let count = b["doc_count"].as_u64().unwrap_or(0);
        let hour = b["key_as_string"].as_str().unwrap_or_default();
        out.push(Candidate {
            kind: Kind::DeniedBurst,
            value: format!("{count} authorization failures in the hour from {hour}"),
            filter: None,
            first_seen,
            first_event_id,
            count,
        });
    }
    Ok((out, truncated))
}

/// Compares the period with the baseline before it. `not_granted` are the period's actions the
/// registered policies do not allow: new and not granted is high.
pub async fn compare(
    client: &crate::sink::opensearch::Client,
    pattern: &str,
    selection: &Value,
    period: &Period,
    settings: &Settings,
    not_granted: &[String],
) -> Result<Novelty, AuditError> {
    let baseline = Period {
        since: period.since - settings.baseline,
        until: period.since,
    };
    let (candidates, truncated) = candidates(
        &super::search(client, pattern, &period_body(selection, period, settings)).await?,
    )?;
    let filtered: Vec<Candidate> = candidates
        .iter()
        .filter(|c| c.filter.is_some())
        .cloned()
        .collect();
    let answer = super::search(
        client,
        pattern,
        &baseline_body(selection, &baseline, &filtered),
    )
    .await?;
    let baseline_events = answer["hits"]["total"]["value"].as_u64().unwrap_or(0);
    if baseline_events == 0 {
        return Ok(Novelty::NoHistory { baseline });
    }
    let history_since = answer["aggregations"]["first"]["value"]
        .as_f64()
        .and_then(|ms| DateTime::from_timestamp_millis(ms as i64));
    let learned_by = period.since - chrono::Duration::days(MIN_BASELINE_DAYS);
    if history_since.is_none_or(|t| t > learned_by) {
        return Ok(Novelty::Learning {
            baseline,
            history_since,
        });
    }
    // A missing answer must not read as "never seen": that would report old habits as new.
    let seen_counts: Vec<u64> = (0..filtered.len())
        .map(|i| {
            answer["aggregations"]["seen"]["buckets"][i.to_string()]["doc_count"]
                .as_u64()
                .ok_or_else(|| AuditError::Unreadable {
                    message: format!("the baseline search answered without filter {i}"),
                })
        })
        .collect::<Result<_, _>>()?;
    let seen = |i: usize| seen_counts[i] > 0;
    let denied_before = answer["aggregations"]["denied"]["doc_count"]
        .as_u64()
        .unwrap_or(0)
        > 0;
    let mut findings: Vec<Finding> = filtered
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !seen(*i))
        .map(|(_, c)| c)
        .chain(
            candidates
                .into_iter()
                .filter(|c| c.kind == Kind::DeniedBurst && !denied_before),
        )
        .map(|c| {
            let reason = match c.kind {
                Kind::NewAction if not_granted.contains(&c.value) => {
                    Some("not granted by the registered policies".to_owned())
                }
                Kind::NewAction => sensitive(&c.value).map(str::to_owned),
                _ => None,
            };
            Finding {
                kind: c.kind,
                severity: if reason.is_some() {
                    Severity::High
                } else {
                    Severity::Medium
                },
                reason,
                value: c.value,
                first_seen: c.first_seen,
                first_event_id: c.first_event_id,
                count: c.count,
            }
        })
        .collect();
    findings.sort_by(|a, b| {
        (a.severity, a.kind, a.first_seen, &a.value).cmp(&(
            b.severity,
            b.kind,
            b.first_seen,
            &b.value,
        ))
    });
    Ok(Novelty::Compared {
        baseline,
        baseline_events,
        findings,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(key: Value, count: u64, time: &str, id: &str) -> Value {
        json!({"key": key, "doc_count": count, "first": {"hits": {"hits": [
            {"_source": {"@timestamp": time, "event": {"id": id}}}]}}})
    }

    #[test]
    fn addresses_of_one_network_fold_and_cut_kinds_are_named() {
        let empty = json!({"values": {"buckets": []}});
        let mut aggs = serde_json::Map::new();
        for (name, _) in VALUES {
            aggs.insert(name.into(), empty.clone());
        }
        aggs.insert(
            "ip".into(),
            json!({"values": {"sum_other_doc_count": 0, "buckets": [
                bucket(json!("203.0.113.9"), 3, "2026-02-01T10:00:00Z", "b"),
                bucket(json!("203.0.113.200"), 2, "2026-02-01T09:00:00Z", "a"),
                bucket(json!("2001:db8:1:2::7"), 1, "2026-02-01T11:00:00Z", "c"),
            ]}}),
        );
        aggs.insert(
            "new_region".into(),
            json!({"values": {"sum_other_doc_count": 5, "buckets": [
                bucket(json!("eu-west-1"), 1, "2026-02-01T09:00:00Z", "d"),
            ]}}),
        );
        aggs.insert("denied".into(), json!({"hours": {"buckets": []}}));
        let (found, cut) = candidates(&json!({"aggregations": aggs})).unwrap();
        let nets: Vec<(&str, u64, Option<&str>)> = found
            .iter()
            .filter(|c| c.kind == Kind::NewNetwork)
            .map(|c| (c.value.as_str(), c.count, c.first_event_id.as_deref()))
            .collect();
        assert_eq!(
            nets,
            vec![
                ("2001:db8:1::/48", 1, Some("c")),
                ("203.0.113.0/24", 5, Some("a"))
            ]
        );
        assert_eq!(cut, vec![Kind::NewRegion]);
    }

    #[test]
    fn user_agent_fingerprint_is_family_and_major_version() {
        let parsed = json!({"aws": {"user_agent": {"sdk": "Boto3", "sdk_version": "1.34.1"}}});
        assert_eq!(fingerprint(&parsed).unwrap().0, "Boto3/1");
        let tool = json!({"aws": {"user_agent": {"sdk": "Botocore", "sdk_version": "1.3",
            "tool": "aws-cli", "tool_version": "2.15.0"}}});
        assert_eq!(fingerprint(&tool).unwrap().0, "aws-cli/2");
        assert!(fingerprint(&json!({})).is_none());
    }
}

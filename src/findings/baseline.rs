//! The searches that tell, for a batch's candidate values, whether their identity had them
//! before the event that brings them — and the reading of the answers.
//!
//! One search per candidate is simple and was the first design; but a batch of 5,000 events
//! from thousands of identities past their learning period makes tens of thousands of
//! candidates, each a search over every daily index (measured: 200,000 events of 100,000
//! identities took 383 s with findings on against 33 s off). So the candidates whose value is
//! one keyword or number field (action, service, region, country, ASN) are asked together:
//! per identity field and kind, one aggregation over a chunk of identities × values gives the
//! first time each pair was seen, and "seen before this event" is that time < the event's. The
//! rest (user-agent fingerprints, networks without an ASN) keep one search each.

use super::kind::Kind;
use super::FindingsError;
use crate::event::facts::Identity;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A chunk's identities × values stays under this, so that its buckets stay well inside
/// OpenSearch's `search.max_buckets` (65,535 by default).
const MAX_PAIRS_PER_SEARCH: usize = 10_000;

/// What is asked about one candidate.
pub struct Question<'a> {
    pub identity: &'a Identity,
    pub kind: Kind,
    pub value: &'a str,
    /// Selects indexed events with the value (used when the value can't be aggregated).
    pub filter: &'a Value,
    pub time: DateTime<Utc>,
}

/// The searches to send and how to read each candidate's answer from them.
pub struct Plan {
    pub searches: Vec<Value>,
    lookups: Vec<Lookup>,
}

enum Lookup {
    /// The answer of this search counts hits of exactly this candidate.
    Single(usize),
    /// This search aggregates first times by identity and value; the candidate's pair, as the
    /// buckets key it.
    Grouped {
        search: usize,
        identity: String,
        value: String,
    },
}

/// The field a kind's value is aggregated on, and the value as that field's buckets key it.
fn aggregated(kind: Kind, value: &str) -> Option<(&'static str, String)> {
    let field = match kind {
        Kind::NewAction => "aws.cloudtrail.iam_action",
        Kind::NewService => "event.provider",
        Kind::NewRegion => "cloud.region",
        Kind::NewCountry => "source.geo.country_iso_code",
        Kind::NewNetwork => {
            let asn = value.strip_prefix("AS")?.parse::<u64>().ok()?;
            return Some(("source.as.number", asn.to_string()));
        }
        _ => return None,
    };
    Some((field, value.to_owned()))
}

/// A bucket key as [`aggregated`] writes values: strings as they are, numbers in decimal.
fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn plan(questions: &[Question]) -> Plan {
    let mut searches = Vec::new();
    let mut lookups: Vec<Option<Lookup>> = (0..questions.len()).map(|_| None).collect();
    // (identity field, value field) → the candidates asked together.
    let mut groups: BTreeMap<(&'static str, &'static str), Vec<(usize, String)>> = BTreeMap::new();
    for (i, q) in questions.iter().enumerate() {
        match aggregated(q.kind, q.value) {
            Some((field, key)) => groups
                .entry((q.identity.field(), field))
                .or_default()
                .push((i, key)),
            None => {
                lookups[i] = Some(Lookup::Single(searches.len()));
                searches.push(seen_before(q.identity, q.filter, q.time));
            }
        }
    }
    for ((identity_field, value_field), members) in groups {
        for chunk in chunks(questions, members) {
            let ids: BTreeSet<&str> = chunk
                .iter()
                .map(|(i, _)| questions[*i].identity.as_str())
                .collect();
            let values: BTreeSet<String> = chunk.iter().map(|(_, key)| key.clone()).collect();
            let until = chunk
                .iter()
                .map(|(i, _)| questions[*i].time)
                .max()
                .unwrap_or_else(Utc::now);
            let search = searches.len();
            searches.push(first_times(
                identity_field,
                value_field,
                &ids,
                &values,
                until,
            ));
            for (i, key) in chunk {
                lookups[i] = Some(Lookup::Grouped {
                    search,
                    identity: questions[i].identity.as_str().to_owned(),
                    value: key,
                });
            }
        }
    }
    Plan {
        searches,
        lookups: lookups
            .into_iter()
            .map(|l| l.expect("every question is planned"))
            .collect(),
    }
}

/// `members` (question, bucket key) cut, in order, into chunks whose distinct identities ×
/// distinct values stay within [`MAX_PAIRS_PER_SEARCH`].
fn chunks(questions: &[Question], members: Vec<(usize, String)>) -> Vec<Vec<(usize, String)>> {
    let mut out: Vec<Vec<(usize, String)>> = Vec::new();
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    let mut values: BTreeSet<String> = BTreeSet::new();
    for (i, key) in members {
        let id = questions[i].identity.as_str();
        let more_ids = ids.len() + usize::from(!ids.contains(id));
        let more_values = values.len() + usize::from(!values.contains(&key));
        if out.is_empty() || more_ids * more_values > MAX_PAIRS_PER_SEARCH {
            out.push(Vec::new());
            ids.clear();
            values.clear();
        }
        ids.insert(id);
        values.insert(key.clone());
        out.last_mut()
            .expect("a chunk was just opened")
            .push((i, key));
    }
    out
}

impl Plan {
    /// For each question, in order: whether its identity had the value before its time.
    pub fn seen(
        &self,
        questions: &[Question],
        answers: &[Value],
    ) -> Result<Vec<bool>, FindingsError> {
        let mut firsts: HashMap<usize, HashMap<(String, String), i64>> = HashMap::new();
        questions
            .iter()
            .zip(&self.lookups)
            .map(|(q, lookup)| match lookup {
                Lookup::Single(search) => {
                    let total = answers[*search]["hits"]["total"]["value"].as_u64();
                    let total = total.ok_or(FindingsError::Unreadable {
                        what: "a baseline search",
                        missing: "hits.total",
                    })?;
                    Ok(total > 0)
                }
                Lookup::Grouped {
                    search,
                    identity,
                    value,
                } => {
                    if !firsts.contains_key(search) {
                        firsts.insert(*search, read_first_times(&answers[*search])?);
                    }
                    let first = firsts[search].get(&(identity.clone(), value.clone()));
                    Ok(first.is_some_and(|first| *first < q.time.timestamp_millis()))
                }
            })
            .collect()
    }
}

/// Whether the identity had an event with this value before `time`.
fn seen_before(identity: &Identity, filter: &Value, time: DateTime<Utc>) -> Value {
    json!({"size": 0, "terminate_after": 1, "track_total_hits": true,
        "query": {"bool": {"filter": [identity.query(), filter,
            {"range": {"@timestamp": {"lt": time.timestamp_millis(), "format": "epoch_millis"}}}]}}})
}

/// The first time each of `ids` had each of `values` (before `until`), as buckets.
fn first_times(
    identity_field: &str,
    value_field: &str,
    ids: &BTreeSet<&str>,
    values: &BTreeSet<String>,
    until: DateTime<Utc>,
) -> Value {
    // Numbers (the ASN) are sent as numbers.
    let values: Vec<Value> = values
        .iter()
        .map(|v| match v.parse::<u64>() {
            Ok(n) if value_field == "source.as.number" => json!(n),
            _ => json!(v),
        })
        .collect();
    json!({"size": 0,
        "query": {"bool": {"filter": [
            {"terms": {identity_field: ids}},
            {"terms": {value_field: &values}},
            {"range": {"@timestamp": {"lt": until.timestamp_millis(), "format": "epoch_millis"}}}]}},
        "aggs": {"id": {"terms": {"field": identity_field, "size": ids.len()},
            "aggs": {"value": {"terms": {"field": value_field, "size": values.len()},
                "aggs": {"first": {"min": {"field": "@timestamp"}}}}}}}})
}

fn read_first_times(answer: &Value) -> Result<HashMap<(String, String), i64>, FindingsError> {
    let unreadable = FindingsError::Unreadable {
        what: "a baseline aggregation",
        missing: "aggregations.id.buckets",
    };
    let ids = answer["aggregations"]["id"]["buckets"]
        .as_array()
        .ok_or(unreadable)?;
    let mut out = HashMap::new();
    for id in ids {
        let Some(identity) = key_text(&id["key"]) else {
            continue;
        };
        for v in id["value"]["buckets"].as_array().into_iter().flatten() {
            if let (Some(value), Some(first)) = (key_text(&v["key"]), v["first"]["value"].as_f64())
            {
                out.insert((identity.clone(), value), first as i64);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, hour, 0, 0).unwrap()
    }

    #[test]
    fn keyword_and_asn_values_are_asked_together_the_rest_alone() {
        let (a, b) = (
            Identity::AccessKey("AKIAA".into()),
            Identity::AccessKey("AKIAB".into()),
        );
        let filter = json!({"term": {"x": "y"}});
        let questions = [
            Question {
                identity: &a,
                kind: Kind::NewAction,
                value: "iam:ListUsers",
                filter: &filter,
                time: at(10),
            },
            Question {
                identity: &b,
                kind: Kind::NewAction,
                value: "s3:GetObject",
                filter: &filter,
                time: at(12),
            },
            Question {
                identity: &a,
                kind: Kind::NewNetwork,
                value: "AS64500",
                filter: &filter,
                time: at(10),
            },
            Question {
                identity: &a,
                kind: Kind::NewNetwork,
                value: "198.51.100.0/24",
                filter: &filter,
                time: at(10),
            },
            Question {
                identity: &b,
                kind: Kind::NewUserAgent,
                value: "aws-cli/2",
                filter: &filter,
                time: at(12),
            },
        ];
        let plan = plan(&questions);
        // Two single searches, one aggregation for the actions, one for the ASN.
        assert_eq!(plan.searches.len(), 4);
        let single = json!({"hits": {"total": {"value": 0}}});
        let seen_single = json!({"hits": {"total": {"value": 1}}});
        // Answers in the plan's order: the singles (network CIDR, user agent), then one per
        // group, sorted by value field: the actions, then the ASN.
        let actions = json!({"aggregations": {"id": {"buckets": [
            {"key": "AKIAA", "value": {"buckets": [{"key": "iam:ListUsers", "first": {"value": at(9).timestamp_millis() as f64}}]}},
            {"key": "AKIAB", "value": {"buckets": [{"key": "s3:GetObject", "first": {"value": at(12).timestamp_millis() as f64}}]}}
        ]}}});
        let asn = json!({"aggregations": {"id": {"buckets": [
            {"key": "AKIAA", "value": {"buckets": [{"key": 64500, "first": {"value": at(8).timestamp_millis() as f64}}]}}
        ]}}});
        let answers = [single, seen_single, actions, asn];
        let seen = plan.seen(&questions, &answers).unwrap();
        // A's action before 10:00: seen; B's action first at 12:00 is this event: not before.
        assert_eq!(seen, [true, false, true, false, true]);
        let action_search = &plan.searches[2];
        assert_eq!(
            action_search["query"]["bool"]["filter"][0]["terms"]
                ["aws.cloudtrail.user_identity.access_key_id"],
            json!(["AKIAA", "AKIAB"])
        );
        assert_eq!(
            plan.searches[3]["query"]["bool"]["filter"][1]["terms"]["source.as.number"],
            json!([64500])
        );
    }

    #[test]
    fn chunks_keep_identities_times_values_bounded() {
        let ids: Vec<Identity> = (0..300)
            .map(|i| Identity::AccessKey(format!("AKIA{i}").into()))
            .collect();
        let filter = json!({});
        let values: Vec<String> = (0..300).map(|v| format!("svc:Call{v}")).collect();
        let questions: Vec<Question> = ids
            .iter()
            .zip(&values)
            .map(|(id, v)| Question {
                identity: id,
                kind: Kind::NewAction,
                value: v,
                filter: &filter,
                time: at(10),
            })
            .collect();
        let plan = plan(&questions);
        // 300 identities each with its own value: chunks of 100 × 100.
        assert_eq!(plan.searches.len(), 3);
        for s in &plan.searches {
            let ids = s["aggs"]["id"]["terms"]["size"].as_u64().unwrap() as usize;
            let values = s["aggs"]["id"]["aggs"]["value"]["terms"]["size"]
                .as_u64()
                .unwrap() as usize;
            assert!(ids * values <= MAX_PAIRS_PER_SEARCH, "{ids} x {values}");
        }
    }
}

//! Property-based fuzzing of everything that reads untrusted input (issue 9): the subscription
//! payload decoder, the CloudTrail record decoder, and encoding into a bulk batch. cargo fuzz needs
//! a nightly toolchain and open-ended time; these run in CI in a few seconds with bounded case
//! counts (`PROPTEST_CASES` raises them for a longer local run). The user-agent parser has its own
//! properties in `src/enrich/user_agent.rs` (any string, any bytes, token soup).
//!
//! The properties: nothing panics; what decodes keeps what it was given; every encoded batch is
//! valid NDJSON, an action line and a document line per event.

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Arc;
use trailscope::enrich::Enricher;
use trailscope::event::cloudtrail::CloudTrailRecord;
use trailscope::event::encode::{Encoded, Encoder};
use trailscope::event::filter::Filter;
use trailscope::sink::bulk::BulkBatch;
use trailscope::source::subscription;
use trailscope::source::{CloudWatchPosition, Origin, RawEvent};

const LIMIT: usize = 1 << 20;

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // No persistence files in the source tree: regressions are kept as named tests below.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::String),
        // Strings CloudTrail fields could plausibly hold, including edge cases.
        prop_oneof![
            Just("2026-01-15T08:00:20Z"),
            Just("9999-12-31T23:59:59Z"),
            Just("0000-01-01T00:00:00Z"),
            Just("2026-02-30T25:61:61Z"),
            Just("1.2.3.4"),
            Just("::1"),
            Just("AWS Internal"),
            Just("ec2.amazonaws.com"),
            Just(""),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A real record from `examples/`, with `fields` (a path of keys) replaced by arbitrary values.
fn mutated_record() -> impl Strategy<Value = String> {
    let base: Value = serde_json::from_str(
        include_str!("../examples/cloudtrail-sample.ndjson")
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let paths: Vec<Vec<&'static str>> = vec![
        vec!["eventTime"],
        vec!["eventID"],
        vec!["eventName"],
        vec!["eventSource"],
        vec!["awsRegion"],
        vec!["sourceIPAddress"],
        vec!["userAgent"],
        vec!["errorCode"],
        vec!["errorMessage"],
        vec!["requestParameters"],
        vec!["responseElements"],
        vec!["resources"],
        vec!["tlsDetails"],
        vec!["userIdentity"],
        vec!["userIdentity", "type"],
        vec!["userIdentity", "arn"],
        vec!["userIdentity", "accessKeyId"],
        vec!["userIdentity", "sessionContext"],
        vec!["userIdentity", "sessionContext", "sessionIssuer"],
        vec!["userIdentity", "sessionContext", "attributes"],
        vec!["readOnly"],
        vec!["recipientAccountId"],
        vec!["additionalEventData"],
    ];
    let n = paths.len();
    prop::collection::vec((0..n, any_json(), any::<bool>()), 1..6).prop_map(move |edits| {
        let mut v = base.clone();
        for (i, value, remove) in edits {
            let path = &paths[i];
            let mut target = &mut v;
            for key in &path[..path.len() - 1] {
                if !target.get(*key).is_some_and(Value::is_object) {
                    target[*key] = json!({});
                }
                target = &mut target[*key];
            }
            let last = path[path.len() - 1];
            if remove {
                if let Some(o) = target.as_object_mut() {
                    o.remove(last);
                }
            } else {
                target[last] = value;
            }
        }
        v.to_string()
    })
}

fn cloudwatch_event(message: String, timestamp: i64, ingestion: Option<i64>) -> RawEvent {
    RawEvent {
        message,
        origin: Origin::CloudWatch(CloudWatchPosition {
            log_group: Arc::from("/fuzz"),
            log_stream: Arc::from("s"),
            event_id: "1".into(),
            timestamp,
            ingestion_time: ingestion,
        }),
    }
}

/// Encodes `events` into one batch; checks the batch is valid NDJSON with a `create` action and
/// a JSON object document per event added.
fn encode_and_check(events: Vec<RawEvent>) -> Result<usize, TestCaseError> {
    let encoder = Encoder::new(Enricher::default(), "fuzz-", Filter::default());
    let mut batch = BulkBatch::with_capacity(1 << 16);
    let mut added = 0;
    for event in events {
        match encoder.encode(&mut batch, event) {
            Ok(Encoded::Added | Encoded::Quarantined) => added += 1,
            Ok(Encoded::Filtered(_)) => prop_assert!(false, "no filter is set"),
            Err(refused) => {
                // A refusal says why, in a few words.
                prop_assert!(!refused.error.to_string().is_empty());
            }
        }
    }
    prop_assert_eq!(batch.len(), added);
    let body = std::str::from_utf8(batch.body()).expect("a bulk body is UTF-8");
    prop_assert!(body.is_empty() || body.ends_with('\n'));
    let lines: Vec<&str> = body.lines().collect();
    prop_assert_eq!(lines.len(), 2 * added);
    for pair in lines.chunks(2) {
        let action: Value = serde_json::from_str(pair[0]).expect("action line is JSON");
        let create = &action["create"];
        let index = create["_index"].as_str().expect("_index");
        prop_assert!(index.starts_with("fuzz-"), "{}", index);
        let id = create["_id"].as_str().expect("_id");
        prop_assert!(!id.is_empty() && id.len() <= 512, "{}", id);
        let doc: Value = serde_json::from_str(pair[1]).expect("document line is JSON");
        prop_assert!(doc.is_object());
        prop_assert!(doc["@timestamp"].is_string(), "{}", doc);
    }
    for (i, item) in batch.items().iter().enumerate() {
        let doc: Value = serde_json::from_slice(batch.document_of(i)).expect("document is JSON");
        prop_assert!(doc.is_object(), "{}", item.id);
    }
    Ok(added)
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn subscription_decode_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = subscription::decode(&bytes, LIMIT);
        // The same bytes behind the gzip magic, and base64 of their gzip.
        let mut magic = vec![0x1f, 0x8b];
        magic.extend_from_slice(&bytes);
        let _ = subscription::decode(&magic, LIMIT);
        let b64 = base64::engine::general_purpose::STANDARD.encode(gzip(&bytes));
        let _ = subscription::decode(b64.as_bytes(), LIMIT);
    }

    #[test]
    fn subscription_decode_never_panics_on_json(value in any_json()) {
        let text = value.to_string();
        let _ = subscription::decode(text.as_bytes(), LIMIT);
        let _ = subscription::decode(&gzip(text.as_bytes()), LIMIT);
        let mut envelope = json!({"messageType": "DATA_MESSAGE", "logGroup": "g", "logStream": "s",
            "owner": "1", "subscriptionFilters": ["f"], "logEvents": [value]});
        let _ = subscription::decode(envelope.to_string().as_bytes(), LIMIT);
        envelope["logEvents"] = json!([{"id": "1", "timestamp": 0, "message": text}]);
        prop_assert!(subscription::decode(&gzip(envelope.to_string().as_bytes()), LIMIT).is_ok());
    }

    #[test]
    fn subscription_payloads_keep_every_event(
        events in prop::collection::vec(("\\PC{0,200}", any::<i64>(), any::<bool>(), any::<u64>()), 0..20),
        group in "\\PC{1,40}",
    ) {
        let log_events: Vec<Value> = events.iter().map(|(m, ts, text_id, id)| {
            let id = if *text_id { json!(id.to_string()) } else { json!(id) };
            json!({"id": id, "timestamp": ts, "message": m})
        }).collect();
        let envelope = json!({"messageType": "DATA_MESSAGE", "owner": "111122223333",
            "logGroup": group, "logStream": "s", "subscriptionFilters": ["f"],
            "logEvents": log_events});
        let gz = gzip(envelope.to_string().as_bytes());
        for bytes in [gz.clone(), base64::engine::general_purpose::STANDARD.encode(&gz).into_bytes()] {
            let payload = subscription::decode(&bytes, LIMIT).expect("a valid payload decodes");
            prop_assert_eq!(payload.events.len(), events.len());
            for (e, (m, ts, _, id)) in payload.events.iter().zip(&events) {
                prop_assert_eq!(&e.message, m);
                let Origin::CloudWatch(p) = &e.origin else { panic!("a CloudWatch origin") };
                prop_assert_eq!(p.timestamp, *ts);
                prop_assert_eq!(&p.event_id, &id.to_string());
                prop_assert_eq!(&*p.log_group, group.as_str());
            }
        }
    }

    #[test]
    fn cloudtrail_parse_never_panics_on_strings(s in "\\PC{0,400}") {
        let _ = CloudTrailRecord::parse(&s);
    }

    #[test]
    fn cloudtrail_parse_never_panics_on_json(value in any_json()) {
        let _ = CloudTrailRecord::parse(&value.to_string());
    }

    #[test]
    fn mutated_records_encode_into_valid_ndjson(
        records in prop::collection::vec((mutated_record(), any::<i64>(), prop::option::of(any::<i64>())), 1..8),
    ) {
        let events = records.into_iter().map(|(m, ts, ing)| cloudwatch_event(m, ts, ing)).collect();
        encode_and_check(events)?;
    }

    #[test]
    fn arbitrary_messages_encode_or_are_refused(
        messages in prop::collection::vec(prop_oneof![
            "\\PC{0,200}".boxed(),
            any_json().prop_map(|v| v.to_string()).boxed(),
        ], 1..8),
        ts in any::<i64>(),
    ) {
        let events = messages.into_iter().map(|m| cloudwatch_event(m, ts, None)).collect();
        encode_and_check(events)?;
    }
}

/// Timestamps at the ends of the range: without eventTime the CloudWatch timestamp places the
/// event (or it is refused, never a panic); with one, the CloudWatch timestamp does not matter.
#[test]
fn extreme_cloudwatch_timestamps_do_not_panic() {
    for ts in [i64::MIN, -1, 0, 253_402_300_800_000, i64::MAX] {
        let without = json!({"eventID": "x", "eventName": "A", "eventSource": "s"}).to_string();
        let added = encode_and_check(vec![cloudwatch_event(without, ts, Some(ts))]).unwrap();
        assert!(added <= 1);
        let with = json!({"eventID": "x", "eventName": "A", "eventSource": "s",
            "eventTime": "2026-01-15T08:00:20Z"})
        .to_string();
        let added = encode_and_check(vec![cloudwatch_event(with, ts, Some(ts))]).unwrap();
        assert_eq!(added, 1, "timestamp {ts}");
    }
}

/// The mutations start from records that encode: the property is not vacuous.
#[test]
fn the_sample_records_all_encode() {
    let events: Vec<RawEvent> = include_str!("../examples/cloudtrail-sample.ndjson")
        .lines()
        .map(|l| cloudwatch_event(l.to_owned(), 0, None))
        .collect();
    let n = events.len();
    assert_eq!(encode_and_check(events).unwrap(), n);
}

//! Hostile and odd content inside valid CloudTrail records, through `ingest` into the real local
//! OpenSearch: nothing may cost a valid event, nothing sent may hurt the node (#18). Every
//! record is generated here; each test asserts input = indexed + dead-lettered and where each
//! original value ended up.
//!
//! The node is shared: no record sent here nests anywhere near the depth that kills a node
//! (~1,500 objects; 1,000 survived), and whatever is above the bound never reaches a
//! `flat_object` field anyway.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use trailscope::enrich::Enricher;
use trailscope::event::bound::MAX_DEPTH;
use trailscope::event::encode::{Encoded, Encoder};
use trailscope::event::filter::Filter;
use trailscope::sink::bulk::BulkBatch;
use trailscope::source::{Origin, RawEvent};

/// The depth that survived on a disposable 2.19.1 node (~1,500 objects / ~3,000 arrays killed
/// it): see FACTS.md and the note of #18.
const SURVIVED_OBJECTS: usize = 1_000;

fn ingest(prefix: &str, dead: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut args = extra.to_vec();
    args.push(file.to_str().unwrap());
    ingest_cmd(prefix, dead, &args).output().unwrap()
}

fn summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ingest failed ({}): {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| {
        panic!(
            "no JSON summary on stdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn dead_letters(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A record with `eventID` `id` and the members `extra` (JSON text, without braces).
fn record(id: &str, time: &str, extra: &str) -> String {
    let sep = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","eventID":"{id}","userIdentity":{{"type":"IAMUser","userName":"u"}}{sep}{extra}}}"#
    )
}

fn objects(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

fn arrays(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

async fn health(stack: &Stack) -> Value {
    let (status, body) = stack.request(Method::Get, "/_cluster/health", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn by_id(docs: &[Value]) -> std::collections::BTreeMap<String, Value> {
    docs.iter()
        .map(|d| (d["_id"].as_str().unwrap().to_owned(), d.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn nesting_at_and_four_times_above_the_bound_is_indexed_and_the_node_stays_up() {
    // The bound is 30 times below a depth that survived (and ~45 below the one that kills);
    // the deepest record here (4 times the bound) stays far below it too, so a mistake in this
    // test cannot crash the shared node.
    const { assert!(MAX_DEPTH * 30 <= SURVIVED_OBJECTS) };
    const { assert!(4 * MAX_DEPTH < SURVIVED_OBJECTS / 4) };
    let stack = Stack::connect().await;
    assert_ne!(health(&stack).await["status"], "red");
    let prefix = format!("{}-", unique("t-hostile-depth"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let (file, dead) = (dir.path().join("in.ndjson"), dir.path().join("dead.ndjson"));
    let now = now_text();
    let above = 4 * MAX_DEPTH;
    // At the bound (a payload object is level 1) and four times it, in every place that is a
    // flat_object field: the four payloads, an unknown field, onBehalfOf.
    let mut lines = Vec::new();
    for (tag, depth) in [("at", MAX_DEPTH), ("above", above)] {
        let o = objects(depth);
        let a = format!("{{\"a\":{}}}", arrays(depth - 1));
        let unknown = objects(depth);
        lines.push(record(
            &format!("{tag}-rp"),
            &now,
            &format!("\"requestParameters\":{o}"),
        ));
        lines.push(record(
            &format!("{tag}-re"),
            &now,
            &format!("\"responseElements\":{a}"),
        ));
        lines.push(record(
            &format!("{tag}-aed"),
            &now,
            &format!("\"additionalEventData\":{o}"),
        ));
        lines.push(record(
            &format!("{tag}-sed"),
            &now,
            &format!("\"serviceEventDetails\":{a}"),
        ));
        lines.push(record(
            &format!("{tag}-unknown"),
            &now,
            &format!("\"brandNewField\":{unknown}"),
        ));
        lines.push(record(&format!("{tag}-obo"), &now, "").replace(
            "\"userName\":\"u\"",
            &format!("\"userName\":\"u\",\"onBehalfOf\":{o}"),
        ));
    }
    std::fs::write(&file, lines.join("\n")).unwrap();
    let s = summary(&ingest(&prefix, &dead, &file, &[]));
    assert_eq!(
        (s["read"].as_u64(), s["indexed"].as_u64()),
        (Some(12), Some(12)),
        "{s}"
    );
    assert_eq!(s["dead_lettered"], 0, "{s}");
    assert!(dead_letters(&dead).is_empty());

    let docs = by_id(&stack.all_docs(&prefix).await);
    assert_eq!(docs.len(), 12);
    let ct = |id: &str| docs[id]["aws"]["cloudtrail"].clone();
    // Compared as text: serde_json reads no deeper than 128 levels.
    for (tag, depth) in [("at", MAX_DEPTH), ("above", above)] {
        let o = objects(depth);
        let a = format!("{{\"a\":{}}}", arrays(depth - 1));
        for (id, flat, original) in [
            ("rp", "request_parameters", &o),
            ("re", "response_elements", &a),
            ("aed", "additional_event_data", &o),
            ("sed", "service_event_details", &a),
        ] {
            let c = ct(&format!("{tag}-{id}"));
            // The text copy, exactly the original, where the flat_object did not take the
            // payload; none beside a flat_object that did (`--payloads flat`, the default).
            let text = (tag == "above").then_some(original.as_str());
            assert_eq!(c[flat].as_str(), text, "{tag}-{id}");
            // Searchable by path at the bound, text only above it, and why.
            assert_eq!(
                c["flattened"][flat].is_object(),
                tag == "at",
                "{tag}-{id}: {c}"
            );
            let reasons = c["unindexed_reasons"].clone();
            if tag == "at" {
                assert!(reasons.is_null(), "{reasons}");
            } else {
                let field = reasons[0].as_str().unwrap().split(':').next().unwrap();
                assert_eq!(
                    reasons,
                    json!([format!("{field}: nested deeper than 32 levels")])
                );
            }
        }
    }
    // At the bound, searchable by its dotted path on the node.
    let path = format!(
        "aws.cloudtrail.flattened.request_parameters.{}",
        vec!["a"; MAX_DEPTH].join(".")
    );
    let (status, body) = stack
        .request(
            Method::Post,
            &format!("/{prefix}*/_count"),
            Some(json!({"query": {"term": {path: "1"}}})),
        )
        .await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)), "{body}");
    // The events whose content is not all searchable by path are found by their reasons.
    let (status, body) = stack
        .request(
            Method::Post,
            &format!("/{prefix}*/_count"),
            Some(json!({"query": {"exists": {"field": "aws.cloudtrail.unindexed_reasons"}}})),
        )
        .await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(6)), "{body}");
    // An unknown field and onBehalfOf: in their flat_object at the bound, whole in
    // unindexed_fields above it.
    let at = ct("at-unknown");
    let at_original: Value = serde_json::from_str(&objects(MAX_DEPTH)).unwrap();
    assert_eq!(at["unknown_fields"]["brandNewField"], at_original);
    assert!(at["unindexed_fields"].is_null());
    let c = ct("above-unknown");
    assert!(c["unknown_fields"].is_null(), "{c}");
    assert_eq!(
        c["unindexed_fields"].as_str(),
        Some(format!("{{\"brandNewField\":{}}}", objects(above)).as_str())
    );
    assert_eq!(ct("at-obo")["user_identity"]["on_behalf_of"], at_original);
    let c = ct("above-obo");
    assert!(c["user_identity"]["on_behalf_of"].is_null(), "{c}");
    assert_eq!(
        c["unindexed_fields"].as_str(),
        Some(format!("{{\"userIdentity.onBehalfOf\":{}}}", objects(above)).as_str())
    );

    let h = health(&stack).await;
    assert_ne!(h["status"], "red", "{h}");
    assert_eq!(h["number_of_nodes"], 1, "{h}");
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_events_with_content_a_flat_object_or_a_date_refuses_are_indexed_whole() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-hostile-content"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let (file, dead) = (dir.path().join("in.ndjson"), dir.path().join("dead.ndjson"));
    let now = Utc::now();
    let now_s = now_text();
    // Over Lucene's 32,766-byte term limit, and a number over Jackson's 1,000 characters.
    let long = "x".repeat(40_000);
    let digits = "9".repeat(2_000);
    let today = now.format("%Y-%m-%d").to_string();
    let lines = [
        record(
            "long-unknown",
            &now_s,
            &format!("\"brandNewField\":\"{long}\""),
        ),
        record(
            "long-rp",
            &now_s,
            &format!(
                "\"requestParameters\":{{\"policy\":\"{}\"}}",
                "y".repeat(32_740)
            ),
        ),
        record(
            "dup-rp",
            &now_s,
            r#""requestParameters":{"bucketName":"a","bucketName":"b","k":{"x":1,"\u0078":2}}"#,
        ),
        record(
            "digits-rp",
            &now_s,
            &format!("\"requestParameters\":{{\"n\":{digits}}}"),
        ),
        record(
            "digits-unknown",
            &now_s,
            &format!("\"brandNewNumber\":{digits}"),
        ),
        record("dup-unknown", &now_s, r#""brandNew":1,"brandNew":2"#),
        record("leap", &format!("{today}T23:59:60Z"), ""),
        record("lower", &format!("{today}t12:00:00z"), ""),
        record("creation", &now_s, "").replace(
            "\"userName\":\"u\"",
            r#""userName":"u","sessionContext":{"attributes":{"creationDate":"yesterday"}}"#,
        ),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let s = summary(&ingest(&prefix, &dead, &file, &[]));
    assert_eq!(s["read"], lines.len(), "{s}");
    assert_eq!(s["indexed"], lines.len(), "{s}");
    assert_eq!(s["dead_lettered"], 0, "{s}: {:?}", dead_letters(&dead));

    let docs = by_id(&stack.all_docs(&prefix).await);
    let ct = |id: &str| docs[id]["aws"]["cloudtrail"].clone();
    let aside = |id: &str| -> Value {
        serde_json::from_str(ct(id)["unindexed_fields"].as_str().unwrap()).unwrap()
    };
    assert_eq!(aside("long-unknown")["brandNewField"], long.as_str());
    // The whole payload stays searchable by path when the long term fits; here it does not.
    let c = ct("long-rp");
    assert!(c["flattened"]["request_parameters"].is_null(), "{c}");
    assert!(c["request_parameters"]
        .as_str()
        .unwrap()
        .contains(&"y".repeat(32_740)));
    // Duplicate keys: the text exactly as it came (both values), nothing flattened.
    let c = ct("dup-rp");
    assert_eq!(
        c["request_parameters"],
        r#"{"bucketName":"a","bucketName":"b","k":{"x":1,"\u0078":2}}"#
    );
    assert!(c["flattened"].is_null(), "{c}");
    assert!(ct("digits-rp")["request_parameters"]
        .as_str()
        .unwrap()
        .contains(&digits));
    // The number as it was written: serde_json reads it back as text of the same digits.
    assert_eq!(
        ct("digits-unknown")["unindexed_fields"].as_str(),
        Some(format!("{{\"brandNewNumber\":{digits}}}").as_str())
    );
    let dup = ct("dup-unknown");
    assert_eq!(dup["unknown_fields"]["brandNew"], 1, "{dup}");
    assert_eq!(aside("dup-unknown")["brandNew"], 2);
    // Each says why, in words.
    let term = "a key path and value longer than Lucene's 32766-byte term limit";
    for (id, reason) in [
        ("long-unknown", format!("brandNewField: {term}")),
        ("long-rp", format!("requestParameters: {term}")),
        (
            "dup-rp",
            "requestParameters: a key that appears twice in one object".into(),
        ),
        (
            "digits-rp",
            "requestParameters: a number longer than 1000 characters".into(),
        ),
        (
            "digits-unknown",
            "brandNewNumber: a number longer than 1000 characters".into(),
        ),
        (
            "dup-unknown",
            "brandNew: the same field again (the first one is indexed)".into(),
        ),
        (
            "creation",
            "userIdentity.sessionContext.attributes.creationDate: not a time OpenSearch reads"
                .into(),
        ),
    ] {
        assert_eq!(ct(id)["unindexed_reasons"], json!([reason]), "{id}");
    }
    // Times: the same instant as OpenSearch reads it, the text as it came kept.
    let leap = &docs["leap"];
    assert_eq!(leap["@timestamp"], format!("{today}T23:59:59.999999999Z"));
    assert_eq!(
        leap["aws"]["cloudtrail"]["unknown_fields"]["eventTime"],
        format!("{today}T23:59:60Z")
    );
    let lower = &docs["lower"];
    assert_eq!(lower["@timestamp"], format!("{today}T12:00:00Z"));
    assert_eq!(
        lower["aws"]["cloudtrail"]["unknown_fields"]["eventTime"],
        format!("{today}t12:00:00z")
    );
    let c = ct("creation");
    assert!(
        c["user_identity"]["session_context"]["creation_date"].is_null(),
        "{c}"
    );
    assert_eq!(
        aside("creation")["userIdentity.sessionContext.attributes.creationDate"],
        "yesterday"
    );
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_outside_the_window_go_to_one_quarantine_index() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-hostile-dates"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let (file, dead) = (dir.path().join("in.ndjson"), dir.path().join("dead.ndjson"));
    let now = Utc::now();
    // 300 hostile days across the whole range a date can be written in, plus a few normal
    // events: only today's index and the quarantine index may appear.
    let mut lines = Vec::new();
    for n in 0..300u32 {
        let year = 1 + n * 33;
        let time = format!("{year:04}-{:02}-{:02}T00:00:00Z", 1 + n % 12, 1 + n % 28);
        lines.push(record(&format!("hostile-{n}"), &time, ""));
    }
    let future = (now + Duration::days(3)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let old = (now - Duration::days(3 * 365)).to_rfc3339_opts(SecondsFormat::Secs, true);
    lines.push(record("future", &future, ""));
    lines.push(record("old", &old, ""));
    // Negative years are no RFC 3339 time: refused with the reason, from a file.
    lines.push(record("negative", "-0001-01-01T00:00:00Z", ""));
    for n in 0..5 {
        lines.push(record(&format!("normal-{n}"), &now_text(), ""));
    }
    std::fs::write(&file, lines.join("\n")).unwrap();
    let s = summary(&ingest(&prefix, &dead, &file, &[]));
    assert_eq!(s["read"], lines.len(), "{s}");
    assert_eq!(s["indexed"], 307, "{s}");
    assert_eq!(s["quarantined"], 302, "{s}");
    assert_eq!(s["dead_lettered"], 1, "{s}");
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].to_string().contains("-0001-01-01"),
        "{}",
        letters[0]
    );

    let (status, body) = stack
        .request(
            Method::Get,
            &format!("/_cat/indices/{prefix}*?format=json&h=index"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let today = format!("{prefix}{}", now.format("%Y.%m.%d"));
    let mut expected = vec![today, format!("{prefix}quarantine")];
    expected.sort();
    assert_eq!(names, expected);
    let docs = by_id(&stack.all_docs(&prefix).await);
    assert_eq!(docs["future"]["_index"], format!("{prefix}quarantine"));
    assert_eq!(docs["hostile-299"]["@timestamp"], "9868-12-20T00:00:00Z");

    // A window wide enough for the old backfill indexes it by day; the rest stays quarantined.
    let (file2, dead2) = (
        dir.path().join("old.ndjson"),
        dir.path().join("dead2.ndjson"),
    );
    std::fs::write(&file2, record("old-again", &old, "")).unwrap();
    let s = summary(&ingest(&prefix, &dead2, &file2, &["--max-event-age", "5y"]));
    assert_eq!(
        (s["indexed"].as_u64(), s["quarantined"].as_u64()),
        (Some(1), Some(0)),
        "{s}"
    );
    let day = (now - Duration::days(3 * 365)).format("%Y.%m.%d");
    assert_eq!(stack.count(&format!("{prefix}{day}")).await, 1);
    stack.cleanup(&prefix).await;
}

/// The deepest nesting of objects and arrays in JSON text, strings skipped.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for b in text.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{' | b'[') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b'}' | b']') => depth -= 1,
            _ => {}
        }
    }
    deepest
}

/// The records that kill a node (~1,500 objects, ~3,000 arrays deep, and 20,000 for good
/// measure), in every raw place, are encoded without touching any node: the bulk body nests
/// them no deeper than the document's own levels plus the bound, and keeps every one as text.
#[test]
fn records_deep_enough_to_kill_a_node_are_never_sent_deep() {
    let encoder = Encoder::new(Enricher::default(), "cloudtrail-", Filter::default());
    let mut batch = BulkBatch::with_capacity(1 << 20);
    let now = now_text();
    let mut sent = 0;
    for (n, deep) in [
        objects(1_500),
        arrays(3_000),
        objects(20_000),
        arrays(20_000),
    ]
    .iter()
    .enumerate()
    {
        for field in [
            "requestParameters",
            "responseElements",
            "additionalEventData",
            "serviceEventDetails",
            "insightDetails",
            "brandNewField",
        ] {
            let message = record(
                &format!("{n}-{field}"),
                &now,
                &format!("\"{field}\":{deep}"),
            );
            let event = RawEvent {
                message,
                origin: Origin::File {
                    path: "hostile".into(),
                    record: sent,
                },
            };
            let added = encoder.encode(&mut batch, event);
            assert!(matches!(added, Ok(Encoded::Added)), "{field}: {added:?}");
            sent += 1;
        }
        let message = record(&format!("{n}-obo"), &now, "").replace(
            "\"userName\":\"u\"",
            &format!("\"userName\":\"u\",\"onBehalfOf\":{deep}"),
        );
        let event = RawEvent {
            message,
            origin: Origin::File {
                path: "hostile".into(),
                record: sent,
            },
        };
        assert!(matches!(
            encoder.encode(&mut batch, event),
            Ok(Encoded::Added)
        ));
        sent += 1;
    }
    let body = std::str::from_utf8(batch.body()).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 2 * sent as usize);
    for doc in lines.iter().skip(1).step_by(2) {
        // `{"aws":{"cloudtrail":{"flattened":{...` is 4 levels before a payload's own.
        let depth = nesting(doc);
        assert!(depth <= 4 + MAX_DEPTH, "{depth} levels: {}", &doc[..300]);
        // The deep value is all there, as text.
        assert!(doc.len() > 3_000, "{}", doc.len());
    }
}

/// The same classes through `forward` (moto as CloudWatch Logs): the encoder is shared, and a
/// record from CloudWatch Logs must come out the same.
#[tokio::test(flavor = "multi_thread")]
async fn forward_indexes_hostile_content_and_quarantines_hostile_dates() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-hostile-forward"));
    let group = unique("/t/hostile-forward");
    setup(&prefix);
    let now = Utc::now();
    let ts = now.timestamp_millis();
    let today = now.format("%Y-%m-%d").to_string();
    let now_s = now_text();
    let mut messages = vec![
        record(
            "deep",
            &now_s,
            &format!("\"requestParameters\":{}", objects(4 * MAX_DEPTH)),
        ),
        record(
            "dup",
            &now_s,
            r#""requestParameters":{"a":1,"a":2},"brandNew":1,"brandNew":2"#,
        ),
        record("leap", &format!("{today}T23:59:60Z"), ""),
        record(
            "long",
            &now_s,
            &format!("\"brandNewField\":\"{}\"", "x".repeat(40_000)),
        ),
        record("normal", &now_s, ""),
    ];
    for n in 0..10 {
        messages.push(record(
            &format!("hostile-{n}"),
            &format!("{:04}-06-15T00:00:00Z", 1 + n * 999),
            "",
        ));
    }
    let events: Vec<(i64, String)> = messages
        .iter()
        .enumerate()
        .map(|(n, m)| (ts - 60_000 + n as i64, m.clone()))
        .collect();
    stack.put_events(&group, 1, &events).await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let s = forward_once(&group, &prefix, &dead, &[]);
    assert_eq!(s["read"], 15, "{s}");
    assert_eq!(s["indexed"], 15, "{s}");
    assert_eq!(s["quarantined"], 10, "{s}");
    assert_eq!(s["dead_lettered"], 0, "{s}: {:?}", dead_letters(&dead));
    let docs = by_id(&stack.all_docs(&prefix).await);
    let daily = format!("{prefix}{}", now.format("%Y.%m.%d"));
    for id in ["deep", "dup", "leap", "long", "normal"] {
        assert_eq!(docs[id]["_index"], daily.as_str(), "{id}");
    }
    for n in 0..10 {
        assert_eq!(
            docs[&format!("hostile-{n}")]["_index"],
            format!("{prefix}quarantine")
        );
    }
    assert_eq!(
        docs["leap"]["@timestamp"],
        format!("{today}T23:59:59.999999999Z")
    );
    assert!(docs["deep"]["aws"]["cloudtrail"]["flattened"].is_null());
    assert_eq!(
        docs["dup"]["aws"]["cloudtrail"]["unknown_fields"]["brandNew"],
        1
    );
    stack.cleanup(&prefix).await;
}

/// The same through the Lambda handler (a CloudWatch Logs subscription event, AWS's envelope).
#[tokio::test(flavor = "multi_thread")]
async fn lambda_indexes_hostile_content_and_quarantines_hostile_dates() {
    use base64::Engine as _;
    use std::io::Write as _;
    use trailscope::commands::lambda::{Handler, LambdaArgs};
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-hostile-lambda"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let now = Utc::now();
    let now_s = now_text();
    let messages = [
        record(
            "deep",
            &now_s,
            &format!("\"brandNewField\":{}", arrays(4 * MAX_DEPTH)),
        ),
        record("dup", &now_s, r#""requestParameters":{"a":1,"\u0061":2}"#),
        record(
            "digits",
            &now_s,
            &format!("\"responseElements\":{{\"n\":{}}}", "1".repeat(2_000)),
        ),
        record("lower", &now_s.replace('T', "t").replace('Z', "z"), ""),
        record("year-1", "0001-01-01T00:00:00Z", ""),
        record("year-9999", "9999-12-31T23:59:59Z", ""),
    ];
    let log_events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(n, m)| json!({"id": format!("{n:056}"), "timestamp": now.timestamp_millis(), "message": m}))
        .collect();
    let payload = json!({"messageType": "DATA_MESSAGE", "owner": "111122223333",
        "logGroup": "/hostile", "logStream": "s", "subscriptionFilters": ["f"],
        "logEvents": log_events});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(payload.to_string().as_bytes()).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let args = LambdaArgs::try_parse_from([
        "trailscope-lambda",
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        &prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ])
    .unwrap();
    let h = Handler::new(&args).await.unwrap();
    h.handle(json!({"awslogs": {"data": data}}), None)
        .await
        .unwrap();
    let s = h.pipeline().stats.snapshot();
    assert_eq!(
        (s.read, s.indexed, s.dead_lettered, s.quarantined),
        (6, 6, 0, 2),
        "{s:?}"
    );
    let docs = by_id(&stack.all_docs(&prefix).await);
    assert_eq!(docs["year-1"]["_index"], format!("{prefix}quarantine"));
    assert_eq!(docs["year-9999"]["_index"], format!("{prefix}quarantine"));
    assert_eq!(docs["lower"]["@timestamp"], now_s.as_str());
    assert!(docs["dup"]["aws"]["cloudtrail"]["flattened"].is_null());
    assert!(docs["deep"]["aws"]["cloudtrail"]["unindexed_fields"].is_string());
    stack.cleanup(&prefix).await;
}

//! `ingest` against the real local stack: subscription payloads built by moto (as CloudWatch Logs
//! builds them for a Kinesis destination) and by hand with AWS's envelope, CloudTrail log files
//! and NDJSON, into a real OpenSearch.

mod common;

use base64::Engine;
use chrono::Utc;
use common::synthetic;
use common::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// `trailscope ingest` of `inputs` into `prefix`, with `stdin` piped in when given.
fn ingest(prefix: &str, dead: &Path, inputs: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = ingest_cmd(prefix, dead, inputs);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("run trailscope ingest");
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn summary(out: &Output) -> Value {
    output_summary(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn poller_and_subscription_payloads_index_identical_documents() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("subscription"));
    let polled = format!("{}-", unique("t-polled"));
    let pushed = format!("{}-", unique("t-pushed"));
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x5b5b;
    let start = Utc::now() - chrono::Duration::days(1);
    let mut events: Vec<(i64, String, String)> = synthetic::events(seed, 600, start, 997)
        .into_iter()
        .enumerate()
        .map(|(i, (ts, m))| (ts, format!("stream-{}", i % 3), m))
        .collect();
    // A message that is not a CloudTrail record: both paths dead-letter it.
    events.push((
        events[5].0,
        "stream-0".into(),
        "not a CloudTrail record".into(),
    ));
    let payloads = moto_subscription_payloads(&group, &events, dir.path());
    assert!(payloads.len() >= 12, "one payload per PutLogEvents call");
    setup(&polled);
    setup(&pushed);

    let dead_polled = dir.path().join("dead-polled.ndjson");
    let first = forward_once(&group, &polled, &dead_polled, &[]);
    assert_eq!(first["indexed"], 600, "{first}");

    // Half the payloads as raw gzip files, half as base64 lines on stdin.
    let (raw, encoded) = payloads.split_at(payloads.len() / 2);
    let stdin: String = encoded
        .iter()
        .map(|p| b64(&std::fs::read(p).unwrap()) + "\n")
        .collect();
    let mut inputs: Vec<&str> = raw.iter().map(|p| p.to_str().unwrap()).collect();
    inputs.push("-");
    let dead_pushed = dir.path().join("dead-pushed.ndjson");
    let out = ingest(&pushed, &dead_pushed, &inputs, Some(stdin.as_bytes()));
    let s = summary(&out);
    assert!(out.status.success(), "{s}");
    assert_eq!(s["read"], 601, "{s}");
    assert_eq!(s["indexed"], 600, "{s}");
    assert_eq!(s["dead_lettered"], 1, "{s}");
    assert_eq!(s["payloads"], payloads.len(), "{s}");
    assert_eq!(s["malformed_payloads"], 0, "{s}");

    // Same ids, same index (but for the prefix), byte-identical _source.
    let index_of = |docs: Vec<Value>, prefix: &str| -> BTreeMap<String, String> {
        docs.iter()
            .map(|d| {
                let index = d["_index"].as_str().unwrap();
                (
                    d["_id"].as_str().unwrap().to_owned(),
                    index.strip_prefix(prefix).unwrap().to_owned(),
                )
            })
            .collect()
    };
    let a = index_of(stack.all_docs(&polled).await, &polled);
    let b = index_of(stack.all_docs(&pushed).await, &pushed);
    assert_eq!(a.len(), 600);
    assert_eq!(a, b, "same ids in the same daily indices");
    for (id, day) in &a {
        let x = stack.raw_source(&format!("{polled}{day}"), id).await;
        let y = stack.raw_source(&format!("{pushed}{day}"), id).await;
        assert_eq!(
            x, y,
            "document {id} differs between polling and subscription"
        );
    }
    let sample: Value = serde_json::from_str(
        &stack
            .raw_source(
                &format!("{pushed}{}", a.values().next().unwrap()),
                a.keys().next().unwrap(),
            )
            .await,
    )
    .unwrap();
    assert_eq!(sample["cloudwatch"]["log_group"], group.as_str());
    assert!(sample["cloudwatch"]["event_id"].is_string(), "{sample}");

    // The bad message is dead-lettered by both, at the same CloudWatch position.
    let (dp, ds) = (dead_letters(&dead_polled), dead_letters(&dead_pushed));
    assert_eq!(dp.len(), 1);
    assert_eq!(ds.len(), 1);
    assert_eq!(dp[0]["event"], "not a CloudTrail record");
    assert_eq!(ds[0]["event"], "not a CloudTrail record");
    let pos = |d: &Value| {
        let o = &d["origin"]["cloud_watch"];
        (
            o["log_group"].clone(),
            o["log_stream"].clone(),
            o["event_id"].clone(),
        )
    };
    assert_eq!(pos(&dp[0]), pos(&ds[0]));
    assert!(dp[0]["origin"]["cloud_watch"]["ingestion_time"].is_i64());
    assert!(ds[0]["origin"]["cloud_watch"]["ingestion_time"].is_null());

    stack.cleanup(&polled).await;
    stack.cleanup(&pushed).await;
}

/// A 56-digit CloudWatch Logs event id, as AWS writes them (a string).
fn aws_event_id(i: usize) -> String {
    format!(
        "{:056}",
        31953106606966983378809025079804211143u128 + i as u128
    )
}

fn data_message(group: &str, events: &[(String, i64, String)], moto_ids: bool) -> Value {
    json!({
        "messageType": "DATA_MESSAGE",
        "owner": "111122223333",
        "logGroup": group,
        "logStream": "111122223333_CloudTrail_us-east-1",
        "subscriptionFilters": ["trailscope"],
        "policyLevel": "ACCOUNT_LEVEL_POLICY",
        "logEvents": events.iter().map(|(id, ts, m)| if moto_ids {
            json!({"id": id.parse::<u64>().unwrap(), "timestamp": ts, "message": m})
        } else {
            json!({"id": id, "timestamp": ts, "message": m})
        }).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_payloads_control_unknown_fields_bombs_and_truncation() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-payloads"));
    let dir = tempfile::tempdir().unwrap();
    let group = "aws-cloudtrail-logs-111122223333";
    let seed = 0x7a7a;
    let records = synthetic::events(seed, 30, Utc::now() - chrono::Duration::hours(3), 1000);
    let mut first: Vec<(String, i64, String)> = records[..20]
        .iter()
        .enumerate()
        .map(|(i, (ts, m))| (aws_event_id(i), *ts, m.clone()))
        .collect();
    first.push((
        aws_event_id(99),
        records[0].0,
        "{\"not\": \"cloudtrail\"".into(),
    ));
    let second: Vec<(String, i64, String)> = records[20..]
        .iter()
        .enumerate()
        .map(|(i, (ts, m))| ((1000 + i).to_string(), *ts, m.clone()))
        .collect();
    let data1 = gzip(data_message(group, &first, false).to_string().as_bytes());
    let data2 = gzip(data_message(group, &second, true).to_string().as_bytes());
    let control = gzip(
        json!({
            "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
            "logStream": "", "subscriptionFilters": [],
            "logEvents": [{"id": "", "timestamp": 1432826855000i64,
                "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]
        })
        .to_string()
        .as_bytes(),
    );
    // 48 MiB of one string: compresses to ~50 KiB, over the 16 MiB default cap.
    let mut bomb_json = br#"{"messageType":"DATA_MESSAGE","logEvents":[],"x":""#.to_vec();
    bomb_json.extend(std::iter::repeat_n(b'a', 48 * 1024 * 1024));
    bomb_json.extend(br#""}"#);
    let bomb = gzip(&bomb_json);
    assert!(bomb.len() < 1024 * 1024);
    let truncated = &data2[..data2.len() / 2];

    let lines = [
        b64(&data1),
        b64(&control),
        b64(&bomb),
        b64(truncated),
        json!({"awslogs": {"data": b64(&data2)}}).to_string(),
    ];
    let file = dir.path().join("payloads.txt");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    setup(&prefix);
    let dead = dir.path().join("dead.ndjson");
    let out = ingest(&prefix, &dead, &[file.to_str().unwrap()], None);
    let s = summary(&out);
    assert!(
        !out.status.success(),
        "malformed payloads must fail the run: {s}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 malformed subscription payload"),
        "{stderr}"
    );
    assert!(stderr.contains("gzip bomb"), "{stderr}");
    assert!(stderr.contains("corrupt or truncated"), "{stderr}");
    // Nothing else was lost: both good payloads are indexed in full. The two malformed payloads
    // count as read and dead-lettered: read = indexed + dead-lettered.
    assert_eq!(s["read"], 33, "{s}");
    assert_eq!(s["indexed"], 30, "{s}");
    assert_eq!(s["dead_lettered"], 3, "{s}");
    assert_eq!(s["rejected"], 2, "{s}");
    assert_eq!(s["payloads"], 3, "{s}");
    assert_eq!(s["control_messages"], 1, "{s}");
    assert_eq!(s["malformed_payloads"], 2, "{s}");

    let docs = stack.all_docs(&prefix).await;
    assert_eq!(docs.len(), 30);
    let ids: HashSet<String> = docs
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_owned())
        .collect();
    let expected: HashSet<String> = (0..30).map(|i| synthetic::event_id(seed, i)).collect();
    assert_eq!(ids, expected);
    let event_ids: HashSet<&str> = docs
        .iter()
        .map(|d| d["cloudwatch"]["event_id"].as_str().unwrap())
        .collect();
    assert!(
        event_ids.contains(aws_event_id(0).as_str()),
        "AWS's string ids"
    );
    assert!(event_ids.contains("1000"), "moto's integer ids");
    for d in &docs {
        assert_eq!(d["cloudwatch"]["log_group"], group);
        assert_eq!(
            d["cloudwatch"]["log_stream"],
            "111122223333_CloudTrail_us-east-1"
        );
        assert!(d["cloudwatch"].get("ingestion_time").is_none(), "{d}");
    }

    let letters = dead_letters(&dead);
    let kinds: Vec<&str> = letters
        .iter()
        .map(|l| l["error_type"].as_str().unwrap())
        .collect();
    assert_eq!(letters.len(), 3, "{letters:?}");
    assert!(kinds.contains(&"payload_too_large"), "{kinds:?}");
    assert!(kinds.contains(&"bad_gzip"), "{kinds:?}");
    assert!(kinds.contains(&"not_json"), "{kinds:?}");
    let bad_gzip = letters
        .iter()
        .find(|l| l["error_type"] == "bad_gzip")
        .unwrap();
    assert_eq!(bad_gzip["event"], b64(truncated), "the payload is kept");
    assert_eq!(bad_gzip["origin"]["file"]["record"], 4, "its line");
    let not_json = letters
        .iter()
        .find(|l| l["error_type"] == "not_json")
        .unwrap();
    assert_eq!(
        not_json["origin"]["cloud_watch"]["event_id"],
        aws_event_id(99)
    );

    // A retry of a good payload duplicates nothing.
    let again = dir.path().join("again.gz");
    std::fs::write(&again, &data1).unwrap();
    let out = ingest(&prefix, &dead, &[again.to_str().unwrap()], None);
    let s = summary(&out);
    assert!(out.status.success(), "{s}");
    assert_eq!(s["indexed"], 0, "{s}");
    assert_eq!(s["duplicates"], 20, "{s}");
    assert_eq!(stack.count(&prefix).await, 30);
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudtrail_log_files_and_ndjson_from_files_and_stdin() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-files"));
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x4f4f;
    let records: Vec<Value> =
        synthetic::events(seed, 45, Utc::now() - chrono::Duration::days(3), 60_000)
            .into_iter()
            .map(|(_, m)| serde_json::from_str(&m).unwrap())
            .collect();
    // As CloudTrail writes them to S3: one line, gzip.
    let gz = dir
        .path()
        .join("111122223333_CloudTrail_us-east-1_20261124T0000Z_abc.json.gz");
    std::fs::write(
        &gz,
        gzip(json!({"Records": records[..20]}).to_string().as_bytes()),
    )
    .unwrap();
    // Pretty-printed, uncompressed.
    let pretty = dir.path().join("pretty.json");
    std::fs::write(
        &pretty,
        serde_json::to_string_pretty(&json!({"Records": records[20..30]})).unwrap(),
    )
    .unwrap();
    // NDJSON on stdin, with a blank line and a line that is no record.
    let mut ndjson: String = records[30..]
        .iter()
        .map(|r| r.to_string() + "\n\n")
        .collect();
    ndjson.push_str("this line is not a record\n");
    setup(&prefix);
    let dead = dir.path().join("dead.ndjson");
    let out = ingest(
        &prefix,
        &dead,
        &[gz.to_str().unwrap(), pretty.to_str().unwrap(), "-"],
        Some(ndjson.as_bytes()),
    );
    let s = summary(&out);
    assert!(out.status.success(), "{s}");
    assert_eq!(s["files"], 3, "{s}");
    assert_eq!(s["read"], 46, "{s}");
    assert_eq!(s["indexed"], 45, "{s}");
    assert_eq!(s["dead_lettered"], 1, "{s}");
    let on_disk = std::fs::metadata(&gz).unwrap().len() + std::fs::metadata(&pretty).unwrap().len();
    assert_eq!(s["bytes"], on_disk + ndjson.len() as u64, "{s}");
    // Not a terminal: plain progress lines, one per input.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("read input").count(), 3, "{stderr}");

    let docs = stack.all_docs(&prefix).await;
    assert_eq!(docs.len(), 45);
    for (i, r) in records.iter().enumerate() {
        let id = synthetic::event_id(seed, i);
        let d = docs
            .iter()
            .find(|d| d["_id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} not indexed"));
        assert_eq!(d["event"]["action"], r["eventName"]);
        assert_eq!(d["@timestamp"], r["eventTime"]);
        assert!(
            d.get("cloudwatch").is_none(),
            "files have no CloudWatch position"
        );
    }
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["event"], "this line is not a record");
    assert_eq!(letters[0]["origin"]["file"]["path"], "-");
    // Refused while reading (not JSON): its origin is its line (records and blank lines
    // alternate on stdin).
    assert_eq!(
        letters[0]["origin"]["file"]["record"], 31,
        "line 31 of stdin"
    );
    assert_eq!(letters[0]["error_type"], "not_json");
    stack.cleanup(&prefix).await;
}

/// By default (`--payloads flat`) a payload the flat_object takes is indexed there only
/// (searchable by path, its content in `_source`), without the JSON text copy; one it does not
/// take (too deep) keeps its text, so nothing becomes unreadable. `--payloads both` keeps the
/// text copy of every payload, as Elastic's integration writes it.
#[tokio::test]
async fn flat_payloads_keep_the_text_only_where_the_flat_object_did_not_take_it() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-ingest-flat"));
    let dir = tempfile::tempdir().unwrap();
    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    let record = |id: &str, parameters: Value| {
        json!({"eventVersion": "1.09", "eventTime": "2026-11-20T12:00:00Z",
            "eventSource": "s3.amazonaws.com", "eventName": "GetBucketAcl",
            "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2.15.0", "eventID": id, "eventType": "AwsApiCall",
            "userIdentity": {"type": "IAMUser", "accountId": "111122223333",
                "arn": "arn:aws:iam::111122223333:user/flat", "accessKeyId": "AKIAIOSFODNN7FLAT001"},
            "requestParameters": parameters, "recipientAccountId": "111122223333"})
    };
    let records = [
        record(
            "f1a70000-0000-4000-8000-000000000001",
            json!({"bucketName": "flat-bucket"}),
        ),
        record("f1a70000-0000-4000-8000-000000000002", deep),
    ];
    ingest_records(
        &stack,
        &prefix,
        dir.path(),
        &records,
        &["--max-event-age", "20y"],
    )
    .await;
    let docs = stack.all_docs(&prefix).await;
    let by_id = |id: &str| docs.iter().find(|d| d["_id"] == id).unwrap().clone();
    let small = by_id("f1a70000-0000-4000-8000-000000000001");
    let cloudtrail = &small["aws"]["cloudtrail"];
    assert!(cloudtrail.get("request_parameters").is_none(), "{small}");
    assert_eq!(
        cloudtrail["flattened"]["request_parameters"]["bucketName"],
        "flat-bucket"
    );
    let deep_doc = by_id("f1a70000-0000-4000-8000-000000000002");
    assert!(
        deep_doc["aws"]["cloudtrail"]["request_parameters"].is_string(),
        "the payload the flat_object did not take keeps its text: {deep_doc}"
    );
    // Searchable by path all the same.
    let (status, found) = stack
        .request(
            Method::Post,
            &format!("/{prefix}*/_search"),
            Some(json!({"query": {"term": {
                "aws.cloudtrail.flattened.request_parameters.bucketName": "flat-bucket"}}})),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"]["total"]["value"], 1, "{found}");
    stack.cleanup(&prefix).await;

    // `--payloads both`: the text copy as well, of the payload the flat_object took.
    let prefix = format!("{}-", unique("t-ingest-both"));
    let dir = tempfile::tempdir().unwrap();
    ingest_records(
        &stack,
        &prefix,
        dir.path(),
        &records[..1],
        &["--payloads", "both", "--max-event-age", "20y"],
    )
    .await;
    let docs = stack.all_docs(&prefix).await;
    let cloudtrail = &docs[0]["aws"]["cloudtrail"];
    assert_eq!(
        cloudtrail["request_parameters"], r#"{"bucketName":"flat-bucket"}"#,
        "{cloudtrail}"
    );
    assert_eq!(
        cloudtrail["flattened"]["request_parameters"]["bucketName"],
        "flat-bucket"
    );
    stack.cleanup(&prefix).await;
}

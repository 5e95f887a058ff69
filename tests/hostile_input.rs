//! Hostile and odd input (#18, the input side), each class generated here and run through
//! `trailscope ingest` into the real OpenSearch (and the Lambda handler where a class reaches
//! it): every event read ends indexed or dead-lettered with a reason, `read = indexed +
//! dead_lettered`, and an input not read whole says where it stopped and fails the command.

mod common;

use base64::Engine;
use chrono::Utc;
use common::synthetic;
use common::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::io::{Read, Write};
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

/// `trailscope ingest` of `inputs` into `prefix` with `extra` flags.
fn ingest(prefix: &str, dead: &Path, extra: &[&str], inputs: &[&Path]) -> Output {
    let url = opensearch_url();
    let mut args = vec![
        "ingest",
        "--opensearch-url",
        &url,
        "--index-prefix",
        prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    trailscope_cmd(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run trailscope ingest")
}

fn summary_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| {
        panic!(
            "no JSON summary on stdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn dead_letters(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn kinds(letters: &[Value]) -> Vec<&str> {
    letters
        .iter()
        .map(|l| l["error_type"].as_str().unwrap())
        .collect()
}

/// The original bytes of a dead letter (decoded when kept as base64).
fn original(letter: &Value) -> Vec<u8> {
    let event = letter["event"].as_str().unwrap();
    match letter.get("event_encoding") {
        Some(e) if e == "base64" => base64::engine::general_purpose::STANDARD
            .decode(event)
            .unwrap(),
        _ => event.as_bytes().to_vec(),
    }
}

/// Record `i` of `seed` as one line of JSON.
fn record(seed: u32, i: usize) -> String {
    synthetic::record(seed, i, Utc::now() - chrono::Duration::hours(2)).to_string()
}

fn records(seed: u32, range: std::ops::Range<usize>) -> Vec<Value> {
    range
        .map(|i| synthetic::record(seed, i, Utc::now() - chrono::Duration::hours(2)))
        .collect()
}

/// The read = indexed + dead_lettered balance, and what OpenSearch holds.
async fn assert_balance(stack: &Stack, prefix: &str, s: &Value, indexed: u64, dead: u64) {
    assert_eq!(s["indexed"], indexed, "{s}");
    assert_eq!(s["dead_lettered"], dead, "{s}");
    assert_eq!(s["read"], indexed + dead, "{s}");
    assert_eq!(stack.count(prefix).await, indexed, "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_error_part_way_delivers_everything_before_it_and_says_where() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-hostile-cut"));
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x1801;

    // A gzip member cut 40 bytes before its end: what decompresses before the cut is what the
    // reader can deliver (complete lines indexed, the cut line dead-lettered as read).
    let text: String = (0..60).map(|i| record(seed, i) + "\n").collect();
    let gz = gzip(text.as_bytes());
    let cut = &gz[..gz.len() - 40];
    let mut prefix_text = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(cut);
    let mut buf = [0u8; 4096];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => prefix_text.extend_from_slice(&buf[..n]),
        }
    }
    let whole_lines = prefix_text.iter().filter(|b| **b == b'\n').count() as u64;
    let cut_line = u64::from(!prefix_text.ends_with(b"\n"));
    assert!(whole_lines > 30 && whole_lines < 60, "{whole_lines}");
    let truncated = dir.path().join("truncated.json.gz");
    std::fs::write(&truncated, cut).unwrap();

    // A complete member followed by NUL padding: not an error, all of it read.
    let padded = dir.path().join("padded.json.gz");
    let mut bytes = gzip(
        (100..110)
            .map(|i| record(seed, i) + "\n")
            .collect::<String>()
            .as_bytes(),
    );
    bytes.extend_from_slice(&[0u8; 64 * 1024]);
    std::fs::write(&padded, bytes).unwrap();

    // A line over --max-document-bytes between good ones: refused alone, the next ones read.
    let oversized = dir.path().join("oversized.ndjson");
    let long = format!(
        "{{\"eventVersion\":\"1.09\",\"pad\":\"{}\"}}",
        "x".repeat(20_000)
    );
    let mut lines: Vec<String> = (200..205).map(|i| record(seed, i)).collect();
    lines.push(long.clone());
    lines.extend((205..210).map(|i| record(seed, i)));
    std::fs::write(&oversized, lines.join("\n") + "\n").unwrap();

    setup(&prefix);
    let dead = dir.path().join("dead.ndjson");
    let out = ingest(
        &prefix,
        &dead,
        &["--max-document-bytes", "16384"],
        &[&truncated, &padded, &oversized],
    );
    let s = summary_of(&out);
    assert_eq!(out.status.code(), Some(1), "not read whole must fail: {s}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not be read to their end"),
        "{stderr}"
    );
    assert!(!stderr.contains("Error {"), "no debug output: {stderr}");
    assert_balance(&stack, &prefix, &s, whole_lines + 10 + 10, cut_line + 1).await;
    assert_eq!(s["unread"], 1, "{s}");
    let incomplete = s["incomplete"].as_array().expect("incomplete inputs");
    assert_eq!(incomplete.len(), 1, "{s}");
    assert_eq!(incomplete[0]["input"], truncated.to_str().unwrap());
    let stopped = &incomplete[0]["stopped_at"];
    assert_eq!(stopped["kind"], "bad_gzip", "{s}");
    assert_eq!(stopped["byte"], cut.len() as u64, "{s}");
    assert_eq!(stopped["line"], whole_lines + cut_line, "{s}");
    assert!(stopped["reason"]
        .as_str()
        .unwrap()
        .contains("corrupt or truncated"));

    let letters = dead_letters(&dead);
    assert_eq!(letters.len() as u64, cut_line + 1, "{letters:?}");
    let long_letter = letters
        .iter()
        .find(|l| l["error_type"] == "line_too_large")
        .expect("the oversized line is dead-lettered");
    assert_eq!(original(long_letter), &long.as_bytes()[..4096]);
    assert!(long_letter["reason"]
        .as_str()
        .unwrap()
        .contains("raise the limit"));
    assert_eq!(long_letter["origin"]["file"]["record"], 6, "its line");
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_inputs_are_read_member_by_member_and_document_by_document() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-hostile-whole"));
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x1802;
    let mut files = Vec::new();
    let mut next = 0usize;
    let mut take = |n: usize| {
        let r = records(seed, next..next + n);
        next += n;
        r
    };
    let mut write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        files.push(path);
    };
    // A Firehose-delivered S3 object: gzip members back to back, each a subscription payload.
    let mut firehose = Vec::new();
    for (m, batch) in [take(4), take(4), take(4)].into_iter().enumerate() {
        let payload = json!({
            "messageType": "DATA_MESSAGE", "owner": "111122223333",
            "logGroup": "aws-cloudtrail-logs", "logStream": "111122223333_CloudTrail_eu-west-1",
            "subscriptionFilters": ["firehose"],
            "logEvents": batch.iter().enumerate().map(|(i, r)| json!({
                "id": format!("{m}{i}"), "timestamp": 1_764_000_000_000i64 + i as i64,
                "message": r.to_string()
            })).collect::<Vec<_>>()
        });
        firehose.extend(gzip(payload.to_string().as_bytes()));
    }
    write("firehose", firehose);
    let doc = |r: Vec<Value>| json!({ "Records": r }).to_string();
    let pretty = |r: Vec<Value>| serde_json::to_string_pretty(&json!({ "Records": r })).unwrap();
    // Two Records documents on one line; as two gzip members; pretty-printed one after the other.
    write(
        "one-line.json",
        format!("{}{}\n", doc(take(3)), doc(take(3))).into_bytes(),
    );
    write(
        "two-members.json.gz",
        [gzip(doc(take(3)).as_bytes()), gzip(doc(take(3)).as_bytes())].concat(),
    );
    write(
        "pretty.json",
        format!("{}\n{}\n", pretty(take(3)), pretty(take(3))).into_bytes(),
    );
    // A BOM before a Records file and before NDJSON.
    write(
        "bom.json",
        format!("\u{feff}{}", pretty(take(3))).into_bytes(),
    );
    let ndjson = |r: Vec<Value>, end: &str| {
        r.iter()
            .map(|r| r.to_string() + end)
            .collect::<String>()
            .into_bytes()
    };
    write(
        "bom.ndjson",
        [b"\xef\xbb\xbf".to_vec(), ndjson(take(3), "\n")].concat(),
    );
    // CR-only and CRLF line ends, of NDJSON and of a pretty-printed file.
    write("cr.ndjson", ndjson(take(3), "\r"));
    write("crlf.ndjson", ndjson(take(3), "\r\n"));
    write(
        "cr-pretty.json",
        pretty(take(3)).replace('\n', "\r").into_bytes(),
    );
    // A repeated `Records` key: both arrays are read.
    let (a, b) = (take(2), take(2));
    write(
        "duplicate-key.json",
        format!(
            "{{\"Records\":{},\"Records\":{}}}",
            Value::from(a),
            Value::from(b)
        )
        .into_bytes(),
    );
    let total = next as u64;

    setup(&prefix);
    let dead = dir.path().join("dead.ndjson");
    let inputs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let out = ingest(&prefix, &dead, &[], &inputs);
    let s = summary_of(&out);
    assert!(out.status.success(), "{s}");
    assert_eq!(s["files"], inputs.len() as u64, "{s}");
    assert_eq!(s["payloads"], 3, "{s}");
    assert_eq!(s["rejected"], 0, "{s}");
    assert_balance(&stack, &prefix, &s, total, 0).await;
    assert!(dead_letters(&dead).is_empty());
    // Every record is there, under its own id.
    let docs = stack.all_docs(&prefix).await;
    let mut ids: Vec<String> = docs
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..next).map(|i| synthetic::event_id(seed, i)).collect();
    expected.sort();
    assert_eq!(ids, expected);
    stack.cleanup(&prefix).await;
}

/// A payload of five events: the second's timestamp is text, the fourth's message holds an
/// invalid UTF-8 byte. Returns the payload JSON and the fourth event's exact bytes.
fn payload_with_bad_events(seed: u32) -> (Vec<u8>, Vec<u8>) {
    let events: Vec<Value> = (0..5)
        .map(|i| {
            let message = if i == 3 {
                "MARK".to_owned()
            } else {
                record(seed, i)
            };
            let timestamp = if i == 1 {
                json!("yesterday")
            } else {
                json!(1_764_000_000_000i64 + i as i64)
            };
            json!({"id": format!("{i}"), "timestamp": timestamp, "message": message})
        })
        .collect();
    let mut json = json!({
        "messageType": "DATA_MESSAGE", "owner": "111122223333",
        "logGroup": "aws-cloudtrail-logs", "logStream": "111122223333_CloudTrail_eu-west-1",
        "subscriptionFilters": ["trailscope"], "logEvents": events
    })
    .to_string()
    .into_bytes();
    let at = json.windows(4).position(|w| w == b"MARK").unwrap();
    json[at + 1] = 0xff;
    let start = json[..at].iter().rposition(|b| *b == b'{').unwrap();
    let end = at + json[at..].iter().position(|b| *b == b'}').unwrap() + 1;
    let bad = json[start..end].to_vec();
    (json, bad)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bad_log_event_is_dead_lettered_alone_by_ingest_and_lambda() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-hostile-salvage"));
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x1803;
    let (json, bad) = payload_with_bad_events(seed);
    let file = dir.path().join("payload.gz");
    std::fs::write(&file, gzip(&json)).unwrap();
    setup(&prefix);
    let dead = dir.path().join("dead.ndjson");
    let out = ingest(&prefix, &dead, &[], &[&file]);
    let s = summary_of(&out);
    assert!(out.status.success(), "{s}");
    assert_eq!(s["malformed_payloads"], 0, "{s}");
    assert_balance(&stack, &prefix, &s, 3, 2).await;
    let letters = dead_letters(&dead);
    assert_eq!(kinds(&letters), ["bad_log_event", "log_event_not_utf8"]);
    assert!(letters[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("logEvents[1] of a subscription payload is not a log event"));
    assert_eq!(letters[1]["event_encoding"], "base64");
    assert_eq!(original(&letters[1]), bad, "the log event's exact bytes");
    assert_eq!(letters[1]["origin"]["cloud_watch"]["event_id"], "3");

    // The Lambda handler shares the decoder: the same salvage there.
    let lambda_prefix = format!("{}-", unique("t-hostile-salvage-lambda"));
    setup(&lambda_prefix);
    let lambda_dead = dir.path().join("lambda-dead.ndjson");
    let args = trailscope::commands::lambda::LambdaArgs::try_parse_from([
        "trailscope-lambda",
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        &lambda_prefix,
        "--dead-letter-file",
        lambda_dead.to_str().unwrap(),
    ])
    .unwrap();
    let handler = trailscope::commands::lambda::Handler::new(&args)
        .await
        .unwrap();
    let invocation = handler
        .handle_logs(&b64(&gzip(&json)), None)
        .await
        .expect("the invocation succeeds: every event is indexed or dead-lettered");
    assert_eq!((invocation.events, invocation.dead_lettered), (3, 2));
    let letters = dead_letters(&lambda_dead);
    assert_eq!(kinds(&letters), ["bad_log_event", "log_event_not_utf8"]);
    assert_eq!(original(&letters[1]), bad);
    assert_eq!(stack.count(&lambda_prefix).await, 3);

    // From Kinesis: the record is not reported as failed (nothing of it is left to deliver);
    // its good events are known duplicates now, the bad ones dead-lettered again.
    let event = json!({"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0", "partitionKey": "k",
            "sequenceNumber": "49590394809532792458628409348547923434534570000000000001",
            "data": b64(&gzip(&json)), "approximateArrivalTimestamp": 1764072000.123
        },
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": "shardId-000000000000:1", "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::111122223333:role/trailscope",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:111122223333:stream/cloudtrail"
    }]});
    let before = handler.pipeline().stats.snapshot();
    let response = handler.handle(event, None).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    let after = handler.pipeline().stats.snapshot();
    assert_eq!(after.duplicates - before.duplicates, 3);
    assert_eq!(after.dead_lettered - before.dead_lettered, 2);
    assert_eq!(kinds(&dead_letters(&lambda_dead)).len(), 4);
    assert_eq!(stack.count(&lambda_prefix).await, 3);
    stack.cleanup(&prefix).await;
    stack.cleanup(&lambda_prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn words_scalars_and_binary_lines_are_refused_saying_what_they_are() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-hostile-words"));
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x1804;
    let mut binary = record(seed, 9).into_bytes();
    let quote = binary.iter().rposition(|b| *b == b'"').unwrap();
    binary.insert(quote, 0xfe);
    let garbage: Vec<u8> = vec![0x00, 0x9f, 0x92, 0x96, b'x', 0xc0];
    let mut input = Vec::new();
    for line in [
        record(seed, 0).as_bytes(),
        b"true",
        b"null",
        b"1234",
        b"junk",
        b"\"a string\"",
        b"[1,2]",
        br#"{"awslogs":{"data":123}}"#,
        &binary,
        &garbage,
        record(seed, 1).as_bytes(),
    ] {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    let file = dir.path().join("odd.ndjson");
    std::fs::write(&file, &input).unwrap();
    setup(&prefix);
    let dead = dir.path().join("dead.ndjson");
    let out = ingest(&prefix, &dead, &[], &[&file]);
    let s = summary_of(&out);
    assert!(out.status.success(), "refused lines are dead letters: {s}");
    assert_eq!(s["malformed_payloads"], 0, "no word is a payload: {s}");
    assert_balance(&stack, &prefix, &s, 2, 9).await;
    let letters = dead_letters(&dead);
    assert_eq!(
        kinds(&letters),
        [
            "not_an_object",
            "not_an_object",
            "not_an_object",
            "not_json",
            "not_an_object",
            "not_an_object",
            "wrong_shape",
            "not_utf8",
            "not_utf8"
        ]
    );
    let reason = |i: usize| letters[i]["reason"].as_str().unwrap().to_owned();
    assert!(reason(0).starts_with("a JSON boolean, not a CloudTrail record"));
    assert!(reason(1).starts_with("a JSON null"));
    assert!(reason(2).starts_with("a JSON number"));
    assert!(reason(3).starts_with("neither JSON nor a base64 subscription payload"));
    assert!(reason(6).contains("expected a string"), "{}", reason(6));
    assert!(reason(7).contains("not valid UTF-8"));
    // Binary lines are kept exactly (base64), text lines as text.
    assert_eq!(original(&letters[7]), binary);
    assert_eq!(original(&letters[8]), garbage);
    assert_eq!(letters[3]["event"], "junk");
    assert!(letters[3].get("event_encoding").is_none());

    // Replayed, each dead letter is read again exactly as it first was: the same refusals with
    // the same bytes. A letter whose event is a good record (as after fixing what refused it) is
    // indexed.
    let replayed = dir.path().join("to-replay.ndjson");
    let mut text = std::fs::read_to_string(&dead).unwrap();
    text.push_str(&(json!({"event": record(seed, 5)}).to_string() + "\n"));
    std::fs::write(&replayed, text).unwrap();
    let dead_again = dir.path().join("dead-again.ndjson");
    let out = ingest(
        &prefix,
        &dead_again,
        &["--replay-dead-letters"],
        &[&replayed],
    );
    let s = summary_of(&out);
    assert!(out.status.success(), "{s}");
    assert_eq!(
        (&s["read"], &s["indexed"], &s["dead_lettered"]),
        (&json!(10), &json!(1), &json!(9)),
        "{s}"
    );
    assert_eq!(stack.count(&prefix).await, 3, "2 before, 1 replayed");
    let again = dead_letters(&dead_again);
    assert_eq!(kinds(&again), kinds(&letters));
    for (a, b) in again.iter().zip(&letters) {
        assert_eq!(original(a), original(b));
    }
    // Replaying into the file being read is refused before anything is read.
    let out = ingest(&prefix, &replayed, &["--replay-dead-letters"], &[&replayed]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give another --dead-letter-file"));
    stack.cleanup(&prefix).await;
}

//! The Lambda function against the real local stack: its handler driven with CloudWatch Logs and
//! Kinesis events carrying payloads moto built, then end to end through a Lambda runtime API
//! emulator (`cargo lambda watch --only-lambda-apis`) running the binary as `bootstrap`.

mod common;

use base64::Engine;
use chrono::Utc;
use common::synthetic;
use common::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};
use trailscope::commands::lambda::{Handler, LambdaArgs, LambdaError};

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn handler(prefix: &str, dead: &Path) -> Handler {
    let args = LambdaArgs::try_parse_from([
        "trailscope-lambda",
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ])
    .unwrap();
    Handler::new(&args).await.unwrap()
}

/// `n` synthetic CloudTrail events in three streams, delivered by moto as subscription payloads.
fn payloads(seed: u32, n: usize, group: &str, dir: &Path) -> Vec<Vec<u8>> {
    let events: Vec<(i64, String, String)> =
        synthetic::events(seed, n, Utc::now() - chrono::Duration::hours(5), 1000)
            .into_iter()
            .enumerate()
            .map(|(i, (ts, m))| (ts, format!("stream-{}", i % 3), m))
            .collect();
    moto_subscription_payloads(group, &events, dir)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn logs_event(payload: &[u8]) -> Value {
    json!({"awslogs": {"data": b64(payload)}})
}

/// A Kinesis event as Lambda's event source mapping delivers it.
fn kinesis_event(records: &[(String, Vec<u8>)]) -> Value {
    json!({"Records": records.iter().map(|(seq, data)| json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "4d1ad2b9e2a1b3c4",
            "sequenceNumber": seq,
            "data": b64(data),
            "approximateArrivalTimestamp": 1764072000.123
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("shardId-000000000000:{seq}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::111122223333:role/trailscope",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:111122223333:stream/cloudtrail"
    })).collect::<Vec<_>>()})
}

fn sequence(i: usize) -> String {
    format!("4959039480953279245862840934854792343453457{i:013}")
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_logs_events_deliver_or_fail_the_invocation() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-lambda-logs"));
    let group = format!("/test/{}", unique("lambda-logs"));
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let seed = 0x1a1a;
    let payloads = payloads(seed, 200, &group, dir.path());
    assert!(payloads.len() >= 4);
    setup(&prefix);
    let h = handler(&prefix, &dead).await;

    for p in &payloads {
        let r = h.handle(logs_event(p), None).await.unwrap();
        assert_eq!(r, Value::Null);
    }
    assert_eq!(stack.count(&prefix).await, 200);
    let docs = stack.all_docs(&prefix).await;
    for d in &docs {
        assert_eq!(d["cloudwatch"]["log_group"], group.as_str());
    }

    // A retry of an invocation (Lambda retries failed asynchronous invocations) duplicates
    // nothing.
    let before = h.pipeline().stats.snapshot();
    h.handle(logs_event(&payloads[0]), None).await.unwrap();
    let after = h.pipeline().stats.snapshot();
    assert_eq!(after.indexed, before.indexed);
    assert!(after.duplicates > before.duplicates);
    assert_eq!(stack.count(&prefix).await, 200);

    // CONTROL_MESSAGE: acknowledged, nothing indexed.
    let control = gzip(
        json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
        "logGroup": "", "logStream": "", "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1764072000000i64,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda."}]})
        .to_string()
        .as_bytes(),
    );
    let invocation = h
        .handle_logs(&b64(&control), None)
        .await
        .expect("a CONTROL_MESSAGE succeeds");
    assert_eq!(invocation.control_messages, 1);
    assert_eq!(invocation.events, 0);

    // A truncated payload fails the invocation with a clear error, and indexes nothing.
    let truncated = &payloads[1][..payloads[1].len() / 2];
    let e = h.handle(logs_event(truncated), None).await.unwrap_err();
    assert!(matches!(e, LambdaError::Payload(_)), "{e}");
    assert!(e.to_string().contains("corrupt or truncated"), "{e}");
    let diagnostic = lambda_runtime::Diagnostic::from(e);
    assert_eq!(diagnostic.error_type, "MalformedPayload");

    // Delivery that cannot finish before the invocation's deadline fails the invocation (so
    // Lambda retries it) instead of being cut off by the timeout.
    let seed2 = 0x1b1b;
    let fresh = payloads_for_deadline(seed2, &format!("{group}-2"), dir.path());
    let e = h
        .handle(logs_event(&fresh), Some(SystemTime::now()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, LambdaError::Deadline { pending } if pending > 0),
        "{e}"
    );
    // The retry, with time, delivers them.
    h.handle(logs_event(&fresh), None).await.unwrap();
    let ids: Vec<String> = stack
        .all_docs(&prefix)
        .await
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.contains(&synthetic::event_id(seed2, 0)));
    assert!(ids.contains(&synthetic::event_id(seed, 199)));
    assert!(!dead.exists(), "nothing dead-lettered");
    stack.cleanup(&prefix).await;
}

fn payloads_for_deadline(seed: u32, group: &str, dir: &Path) -> Vec<u8> {
    let sub = dir.join("deadline");
    std::fs::create_dir_all(&sub).unwrap();
    payloads(seed, 20, group, &sub).remove(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn kinesis_events_report_only_failed_records() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-lambda-kinesis"));
    let group = format!("/test/{}", unique("lambda-kinesis"));
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let seed = 0x2c2c;
    let payloads = payloads(seed, 150, &group, dir.path());
    assert!(payloads.len() >= 3);
    setup(&prefix);
    let h = handler(&prefix, &dead).await;

    // Record 1 is truncated: only it is reported; every other record is delivered.
    let mut records: Vec<(String, Vec<u8>)> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| (sequence(i), p.clone()))
        .collect();
    let broken = records[1].1.len() / 2;
    records[1].1.truncate(broken);
    let response = h.handle(kinesis_event(&records), None).await.unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": sequence(1)}]})
    );
    let lost = payloads_events(&payloads[1]);
    assert_eq!(stack.count(&prefix).await, 150 - lost as u64);

    // Lambda retries from the failed record on, here with the record intact: all delivered,
    // the ones already indexed as duplicates.
    let retry: Vec<(String, Vec<u8>)> = payloads
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, p)| (sequence(i), p.clone()))
        .collect();
    let before = h.pipeline().stats.snapshot();
    let response = h.handle(kinesis_event(&retry), None).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    let after = h.pipeline().stats.snapshot();
    assert_eq!(after.indexed - before.indexed, lost as u64);
    assert_eq!(stack.count(&prefix).await, 150);

    // Past its deadline, every record not yet delivered is reported.
    let response = h
        .handle(kinesis_event(&records[..2]), Some(SystemTime::now()))
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": sequence(0)}, {"itemIdentifier": sequence(1)}]})
    );

    // An event of another kind is refused.
    let e = h.handle(json!({"hello": "world"}), None).await.unwrap_err();
    assert!(matches!(e, LambdaError::UnknownEvent(_)), "{e}");
    stack.cleanup(&prefix).await;
}

fn payloads_events(gz: &[u8]) -> usize {
    let mut json = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut json).unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    v["logEvents"].as_array().unwrap().len()
}

/// Ends a child process started by this test (by its own handle), also on panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn end_to_end_through_a_lambda_runtime_emulator() {
    let stack = Stack::connect().await;
    let cargo_lambda = pypi_tool("cargo-lambda", "cargo-lambda==1.9.2");
    let prefix = format!("{}-", unique("t-lambda-e2e"));
    let group = format!("/test/{}", unique("lambda-e2e"));
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x3d3d;
    let payloads = payloads(seed, 60, &group, dir.path());
    setup(&prefix);

    // The Lambda runtime API, as on AWS, without building anything.
    let port = free_port();
    let _emulator = Killed(
        Command::new(&cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            // It reads the crate metadata (and builds nothing with --only-lambda-apis).
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the Lambda emulator did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The binary, named `bootstrap` as provided.al2023 runs it, configured from the environment.
    let bootstrap = dir.path().join("bootstrap");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_trailscope"), &bootstrap).unwrap();
    let dead = dir.path().join("dead.ndjson");
    let log = dir.path().join("function.log");
    let _function = Killed(
        Command::new(&bootstrap)
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("TRAILSCOPE_OPENSEARCH_URL", opensearch_url())
            .env("TRAILSCOPE_INDEX_PREFIX", &prefix)
            .env("TRAILSCOPE_DEAD_LETTER_FILE", &dead)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start bootstrap"),
    );

    let invoke = |event: &Value| -> (bool, String) {
        let file = dir.path().join("event.json");
        std::fs::write(&file, event.to_string()).unwrap();
        let out = Command::new(&cargo_lambda)
            .args([
                "lambda",
                "invoke",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            .arg("--data-file")
            .arg(&file)
            .arg("_")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // CloudWatch Logs event: success.
    let (ok, out) = invoke(&logs_event(&payloads[0]));
    assert!(ok, "{out}");
    // Kinesis event with one truncated record: only that one reported.
    let mut records: Vec<(String, Vec<u8>)> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| (sequence(i), p.clone()))
        .collect();
    records.push((sequence(99), payloads[0][..10].to_vec()));
    let (ok, out) = invoke(&kinesis_event(&records));
    assert!(ok, "{out}");
    let response: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("{out}"));
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": sequence(99)}]})
    );
    // A malformed CloudWatch Logs event fails the invocation, with the error type.
    let (ok, out) = invoke(&json!({"awslogs": {"data": "H4sIAAAA"}}));
    assert!(!ok, "{out}");
    assert!(out.contains("MalformedPayload"), "{out}");
    // The function's log says it as a sentence, not as Rust's structure of the error.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("invocation failed: MalformedPayload: "),
        "{logged}"
    );
    assert!(
        !logged.contains("Payload("),
        "debug output in the log: {logged}"
    );
    assert_eq!(stack.count(&prefix).await, 60);
    stack.cleanup(&prefix).await;
}

#[test]
fn deploy_template_passes_cfn_lint() {
    let cfn_lint = pypi_tool("cfn-lint", "cfn-lint==1.58.0");
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/trailscope-lambda.yaml");
    let lint = |path: &Path| {
        Command::new(&cfn_lint)
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cfn_lint.display()))
    };
    let out = lint(&template);
    assert!(
        out.status.success(),
        "cfn-lint found problems in {}:\n{}{}",
        template.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter does check: a runtime that does not exist is reported.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(text.contains("Runtime: provided.al2023"));
    std::fs::write(
        &broken,
        text.replace("Runtime: provided.al2023", "Runtime: provided.al2099"),
    )
    .unwrap();
    let out = lint(&broken);
    assert!(!out.status.success(), "cfn-lint accepted a bad runtime");
    assert!(String::from_utf8_lossy(&out.stdout).contains("provided.al2099"));
}

/// A function that cannot start (here: no index template for its prefix) tells the Runtime API
/// why, at `/runtime/init/error`, so that Lambda shows the sentence, and exits non-zero.
#[test]
fn a_function_that_cannot_start_reports_why_to_the_runtime_api() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let prefix = format!("{}-", unique("t-lambda-noinit"));
    let receiver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Head, then Content-Length bytes of body.
        loop {
            let n = conn.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length || n == 0 {
                    break;
                }
            }
        }
        conn.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    let out = Command::new(env!("CARGO_BIN_EXE_trailscope"))
        .arg("lambda")
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("TRAILSCOPE_OPENSEARCH_URL", opensearch_url())
        .env("TRAILSCOPE_INDEX_PREFIX", &prefix)
        .env("TRAILSCOPE_NO_FINDINGS", "true")
        .env("TRAILSCOPE_NO_LINEAGE", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let request = receiver.join().unwrap();
    assert!(
        request.starts_with("POST /2018-06-01/runtime/init/error "),
        "{request}"
    );
    assert!(
        request
            .to_lowercase()
            .contains("lambda-runtime-function-error-type: runtime.initerror"),
        "{request}"
    );
    let body: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["errorType"], "InitError");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("is not installed")
            && message.contains(&format!("--index-prefix {prefix}")),
        "{message}"
    );
}

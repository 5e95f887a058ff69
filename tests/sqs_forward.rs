//! `forward --sqs-queue-url` against the local stack: S3 event notifications in moto's SQS (and
//! SNS), the log files in moto's S3, a real OpenSearch.
//!
//! How a run ends here: a run that must take objects arriving while it runs is stopped with
//! SIGTERM once the test has seen everything indexed and the queue empty (a graceful stop must
//! then exit 0 with its summary); runs over objects already there end with `--idle-exit N
//! --sqs-wait 1s` (N receives in a row found nothing while nothing was in flight).

mod common;
#[allow(dead_code)]
#[path = "common/fake_opensearch.rs"]
mod fake_opensearch;

use aws_sdk_sqs::types::QueueAttributeName;
use common::s3::{self, bucket, gzip, put};
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";

/// S3 and SQS clients of moto.
async fn clients() -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(cloudwatch_url())
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    (s3::client(), aws_sdk_sqs::Client::new(&config))
}

/// A CloudTrail log file of `records` events whose ids start with `tag`.
fn log_file(tag: &str, records: usize) -> Vec<u8> {
    let records: Vec<Value> = (0..records)
        .map(|n| {
            json!({
                "eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                    "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"), "accountId": ACCOUNT,
                    "userName": "alice"},
                "eventTime": format!("2026-03-01T12:00:{:02}Z", n % 60),
                "eventSource": "s3.amazonaws.com",
                "eventName": "ListBuckets",
                "awsRegion": REGION,
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "aws-cli/2.15.0",
                "requestID": format!("req-{tag}-{n}"),
                "eventID": format!("{tag}-{n}"),
                "readOnly": true,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": ACCOUNT,
                "eventCategory": "Management",
            })
        })
        .collect();
    gzip(&serde_json::to_vec(&json!({ "Records": records })).unwrap())
}

fn key(name: &str) -> String {
    format!("AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/03/01/{name}.json.gz")
}

/// A queue and its ARN.
async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(unique(name))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attributes.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
    (url, arn)
}

/// The bucket's ObjectCreated notifications go to the queue directly.
async fn notify_queue(s3: &aws_sdk_s3::Client, bucket: &str, queue_arn: &str) {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(queue_arn)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// tests/data/moto_sns.py with `args`; its stdout.
fn moto_sns(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/moto_sns.py");
    let out = Command::new(venv_python())
        .arg(script)
        .arg(cloudwatch_url())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "moto_sns.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn send(sqs: &aws_sdk_sqs::Client, queue: &str, body: &str) {
    sqs.send_message()
        .queue_url(queue)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// Messages on the queue, visible or not.
async fn queued(sqs: &aws_sdk_sqs::Client, queue: &str) -> u64 {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    out.attributes()
        .unwrap()
        .values()
        .map(|v| v.parse::<u64>().unwrap())
        .sum()
}

/// `trailscope forward --sqs-queue-url` into a test's prefix, started in the background.
fn start(queue: &str, prefix: &str, dead: &Path, extra: &[&str]) -> Child {
    let url = opensearch_url();
    let endpoint = cloudwatch_url();
    let mut args = vec![
        "forward",
        "--sqs-queue-url",
        queue,
        "--endpoint-url",
        &endpoint,
        "--opensearch-url",
        &url,
        "--index-prefix",
        prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
        "--sqs-wait",
        "1s",
    ];
    args.extend_from_slice(extra);
    trailscope_cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a run's end; its summary (stdout), after asserting it succeeded.
fn finish(child: Child) -> Value {
    summary(&ok(child.wait_with_output().unwrap()))
}

/// read = indexed + duplicates + dead-lettered: nothing read is unaccounted for.
fn accounted(s: &Value) {
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("read"),
        n("indexed") + n("duplicates") + n("dead_lettered"),
        "{s}"
    );
}

async fn until(what: &str, seconds: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {seconds} s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every shape of message, arriving while it runs: S3 → SQS, S3 → SNS → SQS, CloudTrail's own
/// notification raw and through SNS, a duplicate notification, a message for an object that does
/// not exist, a corrupt object, a message that is not JSON. Every event is indexed once, the
/// three unreadable messages are dead-lettered with their reason, every message is deleted, and
/// SIGTERM ends the run with exit 0 and its summary.
#[tokio::test]
async fn every_shape_of_notification_while_it_runs() {
    let stack = Stack::connect().await;
    let (s3, sqs) = clients().await;
    let (queue_url, queue_arn) = queue(&sqs, "shapes").await;
    let direct = bucket(&s3, "direct").await;
    notify_queue(&s3, &direct, &queue_arn).await;
    let through_sns = bucket(&s3, "sns").await;
    moto_sns(&["wire", &queue_url, &through_sns]);
    // Log files that only CloudTrail's own notifications name (no bucket notification).
    let plain = bucket(&s3, "plain").await;
    let topic = moto_sns(&["wire", &queue_url, &bucket(&s3, "topic").await]);

    let prefix = format!("{}-", unique("sqsshapes"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let child = start(&queue_url, &prefix, &dead, &[]);

    const RECORDS: usize = 3;
    // A space and a `+` in a key: S3 notifications encode them (`+`, `%2B`).
    let spaced = key("with space+plus");
    put(&s3, &direct, &spaced, log_file("direct-0", RECORDS)).await;
    for n in 1..3 {
        put(
            &s3,
            &direct,
            &key(&format!("d{n}")),
            log_file(&format!("direct-{n}"), RECORDS),
        )
        .await;
    }
    for n in 0..2 {
        put(
            &s3,
            &through_sns,
            &key(&format!("s{n}")),
            log_file(&format!("sns-{n}"), RECORDS),
        )
        .await;
    }
    for n in 0..3 {
        put(
            &s3,
            &plain,
            &key(&format!("p{n}")),
            log_file(&format!("plain-{n}"), RECORDS),
        )
        .await;
    }
    send(
        &sqs,
        &queue_url,
        &json!({"s3Bucket": plain, "s3ObjectKey": [key("p0"), key("p1")]}).to_string(),
    )
    .await;
    moto_sns(&[
        "publish",
        &topic,
        &json!({"s3Bucket": plain, "s3ObjectKey": [key("p2")]}).to_string(),
    ]);
    // The same object notified twice.
    let encoded = spaced.replace("+", "%2B").replace(' ', "+");
    let duplicate = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": direct},
        "object": {"key": encoded}}}]});
    send(&sqs, &queue_url, &duplicate.to_string()).await;
    // Never readable: each is dead-lettered once, then deleted.
    send(
        &sqs,
        &queue_url,
        &json!({"s3Bucket": plain, "s3ObjectKey": [key("gone")]}).to_string(),
    )
    .await;
    let mut corrupt = vec![0x1f, 0x8b, 0x08, 0x00];
    corrupt.extend_from_slice(b"not deflate data at all, a broken upload");
    put(&s3, &direct, &key("corrupt"), corrupt).await;
    send(&sqs, &queue_url, "hello, not JSON").await;

    let expected = (3 + 2 + 3) * RECORDS as u64;
    until("every event indexed", 120, async || {
        stack.count(&prefix).await == expected
    })
    .await;
    until("every message deleted", 60, async || {
        queued(&sqs, &queue_url).await == 0 && dead_letters(&dead).len() == 3
    })
    .await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let s = finish(child);
    accounted(&s);
    assert_eq!(s["indexed"], expected, "{s}");
    assert_eq!(s["duplicates"], RECORDS as u64, "{s}");
    assert_eq!(s["dead_lettered"], 3, "{s}");
    assert_eq!(s["dead_lettered_messages"], 3, "{s}");
    assert_eq!(s["released"], 0, "{s}");
    assert_eq!(s["messages"], s["deleted"], "{s}");
    // 3 direct + 1 corrupt + 2 through SNS + 2 CloudTrail + 1 duplicate + 1 gone + 1 not JSON,
    // and the s3:TestEvent of each notification set up.
    assert!(s["nothing_to_read"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(
        s["messages"].as_u64().unwrap() - s["nothing_to_read"].as_u64().unwrap(),
        11,
        "{s}"
    );
    assert_eq!(stack.count(&prefix).await, expected);

    let mut letters = dead_letters(&dead);
    letters.sort_by_key(|l| l["error_type"].as_str().unwrap().to_owned());
    let kinds: Vec<&str> = letters
        .iter()
        .map(|l| l["error_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message_not_json", "object_cut", "object_missing"]);
    for letter in &letters {
        assert_eq!(
            letter["origin"]["sqs"]["queue_url"],
            queue_url.as_str(),
            "{letter}"
        );
        assert!(
            letter["origin"]["sqs"]["message_id"].is_string(),
            "{letter}"
        );
    }
    assert_eq!(letters[0]["event"], "hello, not JSON");
    let cut = letters[1]["reason"].as_str().unwrap();
    assert!(
        cut.contains("corrupt.json.gz") && cut.contains("gzip"),
        "{cut}"
    );
    let gone = letters[2]["reason"].as_str().unwrap();
    assert!(
        gone.contains("gone.json.gz") && gone.contains("does not exist"),
        "{gone}"
    );
    stack.cleanup(&prefix).await;
}

/// Log files already notified on a queue (put before any reader starts).
async fn notified_bucket(
    s3: &aws_sdk_s3::Client,
    queue_arn: &str,
    objects: usize,
    records: usize,
) -> String {
    let bucket = bucket(s3, "shared").await;
    notify_queue(s3, &bucket, queue_arn).await;
    for n in 0..objects {
        put(
            s3,
            &bucket,
            &key(&format!("o{n:03}")),
            log_file(&format!("{bucket}-{n}"), records),
        )
        .await;
    }
    bucket
}

/// Two instances on one queue share its messages (SQS gives each to one reader at a time):
/// every event is indexed exactly once, both did part of the work, and each accounts for what
/// it read.
#[tokio::test]
async fn two_instances_share_one_queue() {
    const OBJECTS: usize = 30;
    const RECORDS: usize = 4;
    let stack = Stack::connect().await;
    let (s3, sqs) = clients().await;
    let (queue_url, queue_arn) = queue(&sqs, "shared").await;
    notified_bucket(&s3, &queue_arn, OBJECTS, RECORDS).await;
    let prefix = format!("{}-", unique("sqsshared"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    // Small, one-at-a-time bulk requests and two messages in flight each: slow enough that
    // neither instance can take the whole queue before the other starts.
    let slow = [
        "--idle-exit",
        "3",
        "--sqs-messages-in-flight",
        "2",
        "--batch-events",
        "1",
        "--concurrency",
        "1",
    ];
    let a = start(&queue_url, &prefix, &dir.path().join("a.ndjson"), &slow);
    let b = start(&queue_url, &prefix, &dir.path().join("b.ndjson"), &slow);
    let (a, b) = (finish(a), finish(b));
    let total = (OBJECTS * RECORDS) as u64;
    for s in [&a, &b] {
        accounted(s);
        assert_eq!(s["dead_lettered"], 0, "{s}");
        assert!(
            s["objects"].as_u64().unwrap() > 0,
            "an instance did nothing: {s}"
        );
    }
    let n = |k: &str| a[k].as_u64().unwrap() + b[k].as_u64().unwrap();
    assert_eq!(n("indexed"), total, "{a}\n{b}");
    // A standard queue delivers at least once (AWS: "occasionally more than one copy of a
    // message"), and moto under two concurrent receivers sometimes hands one message to both (seen
    // in CI: 31 objects read for 30). A second copy's events are duplicates by id, never a second
    // document: exactly the twice-read objects' events are duplicates.
    assert!(n("objects") >= OBJECTS as u64, "{a}\n{b}");
    assert_eq!(
        n("duplicates"),
        (n("objects") - OBJECTS as u64) * RECORDS as u64,
        "{a}\n{b}"
    );
    assert_eq!(stack.count(&prefix).await, total);
    assert_eq!(queued(&sqs, &queue_url).await, 0);
    stack.cleanup(&prefix).await;
}

/// kill -9 while messages are in flight: they were not deleted, so they come back after their
/// visibility timeout and the next run reads them again; event ids make what was indexed before
/// the kill duplicates, so every event is in OpenSearch exactly once.
#[tokio::test]
async fn a_killed_reader_loses_nothing() {
    // Enough that a run cannot finish between two looks at the count (a reader that did 60
    // events between two looks made the kill come too late).
    const OBJECTS: usize = 120;
    const RECORDS: usize = 3;
    let stack = Stack::connect().await;
    let (s3, sqs) = clients().await;
    let (queue_url, queue_arn) = queue(&sqs, "killed").await;
    notified_bucket(&s3, &queue_arn, OBJECTS, RECORDS).await;
    let prefix = format!("{}-", unique("sqskilled"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let timeout = ["--sqs-visibility-timeout", "4s"];
    let slow = [&timeout[..], &["--batch-events", "1", "--concurrency", "1"]].concat();
    let mut child = start(&queue_url, &prefix, &dead, &slow);
    let total = (OBJECTS * RECORDS) as u64;
    until("some events indexed", 60, async || {
        stack.count(&prefix).await >= 1
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let before = stack.count(&prefix).await;
    assert!(before < total, "everything was indexed before the kill");
    assert!(queued(&sqs, &queue_url).await > 0);

    // Idle for longer than the visibility timeout: the messages in flight at the kill are back.
    let rest = [&timeout[..], &["--idle-exit", "8"]].concat();
    let s = finish(start(&queue_url, &prefix, &dead, &rest));
    accounted(&s);
    assert_eq!(s["dead_lettered"], 0, "{s}");
    assert_eq!(stack.count(&prefix).await, total);
    // A bulk request on its way at the kill may land after `before` was counted: then its
    // events are duplicates here rather than new.
    assert!(
        s["indexed"].as_u64().unwrap() <= total - before,
        "only what the killed run had not indexed is new: {s}"
    );
    assert_eq!(queued(&sqs, &queue_url).await, 0);
    stack.cleanup(&prefix).await;
}

/// A message whose object takes longer to index than the visibility timeout stays invisible
/// meanwhile (its timeout is extended), so no other reader gets it and it is read once. The
/// OpenSearch here is a fake whose first `_bulk` answers after 10 s (a real node is never that
/// slow on demand); the visibility timeout is 3 s, the shortest `forward` takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_flight_longer_than_its_visibility_timeout_is_read_once() {
    const RECORDS: usize = 4;
    let (s3, sqs) = clients().await;
    let (queue_url, queue_arn) = queue(&sqs, "slowobject").await;
    notified_bucket(&s3, &queue_arn, 1, RECORDS).await;
    let prefix = format!("{}-", unique("sqsslow"));
    let fake = fake_opensearch::FakeOpenSearch::start(&prefix, |request| {
        if request.n == 0 {
            // On the fake's own connection task: blocks one of the test's two workers only.
            std::thread::sleep(Duration::from_secs(10));
        }
        fake_opensearch::Answer::AllCreated
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let child = trailscope_cmd(&[
        "forward",
        "--sqs-queue-url",
        &queue_url,
        "--endpoint-url",
        &cloudwatch_url(),
        "--opensearch-url",
        &fake.url,
        "--index-prefix",
        &prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
        "--sqs-wait",
        "1s",
        "--sqs-visibility-timeout",
        "3s",
        "--idle-exit",
        "3",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    until("the object's bulk request under way", 60, async || {
        !fake.bulk_requests().is_empty()
    })
    .await;
    // Over three timeouts while the request hangs: another reader finds nothing to take.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(8) {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        assert!(
            got.messages().is_empty(),
            "the message became visible to another reader after {:?}",
            watch.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let s = finish(child);
    accounted(&s);
    assert_eq!(s["read"], RECORDS, "read once: {s}");
    assert_eq!(s["indexed"], RECORDS, "{s}");
    let documents: usize = fake.bulk_requests().iter().map(|r| r.documents.len()).sum();
    assert_eq!(documents, RECORDS, "sent once");
    assert_eq!(queued(&sqs, &queue_url).await, 0, "deleted once indexed");
}

/// The IAM policies in deploy/iam/ grant every call the readers make (and are valid JSON).
#[test]
fn the_reader_policies_grant_what_the_readers_call() {
    let actions = |file: &str| -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/iam")
            .join(file);
        let policy: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut out = Vec::new();
        for statement in policy["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow", "{statement}");
            match &statement["Action"] {
                Value::String(a) => out.push(a.clone()),
                Value::Array(all) => out.extend(all.iter().map(|a| a.as_str().unwrap().to_owned())),
                other => panic!("{other}"),
            }
        }
        out
    };
    // Queue::check, receive, extend, delete; s3::get_object; an SSE-KMS trail or queue.
    let sqs = actions("trailscope-sqs-reader.json");
    for needed in [
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "s3:GetObject",
        "kms:Decrypt",
    ] {
        assert!(sqs.iter().any(|a| a == needed), "{needed} missing: {sqs:?}");
    }
    // `ingest s3://`: ListObjectsV2 is s3:ListBucket.
    let s3 = actions("trailscope-s3-reader.json");
    for needed in ["s3:ListBucket", "s3:GetObject", "kms:Decrypt"] {
        assert!(s3.iter().any(|a| a == needed), "{needed} missing: {s3:?}");
    }
}

/// A queue that does not exist fails at start, in seconds, with exit code 2 and a sentence naming
/// the flag to fix; so does naming CloudWatch Logs and a queue at once.
#[test]
fn a_mistaken_queue_fails_at_once_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let missing = format!("{}/123456789012/{}", cloudwatch_url(), unique("nope"));
    let started = Instant::now();
    let out = start(&missing, "never-", &dead, &["--idle-exit", "1"])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("does not exist") && stderr.contains("--sqs-queue-url"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let both = start(&missing, "never-", &dead, &["--log-group", "g"])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert_eq!(both.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("one source per process"), "{stderr}");
    assert!(!dead.exists());
}

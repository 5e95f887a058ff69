//! `ingest s3://bucket/prefix` against the local stack: an organization trail's layout in moto's
//! S3, read into a real OpenSearch, pruned by day, account and region, and resumable from its
//! checkpoint of objects done.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::s3::{self, bucket, gzip, put};
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ORG: &str = "o-a1b2c3d4e5";
const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const DAYS: [u32; 3] = [1, 2, 3];
const OBJECTS_PER_DAY: usize = 2;
const RECORDS_PER_OBJECT: usize = 3;

/// One CloudTrail log file as CloudTrail writes it: `{"Records":[...]}`.
fn log_file(account: &str, region: &str, day: u32, object: usize) -> Vec<u8> {
    let records: Vec<Value> = (0..RECORDS_PER_OBJECT)
        .map(|n| {
            json!({
                "eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                    "arn": format!("arn:aws:iam::{account}:user/alice"), "accountId": account,
                    "userName": "alice"},
                "eventTime": format!("2026-03-{day:02}T{:02}:{:02}:{n:02}Z", object / 60 % 24, object % 60),
                "eventSource": "s3.amazonaws.com",
                "eventName": "ListBuckets",
                "awsRegion": region,
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "aws-cli/2.15.0",
                "requestID": format!("req-{account}-{region}-{day}-{object}-{n}"),
                "eventID": format!("{account}-{region}-{day}-{object}-{n}"),
                "readOnly": true,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": account,
                "eventCategory": "Management",
            })
        })
        .collect();
    gzip(&serde_json::to_vec(&json!({ "Records": records })).unwrap())
}

/// A bucket holding an organization trail under `org-trail/`: 36 log files over 3 accounts × 2
/// regions × 3 days (March 1-3, 2026), with a digest file beside them that must not be read.
async fn trail_bucket(s3: &aws_sdk_s3::Client) -> String {
    let bucket = bucket(s3, "trail").await;
    for account in ACCOUNTS {
        for region in REGIONS {
            for day in DAYS {
                let dir = format!(
                    "org-trail/AWSLogs/{ORG}/{account}/CloudTrail/{region}/2026/03/{day:02}"
                );
                for object in 0..OBJECTS_PER_DAY {
                    let key = format!(
                        "{dir}/{account}_CloudTrail_{region}_202603{day:02}T0{object}15Z_x{object}.json.gz"
                    );
                    put(s3, &bucket, &key, log_file(account, region, day, object)).await;
                }
            }
        }
    }
    let digest = format!(
        "org-trail/AWSLogs/{ORG}/{}/CloudTrail-Digest/us-east-1/2026/03/01/d.json.gz",
        ACCOUNTS[0]
    );
    put(s3, &bucket, &digest, gzip(b"{\"not\":\"records\"}")).await;
    bucket
}

fn ingest_s3(prefix: &str, dir: &Path, location: &str, extra: &[&str]) -> Value {
    summary(&ok(trailscope(
        &ingest_s3_args(prefix, dir, location, extra)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )))
}

fn ingest_s3_args(prefix: &str, dir: &Path, location: &str, extra: &[&str]) -> Vec<String> {
    let url = opensearch_url();
    let endpoint = cloudwatch_url();
    let dead = dir.join("dead.ndjson");
    let checkpoint = dir.join("done-objects");
    let mut args = vec![
        "ingest",
        "--opensearch-url",
        &url,
        "--index-prefix",
        prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
        "--endpoint-url",
        &endpoint,
        "--checkpoint-file",
        checkpoint.to_str().unwrap(),
        location,
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn one_day_of_one_account_then_nothing_new_then_the_whole_trail_once() {
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let bucket = trail_bucket(&s3).await;
    let prefix = format!("{}-", unique("s3ingest"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let location = format!("s3://{bucket}/org-trail");
    let per_object = RECORDS_PER_OBJECT as u64;

    // One day of one account: its two regions' files of March 2 only.
    let day_of_one = [
        "--since",
        "2026-03-02",
        "--until",
        "2026-03-03",
        "--account",
        ACCOUNTS[1],
    ];
    // A progress line after every object (no terminal here: lines, not a bar).
    let mut args = ingest_s3_args(&prefix, dir.path(), &location, &day_of_one);
    args.extend(["--progress-every".to_owned(), "0s".to_owned()]);
    let out = trailscope(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let first = summary(&ok(out));
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("backfill progress"))
        .collect();
    assert_eq!(progress.len(), 4, "one line per object done: {stderr}");
    let last = progress[3];
    for field in [
        format!("source=\"{location}/\""),
        "objects_listed=4 objects_done=4".to_owned(),
        "percent=\"100.0\"".to_owned(),
        format!("events={}", 4 * RECORDS_PER_OBJECT),
        "eta=".to_owned(),
    ] {
        assert!(last.contains(&field), "{field} in {last}");
    }
    let bytes: Vec<u64> = progress
        .iter()
        .map(|l| {
            let at = l.find("bytes_done=").unwrap() + "bytes_done=".len();
            l[at..].split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");
    assert!(
        last.contains(&format!("bytes_total={}", bytes[3])),
        "{last}"
    );
    assert!(stderr.contains("backfill finished"), "{stderr}");
    // Pruned at every level: AWSLogs/, the organization's accounts, account 2's regions, its
    // CloudTrail-Insights/ folder (empty here), and per region its years, months, days and the
    // one day's objects (4 + 2 × 4); not the bucket.
    assert!(stderr.contains("list_requests=12 objects=4"), "{stderr}");
    let expected = (REGIONS.len() * OBJECTS_PER_DAY) as u64;
    assert_eq!(first["files"], expected, "{first}");
    assert_eq!(first["indexed"], expected * per_object, "{first}");
    assert_eq!(stack.count(&prefix).await, expected * per_object);
    for doc in stack.all_docs(&prefix).await {
        assert_eq!(doc["cloud"]["account"]["id"], ACCOUNTS[1], "{doc}");
        assert!(
            doc["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2026-03-02"),
            "{doc}"
        );
    }

    // The same again: every object is in the checkpoint, nothing is read.
    let again = ingest_s3(&prefix, dir.path(), &location, &day_of_one);
    assert_eq!(again["files"], 0, "{again}");
    assert_eq!(again["indexed"], 0, "{again}");
    assert_eq!(stack.count(&prefix).await, expected * per_object);

    // One region of every account over the window: the checkpoint keeps account 2's day out.
    let region = ingest_s3(
        &prefix,
        dir.path(),
        &location,
        &["--region", "eu-west-1", "--since", "2026-03-02T00:00:00Z"],
    );
    let region_files = (ACCOUNTS.len() * 2 * OBJECTS_PER_DAY - OBJECTS_PER_DAY) as u64;
    assert_eq!(region["files"], region_files, "{region}");

    // The whole trail: everything else, once; the digest file is not a log file.
    let all = ingest_s3(&prefix, dir.path(), &location, &[]);
    let total = (ACCOUNTS.len() * REGIONS.len() * DAYS.len() * OBJECTS_PER_DAY) as u64;
    assert_eq!(all["files"], total - expected - region_files, "{all}");
    assert_eq!(stack.count(&prefix).await, total * per_object);
    let last = ingest_s3(&prefix, dir.path(), &location, &[]);
    assert_eq!(last["files"], 0, "{last}");
    assert_eq!(stack.count(&prefix).await, total * per_object);
    assert!(!dir.path().join("dead.ndjson").exists());
    stack.cleanup(&prefix).await;
}

/// kill -9 in the middle of a run, then the same run again: every event indexed exactly once, and
/// the objects the checkpoint had recorded are not read again.
#[tokio::test]
async fn a_killed_run_resumes_from_its_checkpoint() {
    const OBJECTS: usize = 120;
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let bucket = bucket(&s3, "killed").await;
    for object in 0..OBJECTS {
        let key = format!(
            "AWSLogs/{}/CloudTrail/{}/2026/03/01/{object:03}.json.gz",
            ACCOUNTS[0], REGIONS[0]
        );
        put(
            &s3,
            &bucket,
            &key,
            log_file(ACCOUNTS[0], REGIONS[0], 1, object),
        )
        .await;
    }
    let prefix = format!("{}-", unique("s3killed"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let location = format!("s3://{bucket}");
    // One event per bulk request, one request at a time: slow enough to be killed midway.
    let slow = ["--batch-events", "1", "--concurrency", "1"];
    let args = ingest_s3_args(&prefix, dir.path(), &location, &slow);
    let mut child = trailscope_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = dir.path().join("done-objects");
    let done_lines = || {
        std::fs::read_to_string(&checkpoint)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with(".json.gz"))
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while done_lines() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "no object done in 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run ended before it could be killed");
    let done_before = done_lines();
    assert!(
        done_before < OBJECTS,
        "every object was done before the kill"
    );

    let resumed = ingest_s3(&prefix, dir.path(), &location, &[]);
    assert_eq!(
        resumed["files"],
        (OBJECTS - done_before) as u64,
        "{resumed}"
    );
    let total = (OBJECTS * RECORDS_PER_OBJECT) as u64;
    assert_eq!(stack.count(&prefix).await, total);
    let again = ingest_s3(&prefix, dir.path(), &location, &[]);
    assert_eq!(again["files"], 0, "{again}");
    assert_eq!(stack.count(&prefix).await, total);
    stack.cleanup(&prefix).await;
}

/// A log file cut short (a truncated gzip) does not stop the backfill: the others are indexed,
/// the summary names it, the run fails, and it stays out of the checkpoint so the next run
/// reports it again instead of skipping it.
#[tokio::test]
async fn a_cut_object_is_reported_every_run_and_the_rest_indexed() {
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let bucket = bucket(&s3, "cut").await;
    let dir_key = format!(
        "AWSLogs/{}/CloudTrail/{}/2026/03/01",
        ACCOUNTS[0], REGIONS[0]
    );
    for (name, object) in [("a", 0), ("b", 1), ("c", 2)] {
        let mut body = log_file(ACCOUNTS[0], REGIONS[0], 1, object);
        if name == "b" {
            body.truncate(body.len() / 2);
        }
        s3.put_object()
            .bucket(&bucket)
            .key(format!("{dir_key}/{name}.json.gz"))
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    let prefix = format!("{}-", unique("s3cut"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let location = format!("s3://{bucket}");
    let cut = format!("s3://{bucket}/{dir_key}/b.json.gz");
    let mut indexed = 0;
    for (run, files) in [(1, 3), (2, 1)] {
        let args = ingest_s3_args(&prefix, dir.path(), &location, &[]);
        let out = trailscope(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!out.status.success(), "run {run} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("could not be read to their end"),
            "{stderr}"
        );
        let sum = summary(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(sum["files"], files, "run {run}: {sum}");
        assert_eq!(sum["incomplete"][0]["input"], cut.as_str(), "{sum}");
        indexed += sum["indexed"].as_u64().unwrap();
        let done = std::fs::read_to_string(dir.path().join("done-objects")).unwrap();
        assert!(!done.contains("b.json.gz"), "{done}");
        assert!(
            done.contains("a.json.gz") && done.contains("c.json.gz"),
            "{done}"
        );
    }
    // a and c whole, and whatever of the cut file could be read, once.
    assert!(indexed >= 2 * RECORDS_PER_OBJECT as u64, "{indexed}");
    assert_eq!(stack.count(&prefix).await, indexed);
    stack.cleanup(&prefix).await;
}

/// An event read from S3 is the same document as from the same log file on disk.
#[tokio::test]
async fn the_same_documents_as_ingest_file() {
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let bucket = bucket(&s3, "same").await;
    let body = log_file(ACCOUNTS[0], REGIONS[0], 1, 0);
    let key = format!(
        "AWSLogs/{}/CloudTrail/{}/2026/03/01/f.json.gz",
        ACCOUNTS[0], REGIONS[0]
    );
    put(&s3, &bucket, &key, body.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (from_s3, from_file) = (
        format!("{}-", unique("s3same")),
        format!("{}-", unique("filesame")),
    );
    setup(&from_s3);
    setup(&from_file);
    let url = opensearch_url();
    let s3_summary = ingest_s3(&from_s3, dir.path(), &format!("s3://{bucket}"), &[]);
    assert_eq!(s3_summary["files"], 1, "{s3_summary}");
    let local = dir.path().join("f.json.gz");
    std::fs::write(&local, &body).unwrap();
    ok(trailscope(&[
        "ingest",
        "--opensearch-url",
        &url,
        "--index-prefix",
        &from_file,
        "--dead-letter-file",
        dir.path().join("dead2.ndjson").to_str().unwrap(),
        local.to_str().unwrap(),
    ]));
    let strip = |docs: Vec<Value>| {
        let mut docs: Vec<Value> = docs
            .into_iter()
            .map(|mut d| {
                d.as_object_mut().unwrap().remove("_index");
                d
            })
            .collect();
        docs.sort_by_key(|d| d["_id"].to_string());
        docs
    };
    let (a, b) = (
        strip(stack.all_docs(&from_s3).await),
        strip(stack.all_docs(&from_file).await),
    );
    assert_eq!(a.len(), RECORDS_PER_OBJECT);
    assert_eq!(a, b);
    stack.cleanup(&from_s3).await;
    stack.cleanup(&from_file).await;
}

/// One event reaching trailscope both ways — in its trail's S3 log file and as the message
/// CloudTrail writes to the trail's CloudWatch Logs group — is one document: same `_id`, same
/// daily index, and the same `_source` apart from where it came from (`cloudwatch.*`), so
/// reading a trail both ways indexes each event once.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_from_s3_and_from_cloudwatch_logs_is_the_same_document() {
    let stack = Stack::connect().await;
    // Noon two days back: within CloudWatch Logs' 14 days, whatever the time of day.
    let day = (chrono::Utc::now() - chrono::Duration::days(2)).date_naive();
    let account = ACCOUNTS[1];
    let records: Vec<Value> = (0..5)
        .map(|n| {
            json!({"eventVersion": "1.09",
                "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                    "arn": format!("arn:aws:iam::{account}:user/both"), "accountId": account,
                    "accessKeyId": "AKIAIOSFODNN7BOTH001", "userName": "both"},
                "eventTime": format!("{day}T12:00:{n:02}Z"), "eventSource": "s3.amazonaws.com",
                "eventName": "GetBucketAcl", "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
                "requestParameters": {"bucketName": format!("both-{n}")},
                "requestID": format!("both-req-{n}"), "eventID": format!("b0b0b0b0-0000-4000-8000-{n:012}"),
                "readOnly": true, "eventType": "AwsApiCall", "managementEvent": true,
                "recipientAccountId": account, "eventCategory": "Management"})
        })
        .collect();
    let s3 = s3::client();
    let bucket = bucket(&s3, "bothways").await;
    let key = format!(
        "AWSLogs/{account}/CloudTrail/us-east-1/{}/f.json.gz",
        day.format("%Y/%m/%d")
    );
    let body = gzip(&serde_json::to_vec(&json!({ "Records": records })).unwrap());
    put(&s3, &bucket, &key, body).await;
    let group = format!("/test/{}", unique("bothways"));
    let messages: Vec<(i64, String)> = records
        .iter()
        .map(|r| {
            let time = chrono::DateTime::parse_from_rfc3339(r["eventTime"].as_str().unwrap());
            (time.unwrap().timestamp_millis(), r.to_string())
        })
        .collect();
    stack.put_events(&group, 1, &messages).await;

    let dir = tempfile::tempdir().unwrap();
    let (from_s3, from_logs) = (
        format!("{}-", unique("s3both")),
        format!("{}-", unique("logsboth")),
    );
    setup(&from_s3);
    setup(&from_logs);
    let s = ingest_s3(&from_s3, dir.path(), &format!("s3://{bucket}"), &[]);
    assert_eq!(s["indexed"], 5, "{s}");
    let f = forward_once(
        &group,
        &from_logs,
        &dir.path().join("dead-logs.ndjson"),
        &[],
    );
    assert_eq!(f["indexed"], 5, "{f}");

    let index = format!("{}", day.format("%Y.%m.%d"));
    for record in &records {
        let id = record["eventID"].as_str().unwrap();
        let via_s3: Value =
            serde_json::from_str(&stack.raw_source(&format!("{from_s3}{index}"), id).await)
                .unwrap();
        let mut via_logs: Value =
            serde_json::from_str(&stack.raw_source(&format!("{from_logs}{index}"), id).await)
                .unwrap();
        let origin = via_logs.as_object_mut().unwrap().remove("cloudwatch");
        assert_eq!(origin.unwrap()["log_group"], group.as_str());
        assert_eq!(via_s3, via_logs, "{id}");
    }
    stack.cleanup(&from_s3).await;
    stack.cleanup(&from_logs).await;
}

#[test]
fn s3_flags_without_an_s3_location_are_refused() {
    let out = trailscope(&[
        "ingest",
        "--opensearch-url",
        "http://127.0.0.1:9",
        "--account",
        "111111111111",
        "trail.json.gz",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("apply to an s3://BUCKET/PREFIX input only"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_bucket_fails_with_the_location() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = cloudwatch_url();
    let bucket = unique("nosuch").to_lowercase();
    let location = format!("s3://{bucket}/trail");
    let prefix = format!("{}-", unique("s3missing"));
    setup(&prefix);
    let out = trailscope(&[
        "ingest",
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        &prefix,
        "--dead-letter-file",
        dir.path().join("d").to_str().unwrap(),
        "--endpoint-url",
        &endpoint,
        &location,
    ]);
    // A service error that is neither credentials nor transient: exit 1 (an AccessDenied would be 3).
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot list s3://{bucket}/trail/AWSLogs/")),
        "{stderr}"
    );
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");
    Stack::connect().await.cleanup(&prefix).await;
}

/// AWS's example of an Insights log file, both records as the CloudTrail log event reference
/// shows them (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference.html,
/// "a single log record of an Insights event"): no userIdentity, no eventName or eventSource of
/// their own (they are in insightDetails), eventCategory `Insight`. Only the day and account are
/// this test's.
fn insights_file(account: &str) -> Vec<u8> {
    let record = |id: &str, time: &str, state: &str, insight: Value| {
        json!({
            "eventVersion": "1.07",
            "eventTime": time,
            "awsRegion": "us-east-1",
            "eventID": id,
            "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": account,
            "sharedEventID": "12edc982-3348-4794-83d3-a3db26525049",
            "insightDetails": {
                "state": state,
                "eventSource": "ssm.amazonaws.com",
                "eventName": "UpdateInstanceAssociationStatus",
                "insightType": "ApiCallRateInsight",
                "insightContext": {"statistics": insight}
            },
            "eventCategory": "Insight"
        })
    };
    let records = [
        record(
            "aab985f2-3a56-48cc-a8a5-e0af77606f5f",
            "2026-03-02T10:05:00Z",
            "Start",
            json!({"baseline": {"average": 1.7561507937}, "insight": {"average": 50.1}}),
        ),
        record(
            "ce7b8ac1-3f89-4dae-8d2a-6560e32f591a",
            "2026-03-02T10:13:00Z",
            "End",
            json!({"baseline": {"average": 1.7561507937}, "insight": {"average": 50},
                "insightDuration": 8}),
        ),
    ];
    gzip(&serde_json::to_vec(&json!({ "Records": records })).unwrap())
}

/// A trail with Insights enabled writes them under CloudTrail-Insights/: read beside the log
/// files by default and indexed (not dead-lettered), left out with --no-insights.
#[tokio::test]
async fn insights_events_are_read_beside_the_log_files() {
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let bucket = bucket(&s3, "insights").await;
    let account = ACCOUNTS[0];
    let files = [
        (
            format!("AWSLogs/{account}/CloudTrail/us-east-1/2026/03/02/{account}_CloudTrail_us-east-1_20260302T1010Z_a.json.gz"),
            log_file(account, "us-east-1", 2, 0),
        ),
        (
            format!("AWSLogs/{account}/CloudTrail-Insights/us-east-1/2026/03/02/{account}_CloudTrail-Insight_us-east-1_20260302T1015Z_b.json.gz"),
            insights_file(account),
        ),
    ];
    for (key, body) in files {
        put(&s3, &bucket, &key, body).await;
    }
    let location = format!("s3://{bucket}");
    let day = ["--since", "2026-03-02", "--until", "2026-03-03"];

    let prefix = format!("{}-", unique("s3insights"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let both = ingest_s3(&prefix, dir.path(), &location, &day);
    let expected = RECORDS_PER_OBJECT as u64 + 2;
    assert_eq!(both["files"], 2, "{both}");
    assert_eq!(both["indexed"], expected, "{both}");
    assert_eq!(both["dead_lettered"], 0, "{both}");
    assert!(!dir.path().join("dead.ndjson").exists());
    assert_eq!(stack.count(&prefix).await, expected);
    let insights: Vec<Value> = stack
        .all_docs(&prefix)
        .await
        .into_iter()
        .filter(|d| d["aws"]["cloudtrail"]["event_type"] == "AwsCloudTrailInsight")
        .collect();
    assert_eq!(insights.len(), 2);
    for doc in &insights {
        // Its action is its type: never counted as a call of the API it is about.
        assert_eq!(doc["event"]["action"], "AwsCloudTrailInsight", "{doc}");
        assert_eq!(doc["cloud"]["account"]["id"], account, "{doc}");
        assert!(doc["user"].is_null(), "no identity: {doc}");
        let details = doc["aws"]["cloudtrail"]["insight_details"].to_string();
        assert!(
            details.contains("ApiCallRateInsight")
                && details.contains("UpdateInstanceAssociationStatus"),
            "{doc}"
        );
    }
    stack.cleanup(&prefix).await;

    let prefix = format!("{}-", unique("s3noinsights"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let mut args = day.to_vec();
    args.push("--no-insights");
    let logs_only = ingest_s3(&prefix, dir.path(), &location, &args);
    assert_eq!(logs_only["files"], 1, "{logs_only}");
    assert_eq!(
        logs_only["indexed"], RECORDS_PER_OBJECT as u64,
        "{logs_only}"
    );
    stack.cleanup(&prefix).await;
}

/// A proxy in front of moto's S3 that answers the first request of each of the first `refuse`
/// connections as S3 does when pressed too hard (503 with error code SlowDown, as in the S3 API
/// reference's error list) and passes everything else through. moto has no way to answer so.
async fn slow_down_proxy(refuse: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = cloudwatch_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (upstream, counter) = (upstream.clone(), counter.clone());
            tokio::spawn(async move {
                // The request head (GetObject and ListObjectsV2 have no body).
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                if counter.fetch_add(1, SeqCst) < refuse {
                    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
                        <Message>Please reduce your request rate.</Message><RequestId>T1</RequestId></Error>";
                    let answer = format!(
                        "HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                    return;
                }
                let Ok(mut moto) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                if moto.write_all(&head).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut moto).await;
                }
            });
        }
    });
    (url, refused)
}

/// S3 saying SlowDown, more times in a row than the SDK's own tries: the run waits and goes on,
/// and indexes exactly what it would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_from_s3_is_waited_out() {
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let bucket = trail_bucket(&s3).await;
    let (proxy, refused) = slow_down_proxy(5).await;
    let prefix = format!("{}-", unique("s3slowdown"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let location = format!("s3://{bucket}/org-trail");
    let mut args = ingest_s3_args(
        &prefix,
        dir.path(),
        &location,
        &[
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-03",
            "--account",
            ACCOUNTS[1],
        ],
    );
    let endpoint = args.iter().position(|a| a == "--endpoint-url").unwrap() + 1;
    args[endpoint] = proxy;
    let out = tokio::task::spawn_blocking(move || {
        trailscope(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = summary(&ok(out));
    assert!(refused.load(SeqCst) > 5, "every refusal was used");
    // The first request (AWSLogs/) was refused past the SDK's three tries: our pause, then on.
    assert!(
        stderr.contains("code=\"SlowDown\"") && stderr.contains("trying again in"),
        "{stderr}"
    );
    let expected = (REGIONS.len() * OBJECTS_PER_DAY * RECORDS_PER_OBJECT) as u64;
    assert_eq!(summary["indexed"], expected, "{summary}");
    assert_eq!(stack.count(&prefix).await, expected);
    stack.cleanup(&prefix).await;
}

/// Control Tower's organization trail writes to its log archive bucket
/// (`aws-controltower-logs-ACCOUNT-REGION`) under the organization's id, then the organization
/// layout: `o-ORGID/AWSLogs/o-ORGID/ACCOUNT/CloudTrail/...`, beside AWS Config's files
/// (`.../ACCOUNT/Config/...`), as the AWS Secure Environment Accelerator's "log file locations"
/// page lists them. `s3://BUCKET/o-ORGID` is the trail's location; Config's files are never read.
#[tokio::test]
async fn a_control_tower_log_archive_bucket() {
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let bucket = bucket(&s3, "aws-controltower-logs").await;
    for account in &ACCOUNTS[..2] {
        for object in 0..OBJECTS_PER_DAY {
            let key = format!(
                "{ORG}/AWSLogs/{ORG}/{account}/CloudTrail/eu-west-1/2026/03/02/\
                 {account}_CloudTrail_eu-west-1_20260302T0{object}15Z_c{object}.json.gz"
            );
            put(
                &s3,
                &bucket,
                &key,
                log_file(account, "eu-west-1", 2, object),
            )
            .await;
        }
        let config = format!(
            "{ORG}/AWSLogs/{ORG}/{account}/Config/eu-west-1/2026/3/2/ConfigHistory/\
             {account}_Config_eu-west-1_ConfigHistory_AWS::S3::Bucket_20260302T101010Z.json.gz"
        );
        put(&s3, &bucket, &config, gzip(b"{\"configurationItems\":[]}")).await;
    }
    let prefix = format!("{}-", unique("s3controltower"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();

    // The bucket alone: nothing under AWSLogs/ there; a usage error naming the location to give.
    let out = trailscope_cmd(
        &ingest_s3_args(&prefix, dir.path(), &format!("s3://{bucket}"), &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("nothing under s3://{bucket}/AWSLogs/"))
            && stderr.contains(&format!("give s3://{bucket}/{ORG} ")),
        "{stderr}"
    );

    let location = format!("s3://{bucket}/{ORG}");
    let one = ingest_s3(&prefix, dir.path(), &location, &["--account", ACCOUNTS[1]]);
    let per_account = (OBJECTS_PER_DAY * RECORDS_PER_OBJECT) as u64;
    assert_eq!(one["files"], OBJECTS_PER_DAY, "{one}");
    assert_eq!(one["indexed"], per_account, "{one}");
    let all = ingest_s3(&prefix, dir.path(), &location, &[]);
    assert_eq!(
        all["files"], OBJECTS_PER_DAY,
        "the other account only: {all}"
    );
    assert_eq!(all["dead_lettered"], 0, "{all}");
    assert_eq!(stack.count(&prefix).await, 2 * per_account);
    assert!(!dir.path().join("dead.ndjson").exists());
    stack.cleanup(&prefix).await;
}

/// A location with nothing under its `AWSLogs/` is told first, in one request: before OpenSearch
/// is asked anything (here there is no OpenSearch at all at the URL given), so the mistake costs
/// seconds and the message names the fix.
#[tokio::test]
async fn a_location_without_a_trail_fails_before_opensearch_is_asked() {
    let s3 = s3::client();
    let bucket = bucket(&s3, "notrail").await;
    put(
        &s3,
        &bucket,
        "trail/AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/01/a.json.gz",
        log_file(ACCOUNTS[0], REGIONS[0], 1, 0),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens, so any OpenSearch request would fail.
    let mut args = ingest_s3_args("never-", dir.path(), &format!("s3://{bucket}"), &[]);
    let url = args.iter().position(|a| a == "--opensearch-url").unwrap() + 1;
    args[url] = "http://127.0.0.1:9".to_owned();
    let started = std::time::Instant::now();
    let out = trailscope(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("nothing under s3://{bucket}/AWSLogs/"))
            && stderr.contains(&format!("give s3://{bucket}/trail ")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("127.0.0.1:9"),
        "OpenSearch was asked: {stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// Reading does not wait for the whole listing: with one request at a time (listing and reading
/// share the budget), the first object is read before the last day is listed; objects are still
/// read and checkpointed in key order across days and folders (Insights' folder sorts before
/// CloudTrail/), and every event is indexed once.
#[tokio::test]
async fn reading_starts_while_listing_goes_on_in_key_order() {
    const DAYS: u32 = 8;
    let stack = Stack::connect().await;
    let s3 = s3::client();
    let bucket = bucket(&s3, "overlap").await;
    let account = ACCOUNTS[0];
    let mut keys = Vec::new();
    for day in 1..=DAYS {
        for object in 0..OBJECTS_PER_DAY {
            keys.push((
                format!(
                    "AWSLogs/{account}/CloudTrail/us-east-1/2026/03/{day:02}/\
                     {account}_CloudTrail_us-east-1_202603{day:02}T0{object}15Z_o.json.gz"
                ),
                log_file(account, "us-east-1", day, object),
            ));
        }
    }
    keys.push((
        format!(
            "AWSLogs/{account}/CloudTrail-Insights/us-east-1/2026/03/02/\
             {account}_CloudTrail-Insight_us-east-1_20260302T1015Z_i.json.gz"
        ),
        insights_file(account),
    ));
    // Put in reverse: the order read must come from the keys, not from how they were written.
    for (key, body) in keys.iter().rev() {
        put(&s3, &bucket, key, body.clone()).await;
    }
    let prefix = format!("{}-", unique("s3overlap"));
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let args = ingest_s3_args(
        &prefix,
        dir.path(),
        &format!("s3://{bucket}"),
        &["--s3-concurrency", "1"],
    );
    let out = trailscope(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = summary(&ok(out));
    let objects = keys.len() as u64;
    let events = (DAYS as u64) * OBJECTS_PER_DAY as u64 * RECORDS_PER_OBJECT as u64 + 2;
    assert_eq!(summary["files"], objects, "{summary}");
    assert_eq!(summary["indexed"], events, "{summary}");
    assert_eq!(stack.count(&prefix).await, events);

    let first_read = stderr.find("read input").expect("no object read");
    let listed = stderr.find("listed s3://").expect("no end of listing");
    assert!(
        first_read < listed,
        "the first object was read only after the listing ended:\n{stderr}"
    );
    let checkpoint = std::fs::read_to_string(dir.path().join("done-objects")).unwrap();
    let done: Vec<&str> = checkpoint.lines().filter(|l| !l.is_empty()).collect();
    let mut in_key_order: Vec<String> = keys
        .iter()
        .map(|(key, _)| format!("s3://{bucket}/{key}"))
        .collect();
    in_key_order.sort();
    assert_eq!(done, in_key_order);
    stack.cleanup(&prefix).await;
}

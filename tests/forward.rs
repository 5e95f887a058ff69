//! `forward` against the real local stack: moto as CloudWatch Logs, a real OpenSearch.

mod common;

use chrono::{DateTime, Utc};
use common::synthetic;
use common::*;
use std::collections::HashMap;

#[tokio::test(flavor = "multi_thread")]
async fn forwards_10000_events_from_three_streams_exactly_once() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("forward"));
    let prefix = format!("{}-", unique("t-forward"));
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let seed = 0x10000;
    let start = Utc::now() - chrono::Duration::days(2);
    let events = synthetic::events(seed, 10_000, start, 1_500);
    stack.put_events(&group, 3, &events).await;
    setup(&prefix);

    let first = forward_once(&group, &prefix, &dead, &[]);
    assert_eq!(first["read"], 10_000, "{first}");
    assert_eq!(first["indexed"], 10_000, "{first}");
    assert_eq!(first["dead_lettered"], 0, "{first}");
    assert_eq!(stack.count(&prefix).await, 10_000);

    // Every document matches the event it came from.
    let docs = stack.all_docs(&prefix).await;
    assert_eq!(docs.len(), 10_000);
    let by_id: HashMap<String, &serde_json::Value> = docs
        .iter()
        .map(|d| (d["_id"].as_str().unwrap().to_owned(), d))
        .collect();
    for (i, (ts, message)) in events.iter().enumerate() {
        let record: serde_json::Value = serde_json::from_str(message).unwrap();
        let id = synthetic::event_id(seed, i);
        let doc = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("event {id} not indexed"));
        assert_eq!(doc["event"]["action"], record["eventName"], "{id}");
        assert_eq!(doc["event"]["provider"], record["eventSource"], "{id}");
        assert_eq!(doc["cloud"]["region"], record["awsRegion"], "{id}");
        assert_eq!(
            doc["aws"]["cloudtrail"]["user_identity"]["access_key_id"],
            record["userIdentity"]["accessKeyId"],
            "{id}"
        );
        assert_eq!(doc["@timestamp"], record["eventTime"], "{id}");
        let day = DateTime::from_timestamp_millis(*ts)
            .unwrap()
            .format("%Y.%m.%d");
        assert_eq!(doc["_index"], format!("{prefix}{day}"), "{id}");
        assert_eq!(doc["cloudwatch"]["log_group"], group.as_str());
        // Enrichment through the whole path: the parsed user agent and the IAM action.
        let ua = &doc["aws"]["user_agent"];
        assert_eq!(doc["user_agent"]["original"], record["userAgent"], "{id}");
        match i % synthetic::AGENTS.len() {
            0 => {
                assert_eq!(ua["kind"], "sdk", "{id}");
                assert_eq!(ua["sdk"], "aws-sdk-ruby", "{id}");
                assert_eq!(ua["sdk_version"], "1.67.0", "{id}");
                assert_eq!(ua["language"], "ruby", "{id}");
                assert_eq!(ua["language_version"], "2.4.2", "{id}");
                assert_eq!(ua["extra"], serde_json::json!(["memoizing"]), "{id}");
            }
            1 => {
                assert_eq!(ua["sdk"], "Boto3", "{id}");
                assert_eq!(ua["language"], "python", "{id}");
            }
            2 => {
                assert_eq!(ua["kind"], "cli", "{id}");
                assert_eq!(ua["tool"], "aws-cli", "{id}");
                assert_eq!(ua["command"], "s3.ls", "{id}");
            }
            _ => {
                assert_eq!(ua["sdk"], "aws-sdk-go-v2", "{id}");
                assert_eq!(ua["language"], "go", "{id}");
                assert_eq!(ua["api"], "s3#1.47.7", "{id}");
            }
        }
        let expected_action = match record["eventName"].as_str().unwrap() {
            "UpdateFunctionCode20150331v2" => "lambda:UpdateFunctionCode".to_string(),
            "ListBuckets" => "s3:ListAllMyBuckets".to_string(),
            name => format!(
                "{}:{name}",
                record["eventSource"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap()
            ),
        };
        assert_eq!(
            doc["aws"]["cloudtrail"]["iam_action"],
            expected_action.as_str()
        );
        assert_eq!(
            doc["event"]["outcome"],
            if i.is_multiple_of(13) {
                "failure"
            } else {
                "success"
            }
        );
    }

    // The events were put two days after their timestamps, but before the first read began:
    // they were there to be read, so their delay says nothing about late arrival. The lag
    // allowance stays at its floor and no delivered id needs keeping (all are older than W - L).
    let checkpoint: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("checkpoint.json")).unwrap())
            .unwrap();
    let state = &checkpoint["groups"][&group];
    assert_eq!(state["max_ingestion_delay"], 0, "{state}");
    assert_eq!(state["seen"], serde_json::json!({}), "{state}");
    // A second pass resumes from the checkpoint and sends nothing.
    let second = forward_once(&group, &prefix, &dead, &[]);
    assert_eq!(second["read"], 0, "{second}");
    assert_eq!(second["bulk_requests"], 0, "{second}");
    // Without the checkpoint every event is sent again, and OpenSearch keeps one copy of each.
    std::fs::remove_file(dir.path().join("checkpoint.json")).unwrap();
    let third = forward_once(&group, &prefix, &dead, &[]);
    assert_eq!(third["read"], 10_000, "{third}");
    assert_eq!(third["indexed"], 0, "{third}");
    assert_eq!(third["duplicates"], 10_000, "{third}");
    assert_eq!(stack.count(&prefix).await, 10_000);
    assert!(!dead.exists(), "no event should be dead-lettered");
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_without_setup_says_what_to_run() {
    let _stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-nosetup"));
    let url = opensearch_url();
    let cw = cloudwatch_url();
    let out = trailscope(&[
        "forward",
        "--once",
        "--log-group",
        "/nothing",
        "--opensearch-url",
        &url,
        "--endpoint-url",
        &cw,
        "--index-prefix",
        &prefix,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("trailscope setup"), "{stderr}");
}

/// A backfill (a window longer than one 1-hour slice) shows its progress: plain
/// `backfill progress` log lines when stderr is not a terminal, at most one per
/// `--progress-every` (none for a job shorter than the default 10 s), one bar per log group when
/// it is (a pseudo-terminal from util-linux `script`).
#[tokio::test(flavor = "multi_thread")]
async fn backfill_progress_is_a_bar_on_a_terminal_and_log_lines_otherwise() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("progress"));
    let prefix = format!("{}-", unique("t-progress"));
    let start = Utc::now() - chrono::Duration::hours(6);
    // 6 hours of events: six slices.
    stack
        .put_events(&group, 1, &synthetic::events(0xBA7, 600, start, 36_000))
        .await;
    setup(&prefix);
    let dirs = [
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    ];
    let args = |dir: &tempfile::TempDir, every: &str| {
        forward_args(
            &group,
            &prefix,
            &dir.path().join("dead"),
            &["--since", "7h", "--progress-every", every],
        )
    };
    let log_lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.contains("backfill progress"))
            .map(str::to_owned)
            .collect()
    };

    // Not a terminal, a line at most every 300 ms: several, the first with a measured ETA only
    // when 3 s were measured.
    let plain = args(&dirs[0], "300ms");
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let out = trailscope(&plain);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    let lines = log_lines(&stderr);
    assert!(!lines.is_empty(), "{stderr}");
    assert!(
        lines.len() as f64 <= took.as_secs_f64() / 0.3 + 1.0,
        "{} lines in {took:?}:\n{stderr}",
        lines.len()
    );
    assert!(lines.iter().all(|l| l.contains("eta=")), "{stderr}");
    assert!(stderr.contains("backfill finished"), "{stderr}");
    // The default, 10 s: a shorter job says only that it finished.
    if took < std::time::Duration::from_secs(9) {
        let quiet = args(&dirs[2], "10s");
        let quiet: Vec<&str> = quiet.iter().map(String::as_str).collect();
        let out = trailscope(&quiet);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        ok(out);
        assert!(log_lines(&stderr).is_empty(), "{stderr}");
        assert!(stderr.contains("backfill finished"), "{stderr}");
    }

    // A terminal: a bar, and no progress log lines.
    let line = std::iter::once(env!("CARGO_BIN_EXE_trailscope").to_string())
        .chain(args(&dirs[1], "10s"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .output()
        .expect("util-linux `script` runs the command on a pseudo-terminal");
    let tty = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{tty}");
    assert!(tty.contains(&format!("backfill {group}")), "{tty}");
    assert!(tty.contains("100%"), "{tty}");
    assert!(
        tty.contains("backfill finished") && tty.contains("events=600"),
        "{tty}"
    );
    assert!(!tty.contains("backfill progress"), "{tty}");
    stack.cleanup(&prefix).await;
}

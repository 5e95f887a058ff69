//! A backfill over many days must not take the cluster's last shards (src/sink/shard_budget.rs):
//! on a node of this test's own whose limit is 10 shards, daily indices of old events are created
//! while a tenth of the limit stays free; the events of the others are dead-lettered with the
//! fix, and replayed once there is room: nothing lost.

mod common;

use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Name, HTTP and transport ports of the node (scripts/stack.sh node-up; README lists the port).
const NODE: (&str, &str, &str) = ("shards", "19270", "19370");
const PREFIX: &str = "t-shards-";

fn ten_days() -> Vec<Value> {
    (1..=10)
        .flat_map(|day| {
            (0..3).map(move |n| {
                json!({"eventVersion": "1.09", "eventTime": format!("2026-11-{day:02}T12:00:0{n}Z"),
                "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
                "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
                "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0",
                "userIdentity": {"type": "IAMUser", "accountId": "111122223333",
                    "arn": "arn:aws:iam::111122223333:user/backfill",
                    "accessKeyId": "AKIAIOSFODNN7SHARDS1"},
                "eventID": format!("5a4d0000-0000-4000-8000-{day:06}{n:06}"),
                "eventType": "AwsApiCall", "recipientAccountId": "111122223333"})
            })
        })
        .collect()
}

fn ingest(url: &str, dead: &std::path::Path, args: &[&str]) -> Value {
    let mut all = vec![
        "ingest",
        "--opensearch-url",
        url,
        "--index-prefix",
        PREFIX,
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    output_summary(&trailscope(&all))
}

#[tokio::test]
async fn a_backfill_leaves_shards_for_the_cluster_and_loses_nothing() {
    let (name, http, transport) = NODE;
    stack_script(&[
        "node-up",
        name,
        http,
        transport,
        "256m",
        "cluster.max_shards_per_node: 10",
    ]);
    let url = format!("http://127.0.0.1:{http}");
    let os = opensearch_at(&url);
    // The node and its data outlive a run, and it is this test's alone: start from no index
    // (their shards would count) and the default settings.
    let (status, body) = os_request(&os, Method::Delete, "/*,-.*", None).await;
    assert_eq!(status, 200, "{body}");
    let reset = json!({"persistent": {"cluster.max_shards_per_node": null}});
    os_request(&os, Method::Put, "/_cluster/settings", Some(reset.clone())).await;

    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail.json");
    std::fs::write(&trail, json!({"Records": ten_days()}).to_string()).unwrap();
    setup_at(&url, PREFIX);
    let dead = dir.path().join("dead.ndjson");
    let summary = ingest(&url, &dead, &[trail.to_str().unwrap()]);
    // 10 days × (1 primary + 1 replica) against 10 shards, 1 kept free: 4 days fit (8 shards).
    assert_eq!(summary["read"], 30, "{summary}");
    assert_eq!(summary["indexed"], 12, "{summary}");
    assert_eq!(summary["dead_lettered"], 18, "{summary}");
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 18);
    let refused: BTreeSet<&str> = letters
        .iter()
        .map(|l| l["index"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<String> = (5..=10)
        .map(|d| format!("{PREFIX}2026.11.{d:02}"))
        .collect();
    assert_eq!(
        refused,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    for letter in &letters {
        assert_eq!(letter["error_type"], "shard_limit", "{letter}");
        let reason = letter["reason"].as_str().unwrap();
        assert!(
            reason.contains("cluster.max_shards_per_node")
                && reason.contains("trailscope ingest --replay-dead-letters"),
            "the fix is named: {reason}"
        );
    }
    // What the reserve is for: the cluster can still create an index for its other work.
    let (status, body) = os_request(
        &os,
        Method::Put,
        "/other-work",
        Some(json!({"settings": {"number_of_shards": 1, "number_of_replicas": 0}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Room is made (here by raising the limit); the dead letters are sent again: all 30 there.
    let raise = json!({"persistent": {"cluster.max_shards_per_node": 100}});
    let (status, body) = os_request(&os, Method::Put, "/_cluster/settings", Some(raise)).await;
    assert_eq!(status, 200, "{body}");
    let dead_again = dir.path().join("dead-again.ndjson");
    let replay = ingest(
        &url,
        &dead_again,
        &["--replay-dead-letters", dead.to_str().unwrap()],
    );
    assert_eq!(replay["indexed"], 18, "{replay}");
    assert_eq!(replay["dead_lettered"], 0, "{replay}");
    os_request(&os, Method::Post, &format!("/{PREFIX}*/_refresh"), None).await;
    let (_, count) = os_request(&os, Method::Get, &format!("/{PREFIX}*/_count"), None).await;
    assert_eq!(count["count"], 30, "{count}");

    os_request(
        &os,
        Method::Delete,
        &format!("/{PREFIX}*,other-work?ignore_unavailable=true"),
        None,
    )
    .await;
    os_request(&os, Method::Put, "/_cluster/settings", Some(reset)).await;
    stack_script(&["node-down", name]);
}

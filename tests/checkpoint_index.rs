//! `forward --checkpoint-index`: progress kept in an OpenSearch index instead of a local file,
//! against the real local stack (moto as CloudWatch Logs, a real OpenSearch).

mod common;

use chrono::Utc;
use common::synthetic;
use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::time::Duration;
use trailscope::sink::opensearch::{Client, ConnectOptions};
use trailscope::source::checkpoint::CheckpointIndex;
use trailscope::source::checkpoint::GroupState;

fn client() -> Client {
    Client::connect(&ConnectOptions {
        url: opensearch_url().parse().unwrap(),
        username: None,
        password: None,
        password_file: None,
        request_timeout: Duration::from_secs(30),
        tls: Default::default(),
        sigv4: None,
    })
    .unwrap()
}

/// The state documents of one log group, as OpenSearch holds them after a refresh.
async fn state_docs(stack: &Stack, index: &str, group: &str) -> Vec<Value> {
    stack
        .request(Method::Post, &format!("/{index}/_refresh"), None)
        .await;
    let (status, reply) = stack
        .request(
            Method::Post,
            &format!("/{index}/_search"),
            Some(json!({"query": {"term": {"log_group": group}}})),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    reply["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_source"].clone())
        .collect()
}

fn state(watermark: i64, seen: &[(&str, i64)]) -> GroupState {
    GroupState {
        watermark: Some(watermark),
        seen: seen.iter().map(|(id, ts)| (id.to_string(), *ts)).collect(),
        max_ingestion_delay: 0,
        max_ingestion_delay_at: None,
        last_read_at: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_without_local_state_resumes_from_the_index() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("cpindex"));
    let prefix = format!("{}-", unique("t-cpindex"));
    let index = format!(".{}", unique("t-state"));
    let start = Utc::now() - chrono::Duration::hours(3);
    let events = synthetic::events(0xC1, 2_000, start, 1_000);
    stack.put_events(&group, 2, &events).await;
    setup(&prefix);
    let cp = [
        "--checkpoint-index",
        index.as_str(),
        "--checkpoint-job",
        "a",
    ];

    let first_dir = tempfile::tempdir().unwrap();
    let first = forward_once(&group, &prefix, &first_dir.path().join("dead"), &cp);
    assert_eq!(first["indexed"], 2_000, "{first}");
    assert!(
        !first_dir.path().join("checkpoint.json").exists(),
        "with --checkpoint-index no checkpoint file is written"
    );
    let docs = state_docs(&stack, &index, &group).await;
    assert_eq!(
        docs.len(),
        1,
        "one state document per job and group: {docs:?}"
    );
    assert_eq!(docs[0]["job"], "a");
    let last = events.last().unwrap().0;
    assert!(
        docs[0]["watermark"].as_i64().unwrap() > last,
        "the watermark passed the last event: {}",
        docs[0]
    );

    // A new container: no file anywhere, the same index and job. Nothing is sent again.
    let second_dir = tempfile::tempdir().unwrap();
    let second = forward_once(&group, &prefix, &second_dir.path().join("dead"), &cp);
    assert_eq!(second["read"], 0, "{second}");
    assert_eq!(second["bulk_requests"], 0, "{second}");

    // Another job name has progress of its own: it starts over (and OpenSearch keeps one copy).
    let other = [
        "--checkpoint-index",
        index.as_str(),
        "--checkpoint-job",
        "b",
    ];
    let third = forward_once(&group, &prefix, &second_dir.path().join("dead"), &other);
    assert_eq!(third["read"], 2_000, "{third}");
    assert_eq!(third["indexed"], 0, "{third}");
    assert_eq!(stack.count(&prefix).await, 2_000);
    assert_eq!(state_docs(&stack, &index, &group).await.len(), 2);
    stack.cleanup(&prefix).await;
    stack
        .request(Method::Delete, &format!("/{index}"), None)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_group_index_each_event_once_and_share_progress() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("cpshared"));
    let prefix = format!("{}-", unique("t-cpshared"));
    let index = format!(".{}", unique("t-state"));
    let start = Utc::now() - chrono::Duration::hours(2);
    let events = synthetic::events(0xC2, 6_000, start, 500);
    stack.put_events(&group, 3, &events).await;
    setup(&prefix);

    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            let args = forward_args(
                &group,
                &prefix,
                &dir.path().join("dead"),
                // Small batches: many acknowledgements, many checkpoint saves racing each other.
                &["--checkpoint-index", &index, "--batch-events", "200"],
            );
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            trailscope_cmd(&args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut indexed = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        indexed += summary(&ok(out))["indexed"].as_u64().unwrap();
    }
    assert_eq!(indexed, 6_000, "each event created by exactly one instance");
    assert_eq!(stack.count(&prefix).await, 6_000);
    let docs = state_docs(&stack, &index, &group).await;
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert!(docs[0]["watermark"].as_i64().unwrap() > events.last().unwrap().0);

    // Either instance restarted later sends nothing.
    let again = forward_once(
        &group,
        &prefix,
        &dirs[0].path().join("dead"),
        &["--checkpoint-index", &index],
    );
    assert_eq!(again["read"], 0, "{again}");
    stack.cleanup(&prefix).await;
    stack
        .request(Method::Delete, &format!("/{index}"), None)
        .await;
}

/// Two writers of the same group's checkpoint, interleaved on purpose: the second save of each
/// conflicts (its version is stale) and is merged with what the other wrote, never lost.
#[tokio::test(flavor = "multi_thread")]
async fn conflicting_saves_are_merged_not_lost() {
    let stack = Stack::connect().await;
    let index = format!(".{}", unique("t-state"));
    let group = "/aws/cloudtrail/shared";
    let a = CheckpointIndex::open(client(), &index, "job")
        .await
        .unwrap();
    let b = CheckpointIndex::open(client(), &index, "job")
        .await
        .unwrap();
    assert!(a.load_group(group).await.unwrap().is_none());
    assert!(b.load_group(group).await.unwrap().is_none());

    let saved = a
        .save_group(group, &state(100, &[("x", 90)]))
        .await
        .unwrap();
    assert_eq!(saved, state(100, &[("x", 90)]), "no conflict: stored as is");
    // b never saw a's save: its create conflicts, and the stored state holds both.
    let merged = b.save_group(group, &state(50, &[("y", 40)])).await.unwrap();
    assert_eq!(merged, state(100, &[("x", 90), ("y", 40)]));
    // a's version is now stale too.
    let merged = a
        .save_group(group, &state(150, &[("z", 140)]))
        .await
        .unwrap();
    assert_eq!(merged, state(150, &[("x", 90), ("y", 40), ("z", 140)]));

    // What a new reader gets is the last merged state, read in real time (no refresh).
    let c = CheckpointIndex::open(client(), &index, "job")
        .await
        .unwrap();
    assert_eq!(c.load_group(group).await.unwrap(), Some(merged));
    // Another job's checkpoint of the same group is a different document.
    let other = CheckpointIndex::open(client(), &index, "other")
        .await
        .unwrap();
    assert!(other.load_group(group).await.unwrap().is_none());
    stack
        .request(Method::Delete, &format!("/{index}"), None)
        .await;
}

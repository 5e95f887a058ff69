//! `trailscope retention` against the real plain OpenSearch (it has no ISM plugin), and the
//! shipped ISM policy checked offline (no ISM plugin can run here: see FACTS.md).

mod common;

use chrono::{Days, Utc};
use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

async fn indices(stack: &Stack, pattern: &str) -> BTreeSet<String> {
    let (status, body) = stack
        .request(
            Method::Get,
            &format!("/_cat/indices/{pattern}?format=json&h=index"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_str().unwrap().to_owned())
        .collect()
}

fn lines_starting(stdout: &str, start: &str) -> BTreeSet<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(start))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_exactly_the_daily_indices_older_than_the_window() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-retention"));
    let today = Utc::now().date_naive();
    let day = |ago: u64| {
        format!(
            "{prefix}{}",
            today
                .checked_sub_days(Days::new(ago))
                .unwrap()
                .format("%Y.%m.%d")
        )
    };
    // All are created now: only the date in the name decides.
    let keep: BTreeSet<String> = [day(0), day(1), day(30), day(29)].into();
    let old: BTreeSet<String> = [day(31), day(32), day(400)].into();
    // Dated after tomorrow: never old enough, listed apart, deleted only when asked.
    let future: BTreeSet<String> = [
        format!(
            "{prefix}{}",
            today
                .checked_add_days(Days::new(2))
                .unwrap()
                .format("%Y.%m.%d")
        ),
        format!("{prefix}9999.12.31"),
    ]
    .into();
    let foreign: BTreeSet<String> = [
        format!("{prefix}2020.01.01-reindexed"),
        format!("{prefix}summary"),
        // Another prefix that begins with this one (prefix + "other-").
        format!("{prefix}other-2020.01.01"),
        format!("{prefix}2020.1.1"),
    ]
    .into();
    for name in keep.iter().chain(&old).chain(&foreign).chain(&future) {
        let (status, body) = stack
            .request(Method::Put, &format!("/{name}"), Some(json!({})))
            .await;
        assert_eq!(status, 200, "{name}: {body}");
    }
    let all: BTreeSet<String> = keep
        .iter()
        .chain(&old)
        .chain(&foreign)
        .chain(&future)
        .cloned()
        .collect();
    assert_eq!(indices(&stack, &format!("{prefix}*")).await, all);

    let url = opensearch_url();
    let args = |dry: bool| {
        let mut a = vec![
            "retention",
            "--opensearch-url",
            &url,
            "--index-prefix",
            &prefix,
            "--keep",
            "30d",
        ];
        if dry {
            a.push("--dry-run");
        }
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        ok(trailscope(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
    };

    // Dry run: lists exactly the old ones, deletes nothing.
    let stdout = run(args(true));
    assert_eq!(lines_starting(&stdout, "would delete "), old, "{stdout}");
    assert!(lines_starting(&stdout, "deleted ").is_empty(), "{stdout}");
    assert!(stdout.contains("nothing was deleted (dry run)"), "{stdout}");
    assert_eq!(indices(&stack, &format!("{prefix}*")).await, all);

    // The real run deletes exactly those, and lists them.
    let stdout = run(args(false));
    assert_eq!(lines_starting(&stdout, "deleted "), old, "{stdout}");
    let left_alone: BTreeSet<String> = lines_starting(&stdout, "left alone ")
        .into_iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(left_alone, foreign, "{stdout}");
    let future_listed: BTreeSet<String> = lines_starting(&stdout, "future-dated ")
        .into_iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(future_listed, future, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "3 deleted, 4 kept, 2 future-dated kept, {} left alone",
            foreign.len()
        )),
        "{stdout}"
    );
    let remaining: BTreeSet<String> = keep
        .iter()
        .chain(&foreign)
        .chain(&future)
        .cloned()
        .collect();
    assert_eq!(indices(&stack, &format!("{prefix}*")).await, remaining);

    // Idempotent: a second run finds nothing more to delete.
    let stdout = run(args(false));
    assert!(lines_starting(&stdout, "deleted ").is_empty(), "{stdout}");
    assert!(stdout.contains("0 deleted, 4 kept"), "{stdout}");
    assert_eq!(indices(&stack, &format!("{prefix}*")).await, remaining);

    // --delete-future deletes the future-dated ones too, and nothing else.
    let mut with_future = args(false);
    with_future.push("--delete-future".into());
    let stdout = run(with_future);
    assert_eq!(lines_starting(&stdout, "deleted "), future, "{stdout}");
    let remaining: BTreeSet<String> = keep.iter().chain(&foreign).cloned().collect();
    assert_eq!(indices(&stack, &format!("{prefix}*")).await, remaining);

    stack.cleanup(&prefix).await;
}

#[test]
fn retention_refuses_a_wildcard_prefix_and_a_zero_window() {
    let url = opensearch_url();
    let out = trailscope(&[
        "retention",
        "--opensearch-url",
        &url,
        "--index-prefix",
        "*",
        "--keep",
        "30d",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be a plain index name prefix"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = trailscope(&["retention", "--opensearch-url", &url, "--keep", "0d"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1"));
}

#[test]
fn the_shipped_ism_policy_deletes_cloudtrail_indices_after_90_days() {
    let policy: Value = serde_json::from_str(include_str!("../mappings/ism-policy.json")).unwrap();
    let policy = &policy["policy"];
    let states = policy["states"].as_array().unwrap();
    let names: Vec<&str> = states.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hot", "delete"]);
    assert_eq!(policy["default_state"], "hot");
    // Every transition goes to a state that exists.
    for state in states {
        for t in state["transitions"].as_array().unwrap() {
            assert!(names.contains(&t["state_name"].as_str().unwrap()), "{t}");
        }
    }
    let hot = &states[0];
    assert_eq!(hot["actions"], json!([]));
    assert_eq!(
        hot["transitions"],
        json!([{"state_name": "delete", "conditions": {"min_index_age": "90d"}}])
    );
    let delete = &states[1];
    assert_eq!(delete["actions"], json!([{"delete": {}}]));
    assert_eq!(delete["transitions"], json!([]));
    let template = &policy["ism_template"];
    assert_eq!(template.as_array().unwrap().len(), 1);
    assert_eq!(template[0]["index_patterns"], json!(["cloudtrail-*"]));
    assert!(template[0]["priority"].as_u64().unwrap() > 0);
}

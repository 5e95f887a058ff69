//! Credential lineage in `audit`, against the real local OpenSearch: a vendor key mints a session
//! (GetSessionToken), the session assumes a role in another account, that role session assumes
//! another role (chained); each credential acts. One more temporary key acts with no minting event
//! indexed. Events go through `trailscope ingest` (a CloudTrail log file).

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

const VENDOR_KEY: &str = "AKIALINEAGEVENDOR001";
const VENDOR_ARN: &str = "arn:aws:iam::111122223333:user/vendor-lineage";
const SESSION_KEY: &str = "ASIALINEAGESESSION01";
const CROSS_KEY: &str = "ASIALINEAGECROSS0002";
const DEEP_KEY: &str = "ASIALINEAGEDEEP00003";
const ORPHAN_KEY: &str = "ASIALINEAGEORPHAN004";
const OTHER_KEY: &str = "AKIALINEAGEOTHER0005";
const CROSS_ROLE: &str = "arn:aws:iam::222233334444:role/vendor-cross";
const CROSS_SESSION: &str = "arn:aws:sts::222233334444:assumed-role/vendor-cross/vendor-s1";
const DEEP_ROLE: &str = "arn:aws:iam::222233334444:role/vendor-deep";
const DEEP_SESSION: &str = "arn:aws:sts::222233334444:assumed-role/vendor-deep/vendor-s2";
const ORPHAN_SESSION: &str = "arn:aws:sts::222233334444:assumed-role/vendor-deep/old";

fn user(key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDALINEAGEVENDOR01", "arn": VENDOR_ARN,
           "accountId": "111122223333", "accessKeyId": key, "userName": "vendor-lineage"})
}

fn other() -> Value {
    let mut u = user(OTHER_KEY);
    u["arn"] = json!("arn:aws:iam::111122223333:user/someone-else");
    u["userName"] = json!("someone-else");
    u
}

fn role_session(key: &str, session_arn: &str, role_arn: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": "AROALINEAGE:s", "arn": session_arn,
           "accountId": "222233334444", "accessKeyId": key,
           "sessionContext": {
               "sessionIssuer": {"type": "Role", "principalId": "AROALINEAGE", "arn": role_arn,
                                 "accountId": "222233334444", "userName": role_arn.rsplit('/').next().unwrap()},
               "attributes": {"creationDate": "2026-01-10T08:00:00Z", "mfaAuthenticated": "false"}}})
}

fn event(n: u32, time: &str, identity: Value, source: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": time,
        "eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0",
        "requestParameters": null, "responseElements": null,
        "requestID": format!("lineage-req-{n}"),
        "eventID": format!("11e1a9e0-0000-4000-8000-{n:012x}"),
        "readOnly": true, "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": "111122223333", "eventCategory": "Management"
    })
}

/// An STS call that answered with credentials `minted` (and the session, for AssumeRole).
fn minting(
    n: u32,
    time: &str,
    identity: Value,
    name: &str,
    minted: &str,
    session: Option<(&str, &str)>,
) -> Value {
    let mut e = event(n, time, identity, "sts.amazonaws.com", name);
    e["readOnly"] = json!(false);
    let mut response = json!({"credentials": {"accessKeyId": minted,
        "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": "Jan 10, 2026, 12:00:00 PM"}});
    if let Some((role, session)) = session {
        e["requestParameters"] = json!({"roleArn": role, "roleSessionName": "s"});
        response["assumedRoleUser"] = json!({"assumedRoleId": "AROALINEAGE:s", "arn": session});
    }
    e["responseElements"] = response;
    e
}

fn scenario() -> Vec<Value> {
    let ec2 = "ec2.amazonaws.com";
    vec![
        // The vendor key: 2 events, one of them mints SESSION_KEY.
        event(
            1,
            "2026-01-10T08:00:00Z",
            user(VENDOR_KEY),
            ec2,
            "DescribeInstances",
        ),
        minting(
            2,
            "2026-01-10T08:01:00Z",
            user(VENDOR_KEY),
            "GetSessionToken",
            SESSION_KEY,
            None,
        ),
        // The session (same user): 2 events, one assumes a role in 222233334444.
        event(
            3,
            "2026-01-10T08:02:00Z",
            user(SESSION_KEY),
            "s3.amazonaws.com",
            "ListBuckets",
        ),
        minting(
            4,
            "2026-01-10T08:03:00Z",
            user(SESSION_KEY),
            "AssumeRole",
            CROSS_KEY,
            Some((CROSS_ROLE, CROSS_SESSION)),
        ),
        // The cross-account role session: 3 events, one chains into another role.
        event(
            5,
            "2026-01-10T08:04:00Z",
            role_session(CROSS_KEY, CROSS_SESSION, CROSS_ROLE),
            ec2,
            "DescribeInstances",
        ),
        event(
            6,
            "2026-01-10T08:05:00Z",
            role_session(CROSS_KEY, CROSS_SESSION, CROSS_ROLE),
            ec2,
            "DescribeVpcs",
        ),
        minting(
            7,
            "2026-01-10T08:06:00Z",
            role_session(CROSS_KEY, CROSS_SESSION, CROSS_ROLE),
            "AssumeRole",
            DEEP_KEY,
            Some((DEEP_ROLE, DEEP_SESSION)),
        ),
        // The chained session: 1 event.
        event(
            8,
            "2026-01-10T08:07:00Z",
            role_session(DEEP_KEY, DEEP_SESSION, DEEP_ROLE),
            ec2,
            "DescribeSubnets",
        ),
        // A temporary key whose minting event is not indexed: 2 events.
        event(
            9,
            "2026-01-10T09:00:00Z",
            role_session(ORPHAN_KEY, ORPHAN_SESSION, DEEP_ROLE),
            ec2,
            "DescribeVolumes",
        ),
        event(
            10,
            "2026-01-10T09:01:00Z",
            role_session(ORPHAN_KEY, ORPHAN_SESSION, DEEP_ROLE),
            ec2,
            "DescribeVolumes",
        ),
        // Someone else: never in the vendor's report.
        event(
            11,
            "2026-01-10T09:02:00Z",
            other(),
            ec2,
            "DescribeInstances",
        ),
    ]
}

async fn seed(stack: &Stack) -> (String, tempfile::TempDir) {
    let prefix = format!("{}-", unique("t-lineage"));
    let dir = tempfile::tempdir().unwrap();
    ingest_records(stack, &prefix, dir.path(), &scenario(), &[]).await;
    (prefix, dir)
}

fn audit(dir: &Path, prefix: &str, args: &[&str]) -> String {
    let url = opensearch_url();
    let mut all = vec![
        "audit",
        "--opensearch-url",
        &url,
        "--index-prefix",
        prefix,
        "--since",
        "2026-01-10",
        "--until",
        "2026-01-11",
    ];
    all.extend_from_slice(args);
    ok(trailscope_cmd(&all)
        .current_dir(dir)
        .output()
        .expect("run trailscope"))
}

fn json_audit(dir: &Path, prefix: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    serde_json::from_str(&audit(dir, prefix, &all)).unwrap()
}

fn keys(report: &Value) -> Vec<(String, u64)> {
    report["summary"]["access_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn access_key_audit_follows_sessions_and_chained_roles() {
    let stack = Stack::connect().await;
    let (prefix, dir) = seed(&stack).await;

    // Default: the vendor key and everything derived from it (2 + 2 + 3 + 1 events).
    let r = json_audit(dir.path(), &prefix, &["--access-key", VENDOR_KEY]);
    assert_eq!(r["summary"]["events"], 8, "{r:#}");
    let mut k = keys(&r);
    k.sort();
    let mut expected = vec![
        (VENDOR_KEY.to_owned(), 2),
        (SESSION_KEY.to_owned(), 2),
        (CROSS_KEY.to_owned(), 3),
        (DEEP_KEY.to_owned(), 1),
    ];
    expected.sort();
    assert_eq!(k, expected);
    let l = &r["lineage"];
    assert_eq!(l["parent"], Value::Null, "a long-term key has no parent");
    assert_eq!(l["derived_keys"], 3);
    assert_eq!(l["cut"], Value::Null);
    let session = &l["derived"][0];
    assert_eq!(l["derived"].as_array().unwrap().len(), 1);
    assert_eq!(session["access_key"], SESSION_KEY);
    assert_eq!(session["minted_by"], "GetSessionToken");
    assert_eq!(session["minted_at"], "2026-01-10T08:01:00Z");
    assert_eq!(session["session_arn"], Value::Null);
    assert_eq!(session["events"], 2);
    let cross = &session["derived"][0];
    assert_eq!(cross["access_key"], CROSS_KEY);
    assert_eq!(cross["minted_by"], "AssumeRole");
    assert_eq!(cross["session_arn"], CROSS_SESSION);
    assert_eq!(cross["account"], "222233334444");
    assert_eq!(cross["events"], 3);
    let deep = &cross["derived"][0];
    assert_eq!(deep["access_key"], DEEP_KEY);
    assert_eq!(deep["session_arn"], DEEP_SESSION);
    assert_eq!(deep["events"], 1);
    assert_eq!(deep["derived"], json!([]));

    // The same tree in the terminal and Markdown formats.
    let tree = format!(
        "access key {VENDOR_KEY} (8 events in all)\n\
         └─ {SESSION_KEY} via GetSessionToken at 2026-01-10T08:01:00Z (same user): 2 events\n   \
         └─ {CROSS_KEY} via AssumeRole at 2026-01-10T08:03:00Z → {CROSS_SESSION} in account 222233334444: 3 events\n      \
         └─ {DEEP_KEY} via AssumeRole at 2026-01-10T08:06:00Z → {DEEP_SESSION} in account 222233334444: 1 event\n"
    );
    let text = audit(dir.path(), &prefix, &["--access-key", VENDOR_KEY]);
    assert!(
        text.contains(&format!("Credential lineage\n{tree}")),
        "{text}"
    );
    let md = audit(
        dir.path(),
        &prefix,
        &["--access-key", VENDOR_KEY, "--format", "markdown"],
    );
    assert!(
        md.contains(&format!("### Credential lineage\n\n```text\n{tree}```\n")),
        "{md}"
    );

    // --no-derived: the key's own events only, and no lineage section.
    let own = json_audit(
        dir.path(),
        &prefix,
        &["--access-key", VENDOR_KEY, "--no-derived"],
    );
    assert_eq!(own["summary"]["events"], 2);
    assert_eq!(keys(&own), vec![(VENDOR_KEY.to_owned(), 2)]);
    assert_eq!(own["lineage"], Value::Null);
    let text = audit(
        dir.path(),
        &prefix,
        &["--access-key", VENDOR_KEY, "--no-derived"],
    );
    assert!(!text.contains("Credential lineage"), "{text}");

    // The vendor user's ARN selects its own and its session's events (same user) and follows
    // the roles; the session hangs under the key that minted it.
    let by_arn = json_audit(dir.path(), &prefix, &["--principal-arn", VENDOR_ARN]);
    assert_eq!(by_arn["summary"]["events"], 8, "{by_arn:#}");
    assert_eq!(by_arn["lineage"]["derived"][0]["access_key"], SESSION_KEY);
    assert_eq!(
        by_arn["lineage"]["derived"][0]["derived"][0]["access_key"],
        CROSS_KEY
    );
    assert_eq!(by_arn["lineage"]["derived"].as_array().unwrap().len(), 1);

    // A derived key asked for directly: its parent is the minting event.
    let deep = json_audit(dir.path(), &prefix, &["--access-key", DEEP_KEY]);
    assert_eq!(deep["summary"]["events"], 1);
    assert_eq!(
        deep["lineage"]["parent"],
        json!({"kind": "minted", "by": CROSS_KEY, "via": "AssumeRole",
               "at": "2026-01-10T08:06:00Z", "event": "11e1a9e0-0000-4000-8000-000000000007"})
    );

    // The orphan: its events, and a parent reported unknown, never guessed.
    let orphan = json_audit(dir.path(), &prefix, &["--access-key", ORPHAN_KEY]);
    assert_eq!(orphan["summary"]["events"], 2);
    assert_eq!(
        orphan["lineage"]["parent"],
        json!({"kind": "unknown_outside_period"})
    );
    let text = audit(dir.path(), &prefix, &["--access-key", ORPHAN_KEY]);
    assert!(
        text.contains(
            "parent unknown (outside the period): no indexed event minted this temporary key"
        ),
        "{text}"
    );

    stack.cleanup(&prefix).await;
}

/// A chain of 8 role hops: the tree stops at the depth limit and says so, and only the events of
/// the keys it followed are counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_chain_longer_than_the_limit_is_cut_and_said_so() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-lineage-cut"));
    let dir = tempfile::tempdir().unwrap();
    const ROOT: &str = "AKIALINEAGECHAIN0000";
    let key = |i: u32| format!("ASIALINEAGECHAIN{i:04}");
    let role = "arn:aws:iam::222233334444:role/hop";
    let session = |i: u32| format!("arn:aws:sts::222233334444:assumed-role/hop/s{i}");
    let caller = |i: u32| {
        if i == 0 {
            user(ROOT)
        } else {
            role_session(&key(i), &session(i), role)
        }
    };
    let mut records = Vec::new();
    for i in 0..8 {
        let time = format!("2026-01-10T10:{i:02}:00Z");
        let next = (key(i + 1), session(i + 1));
        records.push(minting(
            100 + i,
            &time,
            caller(i),
            "AssumeRole",
            &next.0,
            Some((role, &next.1)),
        ));
    }
    records.push(event(
        200,
        "2026-01-10T11:00:00Z",
        caller(8),
        "ec2.amazonaws.com",
        "DescribeInstances",
    ));
    let file = dir.path().join("chain.json");
    std::fs::write(&file, json!({ "Records": records }).to_string()).unwrap();
    setup(&prefix);
    let url = opensearch_url();
    let dead = dir.path().join("dead.ndjson");
    let out = ok(trailscope(&[
        "ingest",
        "--opensearch-url",
        &url,
        "--index-prefix",
        &prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
        file.to_str().unwrap(),
    ]));
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["indexed"], records.len(), "{summary}");
    assert_eq!(stack.count(&prefix).await, 9);

    let r = json_audit(dir.path(), &prefix, &["--access-key", ROOT]);
    let l = &r["lineage"];
    assert_eq!(l["derived_keys"], 6, "{l:#}");
    assert_eq!(l["cut"], "chains deeper than 6 are not followed");
    // The root's call and the 6 followed keys' calls, one each.
    assert_eq!(r["summary"]["events"], 7);
    let mut node = &l["derived"][0];
    for i in 1..=6 {
        assert_eq!(node["access_key"], key(i));
        assert_eq!(node["events"], 1);
        node = &node["derived"][0];
    }
    assert_eq!(*node, Value::Null);
    let text = audit(dir.path(), &prefix, &["--access-key", ROOT]);
    assert!(
        text.contains("  cut: chains deeper than 6 are not followed\n"),
        "{text}"
    );
    stack.cleanup(&prefix).await;
}

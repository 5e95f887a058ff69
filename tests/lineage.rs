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
    ok(audit_cmd(dir, prefix, args)
        .output()
        .expect("run trailscope"))
}

/// `trailscope audit` of the scenario's day in `prefix`, then `args`.
fn audit_cmd(dir: &Path, prefix: &str, args: &[&str]) -> std::process::Command {
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
    let mut cmd = trailscope_cmd(&all);
    cmd.current_dir(dir);
    cmd
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

// ---------------------------------------------------------------------------------------------
// The lineage index (`trailscope-lineage`): one document per minted credential, written by
// `ingest`, `forward` and `lambda` from the minting events they deliver; read by audit (parent,
// root) and by the findings (lineage roots).

fn is_minting(record: &Value) -> bool {
    matches!(
        record["eventName"].as_str(),
        Some("GetSessionToken" | "AssumeRole")
    )
}

fn write_records(path: &Path, records: &[Value]) {
    std::fs::write(path, json!({ "Records": records }).to_string()).unwrap();
}

/// `trailscope ingest` of `files` into `prefix` with the lineage index `lineage` on, then
/// `extra`; returns the JSON summary.
fn ingest_with_lineage(
    prefix: &str,
    dir: &Path,
    lineage: &str,
    files: &[&Path],
    extra: &[&str],
) -> Value {
    let mut args = vec!["--lineage-index", lineage];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let mut cmd = ingest_cmd(prefix, &dir.join("dead.ndjson"), &args);
    cmd.env_remove("TRAILSCOPE_NO_LINEAGE");
    output_summary(&cmd.output().unwrap())
}

/// Every document of the lineage index `index`, by `_id`, with `_version` and `_seq_no`.
async fn lineage_docs(stack: &Stack, index: &str) -> std::collections::BTreeMap<String, Value> {
    stack
        .request(
            opensearch::http::Method::Post,
            &format!("/{index}/_refresh"),
            None,
        )
        .await;
    let (status, body) = stack
        .request(
            opensearch::http::Method::Post,
            &format!("/{index}/_search"),
            Some(
                json!({"size": 100, "version": true, "seq_no_primary_term": true,
                "query": {"match_all": {}}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let mut d = h["_source"].clone();
            d["_version"] = h["_version"].clone();
            d["_seq_no"] = h["_seq_no"].clone();
            (h["_id"].as_str().unwrap().to_owned(), d)
        })
        .collect()
}

async fn delete_index(stack: &Stack, index: &str) {
    stack
        .request(opensearch::http::Method::Delete, &format!("/{index}"), None)
        .await;
}

/// `audit` reading the lineage index `lineage` (or none: `--no-lineage`), JSON.
fn audit_lineage(dir: &Path, prefix: &str, lineage: Option<&str>, args: &[&str]) -> Value {
    let mut cmd = audit_cmd(dir, prefix, args);
    if let Some(index) = lineage {
        cmd.env_remove("TRAILSCOPE_NO_LINEAGE")
            .env("TRAILSCOPE_LINEAGE_INDEX", index);
    }
    let out = ok(cmd.output().unwrap());
    if args.contains(&"json") {
        serde_json::from_str(&out).unwrap()
    } else {
        Value::String(out)
    }
}

/// The three lineage documents of the scenario, as its minting events show them (without
/// `_version` and `_seq_no`).
fn expected_lineage() -> std::collections::BTreeMap<String, Value> {
    let id = |n: u32| format!("11e1a9e0-0000-4000-8000-{n:012x}");
    let expiration = "Jan 10, 2026, 12:00:00 PM";
    [
        json!({"access_key": SESSION_KEY, "parent": VENDOR_KEY, "parent_type": "IAMUser",
            "parent_arn": VENDOR_ARN, "minted_by": "GetSessionToken",
            "minted_at": "2026-01-10T08:01:00Z", "minting_event": id(2),
            "account": "111122223333", "expiration": expiration,
            "expires_at": "2026-01-10T12:00:00Z"}),
        json!({"access_key": CROSS_KEY, "parent": SESSION_KEY, "parent_type": "IAMUser",
            "parent_arn": VENDOR_ARN, "minted_by": "AssumeRole",
            "minted_at": "2026-01-10T08:03:00Z", "minting_event": id(4),
            "session_arn": CROSS_SESSION, "account": "222233334444",
            "expiration": expiration, "expires_at": "2026-01-10T12:00:00Z"}),
        json!({"access_key": DEEP_KEY, "parent": CROSS_KEY, "parent_type": "AssumedRole",
            "parent_arn": CROSS_SESSION, "minted_by": "AssumeRole",
            "minted_at": "2026-01-10T08:06:00Z", "minting_event": id(7),
            "session_arn": DEEP_SESSION, "account": "222233334444",
            "expiration": expiration, "expires_at": "2026-01-10T12:00:00Z"}),
    ]
    .into_iter()
    .map(|d| (d["access_key"].as_str().unwrap().to_owned(), d))
    .collect()
}

fn without_versions(
    docs: &std::collections::BTreeMap<String, Value>,
) -> std::collections::BTreeMap<String, Value> {
    docs.iter()
        .map(|(k, d)| {
            let mut d = d.clone();
            let o = d.as_object_mut().unwrap();
            o.remove("_version");
            o.remove("_seq_no");
            (k.clone(), d)
        })
        .collect()
}

/// The chain AKIA → GetSessionToken → ASIA1 → AssumeRole (another account) → ASIA2 → AssumeRole
/// → ASIA3, with the minting events in a later file (and run) than the events of the sessions:
/// one document per minted key, none written twice by a replay; audit reads the parent and root
/// from it and shows the same tree as from the events alone.
#[tokio::test(flavor = "multi_thread")]
async fn the_lineage_index_holds_each_minted_key_once_whatever_the_order() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-lineage-index"));
    let lineage = unique("t-lineage-doc");
    let dir = tempfile::tempdir().unwrap();
    let (minting, derived): (Vec<Value>, Vec<Value>) = scenario().into_iter().partition(is_minting);
    assert_eq!(minting.len(), 3);
    let (minting_file, derived_file) = (dir.path().join("b.json"), dir.path().join("a.json"));
    write_records(&minting_file, &minting);
    write_records(&derived_file, &derived);
    setup(&prefix);

    // The sessions' events first: nothing minted, the index is created and stays empty.
    let first = ingest_with_lineage(&prefix, dir.path(), &lineage, &[&derived_file], &[]);
    assert_eq!(first["indexed"], 8, "{first}");
    assert_eq!(lineage_docs(&stack, &lineage).await.len(), 0);

    // Then the minting events: exactly one document per minted key, as the events show it.
    let second = ingest_with_lineage(&prefix, dir.path(), &lineage, &[&minting_file], &[]);
    assert_eq!(second["indexed"], 3, "{second}");
    let written = lineage_docs(&stack, &lineage).await;
    assert_eq!(without_versions(&written), expected_lineage());

    // A replay of both files: every event a duplicate, no document written again.
    let replay = ingest_with_lineage(
        &prefix,
        dir.path(),
        &lineage,
        &[&derived_file, &minting_file],
        &[],
    );
    assert_eq!(replay["duplicates"], 11, "{replay}");
    let again = lineage_docs(&stack, &lineage).await;
    assert_eq!(again, written, "a replay changed a lineage document");
    for d in again.values() {
        assert_eq!(d["_version"], 1, "{d}");
    }
    // (Counting refreshes the events: what follows searches them.)
    assert_eq!(stack.count(&prefix).await, 11);

    // audit: the same tree with the lineage index as with the events alone.
    let from_index = audit_lineage(
        dir.path(),
        &prefix,
        Some(&lineage),
        &["--access-key", VENDOR_KEY, "--format", "json"],
    );
    let from_events = audit_lineage(
        dir.path(),
        &prefix,
        None,
        &["--access-key", VENDOR_KEY, "--format", "json"],
    );
    assert_eq!(from_index["lineage"], from_events["lineage"]);
    assert_eq!(from_index["lineage"]["derived_keys"], 3);

    // The root of ASIA3 is the vendor key, known, three hops up.
    let deep = audit_lineage(
        dir.path(),
        &prefix,
        Some(&lineage),
        &["--access-key", DEEP_KEY, "--format", "json"],
    );
    let root = &deep["lineage"]["root"];
    assert_eq!(root["root"], VENDOR_KEY, "{deep:#}");
    assert_eq!(root["root_known"], true);
    let chain: Vec<&str> = root["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["access_key"].as_str().unwrap())
        .collect();
    assert_eq!(chain, [DEEP_KEY, CROSS_KEY, SESSION_KEY]);
    assert_eq!(
        deep["lineage"]["parent"],
        json!({"kind": "minted", "by": CROSS_KEY, "via": "AssumeRole",
               "at": "2026-01-10T08:06:00Z", "event": "11e1a9e0-0000-4000-8000-000000000007"})
    );
    let text = audit_lineage(
        dir.path(),
        &prefix,
        Some(&lineage),
        &["--access-key", DEEP_KEY],
    );
    assert!(
        text.as_str().unwrap().contains(&format!(
            "  root: {VENDOR_KEY} (3 hops up, from the lineage index)\n"
        )),
        "{text}"
    );

    // A session whose minting event is absent: root unknown, never guessed.
    let orphan = audit_lineage(
        dir.path(),
        &prefix,
        Some(&lineage),
        &["--access-key", ORPHAN_KEY, "--format", "json"],
    );
    assert_eq!(
        orphan["lineage"]["root"],
        json!({"root": ORPHAN_KEY, "root_known": false, "chain": []})
    );
    assert_eq!(
        orphan["lineage"]["parent"],
        json!({"kind": "unknown_outside_period"})
    );
    // A lineage index that was never written: no root is reported, rather than "unknown".
    let never = audit_lineage(
        dir.path(),
        &prefix,
        Some(&unique("t-lineage-never")),
        &["--access-key", DEEP_KEY, "--format", "json"],
    );
    assert_eq!(never["lineage"].get("root"), None, "{never:#}");
    assert_eq!(never["lineage"]["parent"]["by"], CROSS_KEY);

    stack.cleanup(&prefix).await;
    delete_index(&stack, &lineage).await;
}

/// The lineage index outlives the events it came from (another index prefix here; retention in
/// life): the findings of the sessions' events, indexed where no minting event is, get their
/// root from it, and audit their parent. Without it (`--no-lineage`) both are unknown.
#[tokio::test(flavor = "multi_thread")]
async fn findings_and_audit_read_roots_from_the_lineage_index() {
    let stack = Stack::connect().await;
    let minted_prefix = format!("{}-", unique("t-lineage-minted"));
    let lineage = unique("t-lineage-roots");
    let dir = tempfile::tempdir().unwrap();
    let (minting, derived): (Vec<Value>, Vec<Value>) = scenario().into_iter().partition(is_minting);
    let (minting_file, derived_file) = (dir.path().join("b.json"), dir.path().join("a.json"));
    write_records(&minting_file, &minting);
    write_records(&derived_file, &derived);
    setup(&minted_prefix);
    let s = ingest_with_lineage(&minted_prefix, dir.path(), &lineage, &[&minting_file], &[]);
    assert_eq!(s["indexed"], 3, "{s}");

    // The sessions' events into prefixes of their own, findings on (no learning period: every
    // value is new, so each identity gets findings and their lineage roots).
    let mut roots = Vec::new();
    for with_index in [true, false] {
        let prefix = format!("{}-", unique("t-lineage-sessions"));
        let findings = unique("t-lineage-findings");
        setup(&prefix);
        let mut extra = vec![
            "--findings-index",
            &findings,
            "--findings-learning",
            "0s",
            "--findings-from",
            "2026-01-01T00:00:00Z",
        ];
        if !with_index {
            extra.push("--no-lineage");
        }
        let mut args = vec!["--lineage-index", &lineage];
        args.extend_from_slice(&extra);
        args.push(derived_file.to_str().unwrap());
        let mut cmd = ingest_cmd(&prefix, &dir.path().join("dead.ndjson"), &args);
        cmd.env_remove("TRAILSCOPE_NO_LINEAGE")
            .env_remove("TRAILSCOPE_NO_FINDINGS");
        let summary = output_summary(&cmd.output().unwrap());
        assert_eq!(summary["indexed"], 8, "{summary}");
        assert_eq!(stack.count(&prefix).await, 8);
        // Root per session key, from its findings (one root per key whatever the kind).
        let mut by_key = std::collections::BTreeMap::new();
        for f in stack.all_docs(&findings).await {
            if let Some(key) = f["access_key"].as_str() {
                let root = (
                    f["lineage_root"].as_str().unwrap().to_owned(),
                    f["lineage_root_known"].as_bool().unwrap(),
                );
                let previous = by_key.insert(key.to_owned(), root.clone());
                assert!(previous.is_none() || previous == Some(root), "{f}");
            }
        }
        let parent = audit_lineage(
            dir.path(),
            &prefix,
            with_index.then_some(lineage.as_str()),
            &["--access-key", DEEP_KEY, "--format", "json"],
        )["lineage"]["parent"]
            .clone();
        roots.push((by_key, parent));
        stack.cleanup(&prefix).await;
        delete_index(&stack, &findings).await;
    }
    let vendor = || (VENDOR_KEY.to_owned(), true);
    let (with_index, without) = (&roots[0], &roots[1]);
    for key in [SESSION_KEY, CROSS_KEY, DEEP_KEY] {
        assert_eq!(with_index.0.get(key), Some(&vendor()), "{key}: {roots:?}");
        assert_eq!(
            without.0.get(key).map(|r| r.1),
            Some(false),
            "{key}: {roots:?}"
        );
    }
    assert_eq!(with_index.0.get(ORPHAN_KEY).map(|r| r.1), Some(false));
    assert_eq!(with_index.1["by"], CROSS_KEY, "{roots:?}");
    assert_eq!(without.1, json!({"kind": "unknown_outside_period"}));

    stack.cleanup(&minted_prefix).await;
    delete_index(&stack, &lineage).await;
}

/// `forward` (CloudWatch Logs, moto) and `lambda` (its handler, with a CloudWatch Logs
/// subscription event) write the same lineage documents as `ingest` from the same minting events.
#[tokio::test(flavor = "multi_thread")]
async fn forward_and_lambda_write_the_same_lineage_documents() {
    use base64::Engine;
    use std::io::Write;
    let stack = Stack::connect().await;
    let minting: Vec<Value> = scenario().into_iter().filter(is_minting).collect();
    // CloudWatch Logs takes events up to 14 days old: the log events are recent, the records
    // they carry dated as in the scenario.
    let now = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let log_events: Vec<(i64, String)> = minting
        .iter()
        .enumerate()
        .map(|(i, r)| (now + i as i64 * 1000, r.to_string()))
        .collect();

    // forward --once of a log group holding the three minting events.
    let prefix = format!("{}-", unique("t-lineage-forward"));
    let forward_index = unique("t-lineage-fwd");
    let group = format!("/test/{}", unique("lineage"));
    stack.put_events(&group, 1, &log_events).await;
    setup(&prefix);
    let dir = tempfile::tempdir().unwrap();
    let args = forward_args(
        &group,
        &prefix,
        &dir.path().join("dead.ndjson"),
        &["--lineage-index", &forward_index],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = trailscope_cmd(&args);
    cmd.env_remove("TRAILSCOPE_NO_LINEAGE");
    let summary = output_summary(&cmd.output().unwrap());
    assert_eq!(summary["indexed"], 3, "{summary}");
    let forwarded = without_versions(&lineage_docs(&stack, &forward_index).await);
    assert_eq!(forwarded, expected_lineage());
    stack.cleanup(&prefix).await;
    delete_index(&stack, &forward_index).await;

    // lambda: one CloudWatch Logs subscription payload with the same events.
    let prefix = format!("{}-", unique("t-lineage-lambda"));
    let lambda_index = unique("t-lineage-lambda");
    setup(&prefix);
    let payload = json!({"messageType": "DATA_MESSAGE", "owner": "111122223333",
        "logGroup": group, "logStream": "stream-0", "subscriptionFilters": ["trailscope"],
        "logEvents": log_events.iter().enumerate().map(|(i, (ts, m))|
            json!({"id": format!("{i}"), "timestamp": ts, "message": m})).collect::<Vec<_>>()});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(payload.to_string().as_bytes()).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let dead = dir.path().join("lambda-dead.ndjson");
    let args = trailscope::commands::lambda::LambdaArgs::try_parse_from([
        "trailscope-lambda",
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        &prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
        "--lineage-index",
        &lambda_index,
        "--no-findings",
    ])
    .unwrap();
    assert!(!args.output.lineage.no_lineage);
    let handler = trailscope::commands::lambda::Handler::new(&args)
        .await
        .unwrap();
    handler
        .handle(json!({"awslogs": {"data": data}}), None)
        .await
        .unwrap();
    assert_eq!(stack.count(&prefix).await, 3);
    let from_lambda = without_versions(&lineage_docs(&stack, &lambda_index).await);
    assert_eq!(from_lambda, expected_lineage());
    stack.cleanup(&prefix).await;
    delete_index(&stack, &lambda_index).await;
}

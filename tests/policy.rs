//! Registered policies against the real local OpenSearch: `trailscope policy set/show/list/
//! remove` round trip, `not_granted` findings from an ingest (granted and not-granted actions of
//! a key, of the session it minted, of a role's session; refused calls, conditional grants and
//! an identity without a policy give none), a replay that adds none, `audit` using the
//! registered policy, and a bad policy file refused in a moment with exit code 2.

mod common;

use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

const ACCOUNT: &str = "111122223333";
const KEY: &str = "AKIAPOLICYVENDOR0001";
const SESSION_KEY: &str = "ASIAPOLICYSESSION001";
const OTHER_KEY: &str = "AKIAPOLICYNOPOLICY01";
const BOTO3: &str = "Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#6.5.0 lang/python#3.11.6";
/// The day of the events (a fixed UTC day, never "now").
const DAY: &str = "2026-02-01";

/// What the vendor key was granted: EC2 reads, its own session tokens, SSM commands only on
/// some conditions (not evaluated: taken to apply), and no IAM at all.
const VENDOR_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Inventory", "Effect": "Allow", "Action": ["ec2:Describe*", "sts:GetSessionToken"], "Resource": "*"},
    {"Sid": "RunCommands", "Effect": "Allow", "Action": "ssm:SendCommand", "Resource": "*",
     "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}},
    {"Sid": "NoIam", "Effect": "Deny", "Action": "iam:*", "Resource": "*"}
  ]
}
"#;

const ROLE_POLICY: &str =
    r#"{"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}"#;

fn vendor_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/vendor")
}

fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/ci")
}

fn id(n: u32) -> String {
    format!("901c0000-0000-4000-8000-{n:012x}")
}

fn record(n: u32, who: Value, minute: u32, source: &str, name: &str) -> Value {
    json!({
        "eventVersion": "1.09", "userIdentity": who,
        "eventTime": format!("{DAY}T09:{minute:02}:00Z"), "eventSource": source,
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
        "userAgent": BOTO3, "requestParameters": null, "responseElements": null,
        "requestID": format!("policy-req-{n}"), "eventID": id(n),
        "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": ACCOUNT, "eventCategory": "Management"
    })
}

fn vendor(key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAPOLICYVENDOR", "accountId": ACCOUNT,
        "arn": vendor_arn(), "accessKeyId": key, "userName": "vendor"})
}

fn ci() -> Value {
    json!({"type": "AssumedRole", "principalId": "AROAPOLICYCI:build", "accountId": ACCOUNT,
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/ci/build"),
        "accessKeyId": "ASIAPOLICYCIBUILD001",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAPOLICYCI",
            "arn": role_arn(), "accountId": ACCOUNT, "userName": "ci"}}})
}

fn day() -> Vec<Value> {
    let ec2 = "ec2.amazonaws.com";
    let iam = "iam.amazonaws.com";
    let mut mint = record(5, vendor(KEY), 5, "sts.amazonaws.com", "GetSessionToken");
    mint["responseElements"] = json!({"credentials": {"accessKeyId": SESSION_KEY,
        "expiration": "Feb 2, 2026, 9:00:00 AM", "sessionToken": "x"}});
    let mut refused = record(4, vendor(KEY), 4, "s3.amazonaws.com", "ListBuckets");
    refused["errorCode"] = json!("AccessDenied");
    refused["errorMessage"] = json!("Access Denied");
    vec![
        // Granted.
        record(1, vendor(KEY), 1, ec2, "DescribeInstances"),
        // Explicitly denied by the policy, yet done: the finding, once for the two calls.
        record(2, vendor(KEY), 2, iam, "CreateAccessKey"),
        record(3, vendor(KEY), 3, iam, "CreateAccessKey"),
        // Not granted, but AWS refused it: no finding (that is denied_burst's business).
        refused,
        // Granted (the key's own session token).
        mint,
        // Granted on a Condition that is not evaluated: taken to apply, no finding.
        record(6, vendor(KEY), 6, "ssm.amazonaws.com", "SendCommand"),
        // The minted session: held to the key's policy (its lineage root).
        record(7, vendor(SESSION_KEY), 7, ec2, "DescribeRegions"),
        record(8, vendor(SESSION_KEY), 8, "sqs.amazonaws.com", "ListQueues"),
        // A role session: the role's registered policy.
        record(9, ci(), 9, "s3.amazonaws.com", "ListBuckets"),
        record(10, ci(), 10, "dynamodb.amazonaws.com", "ListTables"),
        // No policy registered: nothing to compare with.
        record(11, vendor(OTHER_KEY), 11, iam, "CreateAccessKey"),
    ]
}

fn policy(args: &[&str], index: &str, dir: &Path) -> Output {
    let url = opensearch_url();
    let mut all = vec!["policy"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--opensearch-url", &url, "--policies-index", index]);
    let mut cmd = trailscope_cmd(&all);
    cmd.current_dir(dir);
    cmd.output().unwrap()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "should have failed: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ingest(prefix: &str, dir: &Path, findings: &str, policies: &str, file: &Path) {
    let mut cmd = ingest_cmd(
        prefix,
        &dir.join("dead.ndjson"),
        &[
            "--findings-index",
            findings,
            "--policies-index",
            policies,
            "--findings-from",
            "2026-02-01T00:00:00Z",
            file.to_str().unwrap(),
        ],
    );
    cmd.env_remove("TRAILSCOPE_NO_FINDINGS");
    ok(cmd.output().unwrap());
}

async fn findings_in(stack: &Stack, index: &str) -> Vec<Value> {
    let mut found = stack.all_docs(index).await;
    found.sort_by(|a, b| {
        a["first_event_id"]
            .as_str()
            .cmp(&b["first_event_id"].as_str())
    });
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_policies_give_not_granted_findings_once() {
    let stack = Stack::connect().await;
    let prefix = unique("policy");
    let policies = format!("policies-{prefix}");
    let findings = format!("findings-{prefix}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("vendor.json"), VENDOR_POLICY).unwrap();
    std::fs::write(d.join("ci.json"), ROLE_POLICY).unwrap();
    setup(&prefix);

    // set, show, list.
    let out = ok(policy(
        &["set", "--access-key", KEY, "vendor.json"],
        &policies,
        d,
    ));
    assert!(
        out.contains(&format!("registered for access key {KEY}: vendor.json")),
        "{out}"
    );
    let arn = role_arn();
    ok(policy(
        &["set", "--principal-arn", &arn, "ci.json"],
        &policies,
        d,
    ));
    let shown: Value =
        serde_json::from_str(&ok(policy(&["show", "--access-key", KEY], &policies, d))).unwrap();
    assert_eq!(shown["identity"], KEY);
    assert_eq!(shown["identity_type"], "access_key");
    assert_eq!(
        shown["documents"],
        json!([{"name": "vendor.json", "text": VENDOR_POLICY}]),
        "kept verbatim"
    );
    assert!(shown["registered_at"]
        .as_str()
        .is_some_and(|t| t.len() >= 20));
    assert!(shown["registered_by"]
        .as_str()
        .is_some_and(|b| !b.is_empty()));
    let shown: Value = serde_json::from_str(&ok(policy(
        &["show", "--principal-arn", &arn],
        &policies,
        d,
    )))
    .unwrap();
    assert_eq!(shown["identity_type"], "principal_arn");
    let listed = ok(policy(&["list"], &policies, d));
    let identities: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(identities, [KEY, arn.as_str()], "{listed}");

    // The ingest: exactly the actions outside the policies, once each.
    let trail = d.join("day.json");
    std::fs::write(&trail, json!({ "Records": day() }).to_string()).unwrap();
    ingest(&prefix, d, &findings, &policies, &trail);
    let found = findings_in(&stack, &findings).await;
    let summary: Vec<(&str, &str, &str, &str, &str)> = found
        .iter()
        .map(|f| {
            (
                f["identity"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
                f["value"].as_str().unwrap(),
                f["lineage_root"].as_str().unwrap(),
                f["first_event_id"].as_str().unwrap(),
            )
        })
        .collect();
    let varn = vendor_arn();
    assert_eq!(
        summary,
        [
            (
                KEY,
                "not_granted",
                "iam:CreateAccessKey",
                KEY,
                id(2).as_str()
            ),
            (
                varn.as_str(),
                "not_granted",
                "sqs:ListQueues",
                KEY,
                id(8).as_str()
            ),
            (
                arn.as_str(),
                "not_granted",
                "dynamodb:ListTables",
                arn.as_str(),
                id(10).as_str()
            ),
        ],
        "{found:#?}"
    );
    for f in &found {
        assert_eq!(f["severity"], "high", "{f}");
    }
    assert_eq!(
        found[0]["reason"],
        format!(
            "iam:CreateAccessKey is outside the policy registered for {KEY}: explicitly denied \
             by registered:vendor.json#NoIam"
        )
    );
    assert_eq!(
        found[1]["reason"],
        format!(
            "sqs:ListQueues is outside the policy registered for {KEY}: no statement allows it"
        )
    );

    // A replay writes none again.
    ingest(&prefix, d, &findings, &policies, &trail);
    assert_eq!(findings_in(&stack, &findings).await, found);

    // `audit` compares with the registered policy when no --policy is given, and says so.
    assert_eq!(
        stack.count(&prefix).await,
        11,
        "every event indexed (and searchable)"
    );
    let url = opensearch_url();
    let out = trailscope(&[
        "audit",
        "--access-key",
        KEY,
        "--since",
        "2026-01-31",
        "--until",
        "2026-02-02",
        "--format",
        "json",
        "--no-baseline",
        "--opensearch-url",
        &url,
        "--index-prefix",
        &prefix,
        "--policies-index",
        &policies,
    ]);
    let report: Value = serde_json::from_str(&ok(out)).unwrap();
    assert_eq!(
        report["policy"]["documents"],
        json!(["registered:vendor.json"])
    );
    let not_granted: Vec<&str> = report["policy"]["used_not_granted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["action"].as_str().unwrap())
        .collect();
    assert!(not_granted.contains(&"iam:CreateAccessKey"), "{report:#}");

    // remove; then show fails and a second remove says there was nothing.
    let out = ok(policy(&["remove", "--access-key", KEY], &policies, d));
    assert!(out.contains("removed"), "{out}");
    let err = failed(&policy(&["show", "--access-key", KEY], &policies, d));
    assert!(
        err.contains(&format!("no policy is registered for access key {KEY}")),
        "{err}"
    );
    let out = ok(policy(&["remove", "--access-key", KEY], &policies, d));
    assert!(out.contains("nothing to remove"), "{out}");
    let listed = ok(policy(&["list"], &policies, d));
    assert!(!listed.contains(KEY) && listed.contains(&arn), "{listed}");

    stack.cleanup(&prefix).await;
    for index in [&policies, &findings] {
        stack
            .request(Method::Delete, &format!("/{index}"), None)
            .await;
    }
}

/// `policy set` on a running `forward` takes effect without a restart: the same not-granted
/// call gives nothing before the registration and a finding after it (policies read again every
/// second here, every minute by default).
#[tokio::test(flavor = "multi_thread")]
async fn a_policy_set_while_forward_runs_takes_effect_without_a_restart() {
    const LIVE_KEY: &str = "AKIAPOLICYLIVE000001";
    let stack = Stack::connect().await;
    let prefix = unique("policy-live");
    let policies = format!("policies-{prefix}");
    let findings = format!("findings-{prefix}");
    let group = format!("/test/{}", unique("policy-live"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("vendor.json"), VENDOR_POLICY).unwrap();
    setup(&prefix);
    // Minutes ago (whatever the time of day): judged, since --findings-from is 1h back.
    let now = chrono::Utc::now();
    let event = |n: u32, minutes_ago: i64| {
        let t = now - chrono::Duration::minutes(minutes_ago);
        let mut r = record(
            n,
            vendor(LIVE_KEY),
            0,
            "iam.amazonaws.com",
            "CreateAccessKey",
        );
        r["eventTime"] = json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        r["eventID"] = json!(format!("901c1111-0000-4000-8000-{n:012x}"));
        (t.timestamp_millis(), r.to_string())
    };
    stack.put_events(&group, 1, &[event(1, 10)]).await;
    let args = forward_args(
        &group,
        &prefix,
        &d.join("dead.ndjson"),
        &[
            "--poll-interval",
            "1s",
            "--findings-index",
            &findings,
            "--policies-index",
            &policies,
            "--policies-refresh",
            "1s",
            "--findings-from",
            "1h",
        ],
    );
    // Running on, not --once.
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--once")
        .collect();
    let mut cmd = trailscope_cmd(&args);
    cmd.env_remove("TRAILSCOPE_NO_FINDINGS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // Stopped whatever happens, a failed assertion included.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Stop(cmd.spawn().unwrap());
    let wait_for = |what: &str, deadline: std::time::Instant| {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within a minute"
        );
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while stack.count(&prefix).await < 1 {
        wait_for("indexing the first event", deadline);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // Judged (the batch is acknowledged after its findings): none, no policy yet.
    assert!(findings_in(&stack, &findings).await.is_empty());

    ok(policy(
        &["set", "--access-key", LIVE_KEY, "vendor.json"],
        &policies,
        d,
    ));
    // Past the refresh interval, the same call again.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    stack
        .append_events(&group, "stream-0", &[event(2, 9)])
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let found = loop {
        let found = findings_in(&stack, &findings).await;
        if !found.is_empty() {
            break found;
        }
        wait_for("the not_granted finding", deadline);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    drop(child);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["kind"], "not_granted");
    assert_eq!(found[0]["value"], "iam:CreateAccessKey");
    assert_eq!(
        found[0]["first_event_id"],
        "901c1111-0000-4000-8000-000000000002"
    );
    stack.cleanup(&prefix).await;
    for index in [&policies, &findings] {
        stack
            .request(Method::Delete, &format!("/{index}"), None)
            .await;
    }
}

/// A bad document is refused before anything is contacted (the URL answers nothing), with
/// audit's sentence and the exit code of a usage mistake; so is an identity that is not one.
#[test]
fn a_bad_policy_file_fails_at_once_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.json"),
        "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\" \"Action\": \"s3:*\"}\n  ]\n}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["policy", "set"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--opensearch-url", "http://127.0.0.1:9"]);
        let started = std::time::Instant::now();
        let out = trailscope_cmd(&all)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(out.stdout.is_empty());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--access-key", KEY, "broken.json"]);
    assert!(
        err.contains("broken.json is not a valid IAM policy document: expected `,` or `}` (line 3, column 24)"),
        "{err}"
    );
    let err = run(&["--access-key", KEY, "absent.json"]);
    assert!(err.contains("cannot read policy file absent.json"), "{err}");
    let err = run(&["--access-key", "vendor", "broken.json"]);
    assert!(err.contains("is not an access key ID"), "{err}");
}

//! "New in this period" in `audit`, against the real local OpenSearch: 30 days of one vendor key's
//! routine (one action, one region, one network, one SDK), then a day where it creates an access
//! key from a new network with a new tool in a new region and is denied 20 times. Events go
//! through `trailscope ingest` (a CloudTrail log file).

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

const VENDOR_KEY: &str = "AKIANOVELTYVENDOR001";
const NEWCOMER_KEY: &str = "AKIANOVELTYNEWBIE002";
const LEARNER_KEY: &str = "AKIANOVELTYLEARNER03";
const BOTO3: &str = "Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#6.5.0 lang/python#3.11.6";
const CLI: &str = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0";

fn id(n: u32) -> String {
    format!("5e1f0000-0000-4000-8000-{n:012x}")
}

#[allow(clippy::too_many_arguments)]
fn event(
    n: u32,
    key: &str,
    time: &str,
    source: &str,
    name: &str,
    region: &str,
    ip: &str,
    agent: &str,
) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDANOVELTY", "accountId": "111122223333",
            "arn": format!("arn:aws:iam::111122223333:user/{key}"), "accessKeyId": key, "userName": key},
        "eventTime": time, "eventSource": source, "eventName": name, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": agent,
        "requestParameters": null, "responseElements": null,
        "requestID": format!("novelty-req-{n}"), "eventID": id(n),
        "readOnly": name.starts_with("Describe") || name.starts_with("List"),
        "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": "111122223333", "eventCategory": "Management"
    })
}

fn scenario() -> Vec<Value> {
    let ec2 = "ec2.amazonaws.com";
    let iam = "iam.amazonaws.com";
    let mut records = Vec::new();
    // The baseline: 2026-01-02 … 2026-01-31, every day the same call.
    for day in 2..=31u32 {
        let time = format!("2026-01-{day:02}T10:00:00Z");
        records.push(event(
            day,
            VENDOR_KEY,
            &time,
            ec2,
            "DescribeInstances",
            "eu-west-1",
            "198.51.100.7",
            BOTO3,
        ));
    }
    // The audited day: the routine once more (nothing new in it) ...
    records.push(event(
        100,
        VENDOR_KEY,
        "2026-02-01T08:00:00Z",
        ec2,
        "DescribeInstances",
        "eu-west-1",
        "198.51.100.9",
        BOTO3,
    ));
    // ... then IAM from a new network with a new tool in a new region ...
    records.push(event(
        101,
        VENDOR_KEY,
        "2026-02-01T09:00:00Z",
        iam,
        "CreateAccessKey",
        "us-east-1",
        "203.0.113.50",
        CLI,
    ));
    // ... and 20 refusals within the hour.
    for i in 0..20u32 {
        let mut e = event(
            200 + i,
            VENDOR_KEY,
            &format!("2026-02-01T09:{:02}:00Z", 10 + i),
            iam,
            "ListUsers",
            "us-east-1",
            "203.0.113.51",
            CLI,
        );
        e["errorCode"] = json!("AccessDenied");
        e["errorMessage"] = json!("User is not authorized to perform: iam:ListUsers");
        records.push(e);
    }
    // A key that only ever acted in the audited period.
    records.push(event(
        300,
        NEWCOMER_KEY,
        "2026-02-01T12:00:00Z",
        iam,
        "CreateAccessKey",
        "us-east-1",
        "203.0.113.50",
        CLI,
    ));
    // A key whose history starts two days before it: less than the learning period.
    records.push(event(
        400,
        LEARNER_KEY,
        "2026-01-30T12:00:00Z",
        "ec2.amazonaws.com",
        "DescribeInstances",
        "eu-west-1",
        "198.51.100.7",
        BOTO3,
    ));
    records.push(event(
        401,
        LEARNER_KEY,
        "2026-02-01T12:00:00Z",
        iam,
        "CreateAccessKey",
        "us-east-1",
        "203.0.113.50",
        CLI,
    ));
    records
}

async fn seed(stack: &Stack) -> (String, tempfile::TempDir) {
    let prefix = format!("{}-", unique("t-novelty"));
    let dir = tempfile::tempdir().unwrap();
    ingest_records(stack, &prefix, dir.path(), &scenario(), &[]).await;
    (prefix, dir)
}

fn audit(dir: &Path, prefix: &str, key: &str, format: &str) -> String {
    audit_with(dir, prefix, key, format, &[])
}

fn audit_with(dir: &Path, prefix: &str, key: &str, format: &str, extra: &[&str]) -> String {
    let url = opensearch_url();
    let mut args = vec![
        "audit",
        "--opensearch-url",
        &url,
        "--index-prefix",
        prefix,
        "--access-key",
        key,
        "--since",
        "2026-02-01",
        "--until",
        "2026-02-02",
        "--baseline",
        "30d",
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    ok(trailscope_cmd(&args)
        .current_dir(dir)
        .output()
        .expect("run trailscope"))
}

/// (kind, value, severity, first event id, count) of every finding, in report order.
fn findings(report: &Value) -> Vec<(String, String, String, String, u64)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    report["novelty"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {}", report["novelty"]))
        .iter()
        .map(|f| {
            (
                s(&f["kind"]),
                s(&f["value"]),
                s(&f["severity"]),
                s(&f["first_event_id"]),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_key_doing_new_things_is_reported_once_per_new_thing() {
    let stack = Stack::connect().await;
    let (prefix, dir) = seed(&stack).await;
    let report: Value =
        serde_json::from_str(&audit(dir.path(), &prefix, VENDOR_KEY, "json")).unwrap();
    let novelty = &report["novelty"];
    assert_eq!(novelty["status"], "compared", "{novelty}");
    assert_eq!(novelty["baseline"]["since"], "2026-01-02T00:00:00Z");
    assert_eq!(novelty["baseline_events"], 30);
    let t = |k: &str, v: &str, s: &str, n: u32, c: u64| {
        (k.to_owned(), v.to_owned(), s.to_owned(), id(n), c)
    };
    assert_eq!(
        findings(&report),
        vec![
            t("new_action", "iam:CreateAccessKey", "high", 101, 1),
            t("new_action", "iam:ListUsers", "medium", 200, 20),
            t("new_service", "iam.amazonaws.com", "medium", 101, 21),
            t("new_region", "us-east-1", "medium", 101, 21),
            t("new_network", "203.0.113.0/24", "medium", 101, 21),
            t("new_user_agent", "aws-cli/2", "medium", 101, 21),
            t(
                "denied_burst",
                "20 authorization failures in the hour from 2026-02-01T09:00:00.000Z",
                "medium",
                200,
                20
            ),
        ]
    );
    let first = &novelty["findings"][0];
    assert_eq!(first["first_seen"], "2026-02-01T09:00:00Z");
    assert_eq!(first["reason"], "creates identities, keys or policies");

    // The same section in the other formats.
    let text = audit(dir.path(), &prefix, VENDOR_KEY, "table");
    assert!(
        text.contains("New in this period (7; baseline 2026-01-02 to 2026-02-01)"),
        "{text}"
    );
    assert!(
        text.contains("iam:CreateAccessKey") && text.contains(&id(101)),
        "{text}"
    );
    let md = audit(dir.path(), &prefix, VENDOR_KEY, "markdown");
    assert!(
        md.contains("### New in this period (7; baseline 2026-01-02 to 2026-02-01)"),
        "{md}"
    );
    assert!(
        md.contains("| new network | 203.0.113.0/24 | medium |"),
        "{md}"
    );

    let without: Value = serde_json::from_str(&audit_with(
        dir.path(),
        &prefix,
        VENDOR_KEY,
        "json",
        &["--no-baseline"],
    ))
    .unwrap();
    assert_eq!(without["novelty"], Value::Null);

    // With the vendor's policy registered, a new action it does not grant is high too.
    let policy = dir.path().join("vendor-policy.json");
    std::fs::write(
        &policy,
        r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}"#,
    )
    .unwrap();
    let with_policy: Value = serde_json::from_str(&audit_with(
        dir.path(),
        &prefix,
        VENDOR_KEY,
        "json",
        &["--policy", policy.to_str().unwrap()],
    ))
    .unwrap();
    let actions: Vec<(String, String, String)> = with_policy["novelty"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "new_action")
        .map(|f| {
            (
                f["value"].as_str().unwrap().into(),
                f["severity"].as_str().unwrap().into(),
                f["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    let not_granted = "not granted by the registered policies".to_owned();
    assert_eq!(
        actions,
        vec![
            (
                "iam:CreateAccessKey".into(),
                "high".into(),
                not_granted.clone()
            ),
            ("iam:ListUsers".into(), "high".into(), not_granted),
        ]
    );
    stack.cleanup(&prefix).await;
}

/// With `--asn-db` a network is its autonomous system (another /24 of the same AS is not new);
/// with `--geoip-db` the country is compared too.
#[tokio::test(flavor = "multi_thread")]
async fn networks_are_autonomous_systems_and_countries_when_enriched() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-novelty-geo"));
    let dir = tempfile::tempdir().unwrap();
    let asn = common::geoip::asn_db(dir.path());
    let country = dir.path().join("test-country.mmdb");
    common::geoip::write_mmdb(
        &country,
        "GeoLite2-Country",
        &[
            ("89.160.0.0/17", json!({"country": {"iso_code": "SE"}})),
            ("8.8.8.0/24", json!({"country": {"iso_code": "US"}})),
        ],
    );
    let ec2 = "ec2.amazonaws.com";
    let mut records = Vec::new();
    for day in 2..=31u32 {
        let time = format!("2026-01-{day:02}T10:00:00Z");
        records.push(event(
            day,
            VENDOR_KEY,
            &time,
            ec2,
            "DescribeInstances",
            "eu-west-1",
            "89.160.20.156",
            BOTO3,
        ));
    }
    // Same AS and country, another /24: nothing new.
    records.push(event(
        100,
        VENDOR_KEY,
        "2026-02-01T08:00:00Z",
        ec2,
        "DescribeInstances",
        "eu-west-1",
        "89.160.99.5",
        BOTO3,
    ));
    records.push(event(
        101,
        VENDOR_KEY,
        "2026-02-01T09:00:00Z",
        ec2,
        "DescribeInstances",
        "eu-west-1",
        "8.8.8.8",
        BOTO3,
    ));
    records.push(event(
        102,
        VENDOR_KEY,
        "2026-02-01T09:05:00Z",
        ec2,
        "DescribeInstances",
        "eu-west-1",
        "8.8.8.9",
        BOTO3,
    ));
    ingest_records(
        &stack,
        &prefix,
        dir.path(),
        &records,
        &[
            "--geoip-db",
            country.to_str().unwrap(),
            "--asn-db",
            asn.to_str().unwrap(),
        ],
    )
    .await;
    let report: Value =
        serde_json::from_str(&audit(dir.path(), &prefix, VENDOR_KEY, "json")).unwrap();
    let t = |k: &str, v: &str, n: u32, c: u64| {
        (k.to_owned(), v.to_owned(), "medium".to_owned(), id(n), c)
    };
    assert_eq!(
        findings(&report),
        vec![
            t("new_network", "AS15169", 101, 2),
            t("new_country", "US", 101, 2)
        ]
    );
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_without_enough_history_gets_no_findings_but_a_sentence() {
    let stack = Stack::connect().await;
    let (prefix, dir) = seed(&stack).await;
    let report: Value =
        serde_json::from_str(&audit(dir.path(), &prefix, NEWCOMER_KEY, "json")).unwrap();
    assert_eq!(
        report["novelty"]["status"], "no_history",
        "{}",
        report["novelty"]
    );
    assert!(report["novelty"].get("findings").is_none());
    let text = audit(dir.path(), &prefix, NEWCOMER_KEY, "table");
    assert!(
        text.contains("no history before the period: nothing can be called new"),
        "{text}"
    );

    let report: Value =
        serde_json::from_str(&audit(dir.path(), &prefix, LEARNER_KEY, "json")).unwrap();
    assert_eq!(
        report["novelty"]["status"], "learning",
        "{}",
        report["novelty"]
    );
    assert_eq!(report["novelty"]["history_since"], "2026-01-30T12:00:00Z");
    assert!(report["novelty"].get("findings").is_none());
    let md = audit(dir.path(), &prefix, LEARNER_KEY, "markdown");
    assert!(
        md.contains("History shorter than the 7-day learning period: nothing is called new yet"),
        "{md}"
    );
    stack.cleanup(&prefix).await;
}

#[test]
fn a_baseline_shorter_than_the_learning_period_is_refused() {
    let out = trailscope(&["audit", "--access-key", VENDOR_KEY, "--baseline", "3d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("use 7d or more"), "{err}");
}

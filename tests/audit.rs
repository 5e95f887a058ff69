//! `audit` against the real local stack: events go moto → `trailscope forward --once` →
//! OpenSearch, so the enriched fields the report aggregates are the real ones.
//!
//! Golden files: `tests/golden/audit.{txt,json,md}` are compared byte for byte; run with
//! `TRAILSCOPE_UPDATE_GOLDEN=1` to rewrite them (and review the diff).

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

const VENDOR_KEY: &str = "AKIAVENDOR7EXAMPLE01";
const VENDOR_ARN: &str = "arn:aws:iam::111122223333:user/vendor-acme";
const RUBY: &str = "aws-sdk-ruby/1.67.0 ruby/2.4.2 x86_64-linux memoizing";
const BOTO3: &str = "Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.1";
const SINCE: &str = "2026-01-01T00:00:00Z";
const UNTIL: &str = "2026-02-01T00:00:00Z";

/// The policy the vendor published: EC2 read access, SSM, S3 on one bucket, passing its role,
/// and a Deny on commands to one tagged fleet (limited by a Condition, so not evaluated).
const VENDOR_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Inventory", "Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"},
    {"Sid": "RunCommands", "Effect": "Allow", "Action": "ssm:*", "Resource": "*",
     "Condition": {"StringEquals": {"aws:RequestedRegion": "ap-northeast-1"}}},
    {"Sid": "Exports", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::acme-vendor-exports", "arn:aws:s3:::acme-vendor-exports/*"]},
    {"Sid": "PassItsRole", "Effect": "Allow", "Action": "iam:PassRole",
     "Resource": "arn:aws:iam::111122223333:role/vendor-ssm"},
    {"Sid": "NotOnProduction", "Effect": "Deny", "Action": "ssm:SendCommand", "Resource": "*",
     "Condition": {"StringEquals": {"ssm:resourceTag/env": "production"}}}
  ]
}
"#;

struct Call<'a> {
    id: usize,
    time: &'a str,
    source: &'a str,
    name: &'a str,
    region: &'a str,
    ip: &'a str,
    agent: &'a str,
    read_only: bool,
}

fn vendor_identity() -> Value {
    json!({
        "type": "IAMUser",
        "principalId": "AIDAVENDOREXAMPLE001",
        "arn": VENDOR_ARN,
        "accountId": "111122223333",
        "accessKeyId": VENDOR_KEY,
        "userName": "vendor-acme"
    })
}

fn record(c: &Call, identity: Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": c.time,
        "eventSource": c.source,
        "eventName": c.name,
        "awsRegion": c.region,
        "sourceIPAddress": c.ip,
        "userAgent": c.agent,
        "requestParameters": null,
        "responseElements": null,
        "requestID": format!("audit-req-{}", c.id),
        "eventID": format!("0a0d1700-0000-4000-8000-{:012x}", c.id),
        "readOnly": c.read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    })
}

/// The vendor's calls in January 2026, another key's call in the same days, the vendor's call
/// after the period, and one assumed-role session.
fn scenario() -> Vec<Value> {
    let call = |id, time, source, name, region, ip, agent, read_only| Call {
        id,
        time,
        source,
        name,
        region,
        ip,
        agent,
        read_only,
    };
    let ec2 = "ec2.amazonaws.com";
    let ssm = "ssm.amazonaws.com";
    let tokyo = "ap-northeast-1";
    let mut records = vec![
        record(
            &call(
                1,
                "2026-01-12T09:15:00Z",
                ec2,
                "DescribeInstances",
                tokyo,
                "203.0.113.10",
                RUBY,
                true,
            ),
            vendor_identity(),
        ),
        record(
            &call(
                2,
                "2026-01-12T09:20:00Z",
                ec2,
                "DescribeInstances",
                tokyo,
                "203.0.113.10",
                RUBY,
                true,
            ),
            vendor_identity(),
        ),
        record(
            &call(
                3,
                "2026-01-14T22:05:00Z",
                ec2,
                "DescribeInstances",
                tokyo,
                "203.0.113.11",
                RUBY,
                true,
            ),
            vendor_identity(),
        ),
    ];
    for (id, time) in [(4, "2026-01-13T03:00:00Z"), (5, "2026-01-15T11:30:00Z")] {
        let mut r = record(
            &call(
                id,
                time,
                ssm,
                "SendCommand",
                tokyo,
                "198.51.100.7",
                BOTO3,
                false,
            ),
            vendor_identity(),
        );
        r["resources"] = json!([
            {"accountId": "111122223333", "type": "AWS::EC2::Instance",
             "ARN": "arn:aws:ec2:ap-northeast-1:111122223333:instance/i-0123456789abcdef0"}
        ]);
        records.push(r);
    }
    let mut denied = record(
        &call(
            6,
            "2026-01-14T08:00:00Z",
            "iam.amazonaws.com",
            "ListUsers",
            "us-east-1",
            "203.0.113.10",
            RUBY,
            true,
        ),
        vendor_identity(),
    );
    denied["errorCode"] = json!("AccessDenied");
    denied["errorMessage"] = json!(format!(
        "User: {VENDOR_ARN} is not authorized to perform: iam:ListUsers on resource: \
         arn:aws:iam::111122223333:user/ because no identity-based policy allows the \
         iam:ListUsers action"
    ));
    records.push(denied);
    // Someone else's key, same days: not in the vendor's report.
    let mut other = vendor_identity();
    other["accessKeyId"] = json!("AKIAOTHEREXAMPLE0001");
    other["arn"] = json!("arn:aws:iam::111122223333:user/someone-else");
    other["userName"] = json!("someone-else");
    records.push(record(
        &call(
            7,
            "2026-01-13T10:00:00Z",
            "s3.amazonaws.com",
            "ListBuckets",
            "eu-west-1",
            "192.0.2.1",
            BOTO3,
            true,
        ),
        other,
    ));
    // The vendor after the period: not in the report.
    records.push(record(
        &call(
            8,
            "2026-02-03T10:00:00Z",
            ec2,
            "RunInstances",
            tokyo,
            "203.0.113.10",
            RUBY,
            false,
        ),
        vendor_identity(),
    ));
    // An assumed-role session of the vendor's role.
    records.push(record(
        &call(
            9,
            "2026-01-20T07:00:00Z",
            "sts.amazonaws.com",
            "GetCallerIdentity",
            "us-east-1",
            "203.0.113.12",
            BOTO3,
            true,
        ),
        json!({
            "type": "AssumedRole",
            "principalId": "AROAVENDOREXAMPLE001:vendor-session",
            "arn": "arn:aws:sts::111122223333:assumed-role/VendorRole/vendor-session",
            "accountId": "111122223333",
            "accessKeyId": "ASIAVENDOREXAMPLE001",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAVENDOREXAMPLE001",
                    "arn": "arn:aws:iam::111122223333:role/VendorRole",
                    "accountId": "111122223333",
                    "userName": "VendorRole"
                },
                "attributes": {"creationDate": "2026-01-20T06:59:00Z", "mfaAuthenticated": "false"}
            }
        }),
    ));
    records
}

/// Seeds the scenario through the real pipeline; returns (prefix, temp dir).
async fn seed(stack: &Stack) -> (String, tempfile::TempDir) {
    seed_records(stack, &scenario()).await
}

/// Seeds `records` through the real pipeline; returns (prefix, temp dir).
async fn seed_records(stack: &Stack, records: &[Value]) -> (String, tempfile::TempDir) {
    let group = format!("/test/{}", unique("audit"));
    let prefix = format!("{}-", unique("t-audit"));
    let dir = tempfile::tempdir().unwrap();
    // CloudWatch timestamps are "now" (PutLogEvents refuses events older than 14 days); the
    // documents are indexed by their fixed eventTime.
    let now = chrono::Utc::now().timestamp_millis();
    let events: Vec<(i64, String)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (now + i as i64, r.to_string()))
        .collect();
    stack.put_events(&group, 1, &events).await;
    setup(&prefix);
    let summary = forward_once(&group, &prefix, &dir.path().join("dead.ndjson"), &[]);
    assert_eq!(summary["indexed"], events.len(), "{summary}");
    assert_eq!(stack.count(&prefix).await, events.len() as u64);
    std::fs::write(dir.path().join("vendor-policy.json"), VENDOR_POLICY).unwrap();
    (prefix, dir)
}

/// Runs `trailscope audit` in `dir` (so that policy paths are relative and stable).
fn audit(dir: &Path, prefix: &str, args: &[&str]) -> std::process::Output {
    let url = opensearch_url();
    let mut all = vec!["audit", "--opensearch-url", &url, "--index-prefix", prefix];
    all.extend_from_slice(args);
    trailscope_cmd(&all)
        .current_dir(dir)
        .output()
        .expect("run trailscope")
}

fn failed(out: std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "trailscope should have failed; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "no report on failure");
    stderr
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("TRAILSCOPE_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        eprintln!("rewrote {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with TRAILSCOPE_UPDATE_GOLDEN=1 to write it",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{name} differs from the golden file {} (TRAILSCOPE_UPDATE_GOLDEN=1 rewrites it)\n\
             --- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_key_report_in_three_formats() {
    let stack = Stack::connect().await;
    let (prefix, dir) = seed(&stack).await;
    let base = [
        "--access-key",
        VENDOR_KEY,
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--policy",
        "vendor-policy.json",
    ];
    let run = |format: &str| {
        let mut args = base.to_vec();
        args.extend_from_slice(&["--format", format]);
        ok(audit(dir.path(), &prefix, &args))
    };

    // The facts, checked one by one on the JSON report.
    let json_out = run("json");
    let r: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(
        r["identity"],
        json!({"kind": "access_key", "value": VENDOR_KEY})
    );
    assert_eq!(
        r["summary"]["events"], 6,
        "the other key and February are not counted"
    );
    assert_eq!(r["summary"]["errors"], 1);
    assert_eq!(r["summary"]["read_only"], 4);
    assert_eq!(r["summary"]["mutating"], 2);
    assert_eq!(r["summary"]["first_seen"], "2026-01-12T09:15:00Z");
    assert_eq!(r["summary"]["last_seen"], "2026-01-15T11:30:00Z");
    let actions: Vec<&str> = r["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["ec2:DescribeInstances", "ssm:SendCommand", "iam:ListUsers"]
    );
    let describe = &r["actions"][0];
    assert_eq!(describe["count"], 3);
    assert_eq!(
        describe["regions"],
        json!([{"name": "ap-northeast-1", "count": 3}])
    );
    assert_eq!(describe["read_only"], true);
    assert_eq!(describe["last_seen"], "2026-01-14T22:05:00Z");
    assert_eq!(r["actions"][1]["read_only"], false);
    assert_eq!(
        r["actions"][2]["error_codes"],
        json!([{"name": "AccessDenied", "count": 1}])
    );
    let ruby = r["user_agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["original"] == RUBY)
        .expect("the ruby SDK user agent");
    assert_eq!(ruby["sdk"], "aws-sdk-ruby");
    assert_eq!(ruby["sdk_version"], "1.67.0");
    assert_eq!(ruby["language"], "ruby");
    assert_eq!(ruby["count"], 4);
    let boto = r["user_agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["original"] == BOTO3)
        .expect("the boto3 user agent");
    assert_eq!(
        boto["actions"],
        json!([{"name": "ssm:SendCommand", "count": 2}])
    );
    assert_eq!(r["source_addresses"].as_array().unwrap().len(), 3);
    assert_eq!(r["source_addresses"][0]["address"], "203.0.113.10");
    assert_eq!(r["source_addresses"][0]["count"], 3);
    assert_eq!(r["countries"], json!([]));
    assert_eq!(r["networks"], json!([]));
    let failures = r["authorization_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["action"], "iam:ListUsers");
    assert_eq!(failures[0]["error_code"], "AccessDenied");
    assert_eq!(failures[0]["resource"], "arn:aws:iam::111122223333:user/");
    let policy = &r["policy"];
    assert_eq!(policy["documents"], json!(["vendor-policy.json"]));
    assert_eq!(
        policy["granted_unused"],
        json!([
            {"document": "vendor-policy.json", "statement": "Exports", "pattern": "s3:*",
             "evidence": "partly_observable",
             "meaning": "partly not observable: covers data events or permissions CloudTrail never logs"},
            {"document": "vendor-policy.json", "statement": "PassItsRole", "pattern": "iam:PassRole",
             "evidence": "never_logged",
             "meaning": "not observable: CloudTrail never logs it as an event of its own"}
        ])
    );
    // Every used action with the statements that decided it; the Deny limited by a Condition
    // is named but does not turn SendCommand into "denied".
    assert_eq!(
        policy["decisions"],
        json!([
            {"action": "ec2:DescribeInstances", "decision": "allowed",
             "by": ["vendor-policy.json#Inventory"], "unless": []},
            {"action": "ssm:SendCommand", "decision": "allowed_unless_denied",
             "by": ["vendor-policy.json#RunCommands (Condition not evaluated)"],
             "unless": ["vendor-policy.json#NotOnProduction (Condition not evaluated)"]},
            {"action": "iam:ListUsers", "decision": "not_granted", "by": [], "unless": []}
        ])
    );
    assert_eq!(
        policy["used_not_granted"],
        json!([{"action": "iam:ListUsers", "count": 1, "decision": "not granted", "denied_by": []}])
    );
    assert_eq!(
        policy["not_evaluated"],
        json!([
            {"document": "vendor-policy.json", "statement": "RunCommands", "elements": ["Condition"]},
            {"document": "vendor-policy.json", "statement": "Exports", "elements": ["Resource"]},
            {"document": "vendor-policy.json", "statement": "PassItsRole", "elements": ["Resource"]},
            {"document": "vendor-policy.json", "statement": "NotOnProduction", "elements": ["Condition"]}
        ])
    );
    assert_eq!(
        r["suggested_policy"],
        json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Ec2", "Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"},
            {"Sid": "Ssm", "Effect": "Allow", "Action": ["ssm:SendCommand"], "Resource": "*"}
        ]})
    );

    // The exact renderings.
    golden("audit.json", &json_out);
    let table = run("table");
    assert!(
        !table.contains('\x1b'),
        "no colours when stdout is not a terminal"
    );
    golden("audit.txt", &table);
    golden("audit.md", &run("markdown"));
    // The default format is the table.
    assert_eq!(ok(audit(dir.path(), &prefix, &base)), table);

    // The other ways to name an identity.
    let events = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--since", SINCE, "--until", UNTIL, "--format", "json"]);
        let r: Value = serde_json::from_str(&ok(audit(dir.path(), &prefix, &all))).unwrap();
        r["summary"]["events"].clone()
    };
    assert_eq!(events(&["--principal-arn", VENDOR_ARN]), 6);
    assert_eq!(events(&["--role-session", "vendor-session"]), 1);
    assert_eq!(
        events(&[
            "--principal-arn",
            "arn:aws:iam::111122223333:role/VendorRole"
        ]),
        1,
        "a role ARN selects its sessions"
    );

    // No events: says so, with the indices searched.
    let stderr = failed(audit(
        dir.path(),
        &prefix,
        &[
            "--access-key",
            "AKIANOBODYEXAMPLE001",
            "--since",
            SINCE,
            "--until",
            UNTIL,
        ],
    ));
    assert!(
        stderr.contains("no events for access key AKIANOBODYEXAMPLE001 from 2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "searched {prefix}* (6 indices in all, 5 dated in the period: {prefix}2026.01.12 … {prefix}2026.01.20)"
        )),
        "{stderr}"
    );
    // The default period (30d to now) reads as typed: whole seconds, no nanoseconds.
    let stderr = failed(audit(
        dir.path(),
        &prefix,
        &["--access-key", "AKIANOBODYEXAMPLE001"],
    ));
    let period = stderr
        .split(" from ")
        .nth(1)
        .and_then(|s| s.split(": searched").next())
        .unwrap_or_else(|| panic!("no period in {stderr}"));
    let bounds: Vec<&str> = period.split(" to ").collect();
    assert_eq!(bounds.len(), 2, "{stderr}");
    for b in bounds {
        assert!(
            b.len() == "2026-01-01T00:00:00Z".len() && b.ends_with('Z') && !b.contains('.'),
            "{b} in {stderr}"
        );
    }
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_index_unreachable_opensearch_and_bad_policy_are_clear_errors() {
    let _stack = Stack::connect().await;
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}-", unique("t-audit-none"));
    let stderr = failed(audit(dir.path(), &prefix, &["--access-key", VENDOR_KEY]));
    assert!(
        stderr.contains(&format!("no index matches {prefix}* in OpenSearch at")),
        "{stderr}"
    );

    let out = trailscope_cmd(&[
        "audit",
        "--access-key",
        VENDOR_KEY,
        "--opensearch-url",
        "http://127.0.0.1:9",
        "--request-timeout-secs",
        "5",
    ])
    .output()
    .unwrap();
    let stderr = failed(out);
    assert!(
        stderr.contains("OpenSearch at http://127.0.0.1:9/ is unreachable"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("broken.json"),
        "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\" \"Action\": \"s3:*\"}\n  ]\n}\n",
    )
    .unwrap();
    let stderr = failed(audit(
        dir.path(),
        &prefix,
        &["--access-key", VENDOR_KEY, "--policy", "broken.json"],
    ));
    assert!(
        stderr.contains("broken.json is not a valid IAM policy document: expected `,` or `}` (line 3, column 24)"),
        "{stderr}"
    );
    let stderr = failed(audit(
        dir.path(),
        &prefix,
        &["--access-key", VENDOR_KEY, "--policy", "absent.json"],
    ));
    assert!(
        stderr.contains("cannot read policy file absent.json"),
        "{stderr}"
    );

    let stderr = failed(audit(
        dir.path(),
        &prefix,
        &[
            "--access-key",
            VENDOR_KEY,
            "--since",
            "2026-02-01",
            "--until",
            "2026-01-01",
        ],
    ));
    assert!(stderr.contains("the period is empty"), "{stderr}");
}

/// Which IaC tool, version and provider an identity used: a deployment key's Terraform and
/// Pulumi calls, reported in all three formats from the real index.
#[tokio::test(flavor = "multi_thread")]
async fn iac_tool_and_provider_of_an_identity() {
    const KEY: &str = "AKIADEPLOYEXAMPLE001";
    // Agents as the providers send them (terraform-provider-aws 5.x on SDK v2; pulumi-aws).
    const TERRAFORM: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.31.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.24.0 os/linux lang/go#1.20.12 md/GOOS#linux md/GOARCH#amd64 api/sts#1.26.6";
    const PULUMI: &str = "APN/1.0 Pulumi/1.0 Pulumi-Aws/4.17.0-alpha.1629393364+0b9d696e.dirty (+https://www.pulumi.com) aws-sdk-go/1.40.20 (go1.16.4; darwin; amd64)";
    let identity = json!({
        "type": "IAMUser",
        "principalId": "AIDADEPLOYEXAMPLE001",
        "arn": "arn:aws:iam::111122223333:user/deploy",
        "accountId": "111122223333",
        "accessKeyId": KEY,
        "userName": "deploy"
    });
    let calls = [
        (1, "2026-01-05T12:00:00Z", "GetCallerIdentity", TERRAFORM),
        (2, "2026-01-05T12:00:05Z", "GetCallerIdentity", TERRAFORM),
        (3, "2026-01-06T12:00:00Z", "GetCallerIdentity", PULUMI),
    ];
    let records: Vec<Value> = calls
        .iter()
        .map(|&(id, time, name, agent)| {
            let c = Call {
                id,
                time,
                source: "sts.amazonaws.com",
                name,
                region: "us-east-1",
                ip: "198.51.100.20",
                agent,
                read_only: true,
            };
            record(&c, identity.clone())
        })
        .collect();
    let stack = Stack::connect().await;
    let (prefix, dir) = seed_records(&stack, &records).await;
    let run = |format: &str| {
        ok(audit(
            dir.path(),
            &prefix,
            &[
                "--access-key",
                KEY,
                "--since",
                SINCE,
                "--until",
                UNTIL,
                "--format",
                format,
            ],
        ))
    };

    let r: Value = serde_json::from_str(&run("json")).unwrap();
    let agents = r["user_agents"].as_array().unwrap();
    let by_agent = |ua: &str| {
        agents
            .iter()
            .find(|u| u["original"] == ua)
            .unwrap_or_else(|| panic!("{ua} in {agents:?}"))
    };
    let tf = by_agent(TERRAFORM);
    assert_eq!(tf["kind"], "iac");
    assert_eq!(tf["tool"], "Terraform");
    assert_eq!(tf["tool_version"], "1.5.7");
    assert_eq!(tf["iac_provider"], "terraform-provider-aws");
    assert_eq!(tf["iac_provider_version"], "5.31.0");
    assert_eq!(tf["count"], 2);
    let pulumi = by_agent(PULUMI);
    assert_eq!(pulumi["tool"], "Pulumi");
    assert_eq!(pulumi["iac_provider"], "Pulumi-Aws");
    assert_eq!(
        pulumi["iac_provider_version"],
        "4.17.0-alpha.1629393364+0b9d696e.dirty"
    );

    for format in ["table", "markdown"] {
        let out = run(format);
        assert!(out.contains("IaC provider"), "{format}: {out}");
        assert!(out.contains("Terraform 1.5.7"), "{format}: {out}");
        assert!(
            out.contains("terraform-provider-aws 5.31.0"),
            "{format}: {out}"
        );
        assert!(
            out.contains("Pulumi-Aws 4.17.0-alpha.1629393364+0b9d696e.dirty"),
            "{format}: {out}"
        );
    }
}

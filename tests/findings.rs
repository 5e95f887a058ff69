//! Continuous first-seen findings against the real local OpenSearch, through `trailscope ingest`
//! of CloudTrail log files: 30 days of history for a vendor key, a CI role and a person who
//! signs in to the console, then a day where the vendor key mints a session, assumes a role in
//! another account, creates an access key (with the session) from a new network with a new tool,
//! and is denied 20 times. Exactly the expected findings, each once, with their lineage root;
//! a replay writes none again; a run killed with SIGKILL and run again loses none and
//! duplicates none.

mod common;

use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const VENDOR_KEY: &str = "AKIAFINDVENDOR000001";
const SESSION_KEY: &str = "ASIAFINDSESSION00001";
const CROSS_KEY: &str = "ASIAFINDCROSS0000001";
const BOTO3: &str = "Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#6.5.0 lang/python#3.11.6";
const CLI: &str = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
/// The first day of the history; the new day is 2026-02-01 (UTC days, never "now").
const DAY: &str = "2026-02-01";

fn vendor_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/vendor")
}

fn id(n: u32) -> String {
    format!("f1d10000-0000-4000-8000-{n:012x}")
}

/// One CloudTrail record; `who` is its userIdentity.
fn record(
    n: u32,
    who: Value,
    time: &str,
    source: &str,
    name: &str,
    ip: &str,
    agent: &str,
) -> Value {
    json!({
        "eventVersion": "1.09", "userIdentity": who,
        "eventTime": time, "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": ip, "userAgent": agent,
        "requestParameters": null, "responseElements": null,
        "requestID": format!("find-req-{n}"), "eventID": id(n),
        "readOnly": name.starts_with("Describe") || name.starts_with("List"),
        "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": ACCOUNT, "eventCategory": "Management"
    })
}

fn vendor(key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAFINDVENDOR", "accountId": ACCOUNT,
        "arn": vendor_arn(), "accessKeyId": key, "userName": "vendor"})
}

fn ci(session: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": "AROAFINDCI:build", "accountId": ACCOUNT,
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/ci/build"), "accessKeyId": session,
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAFINDCI",
            "arn": format!("arn:aws:iam::{ACCOUNT}:role/ci"), "accountId": ACCOUNT, "userName": "ci"}}})
}

fn human() -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAFINDALICE", "accountId": ACCOUNT,
        "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"), "userName": "alice"})
}

/// Each identity's routine on one day (`n` numbers its events).
fn routine(n: u32, day: &str) -> Vec<Value> {
    let ec2 = "ec2.amazonaws.com";
    vec![
        record(
            n,
            vendor(VENDOR_KEY),
            &format!("{day}T08:00:00Z"),
            ec2,
            "DescribeInstances",
            "198.51.100.7",
            BOTO3,
        ),
        record(
            n + 1,
            ci(&format!("ASIAFINDCI{n:010}")),
            &format!("{day}T07:00:00Z"),
            "s3.amazonaws.com",
            "ListBuckets",
            "192.0.2.10",
            BOTO3,
        ),
        record(
            n + 2,
            human(),
            &format!("{day}T09:30:00Z"),
            "signin.amazonaws.com",
            "ConsoleLogin",
            "192.0.2.77",
            BROWSER,
        ),
    ]
}

/// 2026-01-02 … 2026-01-31.
fn history() -> Vec<Value> {
    (2..=31u32)
        .flat_map(|d| routine(d * 10, &format!("2026-01-{d:02}")))
        .collect()
}

/// The new day: the routine, then the vendor key's incident.
fn new_day() -> Vec<Value> {
    let t = |hm: &str| format!("{DAY}T{hm}:00Z");
    let mut records = routine(1000, DAY);
    let mut mint = record(
        1100,
        vendor(VENDOR_KEY),
        &t("09:00"),
        "sts.amazonaws.com",
        "GetSessionToken",
        "198.51.100.7",
        BOTO3,
    );
    mint["responseElements"] = json!({"credentials": {"accessKeyId": SESSION_KEY,
        "expiration": "Feb 2, 2026, 9:00:00 AM", "sessionToken": "x"}});
    records.push(mint);
    let mut assume = record(
        1101,
        vendor(VENDOR_KEY),
        &t("09:05"),
        "sts.amazonaws.com",
        "AssumeRole",
        "198.51.100.7",
        BOTO3,
    );
    assume["requestParameters"] = json!({"roleArn": format!("arn:aws:iam::{OTHER_ACCOUNT}:role/vendor-cross"),
        "roleSessionName": "x"});
    assume["responseElements"] = json!({"credentials": {"accessKeyId": CROSS_KEY,
        "expiration": "Feb 1, 2026, 10:05:00 AM", "sessionToken": "x"},
        "assumedRoleUser": {"assumedRoleId": "AROAX:x",
            "arn": format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/vendor-cross/x")}});
    records.push(assume);
    records.push(record(
        1102,
        vendor(SESSION_KEY),
        &t("09:10"),
        "iam.amazonaws.com",
        "CreateAccessKey",
        "203.0.113.50",
        CLI,
    ));
    let cross = json!({"type": "AssumedRole", "principalId": "AROAX:x", "accountId": OTHER_ACCOUNT,
        "arn": format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/vendor-cross/x"),
        "accessKeyId": CROSS_KEY,
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAX",
            "arn": format!("arn:aws:iam::{OTHER_ACCOUNT}:role/vendor-cross"),
            "accountId": OTHER_ACCOUNT, "userName": "vendor-cross"}}});
    records.push(record(
        1103,
        cross,
        &t("09:15"),
        "s3.amazonaws.com",
        "ListBuckets",
        "198.51.100.7",
        BOTO3,
    ));
    for i in 0..20u32 {
        let mut denied = record(
            1200 + i,
            vendor(VENDOR_KEY),
            &format!("{DAY}T10:{i:02}:00Z"),
            "ec2.amazonaws.com",
            "DescribeInstances",
            "198.51.100.7",
            BOTO3,
        );
        denied["errorCode"] = json!("Client.UnauthorizedOperation");
        denied["errorMessage"] = json!("You are not authorized to perform this operation.");
        records.push(denied);
    }
    records
}

/// (identity, kind, value, lineage root, severity) of every expected finding.
fn expected() -> BTreeSet<(String, String, String, String, String)> {
    let arn = vendor_arn();
    let f = |who: &str, kind: &str, value: &str, severity: &str| {
        (
            who.to_owned(),
            kind.to_owned(),
            value.to_owned(),
            VENDOR_KEY.to_owned(),
            severity.to_owned(),
        )
    };
    [
        f(VENDOR_KEY, "new_action", "sts:GetSessionToken", "medium"),
        f(VENDOR_KEY, "new_service", "sts.amazonaws.com", "medium"),
        f(VENDOR_KEY, "new_action", "sts:AssumeRole", "high"),
        f(
            VENDOR_KEY,
            "denied_burst",
            &format!("10+ authorization failures in the hour from {DAY}T10:00Z"),
            "medium",
        ),
        f(&arn, "new_action", "iam:CreateAccessKey", "high"),
        f(&arn, "new_service", "iam.amazonaws.com", "medium"),
        f(&arn, "new_network", "203.0.113.0/24", "medium"),
        f(&arn, "new_user_agent", "aws-cli/2", "medium"),
    ]
    .into_iter()
    .collect()
}

fn write_trail(path: &Path, records: &[Value]) {
    std::fs::write(path, json!({ "Records": records }).to_string()).unwrap();
}

/// `trailscope ingest` with findings on (into `findings_index`, also to `file`), then `extra`.
fn ingest_with_findings(
    prefix: &str,
    dir: &Path,
    findings_index: &str,
    file: &Path,
    extra: &[&str],
) -> std::process::Command {
    let mut args = vec![
        "--findings-index",
        findings_index,
        "--findings-file",
        file.to_str().unwrap(),
        "--findings-from",
        "2026-02-01T00:00:00Z",
    ];
    args.extend_from_slice(extra);
    let mut cmd = ingest_cmd(prefix, &dir.join("dead.ndjson"), &args);
    cmd.env_remove("TRAILSCOPE_NO_FINDINGS");
    cmd
}

fn run(mut cmd: std::process::Command) -> Output {
    let out = cmd.output().unwrap();
    ok(out.clone());
    out
}

async fn findings_in(stack: &Stack, index: &str) -> Vec<Value> {
    stack.all_docs(index).await
}

fn summarize(findings: &[Value]) -> Vec<(String, String, String, String, String)> {
    let mut out: Vec<_> = findings
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (
                s("identity"),
                s("kind"),
                s("value"),
                s("lineage_root"),
                s("severity"),
            )
        })
        .collect();
    out.sort();
    out
}

fn file_findings(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A webhook receiver on 127.0.0.1:0 (served by the test's runtime, which needs a second worker
/// while the test waits for the binary): refuses the first POST with 503, then keeps the bodies
/// of the others (one finding each) and answers 200.
struct Receiver {
    url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r, f) = (received.clone(), refused.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (received, refused) = (r.clone(), f.clone());
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut length = 0usize;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            let lower = line.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; length];
                        stream.read_exact(&mut body).await.unwrap();
                        let first = refused
                            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok();
                        let answer: &[u8] = if first {
                            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                        } else {
                            received
                                .lock()
                                .unwrap()
                                .push(serde_json::from_slice(&body).unwrap());
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
                        };
                        if stream.get_mut().write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver {
            url,
            received,
            refused,
            task,
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Ingests the history (all baseline: older than --findings-from) and makes it searchable.
async fn with_history(stack: &Stack, prefix: &str, dir: &Path, index: &str) {
    let file = dir.join("history.json");
    write_trail(&file, &history());
    setup(prefix);
    run(ingest_with_findings(
        prefix,
        dir,
        index,
        &dir.join("history-findings.ndjson"),
        &[file.to_str().unwrap()],
    ));
    assert_eq!(stack.count(prefix).await, 90);
    assert!(
        findings_in(stack, index).await.is_empty(),
        "history made findings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_day_gives_exactly_the_expected_findings_once() {
    let stack = Stack::connect().await;
    let prefix = unique("findings");
    let index = format!("findings-{prefix}");
    let dir = tempfile::tempdir().unwrap();
    with_history(&stack, &prefix, dir.path(), &index).await;

    let day = dir.path().join("day.json");
    write_trail(&day, &new_day());
    let out_file = dir.path().join("findings.ndjson");
    let receiver = Receiver::start().await;
    let with_hook = [
        "--findings-webhook",
        receiver.url.as_str(),
        day.to_str().unwrap(),
    ];
    run(ingest_with_findings(
        &prefix,
        dir.path(),
        &index,
        &out_file,
        &with_hook,
    ));
    let found = findings_in(&stack, &index).await;
    let expected: Vec<_> = expected().into_iter().collect();
    assert_eq!(summarize(&found), expected, "{found:#?}");
    for f in &found {
        assert_eq!(f["lineage_root_known"], true, "{f}");
        assert!(
            f["first_event_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("f1d1")),
            "{f}"
        );
        assert!(f["@timestamp"].as_str().unwrap().starts_with(DAY), "{f}");
    }
    let by_value = |v: &str| found.iter().find(|f| f["value"] == v).unwrap().clone();
    assert_eq!(by_value("iam:CreateAccessKey")["first_event_id"], id(1102));
    assert_eq!(by_value("iam:CreateAccessKey")["access_key"], SESSION_KEY);
    assert_eq!(by_value("sts:GetSessionToken")["first_event_id"], id(1100));
    // The burst's first event is the first denied call of the hour.
    let burst = found.iter().find(|f| f["kind"] == "denied_burst").unwrap();
    assert_eq!(burst["first_event_id"], id(1200));
    // The file and the webhook have each finding once (the webhook's first answer was a 503:
    // that finding came again).
    assert_eq!(summarize(&file_findings(&out_file)), expected);
    assert_eq!(
        receiver.refused.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(summarize(&receiver.received.lock().unwrap()), expected);

    // A replay of the same day: no finding written again, anywhere.
    run(ingest_with_findings(
        &prefix,
        dir.path(),
        &index,
        &out_file,
        &with_hook,
    ));
    assert_eq!(summarize(&findings_in(&stack, &index).await), expected);
    assert_eq!(file_findings(&out_file).len(), expected.len());
    assert_eq!(receiver.received.lock().unwrap().len(), expected.len());
    stack.cleanup(&prefix).await;
    stack
        .request(Method::Delete, &format!("/{index}"), None)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_way_and_run_again_loses_and_duplicates_no_finding() {
    let stack = Stack::connect().await;
    let prefix = unique("findings-kill");
    let index = format!("findings-{prefix}");
    let dir = tempfile::tempdir().unwrap();
    with_history(&stack, &prefix, dir.path(), &index).await;

    let day = dir.path().join("day.json");
    write_trail(&day, &new_day());
    let out_file = dir.path().join("findings.ndjson");
    // One event per batch, one batch at a time: the run is killed between batches.
    let slow = [
        "--batch-events",
        "1",
        "--concurrency",
        "1",
        day.to_str().unwrap(),
    ];
    let mut child = ingest_with_findings(&prefix, dir.path(), &index, &out_file, &slow)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut killed_after = None;
    while std::time::Instant::now() < deadline {
        let n = findings_in(&stack, &index).await.len();
        if n > 0 {
            // SIGKILL: no shutdown, nothing flushed by the process.
            let _ = child.kill();
            killed_after = Some(n);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = child.wait();
    eprintln!("killed after {killed_after:?} findings");
    run(ingest_with_findings(
        &prefix,
        dir.path(),
        &index,
        &out_file,
        &[day.to_str().unwrap()],
    ));
    let expected: Vec<_> = expected().into_iter().collect();
    assert_eq!(summarize(&findings_in(&stack, &index).await), expected);
    // The file never has one twice (a kill between the index and the file can leave one out
    // of the file: the index is the record).
    let in_file = summarize(&file_findings(&out_file));
    let distinct: BTreeSet<_> = in_file.iter().cloned().collect();
    assert_eq!(in_file.len(), distinct.len(), "{in_file:#?}");
    assert!(distinct.is_subset(&expected.iter().cloned().collect()));
    stack.cleanup(&prefix).await;
    stack
        .request(Method::Delete, &format!("/{index}"), None)
        .await;
}

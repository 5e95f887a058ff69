//! Shared by the integration tests: the real local stack (OpenSearch + moto as the CloudWatch Logs
//! API, started by `scripts/stack.sh up`), unique names per test, and running the binary.
#![allow(dead_code)]

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use opensearch::http::headers::HeaderMap;
use opensearch::http::Method;
use opensearch::OpenSearch;
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub fn opensearch_url() -> String {
    std::env::var("TRAILSCOPE_TEST_OPENSEARCH_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:19200".into())
}

pub fn cloudwatch_url() -> String {
    std::env::var("TRAILSCOPE_TEST_CLOUDWATCH_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:15000".into())
}

/// A name unique to this test run and call: tests share one OpenSearch and one moto.
pub fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{name}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Stack {
    pub os: OpenSearch,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

impl Stack {
    /// Connects to the local stack, failing with what to run when it is not up.
    pub async fn connect() -> Stack {
        let transport =
            opensearch::http::transport::Transport::single_node(&opensearch_url()).unwrap();
        let os = OpenSearch::new(transport);
        let ping = os
            .send::<(), ()>(Method::Get, "/", HeaderMap::new(), None, None, None)
            .await;
        assert!(
            ping.is_ok(),
            "OpenSearch is not reachable at {}: start the local stack with `scripts/stack.sh up` \
             (or run the whole suite with `scripts/test.sh`)",
            opensearch_url()
        );
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(cloudwatch_url())
            .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
        Stack { os, logs }
    }

    /// Creates `group` and puts `events` (timestamp ms, message) into `streams` streams, round
    /// robin, in PutLogEvents batches within AWS's limits (10,000 events, 1 MiB).
    pub async fn put_events(&self, group: &str, streams: usize, events: &[(i64, String)]) {
        self.logs
            .create_log_group()
            .log_group_name(group)
            .send()
            .await
            .unwrap();
        let mut per_stream: Vec<Vec<&(i64, String)>> = vec![Vec::new(); streams];
        for (i, e) in events.iter().enumerate() {
            per_stream[i % streams].push(e);
        }
        for (s, mut list) in per_stream.into_iter().enumerate() {
            let stream = format!("stream-{s}");
            self.logs
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(&stream)
                .send()
                .await
                .unwrap();
            list.sort_by_key(|e| e.0);
            let mut batch = Vec::new();
            let mut bytes = 0;
            for (ts, message) in list {
                if batch.len() == 10_000 || bytes + message.len() + 26 > 1_000_000 {
                    self.put(group, &stream, std::mem::take(&mut batch)).await;
                    bytes = 0;
                }
                bytes += message.len() + 26;
                batch.push(
                    InputLogEvent::builder()
                        .timestamp(*ts)
                        .message(message)
                        .build()
                        .unwrap(),
                );
            }
            if !batch.is_empty() {
                self.put(group, &stream, batch).await;
            }
        }
    }

    /// Appends events to a stream `put_events` made (`stream-<n>`), e.g. while `forward` runs.
    pub async fn append_events(&self, group: &str, stream: &str, events: &[(i64, String)]) {
        let batch = events
            .iter()
            .map(|(ts, message)| {
                InputLogEvent::builder()
                    .timestamp(*ts)
                    .message(message)
                    .build()
                    .unwrap()
            })
            .collect();
        self.put(group, stream, batch).await;
    }

    async fn put(&self, group: &str, stream: &str, batch: Vec<InputLogEvent>) {
        let n = batch.len();
        let r = self
            .logs
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(batch))
            .send()
            .await
            .unwrap();
        assert!(
            r.rejected_log_events_info().is_none(),
            "moto rejected some of {n} events: {r:?}"
        );
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        os_request(&self.os, method, path, body).await
    }

    /// The stored `_source` of a document, byte for byte as OpenSearch returns it.
    pub async fn raw_source(&self, index: &str, id: &str) -> String {
        let r = self
            .os
            .send::<String, ()>(
                Method::Get,
                &format!("/{index}/_source/{id}"),
                HeaderMap::new(),
                None,
                None,
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status_code().as_u16(), 200, "{index}/{id}");
        r.text().await.unwrap()
    }

    /// Refreshes and counts the documents of `<prefix>*`.
    pub async fn count(&self, prefix: &str) -> u64 {
        self.request(Method::Post, &format!("/{prefix}*/_refresh"), None)
            .await;
        let (status, body) = self
            .request(Method::Get, &format!("/{prefix}*/_count"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body["count"].as_u64().unwrap()
    }

    /// Every document of `<prefix>*` (at most 10,000), with `_id` and `_index` added.
    pub async fn all_docs(&self, prefix: &str) -> Vec<Value> {
        self.request(Method::Post, &format!("/{prefix}*/_refresh"), None)
            .await;
        let (status, body) = self
            .request(
                Method::Post,
                &format!("/{prefix}*/_search"),
                Some(json!({"size": 10000, "query": {"match_all": {}}})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let mut d = h["_source"].clone();
                d["_id"] = h["_id"].clone();
                d["_index"] = h["_index"].clone();
                d
            })
            .collect()
    }

    /// Removes what a test created in OpenSearch.
    pub async fn cleanup(&self, prefix: &str) {
        self.request(Method::Delete, &format!("/{prefix}*"), None)
            .await;
        let name = format!("trailscope-{}", prefix.trim_end_matches(['-', '_', '.']));
        self.request(Method::Delete, &format!("/_index_template/{name}"), None)
            .await;
    }
}

/// One request to an OpenSearch node: the status and the answer (JSON, or the text as a string).
pub async fn os_request(
    os: &OpenSearch,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let r = os
        .send::<String, ()>(
            method,
            path,
            HeaderMap::new(),
            None,
            body.map(|b| b.to_string()),
            None,
        )
        .await
        .unwrap();
    let status = r.status_code().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Runs scripts/stack.sh with `args` (e.g. `node-up NAME HTTP TRANSPORT HEAP yml...` for a node
/// of a test's own), failing the test with the script's stderr.
pub fn stack_script(args: &[&str]) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/stack.sh");
    let out = Command::new(script)
        .args(args)
        .output()
        .expect("run stack.sh");
    assert!(
        out.status.success(),
        "stack.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client of the OpenSearch node at `url` (a test's own node; [`Stack`] is the shared one's).
pub fn opensearch_at(url: &str) -> OpenSearch {
    OpenSearch::new(opensearch::http::transport::Transport::single_node(url).unwrap())
}

/// Runs the trailscope binary with `args`, AWS test credentials and no inherited AWS profile.
pub fn trailscope(args: &[&str]) -> Output {
    trailscope_cmd(args).output().expect("run trailscope")
}

pub fn trailscope_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailscope"));
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        // Findings are tested in tests/findings.rs (which removes this); elsewhere they would
        // only add an index and queries to tests about other things (and fake servers that
        // answer `_bulk` alone). The same for the lineage index (tests/lineage.rs), which
        // would otherwise be the one shared `trailscope-lineage` of every test.
        .env("TRAILSCOPE_NO_FINDINGS", "true")
        .env("TRAILSCOPE_NO_LINEAGE", "true");
    cmd
}

/// Asserts the command succeeded, showing its output otherwise; returns stdout.
pub fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "trailscope failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `trailscope setup` for a test's index prefix.
pub fn setup(prefix: &str) {
    setup_at(&opensearch_url(), prefix);
}

/// `trailscope setup` for a test's index prefix on the node at `url`.
pub fn setup_at(url: &str, prefix: &str) {
    ok(trailscope(&[
        "setup",
        "--opensearch-url",
        url,
        "--index-prefix",
        prefix,
    ]));
}

/// The arguments of `trailscope forward --once` of one log group into a test's prefix, with the
/// checkpoint file beside the dead-letter file (each test has its own), then `extra`.
pub fn forward_args(
    group: &str,
    prefix: &str,
    dead_letters: &std::path::Path,
    extra: &[&str],
) -> Vec<String> {
    let checkpoint = dead_letters.with_file_name("checkpoint.json");
    let mut args: Vec<String> = [
        "forward",
        "--checkpoint-file",
        checkpoint.to_str().unwrap(),
        "--once",
        "--log-group",
        group,
        "--opensearch-url",
        &opensearch_url(),
        "--endpoint-url",
        &cloudwatch_url(),
        "--index-prefix",
        prefix,
        "--dead-letter-file",
        dead_letters.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `trailscope forward --once` of one log group into a test's prefix; returns the JSON summary.
pub fn forward_once(
    group: &str,
    prefix: &str,
    dead_letters: &std::path::Path,
    extra: &[&str],
) -> Value {
    let args = forward_args(group, prefix, dead_letters, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    summary(&ok(trailscope(&args)))
}

/// `trailscope ingest --opensearch-url <the stack's> --index-prefix <prefix> --dead-letter-file
/// <dead>` followed by `args` (flags and inputs), stdout and stderr captured.
pub fn ingest_cmd(prefix: &str, dead: &std::path::Path, args: &[&str]) -> Command {
    let url = opensearch_url();
    let mut all = vec![
        "ingest",
        "--opensearch-url",
        &url,
        "--index-prefix",
        prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let mut cmd = trailscope_cmd(&all);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Writes `records` as one CloudTrail log file in `dir`, installs the template of `prefix`, runs
/// `trailscope ingest` of it (with `extra` flags) and checks that every record was indexed;
/// counting also refreshes the indices, so what follows sees every event.
pub async fn ingest_records(
    stack: &Stack,
    prefix: &str,
    dir: &std::path::Path,
    records: &[Value],
    extra: &[&str],
) {
    let file = dir.join("trail.json");
    std::fs::write(&file, json!({ "Records": records }).to_string()).unwrap();
    setup(prefix);
    let mut args = extra.to_vec();
    args.push(file.to_str().unwrap());
    let out = ok(ingest_cmd(prefix, &dir.join("dead.ndjson"), &args)
        .output()
        .unwrap());
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["indexed"], records.len(), "{summary}");
    assert_eq!(stack.count(prefix).await, records.len() as u64);
}

/// The JSON summary a run printed last on stdout; panics with both outputs when there is none.
pub fn output_summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| {
        panic!(
            "no JSON summary on stdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The lines of a dead-letter file (none when it was never created).
pub fn dead_letters(path: &std::path::Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The JSON summary `forward` and `ingest` print last on stdout.
pub fn summary(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON summary on stdout")
}

/// The shared corpus beside the checkout (`../shared/corpus`), present in CI and in development
/// sessions but not in a user's clone. Tests that read it are `#[ignore]`d with the reason
/// [`SHARED_CORPUS`] and named `shared_corpus_*`; scripts/test.sh runs them when the corpus is there
/// (and fails in CI when it is not), so an absent corpus shows as ignored, never as a pass.
pub fn shared_corpus(relative: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(relative);
    assert!(
        path.exists(),
        "{} is absent: this test needs the shared corpus (present in CI and development sessions)",
        path.display()
    );
    path
}

/// The venv of the local stack (moto, boto3), from `scripts/stack.sh env`.
pub fn venv_python() -> std::path::PathBuf {
    let venv = std::env::var("TRAILSCOPE_TEST_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} missing: `scripts/stack.sh up` installs the venv with moto and boto3",
        python.display()
    );
    python
}

/// Has moto deliver `events` (timestamp, stream, message) through a subscription filter on
/// `group` to a Kinesis stream (as CloudWatch Logs does); returns the payload files in order, each
/// the gzip bytes of one Kinesis record. See tests/data/moto_subscription.py.
pub fn moto_subscription_payloads(
    group: &str,
    events: &[(i64, String, String)],
    dir: &std::path::Path,
) -> Vec<std::path::PathBuf> {
    use std::io::Write;
    let input = dir.join("events.ndjson");
    let mut f = std::fs::File::create(&input).unwrap();
    for e in events {
        writeln!(f, "{}", json!([e.0, e.1, e.2])).unwrap();
    }
    let out_dir = dir.join("payloads");
    std::fs::create_dir_all(&out_dir).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/moto_subscription.py");
    let out = Command::new(venv_python())
        .arg(script)
        .arg(cloudwatch_url())
        .arg(group)
        .arg(&input)
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "moto_subscription.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// A command-line tool from PyPI (`spec`, pinned), installed on first use into
/// `.cache/tools` (git-ignored) so a fresh machine gets it; fails clearly when it cannot be.
pub fn pypi_tool(bin: &str, spec: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache");
    let venv = root.join("tools");
    let tool = venv.join("bin").join(bin);
    let marker = venv.join(format!(".installed-{spec}"));
    if marker.exists() {
        return tool;
    }
    std::fs::create_dir_all(&root).unwrap();
    // Test binaries run in parallel: one install at a time (flock from util-linux).
    let script = format!(
        "set -e; [ -x '{v}/bin/pip' ] || python3 -m venv '{v}';          '{v}/bin/pip' install -q --disable-pip-version-check '{spec}' && touch '{m}'",
        v = venv.display(),
        m = marker.display()
    );
    let out = Command::new("flock")
        .arg(root.join("tools.lock"))
        .args(["bash", "-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run flock/bash to install {spec}: {e}"));
    assert!(
        out.status.success() && tool.exists(),
        "cannot install {spec} from PyPI into {}: {}",
        venv.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    tool
}
pub mod geoip;
pub mod s3;
pub mod synthetic;

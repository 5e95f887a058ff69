//! The fault suite: kill -9 at random moments, SIGTERM, late events, a log group created while
//! running, CloudWatch Logs throttling and down, OpenSearch answering 429, OpenSearch down for 30 s,
//! malformed messages, an unwritable checkpoint. Each scenario counts events sent, indexed,
//! duplicated, dead-lettered and lost against the real local stack; lost must be 0 everywhere.
//! Each scenario is its own test, so one failure hides none of the others, and each writes its row of
//! the table to target/fault-rows/ (scripts/test.sh prints the table). They run side by side: no
//! scenario asserts a throughput, the time limits are generous (exit within 10 s of SIGTERM), a
//! slower run only makes a kill -9 more likely to land mid-run, and each scenario has its own log
//! group, prefix and folder. The two scenarios
//! that overload and then kill the dedicated OpenSearch node share it, so they are one test.

mod common;

use chrono::Utc;
use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node of our own for the scenarios that overload or stop OpenSearch: a write pool of one
/// thread with a queue of one, so that concurrent bulk requests get 429.
const FAULT_NODE: (&str, &str, &str) = ("faults", "19230", "19330");

struct Row {
    fault: &'static str,
    sent: u64,
    indexed: u64,
    duplicated: u64,
    dead_lettered: u64,
    lost: u64,
    note: String,
}

struct Scenario {
    dir: PathBuf,
    group: String,
    prefix: String,
}

impl Scenario {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(&format!("trailscope-{name}")));
        std::fs::create_dir_all(&dir).unwrap();
        Scenario {
            dir,
            group: format!("/test/{}", unique(name)),
            prefix: format!("{}-", unique(&format!("t-{name}"))),
        }
    }

    fn dead_letters(&self) -> PathBuf {
        self.dir.join("dead.ndjson")
    }

    fn dead_letter_count(&self) -> u64 {
        std::fs::read_to_string(self.dead_letters())
            .map(|t| t.lines().count() as u64)
            .unwrap_or(0)
    }

    /// `trailscope forward` against `url` with this scenario's group, prefix and files.
    fn forward(&self, url: &str, extra: &[&str]) -> Command {
        self.forward_via(url, &cloudwatch_url(), extra)
    }

    /// As [`Scenario::forward`], reading CloudWatch Logs at `cw` (a proxy in front of moto).
    fn forward_via(&self, url: &str, cw: &str, extra: &[&str]) -> Command {
        let checkpoint = self.dir.join("checkpoint.json");
        let dead = self.dead_letters();
        let mut args = vec![
            "forward",
            "--log-group",
            &self.group,
            "--opensearch-url",
            url,
            "--endpoint-url",
            cw,
            "--index-prefix",
            &self.prefix,
            "--dead-letter-file",
            dead.to_str().unwrap(),
            "--checkpoint-file",
            checkpoint.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        trailscope_cmd(&args)
    }

    /// Starts `forward` in the background with its output in files (a pipe nobody reads
    /// could fill up and stall it); `output_of` reads them back.
    fn spawn_forward(&self, url: &str, extra: &[&str]) -> Child {
        let mut cmd = self.forward(url, extra);
        cmd.stdout(std::fs::File::create(self.dir.join("run.out")).unwrap())
            .stderr(std::fs::File::create(self.dir.join("run.err")).unwrap());
        cmd.spawn().unwrap()
    }

    fn output_of(&self) -> (String, String) {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        (read("run.out"), read("run.err"))
    }

    /// A scenario whose log group holds `events` (in `streams` streams) and whose index prefix
    /// has its template at `url`.
    async fn prepared(
        stack: &Stack,
        name: &str,
        url: &str,
        streams: usize,
        events: &[(i64, String)],
    ) -> Self {
        let s = Scenario::new(name);
        stack.put_events(&s.group, streams, events).await;
        setup_at(url, &s.prefix);
        s
    }

    /// Counts what reached OpenSearch at `url` and fills a row.
    async fn row(&self, url: &str, fault: &'static str, sent: u64, note: String) -> Row {
        let os = os_at(url);
        let docs = count_at(&os, &self.prefix).await;
        let distinct = distinct_event_ids(&os, &self.prefix).await;
        let dead = self.dead_letter_count();
        Row {
            fault,
            sent,
            indexed: distinct,
            duplicated: docs - distinct,
            dead_lettered: dead,
            lost: sent.saturating_sub(distinct + dead),
            note,
        }
    }
}

fn os_at(url: &str) -> opensearch::OpenSearch {
    opensearch::OpenSearch::new(opensearch::http::transport::Transport::single_node(url).unwrap())
}

async fn count_at(os: &opensearch::OpenSearch, prefix: &str) -> u64 {
    os_request(os, Method::Post, &format!("/{prefix}*/_refresh"), None).await;
    let (_, body) = os_request(os, Method::Get, &format!("/{prefix}*/_count"), None).await;
    body["count"].as_u64().unwrap_or(0)
}

/// Exact number of distinct `event.id` values (a composite aggregation, paged).
async fn distinct_event_ids(os: &opensearch::OpenSearch, prefix: &str) -> u64 {
    let mut after: Option<Value> = None;
    let mut n = 0;
    loop {
        let mut composite =
            json!({"size": 10000, "sources": [{"id": {"terms": {"field": "event.id"}}}]});
        if let Some(a) = &after {
            composite["after"] = a.clone();
        }
        let (status, body) = os_request(
            os,
            Method::Post,
            &format!("/{prefix}*/_search"),
            Some(json!({"size": 0, "aggs": {"ids": {"composite": composite}}})),
        )
        .await;
        if status == 404 {
            return 0;
        }
        let buckets = body["aggregations"]["ids"]["buckets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if buckets.is_empty() {
            return n;
        }
        n += buckets.len() as u64;
        after = Some(body["aggregations"]["ids"]["after_key"].clone());
    }
}

async fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Runs `cmd` to completion on a blocking thread, so the proxies on this runtime keep serving.
async fn output_off_runtime(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn summary_of(out: &str) -> Value {
    serde_json::from_str(out.lines().last().unwrap_or("{}")).unwrap_or(Value::Null)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

async fn wait_for_count(url: &str, prefix: &str, at_least: u64, limit: Duration) -> u64 {
    let os = os_at(url);
    let start = Instant::now();
    loop {
        let n = count_at(&os, prefix).await;
        if n >= at_least || start.elapsed() > limit {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A small pseudo-random sequence (no extra crate): the seed is printed so a failure replays.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// Runs scripts/stack.sh on a blocking thread (starting a node takes seconds).
async fn stack_script(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        common::stack_script(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
}

async fn fault_node_up() -> String {
    let (name, http, transport) = FAULT_NODE;
    stack_script(&[
        "node-up",
        name,
        http,
        transport,
        "512m",
        "thread_pool.write.size: 1",
        "thread_pool.write.queue_size: 1",
    ])
    .await;
    format!("http://127.0.0.1:{http}")
}

async fn kill_9(stack: &Stack, seed: u64) -> Row {
    let n = 50_000;
    let start = Utc::now() - chrono::Duration::minutes(100);
    let s = Scenario::prepared(
        stack,
        "kill9",
        &opensearch_url(),
        3,
        &common::synthetic::events(0x9000, n, start, 100),
    )
    .await;
    let url = opensearch_url();
    let mut rng = Lcg(seed);
    let mut kills = 0;
    for _ in 0..10 {
        let mut child = s.spawn_forward(
            &url,
            &[
                "--once",
                "--since",
                "2h",
                "--batch-events",
                "1000",
                "--concurrency",
                "2",
            ],
        );
        tokio::time::sleep(Duration::from_millis(300 + rng.next(2500))).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(
        kills > 0,
        "no run was killed mid-run (seed {seed}): the scenario tested nothing"
    );
    let out = s
        .forward(&url, &["--once", "--since", "2h"])
        .output()
        .unwrap();
    let summary = summary_of(&String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = s
        .row(
            &url,
            "kill -9 at 10 random moments",
            n as u64,
            format!(
                "{kills} killed mid-run, seed {seed}; last run sent {}",
                summary["read"]
            ),
        )
        .await;
    stack.cleanup(&s.prefix).await;
    row
}

async fn sigterm_then_restart(stack: &Stack) -> Row {
    let n = 20_000;
    let start = Utc::now() - chrono::Duration::minutes(60);
    let s = Scenario::prepared(
        stack,
        "sigterm",
        &opensearch_url(),
        2,
        &common::synthetic::events(0x7000, n, start, 150),
    )
    .await;
    let url = opensearch_url();
    let mut child = s.spawn_forward(
        &url,
        &[
            "--poll-interval",
            "1s",
            "--batch-events",
            "200",
            "--concurrency",
            "1",
            "--no-gzip",
        ],
    );
    let seen = wait_for_count(&url, &s.prefix, 1, Duration::from_secs(60)).await;
    assert!(seen > 0, "nothing indexed before SIGTERM");
    let signalled = Instant::now();
    sigterm(&child);
    let status = wait_with_timeout(&mut child, Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    let (_, err) = s.output_of();
    assert_eq!(
        status.map(|s| s.code()),
        Some(Some(0)),
        "exit after SIGTERM within 10 s: {err}"
    );
    let acked = count_at(&os_at(&url), &s.prefix).await;
    let out = s.forward(&url, &["--once"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = summary_of(&String::from_utf8_lossy(&out.stdout));
    // Nothing acknowledged before the stop is sent again.
    assert_eq!(
        summary["read"].as_u64(),
        Some(n as u64 - acked),
        "{summary}"
    );
    assert_eq!(summary["duplicates"], 0, "{summary}");
    let row = s
        .row(
            &url,
            "SIGTERM mid-run, then restart",
            n as u64,
            format!(
                "exit 0 in {:.1} s with {acked} acknowledged; restart sent {} (0 resent)",
                took.as_secs_f64(),
                summary["read"]
            ),
        )
        .await;
    stack.cleanup(&s.prefix).await;
    row
}

async fn late_events(stack: &Stack) -> Row {
    let s = Scenario::new("late");
    let now = Utc::now();
    stack
        .put_events(
            &s.group,
            1,
            &common::synthetic::events(0x6000, 100, now - chrono::Duration::minutes(10), 1000),
        )
        .await;
    setup(&s.prefix);
    let url = opensearch_url();
    let first = summary_of(&ok(s.forward(&url, &["--once"]).output().unwrap()));
    assert_eq!(first["indexed"], 100, "{first}");
    // Events stamped 5 minutes ago arrive after the watermark passed them (within the lag).
    let late = common::synthetic::events(0x6001, 40, now - chrono::Duration::minutes(5), 1000);
    put_more(stack, &s.group, "late", &late).await;
    let second = summary_of(&ok(s.forward(&url, &["--once"]).output().unwrap()));
    assert_eq!(
        second["read"], 40,
        "only the late events are sent: {second}"
    );
    assert_eq!(second["indexed"], 40, "{second}");
    // Their delay is measured (they arrived after the first read began): ~5 minutes.
    let checkpoint: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir.join("checkpoint.json")).unwrap())
            .unwrap();
    let delay = checkpoint["groups"][&s.group]["max_ingestion_delay"]
        .as_i64()
        .unwrap();
    assert!(
        (4 * 60_000..=7 * 60_000).contains(&delay),
        "measured delay {delay} ms"
    );
    // With the time of the read that measured it (the second): it fades from there.
    let measured_at = checkpoint["groups"][&s.group]["max_ingestion_delay_at"]
        .as_i64()
        .unwrap();
    assert!(
        now.timestamp_millis() < measured_at && measured_at <= Utc::now().timestamp_millis(),
        "measured at {measured_at}"
    );
    let row = s
        .row(
            &url,
            "events behind the watermark (late arrival)",
            140,
            "second pass sent exactly the 40 late events".into(),
        )
        .await;
    stack.cleanup(&s.prefix).await;
    row
}

/// Puts events into a new stream of an existing group.
async fn put_more(stack: &Stack, group: &str, stream: &str, events: &[(i64, String)]) {
    stack
        .logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let batch: Vec<_> = events
        .iter()
        .map(|(ts, m)| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*ts)
                .message(m)
                .build()
                .unwrap()
        })
        .collect();
    stack
        .logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(batch))
        .send()
        .await
        .unwrap();
}

async fn new_group_while_running(stack: &Stack) -> Row {
    let s = Scenario::new("discover");
    let prefix_name = format!("{}/", s.group);
    let now = Utc::now() - chrono::Duration::minutes(2);
    stack
        .put_events(
            &format!("{prefix_name}a"),
            1,
            &common::synthetic::events(0x5000, 100, now, 100),
        )
        .await;
    setup(&s.prefix);
    let url = opensearch_url();
    let cw = cloudwatch_url();
    let checkpoint = s.dir.join("checkpoint.json");
    let dead = s.dead_letters();
    let mut child = trailscope_cmd(&[
        "forward",
        "--log-group-prefix",
        &prefix_name,
        "--opensearch-url",
        &url,
        "--endpoint-url",
        &cw,
        "--index-prefix",
        &s.prefix,
        "--dead-letter-file",
        dead.to_str().unwrap(),
        "--checkpoint-file",
        checkpoint.to_str().unwrap(),
        "--poll-interval",
        "1s",
        "--discover-interval",
        "1s",
    ])
    .stdout(std::fs::File::create(s.dir.join("run.out")).unwrap())
    .stderr(std::fs::File::create(s.dir.join("run.err")).unwrap())
    .spawn()
    .unwrap();
    assert_eq!(
        wait_for_count(&url, &s.prefix, 100, Duration::from_secs(60)).await,
        100
    );
    stack
        .put_events(
            &format!("{prefix_name}b"),
            1,
            &common::synthetic::events(0x5001, 50, now, 100),
        )
        .await;
    let total = wait_for_count(&url, &s.prefix, 150, Duration::from_secs(60)).await;
    sigterm(&child);
    let status = wait_with_timeout(&mut child, Duration::from_secs(10)).await;
    let (_, err) = s.output_of();
    assert_eq!(total, 150, "{err}");
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{err}");
    assert!(err.contains("found a new log group"), "{err}");
    let row = s
        .row(
            &url,
            "log group created while running (prefix)",
            150,
            "found by the next discovery, no restart".into(),
        )
        .await;
    stack.cleanup(&s.prefix).await;
    row
}

/// A proxy in front of moto that answers the first `throttle` FilterLogEvents calls with
/// ThrottlingException, as CloudWatch Logs does past 5 requests/s, and relays the rest.
async fn throttling_proxy(throttle: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let left = Arc::new(AtomicUsize::new(throttle));
    serve_proxy(listener, left.clone(), None);
    (format!("http://{addr}"), left)
}

/// A CloudWatch Logs endpoint that is down (connection refused) for `down`, then relays to moto.
/// An endpoint that is unavailable for `down`: it accepts connections and closes them at once
/// (what a restarting service behind a load balancer does), then relays to moto. Listening from
/// the start, so that the run gets past its start-up check and meets the outage in its reads.
async fn endpoint_down_for(down: Duration) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    serve_proxy(
        listener,
        Arc::new(AtomicUsize::new(0)),
        Some(tokio::time::Instant::now() + down),
    );
    format!("http://127.0.0.1:{port}")
}

/// Relays to moto, answering the first `counter` FilterLogEvents with a throttling error, and
/// closing every connection accepted before `closed_until`.
fn serve_proxy(
    listener: tokio::net::TcpListener,
    counter: Arc<AtomicUsize>,
    closed_until: Option<tokio::time::Instant>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = cloudwatch_url().trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            if closed_until.is_some_and(|until| tokio::time::Instant::now() < until) {
                drop(client);
                continue;
            }
            let (left, upstream) = (counter.clone(), upstream.clone());
            tokio::spawn(async move {
                loop {
                    // One request: head, then Content-Length bytes of body.
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 4096];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match client.read(&mut byte).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&byte[..k]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        match client.read(&mut byte).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&byte[..k]),
                        }
                    }
                    let filter = head.contains("filterlogevents");
                    if filter
                        && left
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok()
                    {
                        let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                        let response = format!(
                            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: throttled\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if client.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // Relay with Connection: close so moto's response ends at EOF.
                    let text = String::from_utf8_lossy(&buf[..head_end])
                        .replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n");
                    let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    if up.write_all(text.as_bytes()).await.is_err()
                        || up.write_all(&buf[head_end..]).await.is_err()
                    {
                        return;
                    }
                    let mut response = Vec::new();
                    if up.read_to_end(&mut response).await.is_err()
                        || client.write_all(&response).await.is_err()
                    {
                        return;
                    }
                    return; // the response said Connection: close
                }
            });
        }
    });
}

async fn cloudwatch_down(stack: &Stack) -> Row {
    let n = 2_000;
    let s = Scenario::prepared(
        stack,
        "cwdown",
        &opensearch_url(),
        1,
        &common::synthetic::events(0x4100, n, Utc::now() - chrono::Duration::minutes(30), 100),
    )
    .await;
    let cw = endpoint_down_for(Duration::from_secs(20)).await;
    let started = Instant::now();
    let out = output_off_runtime(s.forward_via(&opensearch_url(), &cw, &["--once"])).await;
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let summary = summary_of(&ok(out));
    assert_eq!(summary["indexed"], n, "{summary}");
    assert!(
        took >= Duration::from_secs(20),
        "it waited for the endpoint"
    );
    assert!(
        stderr.contains("FilterLogEvents failed, retrying"),
        "{stderr}"
    );
    let row = s
        .row(
            &opensearch_url(),
            "CloudWatch Logs endpoint down for 20 s",
            n as u64,
            format!(
                "retried with backoff, done after {:.0} s",
                took.as_secs_f64()
            ),
        )
        .await;
    stack.cleanup(&s.prefix).await;
    row
}

async fn throttling(stack: &Stack) -> Row {
    let n = 3_000;
    let s = Scenario::prepared(
        stack,
        "throttle",
        &opensearch_url(),
        1,
        &common::synthetic::events(0x4000, n, Utc::now() - chrono::Duration::minutes(30), 100),
    )
    .await;
    let (proxy, left) = throttling_proxy(8).await;
    let out = output_off_runtime(s.forward_via(&opensearch_url(), &proxy, &["--once"])).await;
    let summary = summary_of(&ok(out));
    assert_eq!(left.load(Ordering::SeqCst), 0, "every throttle was served");
    assert!(
        summary["source_throttled"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert_eq!(summary["indexed"], n, "{summary}");
    let row = s
        .row(
            &opensearch_url(),
            "CloudWatch Logs ThrottlingException x8",
            n as u64,
            format!(
        "{} surfaced after the SDK's own retries; retried on the same page, no window skipped",
        summary["source_throttled"]
    ),
        )
        .await;
    stack.cleanup(&s.prefix).await;
    row
}

async fn storm_429(stack: &Stack, url: &str) -> Row {
    let n = 20_000;
    let s = Scenario::prepared(
        stack,
        "storm",
        url,
        2,
        &common::synthetic::events(0x3000, n, Utc::now() - chrono::Duration::minutes(50), 100),
    )
    .await;
    let out = s
        .forward(
            url,
            &["--once", "--concurrency", "8", "--batch-events", "250"],
        )
        .output()
        .unwrap();
    let summary = summary_of(&ok(out));
    let retried =
        summary["retried_items"].as_u64().unwrap() + summary["bulk_retries"].as_u64().unwrap();
    assert!(retried > 0, "OpenSearch never pushed back: {summary}");
    assert_eq!(
        summary["indexed"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap(),
        n as u64,
        "{summary}"
    );
    s.row(
        url,
        "OpenSearch 429 storm (write queue of 1)",
        n as u64,
        format!(
            "{} bulk retries, {} items retried",
            summary["bulk_retries"], summary["retried_items"]
        ),
    )
    .await
}

async fn outage_30s(stack: &Stack, url: &str) -> Row {
    let n = 20_000;
    let s = Scenario::prepared(
        stack,
        "outage",
        url,
        2,
        &common::synthetic::events(0x2000, n, Utc::now() - chrono::Duration::minutes(50), 100),
    )
    .await;
    let mut child = s.spawn_forward(
        url,
        &["--once", "--batch-events", "20", "--concurrency", "1"],
    );
    let before = wait_for_count(url, &s.prefix, 1, Duration::from_secs(60)).await;
    assert!(
        before > 0 && before < n as u64,
        "the outage must fall mid-run ({before})"
    );
    // A crash, not a shutdown: in-flight requests are cut.
    stack_script(&["node-kill", FAULT_NODE.0]).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    fault_node_up().await;
    let status = wait_with_timeout(&mut child, Duration::from_secs(300)).await;
    let (out, err) = s.output_of();
    assert_eq!(status.map(|s| s.success()), Some(true), "{err}");
    let summary = summary_of(&out);
    assert!(summary["bulk_retries"].as_u64().unwrap() > 0, "{summary}");
    s.row(
        url,
        "OpenSearch killed (-9) and down for 30 s mid-run",
        n as u64,
        format!(
            "{before} indexed before the stop; {} bulk retries",
            summary["bulk_retries"]
        ),
    )
    .await
}

async fn malformed_every_100(stack: &Stack) -> Row {
    let s = Scenario::new("malformed");
    let mut events = common::synthetic::events(
        0x1000,
        5_000,
        Utc::now() - chrono::Duration::minutes(20),
        100,
    );
    for (i, e) in events.iter_mut().enumerate() {
        if i % 100 == 99 {
            e.1 = format!("{{\"truncated\": \"garbage {i}");
        }
    }
    stack.put_events(&s.group, 1, &events).await;
    setup(&s.prefix);
    let url = opensearch_url();
    let summary = summary_of(&ok(s.forward(&url, &["--once"]).output().unwrap()));
    assert_eq!(summary["dead_lettered"], 50, "{summary}");
    assert_eq!(summary["indexed"], 4_950, "{summary}");
    let row = s
        .row(
            &url,
            "a malformed message every 100 events",
            5_000,
            "each in the dead-letter file with its reason".into(),
        )
        .await;
    stack.cleanup(&s.prefix).await;
    row
}

async fn unwritable_checkpoint(stack: &Stack) -> Row {
    let s = Scenario::prepared(
        stack,
        "checkpoint",
        &opensearch_url(),
        1,
        &common::synthetic::events(0x0800, 100, Utc::now() - chrono::Duration::minutes(20), 100),
    )
    .await;
    // A checkpoint "folder" that is a file: no write can succeed (root ignores permissions).
    let blocker = s.dir.join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let url = opensearch_url();
    let cw = cloudwatch_url();
    let out = trailscope(&[
        "forward",
        "--once",
        "--log-group",
        &s.group,
        "--opensearch-url",
        &url,
        "--endpoint-url",
        &cw,
        "--index-prefix",
        &s.prefix,
        "--checkpoint-file",
        blocker.join("checkpoint.json").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(err.contains("the checkpoint file"), "{err}");
    let row = s
        .row(
            &url,
            "checkpoint folder not writable",
            100,
            "refused at start with a clear error, non-zero exit; nothing read".into(),
        )
        .await;
    stack.cleanup(&s.prefix).await;
    Row { lost: 0, ..row }
}

/// Writes the row into target/fault-rows/ (for the table scripts/test.sh prints), then checks it.
fn record(order: u32, row: &Row) {
    write_row(order, row);
    check(row);
}

fn write_row(order: u32, row: &Row) {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("fault-rows");
    std::fs::create_dir_all(&dir).unwrap();
    let line = format!(
        "| {} | {} | {} | {} | {} | {} | {} |\n",
        row.fault, row.sent, row.indexed, row.duplicated, row.dead_lettered, row.lost, row.note
    );
    std::fs::File::create(dir.join(format!("{order:02}.md")))
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .unwrap();
    eprintln!("{line}");
}

fn check(row: &Row) {
    assert_eq!(row.lost, 0, "{}: lost events", row.fault);
    assert_eq!(row.duplicated, 0, "{}: duplicated events", row.fault);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_messages() {
    record(1, &malformed_every_100(&Stack::connect().await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoint_not_writable() {
    record(2, &unwritable_checkpoint(&Stack::connect().await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_arriving_late() {
    record(3, &late_events(&Stack::connect().await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_throttling() {
    record(4, &throttling(&Stack::connect().await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudwatch_unreachable() {
    record(5, &cloudwatch_down(&Stack::connect().await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn log_group_created_while_running() {
    record(6, &new_group_while_running(&Stack::connect().await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_and_restart() {
    record(7, &sigterm_then_restart(&Stack::connect().await).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_random_moments() {
    let seed = std::env::var("TRAILSCOPE_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Utc::now().timestamp_millis() as u64);
    record(8, &kill_9(&Stack::connect().await, seed).await);
}

/// Both scenarios use the dedicated node: 429 storms first, then it is killed and restarted. The
/// other scenarios run beside it and beside each other (each has its own log group, index prefix,
/// proxy and folder; the dedicated node is this test's alone), so the suite takes as long as its
/// longest scenarios, not their sum.
#[tokio::test(flavor = "multi_thread")]
async fn opensearch_overloaded_then_down() {
    let stack = Stack::connect().await;
    let url = fault_node_up().await;
    let storm = storm_429(&stack, &url).await;
    let outage = outage_30s(&stack, &url).await;
    stack_script(&["node-down", FAULT_NODE.0]).await;
    write_row(9, &storm);
    write_row(10, &outage);
    check(&storm);
    check(&outage);
}

//! `forward --metrics-addr`: /metrics agrees with what was indexed, /healthz and /readyz answer,
//! /readyz turns 503 when OpenSearch goes away, and SIGTERM still ends the run cleanly.

mod common;

use common::synthetic;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// GET `path` from `addr`: (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// The samples of an exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// A TCP proxy to OpenSearch that the test can cut: then nothing answers on its port and every
/// connection through it is closed, as when the cluster goes away.
struct Proxy {
    addr: SocketAddr,
    tasks: JoinSet<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    break;
                };
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Proxy { addr, tasks }
    }

    /// Stops listening and drops every connection (the JoinSets abort their tasks).
    async fn cut(mut self) {
        self.tasks.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_and_readiness_of_a_running_forward() {
    let stack = Stack::connect().await;
    let group = format!("/test/{}", unique("metrics"));
    let prefix = format!("{}-", unique("t-metrics"));
    let dir = tempfile::tempdir().unwrap();
    let n = 250;
    let events = synthetic::events(
        0x3E7,
        n,
        chrono::Utc::now() - chrono::Duration::minutes(30),
        2_000,
    );
    stack.put_events(&group, 2, &events).await;
    setup(&prefix);

    let upstream: SocketAddr = opensearch_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = Proxy::start(upstream).await;
    let proxy_url = format!("http://{}", proxy.addr);
    let mut child = trailscope_cmd(&[
        "forward",
        "--log-group",
        &group,
        "--opensearch-url",
        &proxy_url,
        "--endpoint-url",
        &cloudwatch_url(),
        "--index-prefix",
        &prefix,
        "--checkpoint-file",
        dir.path().join("checkpoint.json").to_str().unwrap(),
        "--dead-letter-file",
        dir.path().join("dead.ndjson").to_str().unwrap(),
        "--poll-interval",
        "1s",
        "--batch-events",
        "100",
        "--metrics-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();

    // The bound address is in the start-up log line.
    let (tx, rx) = mpsc::channel::<Value>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a log line naming the metrics address");
        if line["message"] == "serving /metrics, /healthz and /readyz" {
            break line["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    // Wait for every event to be indexed, as the counters say.
    let started = Instant::now();
    let metrics = loop {
        let (status, body) = get(addr, "/metrics");
        assert_eq!(status, 200);
        let m = samples(&body);
        if m.get("trailscope_events_indexed_total") == Some(&(n as f64))
            && m.keys()
                .any(|k| k.starts_with("trailscope_watermark_lag_seconds{"))
        {
            break m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not all indexed in time: {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(stack.count(&prefix).await, n as u64);
    assert_eq!(metrics["trailscope_events_read_total"], n as f64);
    assert_eq!(metrics["trailscope_events_duplicate_total"], 0.0);
    assert_eq!(metrics["trailscope_events_dead_lettered_total"], 0.0);
    assert_eq!(metrics["trailscope_bulk_concurrency_limit"], 2.0);
    let requests = metrics["trailscope_bulk_requests_total"];
    assert!(requests >= 3.0, "{n} events in batches of at most 100");
    assert_eq!(
        metrics["trailscope_bulk_request_duration_seconds_count"], requests,
        "one latency observation per request"
    );
    assert_eq!(
        metrics["trailscope_bulk_request_duration_seconds_bucket{le=\"+Inf\"}"],
        requests
    );
    let label = group.replace('\\', "\\\\").replace('"', "\\\"");
    let lag = metrics[&format!("trailscope_watermark_lag_seconds{{log_group=\"{label}\"}}")];
    assert!((0.0..120.0).contains(&lag), "watermark lag {lag}");
    assert!(metrics.contains_key(&format!(
        "trailscope_ingestion_lag_seconds{{log_group=\"{label}\"}}"
    )));
    let age = metrics["trailscope_checkpoint_age_seconds"];
    assert!((0.0..30.0).contains(&age), "checkpoint age {age}");

    let (status, body) = get(addr, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = get(addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("opensearch: ok") && body.contains("checkpoint:"),
        "{body}"
    );
    assert_eq!(get(addr, "/nothing").0, 404);

    // OpenSearch goes away: not ready, still alive.
    proxy.cut().await;
    let (status, body) = get(addr, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("opensearch:") && body.contains(&proxy_url),
        "{body}"
    );
    assert_eq!(get(addr, "/healthz").0, 200);

    // SIGTERM: nothing is pending, so it stops cleanly with exit 0 and its summary.
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let log = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["indexed"], n as u64, "{summary}");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the metrics port is closed after exit"
    );
    stack.cleanup(&prefix).await;
}

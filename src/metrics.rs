//! Prometheus metrics and health endpoints of a long-running `forward`, served only when
//! `--metrics-addr` is given:
//!
//! - `GET /metrics`: the Prometheus text exposition format (0.0.4) of the pipeline's counters
//!   (`crate::stats::Stats`, the same atomics the JSON summary reads), the bulk latency histogram,
//!   retries by cause, requests in flight, and per log group the watermark lag, the ingestion
//!   lag and the checkpoint age.
//! - `GET /healthz`: 200 while the process runs (liveness).
//! - `GET /readyz`: 200 when OpenSearch answers and the checkpoint's directory is writable, 503
//!   otherwise with the reason (readiness).
//!
//! Why hand-rolled rather than `prometheus-client` or `metrics`: every value already lives in
//! `Stats` as an atomic, so a crate would either duplicate them or need a custom collector that
//! is longer than this text encoder; three fixed GET routes need no HTTP framework (and this
//! keeps hyper's server half out of the build). The server reads one request head (≤ 8 KiB,
//! 5 s), answers, and closes the connection.

use crate::sink::opensearch::Client;
use crate::stats::{Histogram, RetryCause, Stats, LATENCY_BUCKETS};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The text format of a histogram: cumulative buckets, sum and count.
fn render_histogram(h: &Histogram, out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let (buckets, sum_secs) = h.snapshot();
    let mut cumulative = 0;
    for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += buckets[i];
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    cumulative += buckets[LATENCY_BUCKETS.len()];
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "{name}_sum {sum_secs}");
    let _ = writeln!(out, "{name}_count {cumulative}");
}

/// A label value escaped for the text format.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn metric(out: &mut String, kind: &str, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// The text exposition of `stats` at `now_ms` (ms since the epoch).
pub fn render(stats: &Stats, now_ms: i64) -> String {
    let mut out = String::with_capacity(4096);
    let counters: [(&str, &str, &AtomicU64); 9] = [
        (
            "trailscope_events_read_total",
            "Events read from the source.",
            &stats.read,
        ),
        (
            "trailscope_events_indexed_total",
            "Events indexed by OpenSearch.",
            &stats.indexed,
        ),
        (
            "trailscope_events_duplicate_total",
            "Events OpenSearch already had (409 on create): delivered before.",
            &stats.duplicates,
        ),
        (
            "trailscope_events_dead_lettered_total",
            "Events written to the dead-letter file.",
            &stats.dead_lettered,
        ),
        (
            "trailscope_events_filtered_total",
            "Events dropped by the --access-key/--principal-arn/--event-source/--event-name filters.",
            &stats.filtered,
        ),
        (
            "trailscope_events_quarantined_total",
            "Events whose eventTime lies outside --max-event-age/--max-event-future, sent to <prefix>quarantine.",
            &stats.quarantined,
        ),
        (
            "trailscope_bulk_requests_total",
            "_bulk requests sent (attempts, retries included).",
            &stats.bulk_requests,
        ),
        (
            "trailscope_bulk_retried_items_total",
            "Items of bulk responses refused for now and sent again.",
            &stats.retried_items,
        ),
        (
            "trailscope_source_throttled_total",
            "CloudWatch Logs requests answered with ThrottlingException (then retried).",
            &stats.source_throttled,
        ),
    ];
    for (name, help, value) in counters {
        metric(&mut out, "counter", name, help, value.load(Relaxed));
    }
    let name = "trailscope_bulk_retries_total";
    let _ = writeln!(
        out,
        "# HELP {name} Failed bulk attempts that were retried, by cause.\n# TYPE {name} counter"
    );
    for (i, cause) in RetryCause::ALL.iter().enumerate() {
        let _ = writeln!(
            out,
            "{name}{{cause=\"{}\"}} {}",
            cause.label(),
            stats.bulk_retry_causes[i].load(Relaxed)
        );
    }
    render_histogram(
        &stats.bulk_latency,
        &mut out,
        "trailscope_bulk_request_duration_seconds",
        "Time a _bulk request took, answered or failed.",
    );
    metric(
        &mut out,
        "gauge",
        "trailscope_bulk_in_flight",
        "_bulk requests being sent now.",
        stats.bulk_in_flight.load(Relaxed).max(0),
    );
    metric(
        &mut out,
        "gauge",
        "trailscope_bulk_concurrency_limit",
        "The most _bulk requests in flight at once (--concurrency).",
        stats.concurrency_limit.load(Relaxed),
    );
    let groups = stats.groups.lock().unwrap().clone();
    let families: [(&str, &str); 2] = [
        (
            "trailscope_watermark_lag_seconds",
            "Now minus the log group's watermark (everything before it is delivered).",
        ),
        (
            "trailscope_ingestion_lag_seconds",
            "The largest ingestionTime - timestamp among the events of the group's last poll.",
        ),
    ];
    for (f, (name, help)) in families.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (group, p) in &groups {
            let value = match f {
                0 => match p.watermark_ms {
                    Some(w) => (now_ms - w).max(0),
                    None => continue,
                },
                _ => p.ingestion_delay_ms.max(0),
            };
            let _ = writeln!(
                out,
                "{name}{{log_group=\"{}\"}} {}",
                label(group),
                value as f64 / 1000.0
            );
        }
    }
    let saved = stats.checkpoint_saved_ms.load(Relaxed);
    if saved > 0 {
        metric(
            &mut out,
            "gauge",
            "trailscope_checkpoint_age_seconds",
            "Time since the checkpoint was last saved.",
            (now_ms - saved).max(0) as f64 / 1000.0,
        );
    }
    out
}

/// What `/readyz` checks.
pub struct Readiness {
    pub opensearch: Client,
    /// Where the checkpoint is kept; it must be writable.
    pub checkpoint: Option<Arc<crate::source::poller::Checkpoints>>,
}

impl Readiness {
    /// `Ok` with what was checked, or `Err` with every failing check.
    pub async fn check(&self) -> Result<String, String> {
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        match tokio::time::timeout(Duration::from_secs(5), self.opensearch.ping()).await {
            Ok(Ok(version)) => ok.push(format!("opensearch: ok ({version})")),
            Ok(Err(e)) => failed.push(format!("opensearch: {e}")),
            Err(_) => failed.push(format!(
                "opensearch: {} did not answer within 5 s",
                self.opensearch.url
            )),
        }
        if let Some(checkpoints) = &self.checkpoint {
            match checkpoints.check().await {
                Ok(what) => ok.push(format!("checkpoint: {what}")),
                Err(e) => failed.push(format!("checkpoint: {e}")),
            }
        }
        if failed.is_empty() {
            Ok(ok.join("\n"))
        } else {
            Err(failed.join("\n"))
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, stats: Arc<Stats>, readiness: Arc<Readiness>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("metrics server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (stats, readiness) = (stats.clone(), readiness.clone());
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &stats, &readiness).await {
                tracing::debug!("metrics server: {e}");
            }
        });
    }
}

/// Binds `addr` and serves there in the background; returns the bound address (a port 0 is
/// resolved) and the task, to abort at the end.
pub async fn start(
    addr: std::net::SocketAddr,
    stats: Arc<Stats>,
    readiness: Readiness,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(
            addr = %bound,
            "the metrics server listens beyond this machine: /metrics shows log group names"
        );
    }
    tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    let task = tokio::spawn(serve(listener, stats, Arc::new(readiness)));
    Ok((bound, task))
}

async fn handle(
    mut stream: TcpStream,
    stats: &Stats,
    readiness: &Readiness,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .is_err()
    {
        return Ok(());
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(stats, chrono::Utc::now().timestamp_millis()),
        ),
        ("GET" | "HEAD", "/healthz") => ("200 OK", "text/plain; charset=utf-8", "ok\n".into()),
        ("GET" | "HEAD", "/readyz") => match readiness.check().await {
            Ok(text) => ("200 OK", "text/plain; charset=utf-8", text + "\n"),
            Err(text) => (
                "503 Service Unavailable",
                "text/plain; charset=utf-8",
                text + "\n",
            ),
        },
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "try /metrics, /healthz or /readyz\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".into(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&response).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(200));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        render_histogram(&h, &mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.25\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"30\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(
            out.contains("x_count 3\n") && out.contains("x_sum 60.203\n"),
            "{out}"
        );
    }

    #[test]
    fn render_reads_the_counters_and_group_lags() {
        let stats = Stats::default();
        stats.read(7);
        stats.bulk_retry(RetryCause::Throttled);
        stats.group_polled("/a\"b", Some(1_000), 2_500);
        let out = render(&stats, 11_000);
        assert!(out.contains("\ntrailscope_events_read_total 7\n"), "{out}");
        assert!(
            out.contains("trailscope_bulk_retries_total{cause=\"throttled\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("trailscope_watermark_lag_seconds{log_group=\"/a\\\"b\"} 10\n"),
            "{out}"
        );
        assert!(
            out.contains("trailscope_ingestion_lag_seconds{log_group=\"/a\\\"b\"} 2.5\n"),
            "{out}"
        );
        assert!(out.contains("trailscope_checkpoint_age_seconds "), "{out}");
        // Every sample line is `name{labels} value` with a numeric value.
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}

//! Several transform workers (`--transform-workers`) change where events are encoded, not what is
//! sent or when an event counts as done: pages of varying size (larger than a chunk, smaller,
//! empty) with indexed, quarantined, filtered and refused events go through the pipeline with 1,
//! 2 and 3 workers, and every run must send the same `_bulk` requests byte for byte, write the
//! same dead letters, and acknowledge every event exactly once, indexed ones in batch order.
//!
//! Against the fake OpenSearch: the exact bytes and boundaries of each request are what a real
//! node does not show.

#[allow(dead_code)]
#[path = "common/fake_opensearch.rs"]
mod fake_opensearch;
#[allow(dead_code)]
#[path = "common/synthetic.rs"]
mod synthetic;

use chrono::{TimeZone, Utc};
use fake_opensearch::{Answer, FakeOpenSearch};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use trailscope::enrich::Enricher;
use trailscope::event::encode::{Encoder, TimeWindow};
use trailscope::event::filter::Filter;
use trailscope::pipeline::Pipeline;
use trailscope::sink::dead_letter::DeadLetterFile;
use trailscope::sink::opensearch::{Client, ConnectOptions, TlsOptions};
use trailscope::sink::{Sink, SinkConfig};
use trailscope::source::{Origin, RawEvent};
use trailscope::stats::Stats;

const PREFIX: &str = "par-";

/// Pages of these sizes: over a chunk (1,000) and over a batch (700 events here), small, empty.
const PAGES: [usize; 8] = [1, 2500, 7, 0, 1000, 1001, 3300, 33];

/// Event `n`: mostly records (a kms one is filtered out), every 37th junk (refused), every
/// 101st dated 1990 (quarantined: outside the window). Dates are fixed: no dependence on today
/// beyond a 100-year window.
fn message(n: usize) -> String {
    if n % 37 == 5 {
        return format!("not json {n}");
    }
    let day = if n % 101 == 7 {
        Utc.with_ymd_and_hms(1990, 3, 1, 12, 0, 0).unwrap()
    } else {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    };
    synthetic::record(7, n, day + chrono::Duration::seconds(n as i64)).to_string()
}

fn pages() -> Vec<Vec<RawEvent>> {
    let mut n = 0u64;
    PAGES
        .iter()
        .map(|&size| {
            (0..size)
                .map(|_| {
                    n += 1;
                    RawEvent {
                        message: message(n as usize),
                        origin: Origin::File {
                            path: Arc::from("in"),
                            record: n,
                        },
                    }
                })
                .collect()
        })
        .collect()
}

struct Run {
    /// Each `_bulk` request's documents, in the order received.
    requests: Vec<Vec<String>>,
    dead_letters: Vec<String>,
    /// Record numbers in the order acknowledged.
    acked: Vec<u64>,
}

async fn run(workers: usize) -> Run {
    let fake = FakeOpenSearch::start(PREFIX, |_| Answer::AllCreated).await;
    let dir = tempfile::tempdir().unwrap();
    let dead_letters = Arc::new(DeadLetterFile::new(dir.path().join("dead.ndjson")));
    let client = Client::connect(&ConnectOptions {
        url: fake.url.parse().unwrap(),
        username: None,
        password: None,
        password_file: None,
        request_timeout: Duration::from_secs(30),
        tls: TlsOptions::default(),
        sigv4: None,
    })
    .unwrap();
    let stats = Arc::new(Stats::default());
    // One request at a time, so that the fake sees them in batch order; a linger longer than
    // the run, so that batches are cut by their limits only (not by timing).
    let config = SinkConfig {
        max_batch_events: 700,
        max_batch_bytes: 400 * 1024,
        concurrency: 1,
        linger: Duration::from_secs(3600),
        ..SinkConfig::default()
    };
    let filter = Filter {
        event_sources: synthetic::CALLS
            .iter()
            .map(|(source, _, _)| source.to_string())
            .filter(|source| source != "kms.amazonaws.com")
            .collect(),
        ..Filter::default()
    };
    let encoder = Encoder::new(Enricher::default(), PREFIX, filter).with_window(TimeWindow {
        max_age: Duration::from_secs(100 * 365 * 86_400) / 4,
        max_future: Duration::from_secs(100 * 365 * 86_400),
    });
    let pipeline = Pipeline {
        encoder: Arc::new(encoder),
        sink: Arc::new(Sink::new(
            client,
            dead_letters.clone(),
            config,
            stats.clone(),
        )),
        stats,
        findings: None,
        lineage: None,
        transform_workers: workers,
    };
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        for page in pages() {
            tx.send(page).await.unwrap();
        }
    });
    let mut acked = Vec::new();
    let mut acks = |origin: &Origin| match origin {
        Origin::File { record, .. } => acked.push(*record),
        other => panic!("an origin never sent: {other:?}"),
    };
    pipeline.run(rx, &mut acks).await.unwrap();
    Run {
        requests: fake
            .bulk_requests()
            .into_iter()
            .map(|r| r.documents)
            .collect(),
        dead_letters: std::fs::read_to_string(dead_letters.path())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                // The letter's time of writing differs between runs; the rest must not.
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut()
                    .unwrap()
                    .retain(|k, _| !k.contains("time"));
                v.to_string()
            })
            .collect(),
        acked,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_send_and_acknowledge_exactly_what_one_does() {
    let total: usize = PAGES.iter().sum();
    let one = run(1).await;
    let refused = (1..=total).filter(|n| n % 37 == 5).count();
    assert_eq!(one.dead_letters.len(), refused);
    let sent: usize = one.requests.iter().map(Vec::len).sum();
    let filtered = (1..=total)
        .filter(|&n| {
            n % 37 != 5 && synthetic::CALLS[n % synthetic::CALLS.len()].0 == "kms.amazonaws.com"
        })
        .count();
    assert!(filtered > 0 && refused > 0);
    assert_eq!(sent, total - refused - filtered);
    assert!(one.requests.iter().all(|r| r.len() <= 700));
    assert!(
        one.requests
            .iter()
            .any(|r| r.iter().any(|d| d.contains("1990-03-01"))),
        "quarantined events are sent too"
    );
    // 1 again: what may vary between any two runs (nothing, here) is not blamed on workers.
    for workers in [1, 2, 3] {
        let many = run(workers).await;
        assert_eq!(
            many.requests.len(),
            one.requests.len(),
            "{workers} workers: the same batches"
        );
        for (i, (a, b)) in one.requests.iter().zip(&many.requests).enumerate() {
            if a != b {
                let j = a.iter().zip(b).position(|(x, y)| x != y);
                let show = |r: &Vec<String>| j.and_then(|j| r.get(j).cloned()).unwrap_or_default();
                panic!(
                    "{workers} workers: request {i} ({} documents, 1 worker's {}) differs at \
                     {j:?}:\n{}\n{}",
                    b.len(),
                    a.len(),
                    show(a),
                    show(b)
                );
            }
        }
        assert_eq!(many.dead_letters, one.dead_letters, "{workers} workers");
        // Every event acknowledged once.
        let mut times: HashMap<u64, usize> = HashMap::new();
        for n in &many.acked {
            *times.entry(*n).or_default() += 1;
        }
        assert_eq!(
            times.len(),
            total,
            "{workers} workers: every event acknowledged"
        );
        assert!(
            times.values().all(|&t| t == 1),
            "{workers} workers: once each"
        );
        // Indexed events are acknowledged batch by batch, in order (one request at a time);
        // filtered ones as their chunk is taken, refused ones after their chunk's letters are
        // synced: each kind in order among itself.
        let indexed: std::collections::HashSet<u64> = many
            .requests
            .iter()
            .flatten()
            .map(|d| {
                let v: serde_json::Value = serde_json::from_str(d).unwrap();
                let id = v["event"]["id"].as_str().unwrap().to_owned();
                u64::from_str_radix(id.rsplit('-').next().unwrap(), 16).unwrap()
            })
            .collect();
        let kind = |n: u64| match n {
            n if indexed.contains(&n) => "indexed",
            n if n % 37 == 5 => "refused",
            _ => "filtered",
        };
        for k in ["indexed", "refused", "filtered"] {
            let of_kind: Vec<u64> = many
                .acked
                .iter()
                .copied()
                .filter(|&n| kind(n) == k)
                .collect();
            assert!(
                of_kind.is_sorted(),
                "{workers} workers: {k} acknowledged in order"
            );
        }
    }
}

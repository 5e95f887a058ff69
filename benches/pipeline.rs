//! Transform throughput on realistic CloudTrail records: `cargo bench --bench pipeline`.
//!
//! Events: the shared corpus `../shared/corpus/cloudtrail/panther-labs__panther-analysis/
//! rule-test-events.ndjson` (405 records of real shape, ~1.3 KB each), replicated to
//! `TRAILSCOPE_BENCH_EVENTS` (default 100,000) events, each copy with its own eventID, eventTime
//! and access key. Without the corpus, `examples/cloudtrail-sample.ndjson` is used (and said so);
//! from a git worktree, which has no `../shared` beside it, `TRAILSCOPE_BENCH_CORPUS` names it.
//!
//! Measured, one thread (so "per core"):
//! * `transform/encode`: what the pipeline does per event (`Encoder::encode`: decode, filter,
//!   enrich, document, bulk encode into a reused-size batch), over the whole replicated corpus;
//!   also printed as events/s and MB/s (of input messages) by a plain timed pass;
//! * `transform/decode`: `CloudTrailRecord::parse` alone;
//! * `user_agent/parse` (uncached) and `user_agent/cached` over the corpus's user agents;
//! * `subscription/decode`: a gzip CloudWatch Logs subscription payload of 1,000 events.
//!
//! Criterion with `default-features = false`: no HTML reports or plots; results under
//! `target/criterion/`. Quick run: `cargo bench --bench pipeline -- --quick`.

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use serde_json::Value;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trailscope::enrich::user_agent::{parse, UserAgentCache};
use trailscope::enrich::Enricher;
use trailscope::event::cloudtrail::CloudTrailRecord;
use trailscope::event::encode::Encoder;
use trailscope::event::filter::Filter;
use trailscope::sink::bulk::BulkBatch;
use trailscope::source::{subscription, CloudWatchPosition, Origin, RawEvent};

const CORPUS: &str =
    "../shared/corpus/cloudtrail/panther-labs__panther-analysis/rule-test-events.ndjson";
const FALLBACK: &str = "examples/cloudtrail-sample.ndjson";
/// Default batch limits of the sink (`SinkConfig::default()`).
const BATCH_BYTES: usize = 5 * 1024 * 1024;
const BATCH_EVENTS: usize = 5_000;

fn event_count() -> usize {
    std::env::var("TRAILSCOPE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// The corpus records, as compact JSON.
fn base_records() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A git worktree is not beside ../shared: TRAILSCOPE_BENCH_CORPUS names the file there.
    let corpus = std::env::var_os("TRAILSCOPE_BENCH_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(CORPUS));
    let (path, label) = if corpus.exists() {
        (corpus, "shared corpus (panther-analysis rule-test events)")
    } else {
        eprintln!("NOTE: the shared corpus {CORPUS} is absent: falling back to {FALLBACK}");
        (
            root.join(FALLBACK),
            "examples/cloudtrail-sample.ndjson (FALLBACK)",
        )
    };
    let text = std::fs::read_to_string(&path).expect("read the corpus");
    let records: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("corpus line is JSON"))
        .collect();
    eprintln!("corpus: {label}: {} records", records.len());
    records
}

/// Copy `i` of a record: its own eventID, eventTime (3 a second from 2026-11-01T00:00:00Z, so
/// 100k events stay within one daily index) and access key; everything else as in the corpus.
fn vary(base: &Value, i: usize) -> String {
    let mut r = base.clone();
    let Some(o) = r.as_object_mut() else {
        return r.to_string();
    };
    o.insert(
        "eventID".into(),
        Value::from(format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            0x7ea1_5c0e_u32,
            (i >> 16) & 0xffff,
            (i >> 4) & 0xfff,
            i & 0xfff,
            i
        )),
    );
    if o.contains_key("eventTime") {
        let t = chrono::DateTime::from_timestamp(1_793_491_200 + (i / 3) as i64, 0).unwrap();
        o.insert(
            "eventTime".into(),
            Value::from(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
    }
    if let Some(u) = o.get_mut("userIdentity").and_then(Value::as_object_mut) {
        if u.contains_key("accessKeyId") {
            u.insert(
                "accessKeyId".into(),
                Value::from(format!("AKIABENCH{:011}", i % 5000)),
            );
        }
    }
    r.to_string()
}

fn origin(i: usize) -> Origin {
    Origin::CloudWatch(CloudWatchPosition {
        log_group: Arc::from("aws-cloudtrail-logs-bench"),
        log_stream: Arc::from("111122223333_CloudTrail_us-east-1"),
        event_id: format!("{:056}", 38_000_000_000_000_000u64 + i as u64),
        timestamp: 1_793_491_200_000 + (i as i64 / 3) * 1000,
        ingestion_time: Some(1_793_491_200_000 + (i as i64 / 3) * 1000 + 500),
    })
}

struct Corpus {
    events: Vec<RawEvent>,
    bytes: usize,
}

fn corpus() -> Corpus {
    let base = base_records();
    let n = event_count().max(base.len());
    let events: Vec<RawEvent> = (0..n)
        .map(|i| RawEvent {
            message: vary(&base[i % base.len()], i),
            origin: origin(i),
        })
        .collect();
    let bytes = events.iter().map(|e| e.message.len()).sum();
    eprintln!(
        "{n} events, {:.1} MB of messages, {:.0} B/event on average",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );
    Corpus { events, bytes }
}

fn encoder() -> Encoder {
    Encoder::new(Enricher::default(), "cloudtrail-", Filter::default())
}

/// Encodes `events` as the pipeline does: into batches cut at the sink's default limits.
fn encode_all(encoder: &Encoder, events: Vec<RawEvent>) -> usize {
    let mut batch = BulkBatch::with_capacity(BATCH_BYTES + 64 * 1024);
    let mut body_bytes = 0;
    for event in events {
        encoder
            .encode(&mut batch, event)
            .expect("corpus events encode");
        if batch.byte_len() >= BATCH_BYTES || batch.len() >= BATCH_EVENTS {
            body_bytes += batch.byte_len();
            let full = std::mem::replace(
                &mut batch,
                BulkBatch::with_capacity(BATCH_BYTES + 64 * 1024),
            );
            black_box(full);
        }
    }
    body_bytes + batch.byte_len()
}

/// A plain timed pass, printed as events/s and MB/s (input messages) on one core.
fn summary(c: &Corpus) {
    let enc = encoder();
    // Warm the user-agent cache and the allocator as a running forwarder would be.
    encode_all(&enc, c.events[..c.events.len().min(10_000)].to_vec());
    let mut best = f64::MAX;
    let mut body = 0;
    // TRAILSCOPE_BENCH_PASSES=0 and =N under `perf stat -e instructions`: the difference / N /
    // events is the transform's instructions per event, repeatable on a busy machine.
    let passes: usize = std::env::var("TRAILSCOPE_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    if passes == 0 {
        return;
    }
    for _ in 0..passes {
        let events = c.events.clone();
        let t = Instant::now();
        body = encode_all(&enc, events);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let n = c.events.len() as f64;
    println!(
        "transform (decode + enrich + bulk encode), 1 thread, best of {passes}: {n:.0} events in {best:.3} s = \
         {:.0} events/s, {:.1} MB/s of messages in, {:.1} MB/s of _bulk body out ({:.2}x input)",
        n / best,
        c.bytes as f64 / 1e6 / best,
        body as f64 / 1e6 / best,
        body as f64 / c.bytes as f64
    );
}

fn transform(crit: &mut Criterion, c: &Corpus) {
    let mut g = crit.benchmark_group("transform");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(c.events.len() as u64));
    let enc = encoder();
    g.bench_function("encode", |b| {
        b.iter_batched(
            || c.events.clone(),
            |events| encode_all(&enc, events),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            for e in &c.events {
                black_box(CloudTrailRecord::parse(&e.message).expect("decodes"));
            }
        })
    });
    g.finish();
}

fn user_agents(crit: &mut Criterion, c: &Corpus) {
    let mut agents: Vec<String> = c
        .events
        .iter()
        .take(10_000)
        .filter_map(|e| {
            serde_json::from_str::<Value>(&e.message)
                .ok()?
                .get("userAgent")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    // Each event's user agent, in corpus order (repeats as in real traffic).
    agents.truncate(1000);
    let mut g = crit.benchmark_group("user_agent");
    g.throughput(Throughput::Elements(agents.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            for a in &agents {
                black_box(parse(a));
            }
        })
    });
    let cache = UserAgentCache::new(4096);
    g.bench_function("cached", |b| {
        b.iter(|| {
            for a in &agents {
                black_box(cache.get(a));
            }
        })
    });
    g.finish();
}

fn subscription_payload(crit: &mut Criterion, c: &Corpus) {
    let events: Vec<Value> = c.events[..1000]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::json!({"id": format!("{:056}", i), "timestamp": 1_793_491_200_000i64 + i as i64,
                               "message": e.message})
        })
        .collect();
    let json = serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "111122223333",
        "logGroup": "aws-cloudtrail-logs-bench", "logStream": "111122223333_CloudTrail_us-east-1",
        "subscriptionFilters": ["trailscope"], "logEvents": events,
    })
    .to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let mut g = crit.benchmark_group("subscription");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("decode_gzip_1000_events", |b| {
        b.iter(|| {
            black_box(
                subscription::decode(&gz, subscription::DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap(),
            )
        })
    });
    g.finish();
}

fn benches(crit: &mut Criterion) {
    let c = corpus();
    summary(&c);
    transform(crit, &c);
    user_agents(crit, &c);
    subscription_payload(crit, &c);
}

criterion_group!(pipeline, benches);

fn main() {
    // `cargo test --all-targets` builds benches and runs them without --bench: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    pipeline();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

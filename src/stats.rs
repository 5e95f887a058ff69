//! Counters of what the pipeline did, shared by its tasks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Stats {
    pub read: AtomicU64,
    pub indexed: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub filtered: AtomicU64,
    /// Sent to the quarantine index (eventTime outside the window); counted in `indexed` too
    /// once delivered.
    pub quarantined: AtomicU64,
    pub bulk_requests: AtomicU64,
    pub bulk_retries: AtomicU64,
    pub retried_items: AtomicU64,
    pub source_throttled: AtomicU64,
    /// Seconds each `_bulk` request took (answered or failed).
    pub bulk_latency: Histogram,
    /// Failed bulk attempts (then retried), by cause: indexed like `RetryCause::ALL`.
    pub bulk_retry_causes: [AtomicU64; RetryCause::ALL.len()],
    /// `_bulk` requests being sent right now, and the most allowed at once.
    pub bulk_in_flight: AtomicI64,
    pub concurrency_limit: AtomicU64,
    /// Per log group: where the watermark is and the ingestion delay the last poll measured.
    pub groups: Mutex<BTreeMap<String, GroupProgress>>,
    /// When the checkpoint was last saved (ms since the epoch; 0: not yet).
    pub checkpoint_saved_ms: AtomicI64,
}

/// Why a bulk attempt failed and was retried (the `cause` label of the retries metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryCause {
    /// HTTP 429, or items refused with 429 (es_rejected_execution_exception).
    Throttled,
    /// HTTP 5xx.
    ServerError,
    /// No answer: connection refused or reset, timeout, TLS.
    Connection,
    /// Some items were refused for now (retryable item errors other than throttling).
    Items,
    /// An answer that could not be read, or with the wrong number of items.
    BadResponse,
}

impl RetryCause {
    pub const ALL: [RetryCause; 5] = [
        RetryCause::Throttled,
        RetryCause::ServerError,
        RetryCause::Connection,
        RetryCause::Items,
        RetryCause::BadResponse,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RetryCause::Throttled => "throttled",
            RetryCause::ServerError => "server_error",
            RetryCause::Connection => "connection",
            RetryCause::Items => "items",
            RetryCause::BadResponse => "bad_response",
        }
    }
}

/// The progress of one log group, as the poller last reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupProgress {
    /// Everything before this (ms since the epoch) is delivered; `None`: nothing yet.
    pub watermark_ms: Option<i64>,
    /// The largest `ingestionTime - timestamp` among the events of the last poll (ms).
    pub ingestion_delay_ms: i64,
}

/// Counts a bulk request in flight until dropped (also when its future is cancelled).
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    pub read: u64,
    pub indexed: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    pub filtered: u64,
    /// Events whose eventTime lies outside the window, sent to the quarantine index.
    pub quarantined: u64,
    pub bulk_requests: u64,
    pub bulk_retries: u64,
    pub retried_items: u64,
    /// CloudWatch Logs requests answered with ThrottlingException (and retried).
    pub source_throttled: u64,
}

impl Stats {
    pub fn read(&self, n: usize) {
        self.read.fetch_add(n as u64, Relaxed);
    }
    pub fn dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Relaxed);
    }
    pub fn filtered(&self, n: u64) {
        self.filtered.fetch_add(n, Relaxed);
    }
    pub fn quarantined(&self, n: u64) {
        self.quarantined.fetch_add(n, Relaxed);
    }
    pub fn source_throttled(&self, n: u64) {
        self.source_throttled.fetch_add(n, Relaxed);
    }
    pub fn bulk_request(&self) {
        self.bulk_requests.fetch_add(1, Relaxed);
    }
    pub fn bulk_retry(&self, cause: RetryCause) {
        self.bulk_retries.fetch_add(1, Relaxed);
        let i = RetryCause::ALL
            .iter()
            .position(|c| *c == cause)
            .unwrap_or(0);
        self.bulk_retry_causes[i].fetch_add(1, Relaxed);
    }
    /// A bulk request starts: counted in flight until the guard is dropped.
    pub fn bulk_started(&self) -> InFlight<'_> {
        self.bulk_in_flight.fetch_add(1, Relaxed);
        InFlight(&self.bulk_in_flight)
    }
    /// A poll of `group` finished with the checkpoint saved.
    pub fn group_polled(&self, group: &str, watermark_ms: Option<i64>, ingestion_delay_ms: i64) {
        self.groups.lock().unwrap().insert(
            group.to_owned(),
            GroupProgress {
                watermark_ms,
                ingestion_delay_ms,
            },
        );
        self.checkpoint_saved_ms
            .store(chrono::Utc::now().timestamp_millis(), Relaxed);
    }
    pub fn retried_items(&self, n: usize) {
        self.retried_items.fetch_add(n as u64, Relaxed);
    }
    /// What became of a delivered batch's events.
    pub fn delivered(&self, indexed: u64, duplicates: u64, dead_lettered: u64) {
        self.indexed.fetch_add(indexed, Relaxed);
        self.duplicates.fetch_add(duplicates, Relaxed);
        self.dead_lettered.fetch_add(dead_lettered, Relaxed);
    }
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            read: self.read.load(Relaxed),
            indexed: self.indexed.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            quarantined: self.quarantined.load(Relaxed),
            bulk_requests: self.bulk_requests.load(Relaxed),
            bulk_retries: self.bulk_retries.load(Relaxed),
            retried_items: self.retried_items.load(Relaxed),
            source_throttled: self.source_throttled.load(Relaxed),
        }
    }
}

/// Bucket upper bounds (seconds) of the bulk latency histogram.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A fixed-bucket histogram of durations, lock-free.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last one is +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Each bucket's count (not cumulative; the last is +Inf) and the sum in seconds.
    pub fn snapshot(&self) -> ([u64; LATENCY_BUCKETS.len() + 1], f64) {
        (
            std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            self.sum_micros.load(Relaxed) as f64 / 1e6,
        )
    }
}

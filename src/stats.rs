//! Counters of what the pipeline did, shared by its tasks.

use crate::sink::BatchReport;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Stats {
    pub read: AtomicU64,
    pub indexed: AtomicU64,
    pub duplicates: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub filtered: AtomicU64,
    pub bulk_requests: AtomicU64,
    pub bulk_retries: AtomicU64,
    pub retried_items: AtomicU64,
    pub source_throttled: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    pub read: u64,
    pub indexed: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    pub filtered: u64,
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
    pub fn source_throttled(&self, n: u64) {
        self.source_throttled.fetch_add(n, Relaxed);
    }
    pub fn bulk_request(&self) {
        self.bulk_requests.fetch_add(1, Relaxed);
    }
    pub fn bulk_retry(&self) {
        self.bulk_retries.fetch_add(1, Relaxed);
    }
    pub fn retried_items(&self, n: usize) {
        self.retried_items.fetch_add(n as u64, Relaxed);
    }
    pub fn delivered(&self, r: &BatchReport) {
        self.indexed.fetch_add(r.indexed, Relaxed);
        self.duplicates.fetch_add(r.duplicates, Relaxed);
        self.dead_lettered.fetch_add(r.dead_lettered, Relaxed);
    }
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            read: self.read.load(Relaxed),
            indexed: self.indexed.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            bulk_requests: self.bulk_requests.load(Relaxed),
            bulk_retries: self.bulk_retries.load(Relaxed),
            retried_items: self.retried_items.load(Relaxed),
            source_throttled: self.source_throttled.load(Relaxed),
        }
    }
}

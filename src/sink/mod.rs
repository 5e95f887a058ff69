//! Delivery to OpenSearch: `_bulk` requests with per-item outcomes, retries with backoff, and a
//! dead-letter file for what OpenSearch will never take.

pub mod bulk;
pub mod dead_letter;
pub mod opensearch;
pub mod sigv4;

use crate::stats::{RetryCause, Stats};
use backon::{BackoffBuilder, ExponentialBuilder};
use bulk::{BulkBatch, BulkItem, ItemOutcome};
use bytes::Bytes;
use dead_letter::{DeadLetterError, DeadLetterFile, Stage};
use opensearch::{error_chain, BulkReply, Client};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the sink batches, compresses and retries.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// A batch is sent once its body reaches this many bytes (uncompressed). Keep it well below
    /// 10 MiB: Amazon OpenSearch Service refuses larger requests on some instance types.
    pub max_batch_bytes: usize,
    pub max_batch_events: usize,
    /// A partly filled batch is sent after this long.
    pub linger: Duration,
    /// Bulk requests in flight at once.
    pub concurrency: usize,
    pub gzip: bool,
    pub retry: RetryPolicy,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            max_batch_bytes: 5 * 1024 * 1024,
            max_batch_events: 5_000,
            linger: Duration::from_secs(1),
            concurrency: 2,
            gzip: true,
            retry: RetryPolicy::default(),
        }
    }
}

/// Exponential backoff with jitter between attempts of one batch, until `give_up_after`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            give_up_after: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("OpenSearch at {url} refused the credentials for _bulk (HTTP {status}): {body}")]
    Auth {
        url: String,
        status: u16,
        body: String,
    },
    #[error("OpenSearch at {url} refused a _bulk request with HTTP {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("gave up delivering {pending} events to {url} after {elapsed:?}: {last_error}")]
    GaveUp {
        url: String,
        pending: usize,
        elapsed: Duration,
        last_error: String,
    },
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
}

/// What became of the events of one batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub indexed: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    pub requests: u64,
}

pub struct Sink {
    client: Client,
    dead_letters: Arc<DeadLetterFile>,
    config: SinkConfig,
    stats: Arc<Stats>,
    limit: Aimd,
}

/// How many bulk requests may be in flight: halved when OpenSearch pushes back (429), one more
/// after each request that went through, never above the configured concurrency nor below 1
/// (additive increase, multiplicative decrease: what TCP does with a congested link).
#[derive(Debug)]
pub struct Aimd {
    max: usize,
    current: std::sync::atomic::AtomicUsize,
}

impl Aimd {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Aimd {
            max,
            current: std::sync::atomic::AtomicUsize::new(max),
        }
    }

    pub fn get(&self) -> usize {
        self.current.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// OpenSearch refused work for now: halve. Returns the new limit.
    pub fn throttled(&self) -> usize {
        self.update(|c| (c / 2).max(1))
    }

    /// A request went through: one more. Returns the new limit.
    pub fn succeeded(&self) -> usize {
        let max = self.max;
        self.update(|c| (c + 1).min(max))
    }

    fn update(&self, f: impl Fn(usize) -> usize) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let previous = self
            .current
            .fetch_update(Relaxed, Relaxed, |c| Some(f(c)))
            .expect("the closure always returns Some");
        f(previous)
    }
}

impl Sink {
    pub fn new(
        client: Client,
        dead_letters: Arc<DeadLetterFile>,
        config: SinkConfig,
        stats: Arc<Stats>,
    ) -> Self {
        stats.concurrency_limit.store(
            config.concurrency as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Sink {
            client,
            dead_letters,
            limit: Aimd::new(config.concurrency),
            config,
            stats,
        }
    }

    /// Bulk requests that may be in flight now (see [`Aimd`]).
    pub fn concurrency_limit(&self) -> usize {
        self.limit.get()
    }

    pub fn config(&self) -> &SinkConfig {
        &self.config
    }

    /// The OpenSearch client (for readiness checks).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn dead_letters(&self) -> &Arc<DeadLetterFile> {
        &self.dead_letters
    }

    /// Delivers every event of `batch`: each ends indexed, duplicate (already there) or in the
    /// dead-letter file, or the call fails and none of the still-pending events may be
    /// acknowledged. Returns the items, for acknowledgement.
    pub async fn deliver(
        &self,
        batch: BulkBatch,
    ) -> Result<(BatchReport, Vec<BulkItem>), SinkError> {
        let mut report = BatchReport::default();
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut delays = self.config.retry.delays();
        let started = Instant::now();
        while !pending.is_empty() {
            let body = if pending.len() == batch.len() {
                self.encode(batch.body())
            } else {
                self.encode(&batch.body_of(&pending))
            };
            report.requests += 1;
            self.stats.bulk_request();
            let reply = {
                let _in_flight = self.stats.bulk_started();
                let sent = Instant::now();
                let reply = self.client.bulk(body, self.config.gzip).await;
                self.stats.bulk_latency.observe(sent.elapsed());
                reply
            };
            let (cause, last_error) = match reply {
                Ok(BulkReply::Items(response)) if response.items.len() == pending.len() => {
                    let mut retry = Vec::new();
                    let mut last = String::new();
                    let mut cause = RetryCause::Throttled;
                    for (&position, item) in pending.iter().zip(&response.items) {
                        match ItemOutcome::of(item.result()) {
                            ItemOutcome::Indexed => report.indexed += 1,
                            ItemOutcome::Duplicate => report.duplicates += 1,
                            ItemOutcome::Retry(e) => {
                                if item.result().status != 429 {
                                    cause = RetryCause::Items;
                                }
                                last = format!("{}: {}", e.kind, e.reason.unwrap_or_default());
                                retry.push(position);
                            }
                            ItemOutcome::Rejected(e) => {
                                let item = &batch.items()[position];
                                self.dead_letters.write(
                                    Stage::Index,
                                    &e.kind,
                                    e.reason.as_deref().unwrap_or(""),
                                    Some(&item.index),
                                    Some(&item.id),
                                    &item.event,
                                )?;
                                report.dead_lettered += 1;
                            }
                        }
                    }
                    if retry.is_empty() {
                        self.limit_changed(self.limit.succeeded());
                        break;
                    }
                    self.stats.retried_items(retry.len());
                    pending = retry;
                    (
                        cause,
                        format!("{} items refused for now ({last})", pending.len()),
                    )
                }
                Ok(BulkReply::Items(response)) => (
                    RetryCause::BadResponse,
                    format!(
                        "the bulk response has {} items for {} sent",
                        response.items.len(),
                        pending.len()
                    ),
                ),
                Ok(BulkReply::Unreadable(message)) => (
                    RetryCause::BadResponse,
                    format!("unreadable bulk response: {message}"),
                ),
                Ok(BulkReply::Status { status, body }) => match status {
                    401 | 403 => {
                        return Err(SinkError::Auth {
                            url: self.client.url.to_string(),
                            status,
                            body,
                        })
                    }
                    429 => (RetryCause::Throttled, format!("HTTP 429: {body}")),
                    s if s >= 500 && s != 501 => {
                        (RetryCause::ServerError, format!("HTTP {s}: {body}"))
                    }
                    _ => {
                        return Err(SinkError::Refused {
                            url: self.client.url.to_string(),
                            status,
                            body,
                        })
                    }
                },
                Err(e) => (RetryCause::Connection, error_chain(&e)),
            };
            self.stats.bulk_retry(cause);
            if matches!(cause, RetryCause::Throttled) {
                self.limit_changed(self.limit.throttled());
            }
            let elapsed = started.elapsed();
            let delay = delays.next().unwrap_or(self.config.retry.max_delay);
            if elapsed + delay > self.config.retry.give_up_after {
                return Err(SinkError::GaveUp {
                    url: self.client.url.to_string(),
                    pending: pending.len(),
                    elapsed,
                    last_error,
                });
            }
            tracing::warn!(
                pending = pending.len(),
                retry_in_ms = delay.as_millis() as u64,
                "bulk delivery to OpenSearch failed, retrying: {last_error}"
            );
            tokio::time::sleep(delay).await;
        }
        self.stats
            .delivered(report.indexed, report.duplicates, report.dead_lettered);
        Ok((report, batch.into_items()))
    }

    fn limit_changed(&self, limit: usize) {
        let before = self
            .stats
            .concurrency_limit
            .swap(limit as u64, std::sync::atomic::Ordering::Relaxed);
        if before != limit as u64 && (limit == 1 || limit == self.config.concurrency) {
            tracing::info!(
                limit,
                "bulk concurrency limit now {limit} (OpenSearch {})",
                if limit < before as usize {
                    "pushes back with 429"
                } else {
                    "keeps up again"
                }
            );
        }
    }

    fn encode(&self, body: &[u8]) -> Bytes {
        if !self.config.gzip {
            return Bytes::copy_from_slice(body);
        }
        // The fast level: bulk bodies compress ~10x even so, and CPU stays free for OpenSearch.
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 6),
            flate2::Compression::fast(),
        );
        encoder
            .write_all(body)
            .and_then(|_| encoder.finish())
            .map(Bytes::from)
            .expect("writing into a Vec cannot fail")
    }
}

#[cfg(test)]
mod aimd_tests {
    use super::Aimd;

    #[test]
    fn halves_on_pushback_and_recovers_one_step_at_a_time() {
        let a = Aimd::new(8);
        assert_eq!(a.get(), 8);
        assert_eq!(a.throttled(), 4);
        assert_eq!(a.throttled(), 2);
        assert_eq!(a.throttled(), 1);
        assert_eq!(a.throttled(), 1, "never below one");
        assert_eq!(a.succeeded(), 2);
        for _ in 0..20 {
            a.succeeded();
        }
        assert_eq!(a.get(), 8, "never above the configured concurrency");
        assert_eq!(Aimd::new(0).get(), 1);
    }
}

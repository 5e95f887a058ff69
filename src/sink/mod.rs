//! Delivery to OpenSearch: `_bulk` requests with per-item outcomes, retries with backoff, and a
//! dead-letter file for what OpenSearch will never take.

pub mod bulk;
pub mod classify;
pub mod dead_letter;
pub mod opensearch;
pub mod shard_budget;
pub mod sigv4;

use crate::stats::{RetryCause, Stats};
use backon::{BackoffBuilder, ExponentialBuilder};
use bulk::BulkBatch;
use bytes::Bytes;
use classify::{classify, ItemOutcome, Verdict};
use dead_letter::{DeadLetterError, DeadLetterFile, Stage};
use opensearch::Client;
use shard_budget::ShardBudget;
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
    #[error(
        "gave up delivering {pending} events to {url} after {} s of retries \
         (--retry-give-up-secs); nothing of them is acknowledged, a restart reads them again. \
         Last error: {last_error}",
        .elapsed.as_secs()
    )]
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
    /// Asked before a batch creates indices (see [`shard_budget`]); none in unit tests.
    budget: Option<ShardBudget>,
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
            budget: None,
        }
    }

    /// Creates daily indices only while the cluster keeps shards to spare (see [`shard_budget`]).
    pub fn with_shard_budget(mut self, budget: ShardBudget) -> Self {
        self.budget = Some(budget);
        self
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
    /// dead-letter file (synced before this returns), or the call fails and none of the
    /// still-pending events may be acknowledged. Returns the batch, for acknowledging its items
    /// (and reusing its body).
    ///
    /// Each round sends the pending items, in smaller and smaller parts while the cluster answers
    /// 413, then acts on [`classify`]'s verdict; what is to be tried again waits for the next
    /// round, after a backoff, until the retry budget is spent.
    pub async fn deliver(&self, batch: BulkBatch) -> Result<(BatchReport, BulkBatch), SinkError> {
        let mut report = BatchReport::default();
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        if let Some(budget) = &self.budget {
            // Items of one index come in runs sharing one name: one entry per run.
            let mut indices: Vec<&Arc<str>> = Vec::new();
            for item in batch.items() {
                if indices
                    .last()
                    .is_none_or(|last| !Arc::ptr_eq(last, &item.index))
                {
                    indices.push(&item.index);
                }
            }
            let refusals = budget.admit(indices.into_iter().map(|i| &**i)).await;
            if !refusals.is_empty() {
                let mut admitted = Vec::with_capacity(pending.len());
                for position in pending {
                    match refusals.get(&*batch.items()[position].index) {
                        Some(refusal) => {
                            self.dead_letter(&batch, position, "shard_limit", &refusal.reason)?;
                            report.dead_lettered += 1;
                        }
                        None => admitted.push(position),
                    }
                }
                pending = admitted;
            }
        }
        let mut delays = self.config.retry.delays();
        let started = Instant::now();
        while !pending.is_empty() {
            let round = self.send_round(&batch, pending, &mut report).await?;
            pending = round.retry;
            let Some((cause, last_error)) = round.failure else {
                self.limit_changed(self.limit.succeeded());
                break;
            };
            self.stats.bulk_retry(cause);
            if matches!(cause, RetryCause::Throttled) {
                self.limit_changed(self.limit.throttled());
            }
            let elapsed = started.elapsed();
            let delay = delays.next().unwrap_or(self.config.retry.max_delay);
            if elapsed + delay > self.config.retry.give_up_after {
                // What was dead-lettered is done: on disk before the error is reported.
                self.dead_letters.sync()?;
                self.stats
                    .delivered(report.indexed, report.duplicates, report.dead_lettered);
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
        self.dead_letters.sync()?;
        self.stats
            .delivered(report.indexed, report.duplicates, report.dead_lettered);
        Ok((report, batch))
    }

    /// Sends the items at `positions` once (split while the answer is 413) and records what
    /// became of them in `report`.
    async fn send_round(
        &self,
        batch: &BulkBatch,
        positions: Vec<usize>,
        report: &mut BatchReport,
    ) -> Result<Round, SinkError> {
        let mut round = Round::default();
        // Parts still to send, the next one last.
        let mut parts = vec![positions];
        let mut split_told = false;
        while let Some(part) = parts.pop() {
            let plain = if part.len() == batch.len() {
                std::borrow::Cow::Borrowed(batch.body())
            } else {
                std::borrow::Cow::Owned(batch.body_of(&part))
            };
            let body = self.encode(&plain);
            let sent_bytes = body.len();
            report.requests += 1;
            self.stats.bulk_request();
            let reply = {
                let _in_flight = self.stats.bulk_started();
                let sent = Instant::now();
                let reply = self.client.bulk(body, self.config.gzip).await;
                self.stats.bulk_latency.observe(sent.elapsed());
                reply
            };
            match classify(&reply, part.len()) {
                Verdict::Items(outcomes) => {
                    let mut retried = 0;
                    for (&position, outcome) in part.iter().zip(outcomes) {
                        let (cause, e) = match outcome {
                            ItemOutcome::Indexed => {
                                report.indexed += 1;
                                continue;
                            }
                            ItemOutcome::Duplicate => {
                                report.duplicates += 1;
                                continue;
                            }
                            ItemOutcome::Rejected(e) => {
                                let reason = e.reason.as_deref().unwrap_or_default();
                                self.dead_letter(batch, position, &e.kind, reason)?;
                                report.dead_lettered += 1;
                                continue;
                            }
                            ItemOutcome::Throttled(e) => (RetryCause::Throttled, e),
                            ItemOutcome::Retry(e) => (RetryCause::Items, e),
                        };
                        retried += 1;
                        round.retry.push(position);
                        round.fail(
                            cause,
                            format!("{}: {}", e.kind, e.reason.unwrap_or_default()),
                        );
                    }
                    if retried > 0 {
                        self.stats.retried_items(retried);
                        if let Some((_, last)) = &mut round.failure {
                            *last = format!("{retried} items refused for now ({last})");
                        }
                    }
                }
                Verdict::TooLarge { .. } if part.len() > 1 => {
                    // Once per round: the halves of halves would log one line per document
                    // when most are refused.
                    if !split_told {
                        split_told = true;
                        tracing::info!(
                            items = part.len(),
                            bytes = plain.len(),
                            "OpenSearch refused a bulk request as too large (HTTP 413): sending \
                             it in smaller parts"
                        );
                    }
                    let mut first = part;
                    let second = first.split_off(first.len() / 2);
                    parts.push(second);
                    parts.push(first);
                }
                Verdict::TooLarge { body } => {
                    let reason = too_large_reason(plain.len(), sent_bytes, self.config.gzip, &body);
                    self.dead_letter(batch, part[0], "request_too_large", &reason)?;
                    report.dead_lettered += 1;
                }
                Verdict::Retry { cause, message } => {
                    // The rest of this round would most likely fail the same way: all of it
                    // waits for the next round.
                    round.retry.extend(part);
                    round.retry.extend(parts.drain(..).flatten());
                    round.fail(cause, message);
                }
                Verdict::Auth { status, body } => {
                    self.dead_letters.sync()?;
                    return Err(SinkError::Auth {
                        url: self.client.url.to_string(),
                        status,
                        body,
                    });
                }
                Verdict::Refused { status, body } => {
                    self.dead_letters.sync()?;
                    return Err(SinkError::Refused {
                        url: self.client.url.to_string(),
                        status,
                        body,
                    });
                }
            }
        }
        // Sent again in the batch's order, whatever order the parts ended in.
        round.retry.sort_unstable();
        Ok(round)
    }

    fn dead_letter(
        &self,
        batch: &BulkBatch,
        position: usize,
        kind: &str,
        reason: &str,
    ) -> Result<(), SinkError> {
        let item = &batch.items()[position];
        self.dead_letters.write(
            Stage::Index,
            kind,
            reason,
            Some(&item.index),
            Some(&item.id),
            &item.event,
        )?;
        Ok(())
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

/// What one round of sending left to do.
#[derive(Debug, Default)]
struct Round {
    /// Items to send again, in the batch's order.
    retry: Vec<usize>,
    /// Why the round did not deliver everything, and the last error seen (for the log and
    /// for giving up).
    failure: Option<(RetryCause, String)>,
}

impl Round {
    fn fail(&mut self, cause: RetryCause, message: String) {
        // A throttled round stays throttled (fewer requests in flight), whatever else failed.
        let cause = match &self.failure {
            Some((RetryCause::Throttled, _)) => RetryCause::Throttled,
            _ => cause,
        };
        self.failure = Some((cause, message));
    }
}

/// The dead letter's reason for a document that is too large for the cluster even alone.
fn too_large_reason(plain_bytes: usize, sent_bytes: usize, gzip: bool, answer: &str) -> String {
    let sent = if gzip {
        format!("{plain_bytes} bytes ({sent_bytes} gzipped)")
    } else {
        format!("{plain_bytes} bytes")
    };
    let answer = answer.trim();
    let answer = if answer.is_empty() {
        String::new()
    } else {
        format!(" It answered: {answer}")
    };
    format!(
        "OpenSearch refused this document alone as too large (HTTP 413): the request holding \
         only it was {sent}, more than the cluster (or a proxy in front of it) accepts per \
         request. Raise http.max_content_length (100mb by default; Amazon OpenSearch Service \
         caps requests at 10 MiB on some instance types) or the proxy's body limit, then \
         ingest this letter's `event` again.{answer}"
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_too_large_reason_gives_the_sizes_and_the_limit_to_raise() {
        let r = too_large_reason(70_000, 1_200, true, "  ");
        assert!(r.contains("was 70000 bytes (1200 gzipped)"), "{r}");
        assert!(
            r.contains("HTTP 413") && r.contains("http.max_content_length"),
            "{r}"
        );
        assert!(!r.contains("It answered"), "no empty answer quoted: {r}");
        let r = too_large_reason(70_000, 70_000, false, "<h1>413</h1>");
        assert!(r.contains("was 70000 bytes, more than"), "{r}");
        assert!(r.ends_with("It answered: <h1>413</h1>"), "{r}");
    }

    #[test]
    fn a_round_with_any_pushback_stays_throttled_and_keeps_the_last_error() {
        let mut round = Round::default();
        round.fail(RetryCause::Items, "a".into());
        assert_eq!(round.failure, Some((RetryCause::Items, "a".into())));
        round.fail(RetryCause::Throttled, "b".into());
        round.fail(RetryCause::Connection, "c".into());
        assert_eq!(round.failure, Some((RetryCause::Throttled, "c".into())));
    }
}

//! Reads log events from CloudWatch Logs with FilterLogEvents: full pagination, a shared request
//! rate, backoff on throttling, and a restart signal when a token expires.

use super::ack::AckTracker;
use super::aws_client::Target;
use super::aws_error::{AwsError, AwsFailure};
use super::rate_limit::RateLimiter;
use super::{CloudWatchPosition, Origin, RawEvent};
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::Client;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "log group {log_group} does not exist in {target}: check the name, --region and \
         --endpoint-url"
    )]
    NoSuchGroup { log_group: String, target: Target },
    #[error("FilterLogEvents on log group {log_group} ({target}) failed: {error}")]
    Filter {
        log_group: String,
        target: Target,
        error: AwsError,
    },
    #[error(
        "CloudWatch Logs ({target}) kept failing for {} on log group {log_group}: {error}",
        humantime::format_duration(Duration::from_secs(elapsed.as_secs()))
    )]
    GaveUp {
        log_group: String,
        target: Target,
        elapsed: Duration,
        error: AwsError,
    },
    /// The pagination token expired or was refused: read the window again from its start.
    #[error("the FilterLogEvents token for {log_group} expired")]
    TokenExpired { log_group: String },
    #[error("listing log groups ({target}) failed: {error}")]
    Describe { target: Target, error: AwsError },
    #[error("the pipeline stopped accepting events")]
    Closed,
}

impl SourceError {
    /// What kind of AWS failure ended the read, when one did.
    pub fn aws_failure(&self) -> Option<AwsFailure> {
        match self {
            SourceError::Filter { error, .. } | SourceError::Describe { error, .. } => {
                Some(error.kind)
            }
            SourceError::GaveUp { .. } => Some(AwsFailure::Transient),
            SourceError::NoSuchGroup { .. } | SourceError::TokenExpired { .. } => {
                Some(AwsFailure::Other)
            }
            SourceError::Closed => None,
        }
    }
}

/// After this long without an answer, a call is said to be still waiting (once), long before
/// it times out.
const SLOW_CALL: Duration = Duration::from_secs(8);

/// Events per message on the pipeline's channel.
const CHUNK_EVENTS: usize = 1000;

/// The bytes of messages readers may hold ahead of the pipeline (see [`ReadAhead`]). AWS pages
/// are at most 1 MB: the channel's 8 chunks and a page or two being split stay well below
/// this, so it never holds a reader back there. moto ignores that cap (pages of 10,000 events,
/// ~12 MB): the next page is fetched once the pipeline has taken most of the last one, instead
/// of while the channel is still full of it.
pub const READ_AHEAD_BYTES: usize = 16 * 1024 * 1024;

/// Back-pressure in bytes between the readers and the pipeline. A read counts the messages of
/// each page it holds (being split, or handed on and still waiting on the channel) until the
/// pipeline takes them off the channel ([`ReadAhead::received`]); before fetching a page it
/// waits until one as large as the last page fits within the limit, or nothing at all is held
/// (a page larger than the limit still goes through, alone). Shared by every group's read.
#[derive(Debug)]
pub struct ReadAhead {
    max: usize,
    state: Mutex<ReadAheadState>,
    freed: Notify,
}

#[derive(Debug, Default)]
struct ReadAheadState {
    /// Bytes held now: reserved for pages being fetched, of pages being split, on the channel.
    held: usize,
    /// The bytes of the last page fetched that had any: what the next page is expected to take.
    last_page: usize,
}

impl ReadAhead {
    pub fn new(max: usize) -> Self {
        ReadAhead {
            max,
            state: Mutex::new(ReadAheadState::default()),
            freed: Notify::new(),
        }
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.state.lock().unwrap().held
    }

    /// The pipeline took `events` off the channel: their bytes are no longer held.
    pub fn received(&self, events: &[RawEvent]) {
        self.release(events.iter().map(|e| e.message.len()).sum());
    }

    fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap();
        state.held = state.held.saturating_sub(bytes);
        drop(state);
        self.freed.notify_waiters();
    }

    /// Waits until a page as large as the last one fits, and holds that much for it.
    async fn reserve(&self) -> Held<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.state.lock().unwrap();
                let want = state.last_page.min(self.max);
                if state.held == 0 || state.held + want <= self.max {
                    state.held += want;
                    return Held {
                        budget: self,
                        bytes: want,
                    };
                }
            }
            freed.await;
        }
    }
}

/// What one read holds of a [`ReadAhead`]; given back when dropped.
struct Held<'a> {
    budget: &'a ReadAhead,
    bytes: usize,
}

impl Held<'_> {
    /// The page came: hold its real size (more than reserved is taken without waiting: it is
    /// already here).
    fn page(&mut self, bytes: usize) {
        let mut state = self.budget.state.lock().unwrap();
        if bytes > 0 {
            state.last_page = bytes;
        }
        if bytes >= self.bytes {
            state.held += bytes - self.bytes;
            self.bytes = bytes;
        } else {
            drop(state);
            self.release(self.bytes - bytes);
        }
    }

    /// Gives back the bytes of messages dropped here.
    fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.budget.release(bytes);
    }

    /// The bytes of a chunk put on the channel: still held, until the pipeline takes it.
    fn hand_over(&mut self, bytes: usize) {
        self.bytes -= bytes.min(self.bytes);
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

/// A time window of a log group to read, both ends inclusive (milliseconds since the epoch), as
/// FilterLogEvents treats them. `None` leaves that end open.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// How lateness is measured in a read.
#[derive(Debug, Clone, Copy)]
pub struct Lateness {
    /// The lag allowance in force (ms).
    pub lag: i64,
    /// Only events ingested after this (ms since the epoch) say how late events come: one
    /// ingested before the previous read began was there to be read, however old its timestamp
    /// (a history imported at once, or a first backfill, says nothing about late arrival).
    pub arrived_after: i64,
}

/// What one read of a window saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    pub pages: u64,
    pub events: u64,
    /// Events dropped because they were already delivered (the re-read part of the window).
    pub skipped: u64,
    pub throttled: u64,
    /// The largest `ingestionTime - timestamp` among the events read that arrived after
    /// [`Lateness::arrived_after`] (ms).
    pub max_ingestion_delay: i64,
    /// Such events whose `ingestionTime - timestamp` exceeded the lag allowance given.
    pub later_than_lag: u64,
    /// False when the read stopped early (shutdown): the window must be read again.
    pub complete: bool,
}

/// How a read behaves; shared by all the groups of a job.
pub struct Reader {
    pub client: Client,
    /// Where the client's calls go, for messages.
    pub target: Target,
    pub limiter: Arc<RateLimiter>,
    pub filter_pattern: Option<String>,
    /// How long to keep retrying a failing CloudWatch Logs before giving up.
    pub give_up_after: Duration,
    /// What reads may hold ahead of the pipeline (the pipeline reports what it takes).
    pub read_ahead: Arc<ReadAhead>,
}

impl Reader {
    /// Reads every event of `log_group` in `window`, following every nextToken (AWS may return
    /// empty pages that still carry one), and sends each page's events that `keep` accepts down
    /// `tx`, counting them in `acks` first. Stops early, with `complete: false`, when `cancel`
    /// fires.
    #[allow(clippy::too_many_arguments)]
    pub async fn read_window(
        &self,
        log_group: &str,
        window: Window,
        lateness: Lateness,
        keep: &(dyn Fn(&str) -> bool + Sync),
        acks: &AckTracker,
        tx: &mpsc::Sender<Vec<RawEvent>>,
        cancel: &CancellationToken,
    ) -> Result<ReadStats, SourceError> {
        let group: Arc<str> = Arc::from(log_group);
        let mut stats = ReadStats::default();
        let mut next_token: Option<String> = None;
        loop {
            if cancel.is_cancelled() {
                return Ok(stats);
            }
            // Room for the page first: what the pipeline has not taken yet of earlier pages, and
            // the page about to come, stay within the read-ahead limit.
            let mut held = tokio::select! {
                held = self.read_ahead.reserve() => held,
                _ = cancel.cancelled() => return Ok(stats),
                // The pipeline is gone: on purpose when shutting down.
                _ = tx.closed() => {
                    return if cancel.is_cancelled() {
                        Ok(stats)
                    } else {
                        Err(SourceError::Closed)
                    };
                }
            };
            let Some(response) = self
                .page(
                    log_group,
                    window,
                    next_token.take().as_deref(),
                    None,
                    &mut stats,
                    cancel,
                )
                .await?
            else {
                return Ok(stats);
            };
            stats.pages += 1;
            // The page's messages are moved out, not copied: with moto's 10,000-event pages a
            // copy is 12 MB more per page in flight.
            let mut response = response;
            let token = response.next_token.take().filter(|t| !t.is_empty());
            let page = response.events.take().unwrap_or_default();
            drop(response);
            held.page(page.iter().map(|e| e.message().map_or(0, str::len)).sum());
            let mut chunk = Vec::with_capacity(CHUNK_EVENTS.min(page.len()));
            let mut chunk_bytes = 0;
            // Streams repeat across events: share one Arc per run of the same name.
            let mut last_stream: Option<Arc<str>> = None;
            for e in page {
                let Some(message) = e.message else {
                    continue;
                };
                let Some(timestamp) = e.timestamp else {
                    held.release(message.len());
                    continue;
                };
                let event_id = e.event_id.unwrap_or_default();
                stats.events += 1;
                if let Some(ingested) = e.ingestion_time.filter(|&i| i > lateness.arrived_after) {
                    let delay = ingested - timestamp;
                    stats.max_ingestion_delay = stats.max_ingestion_delay.max(delay);
                    if delay > lateness.lag {
                        stats.later_than_lag += 1;
                    }
                }
                if !keep(&event_id) {
                    stats.skipped += 1;
                    held.release(message.len());
                    continue;
                }
                let stream = e.log_stream_name.unwrap_or_default();
                let log_stream = match &last_stream {
                    Some(s) if **s == *stream => s.clone(),
                    _ => {
                        let s: Arc<str> = Arc::from(stream);
                        last_stream = Some(s.clone());
                        s
                    }
                };
                chunk_bytes += message.len();
                chunk.push(RawEvent {
                    message,
                    origin: Origin::CloudWatch(CloudWatchPosition {
                        log_group: group.clone(),
                        log_stream,
                        event_id,
                        timestamp,
                        ingestion_time: e.ingestion_time,
                    }),
                });
                // Handed on in chunks: the channel bounds messages, and a page can hold 10,000
                // events (moto ignores AWS's 1 MB page cap), so chunks keep memory bounded.
                if chunk.len() == CHUNK_EVENTS {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_EVENTS));
                    held.hand_over(std::mem::take(&mut chunk_bytes));
                    if !self.hand_on(log_group, full, acks, tx, cancel).await? {
                        return Ok(stats);
                    }
                }
            }
            if !chunk.is_empty() {
                held.hand_over(chunk_bytes);
                if !self.hand_on(log_group, chunk, acks, tx, cancel).await? {
                    return Ok(stats);
                }
            }
            drop(held);
            match token {
                Some(token) => next_token = Some(token),
                None => {
                    stats.complete = true;
                    return Ok(stats);
                }
            }
        }
    }

    /// The timestamp of the group's oldest event (`None`: none found, or cancelled), so that a
    /// first read of a whole history can go in slices like any backfill: read as one window,
    /// every id delivered would stay in the checkpoint until the very end.
    pub async fn earliest(
        &self,
        log_group: &str,
        stats: &mut ReadStats,
        cancel: &CancellationToken,
    ) -> Result<Option<i64>, SourceError> {
        let mut token: Option<String> = None;
        // AWS may answer with empty pages that carry a token; a few are followed.
        for _ in 0..10 {
            let Some(page) = self
                .page(
                    log_group,
                    Window::default(),
                    token.as_deref(),
                    Some(1),
                    stats,
                    cancel,
                )
                .await?
            else {
                return Ok(None);
            };
            if let Some(ts) = page.events().iter().find_map(|e| e.timestamp()) {
                return Ok(Some(ts));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Sends one chunk down the pipeline, counted in `acks` first (and its bytes already handed
    /// over to the channel in the read-ahead). `Ok(false)`: shutting down (the pipeline stopped
    /// taking events on purpose), stop reading.
    async fn hand_on(
        &self,
        log_group: &str,
        chunk: Vec<RawEvent>,
        acks: &AckTracker,
        tx: &mpsc::Sender<Vec<RawEvent>>,
        cancel: &CancellationToken,
    ) -> Result<bool, SourceError> {
        let n = chunk.len();
        acks.sent(log_group, n);
        if let Err(mpsc::error::SendError(chunk)) = tx.send(chunk).await {
            acks.sent_failed(log_group, n);
            self.read_ahead.received(&chunk);
            if cancel.is_cancelled() {
                return Ok(false);
            }
            return Err(SourceError::Closed);
        }
        Ok(true)
    }

    /// One FilterLogEvents call, retried with jittered backoff on throttling and transient
    /// failures (never skipping the page). `None` when cancelled while waiting.
    async fn page(
        &self,
        log_group: &str,
        window: Window,
        token: Option<&str>,
        limit: Option<i32>,
        stats: &mut ReadStats,
        cancel: &CancellationToken,
    ) -> Result<
        Option<aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput>,
        SourceError,
    > {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(30))
            .with_jitter()
            .without_max_times()
            .build();
        let started = Instant::now();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(None),
                _ = self.limiter.acquire() => {}
            }
            let call = self
                .client
                .filter_log_events()
                .log_group_name(log_group)
                .set_start_time(window.start)
                .set_end_time(window.end)
                .set_filter_pattern(self.filter_pattern.clone())
                .set_next_token(token.map(str::to_owned))
                .set_limit(limit)
                .send();
            let call = crate::logging::warn_if_slow(call, SLOW_CALL, || {
                format!(
                    "still waiting for CloudWatch Logs ({}) to answer FilterLogEvents on {log_group}",
                    self.target
                )
            });
            // A shutdown does not wait for a server that does not answer.
            let result = tokio::select! {
                result = call => result,
                _ = cancel.cancelled() => return Ok(None),
            };
            let error = match result {
                Ok(page) => return Ok(Some(page)),
                Err(e) => e,
            };
            let code = error.code().unwrap_or_default().to_owned();
            let service = error.as_service_error();
            if service.is_some_and(|e| e.is_resource_not_found_exception()) {
                return Err(SourceError::NoSuchGroup {
                    log_group: log_group.to_owned(),
                    target: self.target.clone(),
                });
            }
            // The one invalid parameter a page after the first can have: its token expired.
            if token.is_some() && service.is_some_and(|e| e.is_invalid_parameter_exception()) {
                return Err(SourceError::TokenExpired {
                    log_group: log_group.to_owned(),
                });
            }
            let error = AwsError::from_sdk(&error, "CloudWatch Logs", &self.target.endpoint);
            if error.kind != AwsFailure::Transient {
                return Err(SourceError::Filter {
                    log_group: log_group.to_owned(),
                    target: self.target.clone(),
                    error,
                });
            }
            // Not one of FilterLogEvents' modelled errors: AWS's common throttling code.
            if code == "ThrottlingException" {
                stats.throttled += 1;
            }
            let delay = delays.next().unwrap_or(Duration::from_secs(30));
            if started.elapsed() + delay > self.give_up_after {
                return Err(SourceError::GaveUp {
                    log_group: log_group.to_owned(),
                    target: self.target.clone(),
                    elapsed: started.elapsed(),
                    error,
                });
            }
            tracing::warn!(
                log_group,
                code,
                retry_in_ms = delay.as_millis() as u64,
                "FilterLogEvents failed, retrying the same page: {error}"
            );
            tokio::select! {
                _ = cancel.cancelled() => return Ok(None),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// The names of the log groups that start with `prefix`.
    pub async fn discover(&self, prefix: &str) -> Result<Vec<String>, SourceError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.limiter.acquire().await;
            let call = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(prefix)
                .set_next_token(token.take())
                .send();
            let page = crate::logging::warn_if_slow(call, SLOW_CALL, || {
                format!(
                    "still waiting for CloudWatch Logs ({}) to answer DescribeLogGroups",
                    self.target
                )
            })
            .await
            .map_err(|e| SourceError::Describe {
                target: self.target.clone(),
                error: AwsError::from_sdk(&e, "CloudWatch Logs", &self.target.endpoint),
            })?;
            names.extend(
                page.log_groups()
                    .iter()
                    .filter_map(|g| g.log_group_name().map(str::to_owned)),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(names),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn events(sizes: &[usize]) -> Vec<RawEvent> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| RawEvent {
                message: "x".repeat(n),
                origin: Origin::File {
                    path: Arc::from("test"),
                    record: i as u64,
                },
            })
            .collect()
    }

    #[tokio::test]
    async fn read_ahead_fetches_a_page_only_when_one_like_the_last_fits() {
        let budget = ReadAhead::new(100);
        // Nothing known yet, nothing held: the first page goes at once.
        let mut first = budget.reserve().await;
        first.page(60);
        first.release(10); // an event already delivered, dropped
        first.hand_over(50); // the rest on the channel
        drop(first);
        assert_eq!(budget.held(), 50);

        // A page like the last (60 bytes) does not fit beside 50 held.
        let next = budget.reserve();
        tokio::pin!(next);
        assert!(next.as_mut().now_or_never().is_none());
        // The pipeline takes 20 bytes off the channel: 30 + 60 fit.
        budget.received(&events(&[5, 15]));
        let mut next = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("room was made");
        assert_eq!(budget.held(), 90);
        // A smaller page than expected gives the difference back; dropping the rest, the rest.
        next.page(20);
        assert_eq!(budget.held(), 50);
        drop(next);
        assert_eq!(budget.held(), 30);
        budget.received(&events(&[30]));
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn a_page_larger_than_the_read_ahead_goes_alone() {
        let budget = ReadAhead::new(100);
        let mut big = budget.reserve().await;
        big.page(250); // already here: held beyond the limit, not refused
        big.hand_over(250);
        drop(big);
        assert_eq!(budget.held(), 250);
        let next = budget.reserve();
        tokio::pin!(next);
        assert!(next.as_mut().now_or_never().is_none());
        budget.received(&events(&[200]));
        assert!(
            next.as_mut().now_or_never().is_none(),
            "50 held + 100 > 100"
        );
        budget.received(&events(&[50]));
        let next = next.now_or_never().expect("nothing held: it goes");
        assert_eq!(
            budget.held(),
            100,
            "the limit is the most a page is expected to take"
        );
        drop(next);
        assert_eq!(budget.held(), 0);
    }
}

//! Wires a source to the sink: events arrive in pages on a bounded channel, are encoded into
//! batches, and batches are delivered with a bounded number in flight. Every event ends indexed,
//! duplicate or dead-lettered, and only then is it acknowledged to the source.

use crate::event::encode::{EncodedChunk, Encoder, Outcome};
use crate::findings::{Findings, FindingsError};
use crate::lineage::{LineageError, Recorder};
use crate::sink::bulk::{BulkBatch, BulkItem};
use crate::sink::dead_letter::{DeadLetterError, Stage};
use crate::sink::{BatchReport, Sink, SinkError};
use crate::source::ack::Acknowledge;
use crate::source::RawEvent;
use crate::stats::Stats;
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// Events encoded as one unit of work on a transform worker: pages are split into chunks of at
/// most this many, so that both cores share a large page (CloudWatch Logs pages hold up to
/// 10,000 events) and a worker's output (~1.5 MB) stays small beside a 5 MiB batch.
const CHUNK_EVENTS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    #[error("findings: {0}")]
    Findings(#[from] FindingsError),
    #[error("lineage: {0}")]
    Lineage(#[from] LineageError),
    /// Only when the runtime shuts down under a running pipeline.
    #[error("a transform or delivery task was cancelled: the process is shutting down")]
    Cancelled,
}

/// A batch's place in the order of judgement: the previous batch's signal, and its own.
struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
}

pub struct Pipeline {
    pub encoder: Arc<Encoder>,
    pub sink: Arc<Sink>,
    pub stats: Arc<Stats>,
    /// Evaluated after a batch is delivered and before its events are acknowledged, so that a
    /// checkpoint never passes an event whose findings are not written.
    pub findings: Option<Arc<Findings>>,
    /// Writes the credentials minted by a delivered batch's events to the lineage index, at
    /// the same place as the findings (and before them: their lineage roots read it).
    pub lineage: Option<Arc<Recorder>>,
    /// Chunks of events decoded, enriched and encoded at once, each on a thread of its own; 1
    /// encodes on the pipeline's own task (`--transform-workers`).
    pub transform_workers: usize,
}

/// A spawned task, aborted when dropped: a pipeline that fails drops its deliveries and
/// transforms as it did when they were polled in place; a panic in one is the pipeline's panic.
struct Task<T>(JoinHandle<T>);

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, PipelineError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(value) => Ok(value),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(PipelineError::Cancelled),
        })
    }
}

impl Pipeline {
    /// Runs until `rx` is closed and every event received has been acknowledged, or until the
    /// sink fails (then events not yet acknowledged must be read again by the next run).
    pub async fn run(
        &self,
        rx: mpsc::Receiver<Vec<RawEvent>>,
        acks: &mut impl Acknowledge,
    ) -> Result<(), PipelineError> {
        self.run_until(rx, acks, &CancellationToken::new()).await
    }

    /// Starts encoding `chunk`: with one worker, in place when polled (the pipeline's task does
    /// it, as before workers existed: no thread hop, no second copy in memory); with more, on
    /// Tokio's blocking pool. The blocking pool rather than a pool of our own (no crate for it
    /// in the tree) or `tokio::spawn` (a chunk is milliseconds of CPU, which would hold up the
    /// I/O of deliveries on the runtime's threads): at most `transform_workers` chunks are
    /// running, so it lends that many threads, and keeps them while pages keep coming.
    ///
    /// `body` is a buffer to encode into (a spare chunk body, or an empty `Vec`).
    fn transform(
        &self,
        chunk: Vec<RawEvent>,
        body: Vec<u8>,
    ) -> BoxFuture<'static, Result<EncodedChunk, PipelineError>> {
        let encoder = self.encoder.clone();
        if self.transform_workers <= 1 {
            Box::pin(async move { Ok(encoder.encode_chunk(chunk, body)) })
        } else {
            let task = Task(tokio::task::spawn_blocking(move || {
                encoder.encode_chunk(chunk, body)
            }));
            Box::pin(task)
        }
    }

    /// As [`Pipeline::run`], and when `stop` fires: take nothing more from `rx`, deliver what is
    /// already batched, being encoded or in flight, and return. Events still waiting in `rx` are
    /// not acknowledged: the source reads them again next time (a quick, lossless shutdown).
    ///
    /// With several transform workers, chunks are encoded at once but their outcomes are taken
    /// in the order the events arrived: batches, dead letters, acknowledgements and findings
    /// see the same sequence as with one.
    pub async fn run_until(
        &self,
        mut rx: mpsc::Receiver<Vec<RawEvent>>,
        acks: &mut impl Acknowledge,
        stop: &CancellationToken,
    ) -> Result<(), PipelineError> {
        let config = self.sink.config().clone();
        let workers = self.transform_workers.max(1);
        let mut in_flight = FuturesUnordered::new();
        let batch_bytes = config.max_batch_bytes + 64 * 1024;
        let mut batch = BulkBatch::with_capacity(batch_bytes);
        // Batches back from delivery, emptied, and bodies of chunks taken into batches: their
        // buffers are reused (see `BulkBatch::take_items`). At most one batch per delivery slot
        // and one body per worker come back, so these stay as small as that.
        let mut spare_batches: Vec<BulkBatch> = Vec::new();
        let mut spare_bodies: Vec<Vec<u8>> = Vec::new();
        let mut deadline: Option<Instant> = None;
        // Chunks received and not yet handed to a worker, and those being encoded (at most
        // `workers`), oldest first: what bounds the events held between the channel and batches.
        let mut waiting: VecDeque<Vec<RawEvent>> = VecDeque::new();
        let mut encoding = FuturesOrdered::new();
        // No more pages will be taken: the loop ends once what was taken is batched.
        let mut closed = false;
        // Findings are judged in the order the batches were made, whatever order their
        // deliveries end in: each batch's judgement waits for the one before, whose values are
        // then in the findings' memory (its events may not be searchable yet: an earlier event
        // judged later would be called new).
        let mut last_turn: Option<oneshot::Receiver<()>> = None;
        // Each delivery is a task of its own: gzip of its body (the largest part of the CPU
        // after the transform) then runs beside the pipeline's task instead of inside it.
        let mut deliver = |batch: BulkBatch| {
            let sink = self.sink.clone();
            let (done, turn) = oneshot::channel();
            let previous = last_turn.replace(turn);
            Task(tokio::spawn(async move {
                let (report, mut batch) = sink.deliver(batch).await?;
                let items = batch.take_items();
                Ok::<_, SinkError>((report, items, batch, Turn { previous, done }))
            }))
        };
        // Delivered batches whose findings are being judged: their events are acknowledged
        // after. Apart from the delivery slots, so that indexing goes on meanwhile; bounded, so
        // that judging slower than indexing holds reading back instead of filling memory.
        let mut judging = FuturesUnordered::new();
        let max_judging = 2 * config.concurrency.max(1);
        let judge = |items: Vec<BulkItem>, turn: Turn| {
            let findings = self.findings.clone();
            let lineage = self.lineage.clone();
            async move {
                // Not in turn: a document is the same whoever writes it first.
                if let Some(lineage) = lineage {
                    lineage.record(&items).await?;
                }
                if let Some(findings) = findings {
                    if let Some(previous) = turn.previous {
                        // An error ends the run anyway (the sender is dropped then).
                        let _ = previous.await;
                    }
                    findings.evaluate(&items).await?;
                }
                let _ = turn.done.send(());
                Ok::<_, PipelineError>(items)
            }
        };
        while !(closed && encoding.is_empty()) {
            tokio::select! {
                biased;
                Some(judged) = judging.next(), if !judging.is_empty() => {
                    let items: Vec<BulkItem> = judged?;
                    for item in items { acks.ack(&item.event.origin); }
                }
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    let (_, items, empty, turn): (BatchReport, Vec<BulkItem>, BulkBatch, Turn) = done??;
                    spare_batches.push(empty);
                    judging.push(judge(items, turn));
                }
                // Not while a chunk is being encoded: its events are about to join the batch.
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)),
                    if deadline.is_some() && encoding.is_empty() && in_flight.len() < self.sink.concurrency_limit() => {
                    deadline = None;
                    let full = std::mem::replace(&mut batch, spare_batches.pop().unwrap_or_else(|| BulkBatch::with_capacity(batch_bytes)));
                    in_flight.push(deliver(full));
                }
                _ = stop.cancelled(), if !closed => closed = true,
                Some(encoded) = encoding.next(), if !encoding.is_empty() => {
                    let EncodedChunk { body, outcomes } = encoded?;
                    // Acknowledged once their dead letters are synced, one sync per chunk.
                    let mut refused_origins = Vec::new();
                    for outcome in outcomes {
                        match outcome {
                            Outcome::Added(item) => batch.push_item(&body, item),
                            Outcome::Quarantined(item) => {
                                self.stats.quarantined(1);
                                batch.push_item(&body, item);
                            }
                            Outcome::Filtered(event) => {
                                self.stats.filtered(1);
                                acks.ack(&event.origin);
                                continue;
                            }
                            Outcome::Refused(refused) => {
                                let (event, e) = (refused.event, refused.error);
                                self.sink.dead_letters().write(Stage::Decode, e.kind(), &e.to_string(), None, None, &event)?;
                                self.stats.dead_lettered(1);
                                refused_origins.push(event.origin);
                                continue;
                            }
                        }
                        if batch.byte_len() >= config.max_batch_bytes || batch.len() >= config.max_batch_events {
                            // Bounded in flight: wait for a slot before starting another request.
                            while in_flight.len() >= self.sink.concurrency_limit() {
                                if let Some(done) = in_flight.next().await {
                                    let (_, items, empty, turn): (BatchReport, Vec<BulkItem>, BulkBatch, Turn) = done??;
                                    spare_batches.push(empty);
                                    judging.push(judge(items, turn));
                                }
                            }
                            let full = std::mem::replace(&mut batch, spare_batches.pop().unwrap_or_else(|| BulkBatch::with_capacity(batch_bytes)));
                            in_flight.push(deliver(full));
                            deadline = None;
                        }
                    }
                    if !refused_origins.is_empty() {
                        self.sink.dead_letters().sync()?;
                        for origin in &refused_origins { acks.ack(origin); }
                    }
                    spare_bodies.push(body);
                    if let Some(chunk) = waiting.pop_front() {
                        encoding.push_back(self.transform(chunk, spare_bodies.pop().unwrap_or_default()));
                    }
                    if !batch.is_empty() && deadline.is_none() {
                        deadline = Some(Instant::now() + config.linger);
                    }
                }
                page = rx.recv(), if !closed && waiting.is_empty() && encoding.len() < workers
                    && in_flight.len() < self.sink.concurrency_limit() && judging.len() < max_judging => {
                    let Some(mut events) = page else {
                        closed = true;
                        continue;
                    };
                    acks.received(&events);
                    self.stats.read(events.len());
                    while events.len() > CHUNK_EVENTS {
                        let rest = events.split_off(CHUNK_EVENTS);
                        waiting.push_back(std::mem::replace(&mut events, rest));
                    }
                    waiting.push_back(events);
                    while encoding.len() < workers {
                        let Some(chunk) = waiting.pop_front() else { break };
                        encoding.push_back(self.transform(chunk, spare_bodies.pop().unwrap_or_default()));
                    }
                }
            }
        }
        if !batch.is_empty() {
            // Within the limit too: deliveries are tasks, which start at once.
            while in_flight.len() >= self.sink.concurrency_limit() {
                if let Some(done) = in_flight.next().await {
                    let (_, items, empty, turn): (BatchReport, Vec<BulkItem>, BulkBatch, Turn) =
                        done??;
                    spare_batches.push(empty);
                    judging.push(judge(items, turn));
                }
            }
            in_flight.push(deliver(batch));
        }
        while let Some(done) = in_flight.next().await {
            let (_, items, empty, turn): (BatchReport, Vec<BulkItem>, BulkBatch, Turn) = done??;
            spare_batches.push(empty);
            judging.push(judge(items, turn));
        }
        while let Some(judged) = judging.next().await {
            for item in judged? {
                acks.ack(&item.event.origin);
            }
        }
        // Letters written beside the pipeline (`ingest`'s malformed payloads) are on disk too
        // before the run counts as done.
        self.sink.dead_letters().sync()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::Enricher;
    use crate::event::filter::Filter;
    use crate::sink::dead_letter::DeadLetterFile;
    use crate::sink::opensearch::{Client, ConnectOptions, TlsOptions};
    use crate::sink::SinkConfig;
    use crate::source::Origin;
    use std::time::Duration;

    /// Decode-stage dead letters are written unsynced and synced once per chunk: no event may be
    /// acknowledged while its letter could still be lost.
    #[tokio::test]
    async fn refused_events_are_acknowledged_only_after_their_letters_are_synced() {
        refused_events_acknowledged_after_sync(1).await;
    }

    /// The same, with the chunks encoded on worker threads (and a multi-threaded runtime).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_workers_refused_events_are_acknowledged_only_after_sync() {
        refused_events_acknowledged_after_sync(3).await;
    }

    async fn refused_events_acknowledged_after_sync(workers: usize) {
        let dir = tempfile::tempdir().unwrap();
        let dead_letters = Arc::new(DeadLetterFile::new(dir.path().join("dead.ndjson")));
        // Never called: every event is refused before a batch is made.
        let client = Client::connect(&ConnectOptions {
            url: "http://127.0.0.1:9".parse().unwrap(),
            username: None,
            password: None,
            password_file: None,
            request_timeout: Duration::from_secs(1),
            tls: TlsOptions::default(),
            sigv4: None,
        })
        .unwrap();
        let stats = Arc::new(Stats::default());
        let pipeline = Pipeline {
            encoder: Arc::new(Encoder::new(Enricher::default(), "t-", Filter::default())),
            sink: Arc::new(Sink::new(
                client,
                dead_letters.clone(),
                SinkConfig::default(),
                stats.clone(),
            )),
            stats,
            findings: None,
            lineage: None,
            transform_workers: workers,
        };
        let (tx, rx) = mpsc::channel(4);
        for page in 0..3u64 {
            // Page 1 is split into three chunks.
            let events = (0..if page == 1 { 2500 } else { 100 })
                .map(|n| RawEvent {
                    message: format!("junk {page} {n}"),
                    origin: Origin::File {
                        path: Arc::from("in"),
                        record: page * 10_000 + n,
                    },
                })
                .collect();
            tx.send(events).await.unwrap();
        }
        drop(tx);
        let mut acked = 0;
        let mut acks = |_: &Origin| {
            assert!(
                dead_letters.is_synced(),
                "acknowledged before its dead letter was synced"
            );
            acked += 1;
        };
        pipeline.run(rx, &mut acks).await.unwrap();
        assert_eq!(acked, 2700);
        let text = std::fs::read_to_string(dead_letters.path()).unwrap();
        assert_eq!(text.lines().count(), 2700);
    }
}

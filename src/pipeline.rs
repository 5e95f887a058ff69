//! Wires a source to the sink: events arrive in pages on a bounded channel, are encoded into
//! batches, and batches are delivered with a bounded number in flight. Every event ends indexed,
//! duplicate or dead-lettered, and only then is it acknowledged to the source.

use crate::event::encode::{Encoded, Encoder};
use crate::findings::{Findings, FindingsError};
use crate::sink::bulk::{BulkBatch, BulkItem};
use crate::sink::dead_letter::{DeadLetterError, Stage};
use crate::sink::{BatchReport, Sink, SinkError};
use crate::source::ack::Acknowledge;
use crate::source::RawEvent;
use crate::stats::Stats;
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    #[error("findings: {0}")]
    Findings(#[from] FindingsError),
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

    /// As [`Pipeline::run`], and when `stop` fires: take nothing more from `rx`, deliver what is
    /// already batched or in flight, and return. Events still waiting in `rx` are not
    /// acknowledged: the source reads them again next time (a quick, lossless shutdown).
    pub async fn run_until(
        &self,
        mut rx: mpsc::Receiver<Vec<RawEvent>>,
        acks: &mut impl Acknowledge,
        stop: &CancellationToken,
    ) -> Result<(), PipelineError> {
        let config = self.sink.config().clone();
        let mut in_flight = FuturesUnordered::new();
        let mut batch = BulkBatch::with_capacity(config.max_batch_bytes + 64 * 1024);
        let mut deadline: Option<Instant> = None;
        // Findings are judged in the order the batches were made, whatever order their
        // deliveries end in: each batch's judgement waits for the one before, whose values are
        // then in the findings' memory (its events may not be searchable yet: an earlier event
        // judged later would be called new).
        let mut last_turn: Option<oneshot::Receiver<()>> = None;
        let mut deliver = |batch: BulkBatch| {
            let sink = self.sink.clone();
            let (done, turn) = oneshot::channel();
            let previous = last_turn.replace(turn);
            async move {
                let (report, items) = sink.deliver(batch).await?;
                Ok::<_, SinkError>((report, items, Turn { previous, done }))
            }
        };
        // Delivered batches whose findings are being judged: their events are acknowledged
        // after. Apart from the delivery slots, so that indexing goes on meanwhile; bounded, so
        // that judging slower than indexing holds reading back instead of filling memory.
        let mut judging = FuturesUnordered::new();
        let max_judging = 2 * config.concurrency.max(1);
        let judge = |items: Vec<BulkItem>, turn: Turn| {
            let findings = self.findings.clone();
            async move {
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
        loop {
            tokio::select! {
                biased;
                Some(judged) = judging.next(), if !judging.is_empty() => {
                    let items: Vec<BulkItem> = judged?;
                    for item in items { acks.ack(&item.event.origin); }
                }
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    let (_, items, turn): (BatchReport, Vec<BulkItem>, Turn) = done?;
                    judging.push(judge(items, turn));
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)),
                    if deadline.is_some() && in_flight.len() < self.sink.concurrency_limit() => {
                    deadline = None;
                    let full = std::mem::replace(&mut batch, BulkBatch::with_capacity(config.max_batch_bytes + 64 * 1024));
                    in_flight.push(deliver(full));
                }
                _ = stop.cancelled() => break,
                page = rx.recv(), if in_flight.len() < self.sink.concurrency_limit() && judging.len() < max_judging => {
                    let Some(events) = page else { break };
                    acks.received(&events);
                    self.stats.read(events.len());
                    // Acknowledged once their dead letters are synced, one sync per page.
                    let mut refused_origins = Vec::new();
                    for event in events {
                        match self.encoder.encode(&mut batch, event) {
                            Ok(Encoded::Added) => {}
                            Ok(Encoded::Quarantined) => self.stats.quarantined(1),
                            Ok(Encoded::Filtered(event)) => {
                                self.stats.filtered(1);
                                acks.ack(&event.origin);
                                continue;
                            }
                            Err(refused) => {
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
                                    let (_, items, turn): (BatchReport, Vec<BulkItem>, Turn) = done?;
                                    judging.push(judge(items, turn));
                                }
                            }
                            let full = std::mem::replace(&mut batch, BulkBatch::with_capacity(config.max_batch_bytes + 64 * 1024));
                            in_flight.push(deliver(full));
                            deadline = None;
                        }
                    }
                    if !refused_origins.is_empty() {
                        self.sink.dead_letters().sync()?;
                        for origin in &refused_origins { acks.ack(origin); }
                    }
                    if !batch.is_empty() && deadline.is_none() {
                        deadline = Some(Instant::now() + config.linger);
                    }
                }
            }
        }
        if !batch.is_empty() {
            in_flight.push(deliver(batch));
        }
        while let Some(done) = in_flight.next().await {
            let (_, items, turn): (BatchReport, Vec<BulkItem>, Turn) = done?;
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

    /// Decode-stage dead letters are written unsynced and synced once per page: no event may be
    /// acknowledged while its letter could still be lost.
    #[tokio::test]
    async fn refused_events_are_acknowledged_only_after_their_letters_are_synced() {
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
        };
        let (tx, rx) = mpsc::channel(4);
        for page in 0..3u64 {
            let events = (0..100)
                .map(|n| RawEvent {
                    message: format!("junk {page} {n}"),
                    origin: Origin::File {
                        path: Arc::from("in"),
                        record: page * 100 + n,
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
        assert_eq!(acked, 300);
        let text = std::fs::read_to_string(dead_letters.path()).unwrap();
        assert_eq!(text.lines().count(), 300);
    }
}

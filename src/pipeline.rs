//! Wires a source to the sink: events arrive in pages on a bounded channel, are encoded into
//! batches, and batches are delivered with a bounded number in flight. Every event ends indexed,
//! duplicate or dead-lettered, and only then is it acknowledged to the source.

use crate::event::encode::{Encoded, Encoder};
use crate::sink::bulk::{BulkBatch, BulkItem};
use crate::sink::dead_letter::{DeadLetterError, Stage};
use crate::sink::{BatchReport, Sink, SinkError};
use crate::source::{Origin, RawEvent};
use crate::stats::Stats;
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
}

/// Receives each event's origin once the event is safely indexed, known duplicate or
/// dead-lettered: what a checkpoint may move past.
pub trait Acknowledge {
    fn ack(&mut self, origin: &Origin);

    /// The pipeline took these events off its channel (before encoding any): a source that
    /// bounds what it holds ahead of the pipeline counts them as handed on.
    fn received(&mut self, _events: &[RawEvent]) {}
}

impl<F: FnMut(&Origin)> Acknowledge for F {
    fn ack(&mut self, origin: &Origin) {
        self(origin)
    }
}

pub struct Pipeline {
    pub encoder: Arc<Encoder>,
    pub sink: Arc<Sink>,
    pub stats: Arc<Stats>,
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
        let deliver = |batch: BulkBatch| {
            let sink = self.sink.clone();
            async move { sink.deliver(batch).await }
        };
        loop {
            tokio::select! {
                biased;
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    let (_, items): (BatchReport, Vec<BulkItem>) = done?;
                    for item in items { acks.ack(&item.event.origin); }
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)),
                    if deadline.is_some() && in_flight.len() < self.sink.concurrency_limit() => {
                    deadline = None;
                    let full = std::mem::replace(&mut batch, BulkBatch::with_capacity(config.max_batch_bytes + 64 * 1024));
                    in_flight.push(deliver(full));
                }
                _ = stop.cancelled() => break,
                page = rx.recv(), if in_flight.len() < self.sink.concurrency_limit() => {
                    let Some(events) = page else { break };
                    acks.received(&events);
                    self.stats.read(events.len());
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
                                acks.ack(&event.origin);
                                continue;
                            }
                        }
                        if batch.byte_len() >= config.max_batch_bytes || batch.len() >= config.max_batch_events {
                            // Bounded in flight: wait for a slot before starting another request.
                            while in_flight.len() >= self.sink.concurrency_limit() {
                                if let Some(done) = in_flight.next().await {
                                    let (_, items): (BatchReport, Vec<BulkItem>) = done?;
                                    for item in items { acks.ack(&item.event.origin); }
                                }
                            }
                            let full = std::mem::replace(&mut batch, BulkBatch::with_capacity(config.max_batch_bytes + 64 * 1024));
                            in_flight.push(deliver(full));
                            deadline = None;
                        }
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
            let (_, items): (BatchReport, Vec<BulkItem>) = done?;
            for item in items {
                acks.ack(&item.event.origin);
            }
        }
        Ok(())
    }
}

//! The continuous CloudWatch Logs poller: per log group, read `[W - L, now]`, skip what was
//! already delivered, send the rest, and move the watermark W only once the sink has
//! acknowledged every event up to it.
//!
//! Why not a cursor: CloudTrail events reach CloudWatch Logs minutes after their own timestamp
//! (PutLogEvents takes events up to 14 days old), so an event can appear behind any cursor. The
//! lag allowance L re-reads the recent past; the persisted `seen` ids make that re-read free of
//! duplicates; and because W moves only after delivery, a crash re-reads instead of losing.

use super::ack::AckTracker;
use super::checkpoint::{CheckpointError, CheckpointFile, CheckpointStore, GroupState};
use super::cloudwatch::{Lateness, Reader, SourceError, Window};
use super::RawEvent;
use crate::progress::{Backfill, Covered};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// CloudWatch Logs takes events up to 14 days old: no lag allowance needs to be longer.
const MAX_LAG_MS: i64 = 14 * 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("the pipeline stopped before acknowledging the events of {0}")]
    PipelineGone(String),
}

#[derive(Debug, Clone)]
pub struct PollConfig {
    /// The smallest lag allowance L (ms); L grows with the ingestion delays measured.
    pub lag_floor: i64,
    /// Where a group without a checkpoint starts (ms since the epoch); `None`: its beginning.
    pub start: Option<i64>,
    /// Long windows are read in slices of this many ms, the watermark moving after each.
    pub slice: i64,
    /// How often acknowledged ids are saved while a slice is in flight.
    pub checkpoint_every: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            lag_floor: 15 * 60 * 1000,
            start: None,
            slice: 3600 * 1000,
            checkpoint_every: Duration::from_secs(5),
        }
    }
}

/// The lag allowance for a group: the floor, or a quarter more than the worst delay seen.
pub fn lag_allowance(floor: i64, max_ingestion_delay: i64) -> i64 {
    floor
        .max(max_ingestion_delay.saturating_mul(5) / 4)
        .min(MAX_LAG_MS)
}

/// The checkpoint state of every group, and where it is saved.
pub struct Checkpoints {
    store: CheckpointStore,
    state: Mutex<BTreeMap<String, GroupState>>,
    /// One save at a time, in the order of the updates (a file holds every group: an older
    /// snapshot must never be written over a newer one).
    saving: tokio::sync::Mutex<()>,
}

impl Checkpoints {
    /// Opens the store; a file is read whole now, an index group by group on first use.
    pub fn open(store: CheckpointStore) -> Result<Self, CheckpointError> {
        let state = match &store {
            CheckpointStore::File(file) => file.load()?,
            CheckpointStore::Index(_) => BTreeMap::new(),
        };
        Ok(Checkpoints {
            store,
            state: Mutex::new(state),
            saving: tokio::sync::Mutex::new(()),
        })
    }

    pub async fn group(&self, name: &str) -> Result<GroupState, CheckpointError> {
        self.load(name).await?;
        Ok(self.state.lock().unwrap()[name].clone())
    }

    /// Makes sure a group's state is in memory: a file was read whole at open, an index is read
    /// group by group on first use.
    async fn load(&self, name: &str) -> Result<(), CheckpointError> {
        if self.state.lock().unwrap().contains_key(name) {
            return Ok(());
        }
        let loaded = match &self.store {
            CheckpointStore::File(_) => GroupState::default(),
            CheckpointStore::Index(index) => {
                let _saving = self.saving.lock().await;
                index.load_group(name).await?.unwrap_or_default()
            }
        };
        self.state
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_insert(loaded);
        Ok(())
    }

    /// Applies `f` to a group's state and saves it.
    pub async fn update(
        &self,
        name: &str,
        f: impl FnOnce(&mut GroupState),
    ) -> Result<(), CheckpointError> {
        // Loaded before it is changed: an index holds progress this process has not seen yet.
        self.load(name).await?;
        let _saving = self.saving.lock().await;
        match &self.store {
            CheckpointStore::File(file) => {
                // Encoded under the lock, written outside it on a blocking thread: the write
                // fsyncs twice, which must neither hold the state nor stall the runtime. The
                // `saving` lock keeps the writes in the order of the updates.
                let body = {
                    let mut state = self.state.lock().unwrap();
                    f(state.entry(name.to_owned()).or_default());
                    CheckpointFile::encode(&state)
                };
                let file = file.clone();
                tokio::task::spawn_blocking(move || file.write(&body))
                    .await
                    .expect("the checkpoint write does not panic")
            }
            CheckpointStore::Index(index) => {
                let changed = {
                    let mut state = self.state.lock().unwrap();
                    let g = state.entry(name.to_owned()).or_default();
                    f(g);
                    g.clone()
                };
                let stored = index.save_group(name, &changed).await?;
                if stored != changed {
                    self.state.lock().unwrap().insert(name.to_owned(), stored);
                }
                Ok(())
            }
        }
    }

    /// Proves at start that progress can be kept: writes the file as it is (an index was
    /// created or found when it was opened).
    pub fn save(&self) -> Result<(), CheckpointError> {
        match &self.store {
            CheckpointStore::File(file) => file.save(&self.state.lock().unwrap()),
            CheckpointStore::Index(_) => Ok(()),
        }
    }

    /// Whether progress can be saved now (for /readyz): what was checked, or why not.
    pub async fn check(&self) -> Result<String, String> {
        match &self.store {
            CheckpointStore::File(file) => file.check_writable().await,
            CheckpointStore::Index(index) => index
                .check()
                .await
                .map(|()| format!("index {} readable", index.index()))
                .map_err(|e| e.to_string()),
        }
    }

    pub fn store(&self) -> &CheckpointStore {
        &self.store
    }
}

/// What one pass over a group did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassReport {
    pub events: u64,
    pub skipped: u64,
    pub throttled: u64,
    pub later_than_lag: u64,
    /// The largest `ingestionTime - timestamp` among the events read in this pass (ms).
    pub max_ingestion_delay: i64,
    pub lag: i64,
    pub watermark: Option<i64>,
    /// The pass ended early (shutdown); the watermark covers only what was finished.
    pub interrupted: bool,
}

pub struct Poller {
    pub reader: Reader,
    pub checkpoints: Arc<Checkpoints>,
    pub acks: Arc<AckTracker>,
    pub config: PollConfig,
    pub cancel: CancellationToken,
    pub progress: Backfill,
}

impl Poller {
    /// One pass over `group`: everything from `W - L` (or the start position) up to now.
    pub async fn pass(
        &self,
        group: &str,
        tx: &mpsc::Sender<Vec<RawEvent>>,
    ) -> Result<PassReport, PollError> {
        let state = self.checkpoints.group(group).await?;
        let now = chrono::Utc::now().timestamp_millis();
        let lag = lag_allowance(self.config.lag_floor, state.ingestion_delay(now));
        let lateness = Lateness {
            lag,
            // A group's first read: only what arrives while it runs can be late.
            arrived_after: state.last_read_at.unwrap_or(now),
        };
        let seen: HashSet<String> = state.seen.keys().cloned().collect();
        let keep = move |id: &str| !seen.contains(id);
        let mut report = PassReport {
            lag,
            watermark: state.watermark,
            ..PassReport::default()
        };
        // A group read for the first time with no start position: its whole history, from its
        // oldest event, in slices.
        let mut from = match (state.watermark, self.config.start) {
            (Some(w), _) => Some(w.saturating_sub(lag).max(0)),
            (None, Some(start)) => Some(start),
            (None, None) => {
                let mut probe = super::cloudwatch::ReadStats::default();
                let earliest = self.reader.earliest(group, &mut probe, &self.cancel).await;
                report.throttled += probe.throttled;
                earliest?
            }
        };
        let started = std::time::Instant::now();
        let first_slice_start = from.filter(|&a| now - a > self.config.slice);
        loop {
            let end = match from {
                Some(a) => now.min(a.saturating_add(self.config.slice - 1)),
                None => now,
            };
            let window = Window {
                start: from.filter(|&a| a > 0),
                end: Some(end),
            };
            let mut expired = 0;
            let stats = loop {
                match self
                    .reader
                    .read_window(group, window, lateness, &keep, &self.acks, tx, &self.cancel)
                    .await
                {
                    Err(SourceError::TokenExpired { .. }) if expired < 3 => {
                        // Read the slice again from its start: what was sent is deduplicated by
                        // id (409), nothing is skipped.
                        expired += 1;
                        tracing::warn!(
                            group,
                            "FilterLogEvents token expired, re-reading the window"
                        );
                    }
                    other => break other?,
                }
            };
            report.events += stats.events;
            report.skipped += stats.skipped;
            report.throttled += stats.throttled;
            report.later_than_lag += stats.later_than_lag;
            report.max_ingestion_delay = report.max_ingestion_delay.max(stats.max_ingestion_delay);
            let all_acked = self.wait_for_acks(group).await?;
            // The watermark may pass only what was read whole AND acknowledged whole.
            let complete = stats.complete && all_acked;
            let floor = self.config.lag_floor;
            self.checkpoints
                .update(group, |g| {
                    g.observe_delay(stats.max_ingestion_delay, now);
                    if complete {
                        // Keep the ids the *next* window will cover, with the lag it would use
                        // now (later, the delay will have faded: a shorter window, a subset).
                        g.advance(end + 1, lag_allowance(floor, g.ingestion_delay(now)));
                        g.last_read_at = Some(now);
                    }
                })
                .await?;
            report.watermark = self.checkpoints.group(group).await?.watermark;
            if !complete {
                report.interrupted = true;
                return Ok(report);
            }
            if end >= now {
                if first_slice_start.is_some() {
                    self.progress
                        .finish(group, report.events, started.elapsed());
                }
                return Ok(report);
            }
            // A window longer than one slice is a backfill: say how far it got.
            if let Some(first) = first_slice_start {
                self.progress.update(
                    group,
                    Covered {
                        first,
                        now,
                        until: end + 1,
                        events: report.events,
                        elapsed: started.elapsed(),
                    },
                );
            }
            from = Some(end + 1);
        }
    }

    /// Waits until the sink has acknowledged everything sent for `group` (true), saving the ids
    /// acknowledged so far every few seconds, so a crash re-sends little. On shutdown the
    /// pipeline stops early and some events stay unacknowledged (false): they are read again
    /// next time.
    async fn wait_for_acks(&self, group: &str) -> Result<bool, PollError> {
        loop {
            let drained = self.acks.drained(group, self.config.checkpoint_every).await;
            let acked = self.acks.take_acked(group);
            if !acked.is_empty() {
                self.checkpoints
                    .update(group, |g| g.delivered(acked))
                    .await?;
            }
            if drained {
                return Ok(true);
            }
            if self.acks.is_closed() {
                if self.cancel.is_cancelled() {
                    return Ok(false);
                }
                return Err(PollError::PipelineGone(group.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_grows_with_measured_delay_within_bounds() {
        assert_eq!(lag_allowance(900_000, 0), 900_000);
        assert_eq!(lag_allowance(900_000, 1_200_000), 1_500_000);
        assert_eq!(lag_allowance(900_000, i64::MAX), MAX_LAG_MS);
    }
}

//! Which events of each log group the sink has finished with (indexed, duplicate or
//! dead-lettered): the poller may move a checkpoint only past those.

use super::{Origin, RawEvent};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::Notify;

/// Receives each event's origin (from the pipeline) once the event is safely indexed, known duplicate or
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

#[derive(Default)]
pub struct AckTracker {
    groups: Mutex<HashMap<String, GroupAcks>>,
    changed: Notify,
    closed: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct GroupAcks {
    pending: u64,
    acked: Vec<(String, i64)>,
}

impl AckTracker {
    /// Counts `n` events of `group` handed to the pipeline.
    pub fn sent(&self, group: &str, n: usize) {
        let mut groups = self.groups.lock().unwrap();
        groups.entry(group.to_owned()).or_default().pending += n as u64;
    }

    /// Takes back a count of `sent` events the pipeline never received.
    pub fn sent_failed(&self, group: &str, n: usize) {
        let mut groups = self.groups.lock().unwrap();
        if let Some(g) = groups.get_mut(group) {
            g.pending = g.pending.saturating_sub(n as u64);
        }
    }

    /// Takes the (id, timestamp) of the events acknowledged since the last call.
    pub fn take_acked(&self, group: &str) -> Vec<(String, i64)> {
        let mut groups = self.groups.lock().unwrap();
        groups
            .get_mut(group)
            .map(|g| std::mem::take(&mut g.acked))
            .unwrap_or_default()
    }

    /// Events of `group` sent and not yet acknowledged.
    pub fn pending(&self, group: &str) -> u64 {
        self.groups
            .lock()
            .unwrap()
            .get(group)
            .map_or(0, |g| g.pending)
    }

    /// Marks the pipeline as gone: nothing more will be acknowledged.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until every event sent for `group` is acknowledged (true) or the pipeline is gone
    /// (false), or `timeout` passes (false).
    pub async fn drained(&self, group: &str, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending(group) == 0 {
                return true;
            }
            if self.is_closed() {
                return false;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

impl Acknowledge for &AckTracker {
    fn ack(&mut self, origin: &Origin) {
        if let Origin::CloudWatch(p) = origin {
            let mut groups = self.groups.lock().unwrap();
            let g = groups.entry(p.log_group.to_string()).or_default();
            g.pending = g.pending.saturating_sub(1);
            g.acked.push((p.event_id.clone(), p.timestamp));
            if g.pending == 0 {
                drop(groups);
                self.changed.notify_waiters();
            }
        }
    }
}

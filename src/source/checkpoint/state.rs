//! What is kept of one log group's progress, wherever it is stored.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read the checkpoint file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the checkpoint file {path} is not a trailscope checkpoint ({reason}); move it away to start over")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot write the checkpoint file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot {action} the checkpoint in OpenSearch index {index}: {message}")]
    Index {
        action: &'static str,
        index: String,
        message: String,
    },
}

/// What is known of one log group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupState {
    /// Every event with a timestamp below this (ms) that CloudWatch Logs held when it was read has
    /// been delivered. `None`: nothing read yet.
    pub watermark: Option<i64>,
    /// Ids of events delivered whose timestamp is at or after `watermark - lag`: the next read
    /// covers them again and must not send them twice. Id → timestamp.
    #[serde(default)]
    pub seen: HashMap<String, i64>,
    /// The largest `ingestionTime - timestamp` seen (ms): how late events arrive here. It is
    /// forgotten gradually (see [`GroupState::ingestion_delay`]).
    #[serde(default)]
    pub max_ingestion_delay: i64,
    /// When `max_ingestion_delay` was measured (ms since the epoch). Checkpoints written before
    /// it existed have none: the delay is then taken as measured at `last_read_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ingestion_delay_at: Option<i64>,
    /// When the latest read that completed a slice began (ms): events ingested after it are the
    /// ones whose delay matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_at: Option<i64>,
}

/// How fast a measured ingestion delay is forgotten: what is allowed for halves with every day
/// in which no event arrives as late. Without it, one very late event (a producer replaying old
/// logs, a stalled agent) would keep the lag allowance at its size for good, and with it every
/// poll's re-read window and the ids the checkpoint keeps for it: two weeks of them, at worst.
/// Delays that recur are measured again before they fade.
pub const DELAY_HALF_LIFE_MS: i64 = 24 * 3600 * 1000;

impl GroupState {
    fn delay_measured_at(&self) -> Option<i64> {
        self.max_ingestion_delay_at.or(self.last_read_at)
    }

    /// The ingestion delay to allow for at `now` (ms): the worst measured, halved for every
    /// [`DELAY_HALF_LIFE_MS`] since it was measured.
    pub fn ingestion_delay(&self, now: i64) -> i64 {
        let Some(at) = self.delay_measured_at() else {
            return self.max_ingestion_delay;
        };
        let half_lives = (now - at).max(0) as f64 / DELAY_HALF_LIFE_MS as f64;
        (self.max_ingestion_delay as f64 * 0.5f64.powf(half_lives)) as i64
    }

    /// Takes in the worst delay measured by a read that began at `now`: it is kept when it is at
    /// least what the one kept has faded to by then.
    pub fn observe_delay(&mut self, delay: i64, now: i64) {
        if delay > 0 && delay >= self.ingestion_delay(now) {
            self.max_ingestion_delay = delay;
            self.max_ingestion_delay_at = Some(now);
        }
    }

    /// Marks events delivered (they stay in `seen` until the watermark passes them by the lag).
    pub fn delivered(&mut self, events: impl IntoIterator<Item = (String, i64)>) {
        self.seen.extend(events);
    }

    /// Takes in the progress another writer saved for the same group: the later watermark, the
    /// union of the delivered ids, the worst delay. (Everything below either watermark is in
    /// OpenSearch, whoever delivered it.)
    pub fn merge(&mut self, other: &GroupState) {
        self.watermark = match (self.watermark, other.watermark) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (id, ts) in &other.seen {
            self.seen.entry(id.clone()).or_insert(*ts);
        }
        // The delay that is larger once both have faded to the later measurement's time.
        let other_larger = match (self.delay_measured_at(), other.delay_measured_at()) {
            (Some(a), Some(b)) => {
                let t = a.max(b);
                other.ingestion_delay(t) > self.ingestion_delay(t)
            }
            _ => other.max_ingestion_delay > self.max_ingestion_delay,
        };
        if other_larger {
            self.max_ingestion_delay = other.max_ingestion_delay;
            self.max_ingestion_delay_at = other.delay_measured_at();
        }
        // The earlier start counts more events as late: the safe side.
        self.last_read_at = match (self.last_read_at, other.last_read_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Moves the watermark to `to` and forgets ids that the next read window cannot return.
    pub fn advance(&mut self, to: i64, lag: i64) {
        let to = self.watermark.map_or(to, |w| w.max(to));
        self.watermark = Some(to);
        let floor = to.saturating_sub(lag);
        self.seen.retain(|_, ts| *ts >= floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_watermark_never_moves_back() {
        let mut g = GroupState::default();
        g.advance(500, 0);
        g.advance(300, 0);
        assert_eq!(g.watermark, Some(500));
    }

    #[test]
    fn merging_keeps_the_later_watermark_and_every_delivered_id() {
        let mut a = GroupState {
            watermark: Some(100),
            seen: [("x".to_string(), 90)].into(),
            max_ingestion_delay: 5,
            max_ingestion_delay_at: None,
            last_read_at: None,
        };
        let b = GroupState {
            watermark: Some(200),
            seen: [("y".to_string(), 190)].into(),
            max_ingestion_delay: 3,
            max_ingestion_delay_at: None,
            last_read_at: None,
        };
        a.merge(&b);
        assert_eq!(a.watermark, Some(200));
        assert_eq!(a.seen.len(), 2);
        assert_eq!(a.max_ingestion_delay, 5);
        let mut empty = GroupState::default();
        empty.merge(&a);
        assert_eq!(empty, a);
    }

    const HOUR: i64 = 3600 * 1000;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn a_measured_delay_halves_every_day() {
        let mut g = GroupState::default();
        g.observe_delay(8 * HOUR, 10 * DAY);
        assert_eq!(g.ingestion_delay(10 * DAY), 8 * HOUR);
        assert_eq!(g.ingestion_delay(11 * DAY), 4 * HOUR);
        assert_eq!(g.ingestion_delay(13 * DAY), HOUR);
        let half_day = g.ingestion_delay(10 * DAY + DAY / 2);
        assert!(half_day > 4 * HOUR && half_day < 8 * HOUR, "{half_day}");
        // A clock that went back does not make it grow.
        assert_eq!(g.ingestion_delay(9 * DAY), 8 * HOUR);
    }

    #[test]
    fn a_delay_is_kept_when_it_is_at_least_what_the_kept_one_faded_to() {
        let mut g = GroupState::default();
        g.observe_delay(8 * HOUR, 0);
        g.observe_delay(6 * HOUR, HOUR);
        assert_eq!(
            (g.max_ingestion_delay, g.max_ingestion_delay_at),
            (8 * HOUR, Some(0))
        );
        // After a day the 8 h have faded to 4 h: a 5 h delay measured now is the one to allow.
        g.observe_delay(5 * HOUR, DAY);
        assert_eq!(
            (g.max_ingestion_delay, g.max_ingestion_delay_at),
            (5 * HOUR, Some(DAY))
        );
        g.observe_delay(0, 2 * DAY);
        assert_eq!(
            g.max_ingestion_delay_at,
            Some(DAY),
            "no delay measured: nothing changes"
        );
    }

    #[test]
    fn a_checkpoint_without_the_time_of_its_delay_fades_from_its_last_read() {
        let g: GroupState = serde_json::from_str(
            r#"{"watermark":5,"max_ingestion_delay":7200000,"last_read_at":86400000}"#,
        )
        .unwrap();
        assert_eq!(g.ingestion_delay(DAY), 2 * HOUR);
        assert_eq!(g.ingestion_delay(2 * DAY), HOUR);
        let never_read: GroupState = serde_json::from_str(r#"{"max_ingestion_delay":9}"#).unwrap();
        assert_eq!(never_read.ingestion_delay(DAY), 9);
    }

    #[test]
    fn merging_keeps_the_delay_that_is_larger_once_both_have_faded() {
        let old = GroupState {
            max_ingestion_delay: 8 * HOUR,
            max_ingestion_delay_at: Some(0),
            ..GroupState::default()
        };
        let recent = GroupState {
            max_ingestion_delay: 3 * HOUR,
            max_ingestion_delay_at: Some(2 * DAY),
            ..GroupState::default()
        };
        for (mut a, b) in [(old.clone(), &recent), (recent.clone(), &old)] {
            a.merge(b);
            assert_eq!(
                a.max_ingestion_delay,
                3 * HOUR,
                "8 h two days ago are 2 h now"
            );
            assert_eq!(a.max_ingestion_delay_at, Some(2 * DAY));
        }
    }
}

//! Backfill progress: a bar per log group on a terminal, a plain log line per slice otherwise
//! (a log collector has no use for a bar; a person at a terminal has little use for 300 lines).
//!
//! The bars share stderr with the logs, so the log writer (`crate::logging`) clears them for
//! the length of each log line and draws them again after it.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};

static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// The bars of this process, when stderr is a terminal.
pub fn bars() -> Option<&'static MultiProgress> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())))
}

/// The bars if some were ever made (the log writer must not create them).
pub fn active_bars() -> Option<&'static MultiProgress> {
    BARS.get()
}

/// How far a backfill of one log group got.
#[derive(Debug, Clone, Copy)]
pub struct Covered {
    /// The window being read: from `first` to `now` (ms since the epoch).
    pub first: i64,
    pub now: i64,
    /// Everything before this has been read and delivered.
    pub until: i64,
    pub events: u64,
    pub elapsed: std::time::Duration,
}

impl Covered {
    fn fraction(&self) -> f64 {
        let done = (self.until - self.first) as f64;
        let total = (self.now - self.first).max(1) as f64;
        (done / total).clamp(0.0, 1.0)
    }

    fn events_per_sec(&self) -> u64 {
        (self.events as f64 / self.elapsed.as_secs_f64().max(0.001)) as u64
    }

    fn eta_secs(&self) -> u64 {
        let f = self.fraction();
        if f <= 0.0 {
            return 0;
        }
        (self.elapsed.as_secs_f64() * (1.0 - f) / f) as u64
    }
}

/// Reports backfill progress, drawn or logged.
pub struct Backfill {
    bars: Option<&'static MultiProgress>,
    groups: Mutex<HashMap<String, ProgressBar>>,
}

/// Bar positions are per mille of the window.
const STEPS: u64 = 1000;

impl Backfill {
    /// Bars when stderr is a terminal, log lines otherwise.
    pub fn new() -> Self {
        Backfill {
            bars: bars(),
            groups: Mutex::new(HashMap::new()),
        }
    }

    pub fn update(&self, group: &str, c: Covered) {
        let covered_until = chrono::DateTime::from_timestamp_millis(c.until).unwrap_or_default();
        let Some(multi) = self.bars else {
            tracing::info!(
                group,
                covered_until = %covered_until,
                percent = format!("{:.1}", 100.0 * c.fraction()),
                events_per_sec = c.events_per_sec(),
                eta_secs = c.eta_secs(),
                "backfill progress"
            );
            return;
        };
        let mut groups = self.groups.lock().unwrap();
        let bar = groups.entry(group.to_owned()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(STEPS));
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(format!("backfill {group}"));
            bar
        });
        bar.set_position((c.fraction() * STEPS as f64) as u64);
        bar.set_message(format!(
            "covered to {}, {} events, {} events/s, ETA {}",
            covered_until.format("%Y-%m-%d %H:%M"),
            c.events,
            c.events_per_sec(),
            humantime::format_duration(std::time::Duration::from_secs(c.eta_secs())),
        ));
    }

    /// The group's window is read whole: the bar goes, a log line with the totals stays.
    pub fn finish(&self, group: &str, events: u64, elapsed: std::time::Duration) {
        if let Some(bar) = self.groups.lock().unwrap().remove(group) {
            bar.finish_and_clear();
        }
        tracing::info!(
            group,
            events,
            events_per_sec = (events as f64 / elapsed.as_secs_f64().max(0.001)) as u64,
            secs = elapsed.as_secs(),
            "backfill finished"
        );
    }
}

impl Default for Backfill {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fraction_rate_and_eta_follow_the_window() {
        let c = Covered {
            first: 0,
            now: 1000,
            until: 250,
            events: 500,
            elapsed: Duration::from_secs(10),
        };
        assert_eq!(c.fraction(), 0.25);
        assert_eq!(c.events_per_sec(), 50);
        assert_eq!(c.eta_secs(), 30);
        let done = Covered { until: 5000, ..c };
        assert_eq!(done.fraction(), 1.0);
        assert_eq!(done.eta_secs(), 0);
    }
}

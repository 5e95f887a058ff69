//! Backfill progress: a bar per log group on a terminal, a plain log line per slice otherwise
//! (a log collector has no use for a bar; a person at a terminal has little use for 300 lines).
//!
//! The bars share stderr with the logs, so the log writer (`crate::logging`) clears them for
//! the length of each log line and draws them again after it.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

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
    /// Since the backfill started: the clock of the estimate (the caller measures it, so tests
    /// can drive it).
    pub elapsed: Duration,
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
}

/// Without a terminal, a progress line at most this often by default (`--progress-every`): a
/// 300-event backfill of 36 one-hour slices printed a line per slice (35 lines for a 14 s job).
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// The rate behind the ETA is measured over this much recent wall time: slices are not alike
/// (one full of events waits for its bulk requests, an empty one costs one rate-limited call), so
/// what the backfill does now predicts the rest better than its average since the start.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// No ETA before this much was measured: one slice says little about the next thirty (the first
/// slice of the sample extrapolated to 86 s for a 14 s job).
const MIN_MEASURED: Duration = Duration::from_secs(3);

/// How far a backfill of listed objects (`ingest s3://`) got. The listing of the window is
/// complete before the first object is read, so the total is known from the start.
#[derive(Debug, Clone, Copy)]
pub struct Objects {
    pub listed: u64,
    /// Objects whose every event is acknowledged (what the checkpoint holds).
    pub done: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
    pub events: u64,
    pub elapsed: Duration,
}

/// The estimate of one group's backfill, from what was measured: how far the covered time moved
/// per wall-clock second in the last [`RATE_WINDOW`], and when a line was last logged.
#[derive(Debug)]
struct Track {
    /// (elapsed, covered until), oldest first; the oldest is at or before the window's start.
    samples: VecDeque<(Duration, i64)>,
    logged_at: Option<Duration>,
    log_every: Duration,
}

impl Track {
    fn new(log_every: Duration) -> Self {
        Track {
            samples: VecDeque::new(),
            logged_at: None,
            log_every,
        }
    }

    fn observe(&mut self, c: &Covered) {
        if self.samples.is_empty() {
            // The backfill started at `first`, at elapsed zero: the first slice is measured too.
            self.samples.push_back((Duration::ZERO, c.first));
        }
        self.samples.push_back((c.elapsed, c.until));
        let window_start = c.elapsed.saturating_sub(RATE_WINDOW);
        // Keep one sample at or before the window's start, so the window is covered whole.
        while self.samples.len() > 2 && self.samples[1].0 <= window_start {
            self.samples.pop_front();
        }
    }

    /// Remaining window / measured rate; `None` until enough was measured.
    fn eta(&self, c: &Covered) -> Option<Duration> {
        let &(t0, u0) = self.samples.front()?;
        let span = c.elapsed.checked_sub(t0)?;
        let moved = c.until - u0;
        if span < MIN_MEASURED || moved <= 0 {
            return None;
        }
        let remaining = (c.now - c.until).max(0) as f64;
        Some(Duration::from_secs_f64(
            span.as_secs_f64() * remaining / moved as f64,
        ))
    }

    /// Whether a log line is due now: the first after `log_every`, then one every `log_every`.
    fn log_due(&mut self, elapsed: Duration) -> bool {
        let since = elapsed.saturating_sub(self.logged_at.unwrap_or(Duration::ZERO));
        if since < self.log_every {
            return false;
        }
        self.logged_at = Some(elapsed);
        true
    }
}

/// An ETA for people: whole seconds, or that it is still being measured.
struct Eta(Option<Duration>);

impl std::fmt::Display for Eta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(d) => write!(
                f,
                "{}",
                humantime::format_duration(Duration::from_secs(d.as_secs_f64().round() as u64))
            ),
            None => f.write_str("measuring"),
        }
    }
}

/// Reports backfill progress, drawn or logged.
pub struct Backfill {
    bars: Option<&'static MultiProgress>,
    groups: Mutex<HashMap<String, Group>>,
    log_every: Duration,
}

/// One group's estimate, and its bar when drawn.
struct Group {
    track: Track,
    bar: Option<ProgressBar>,
}

/// What an update shows: its bar's message, a log line (no terminal, one is due), or nothing.
enum Show {
    Bar(ProgressBar),
    Log,
    Nothing,
}

/// Bar positions are per mille of the window.
const STEPS: u64 = 1000;

impl Backfill {
    /// Bars when stderr is a terminal, log lines at most every `log_every` otherwise.
    pub fn new(log_every: Duration) -> Self {
        Backfill {
            bars: bars(),
            groups: Mutex::new(HashMap::new()),
            log_every,
        }
    }

    pub fn update(&self, group: &str, c: Covered) {
        let covered_until = chrono::DateTime::from_timestamp_millis(c.until).unwrap_or_default();
        let (eta, show) = self.observe(group, &c);
        if let Show::Log = show {
            tracing::info!(
                group,
                covered_until = %covered_until,
                percent = format!("{:.1}", 100.0 * c.fraction()),
                events = c.events,
                events_per_sec = c.events_per_sec(),
                eta = %eta,
                "backfill progress"
            );
        }
        if let Show::Bar(bar) = show {
            bar.set_message(format!(
                "covered to {}, {} events, {} events/s, ETA {eta}",
                covered_until.format("%Y-%m-%d %H:%M"),
                c.events,
                c.events_per_sec(),
            ));
        }
    }

    /// The same for a backfill of listed objects (`ingest s3://`), named `source`: measured in
    /// bytes of the objects done where a group's is in time covered.
    pub fn update_objects(&self, source: &str, o: Objects) {
        let c = Covered {
            first: 0,
            now: o.bytes_total as i64,
            until: o.bytes_done as i64,
            events: o.events,
            elapsed: o.elapsed,
        };
        let (eta, show) = self.observe(source, &c);
        if let Show::Log = show {
            tracing::info!(
                source,
                objects_listed = o.listed,
                objects_done = o.done,
                bytes_done = o.bytes_done,
                bytes_total = o.bytes_total,
                percent = format!("{:.1}", 100.0 * c.fraction()),
                events = o.events,
                events_per_sec = c.events_per_sec(),
                eta = %eta,
                "backfill progress"
            );
        }
        if let Show::Bar(bar) = show {
            bar.set_message(format!(
                "{}/{} objects, {} of {}, {} events, {} events/s, ETA {eta}",
                o.done,
                o.listed,
                indicatif::HumanBytes(o.bytes_done),
                indicatif::HumanBytes(o.bytes_total),
                o.events,
                c.events_per_sec(),
            ));
        }
    }

    /// Takes the measure into the estimate and moves the bar: the ETA, and what to show.
    fn observe(&self, group: &str, c: &Covered) -> (Eta, Show) {
        let mut groups = self.groups.lock().unwrap();
        let g = groups.entry(group.to_owned()).or_insert_with(|| Group {
            track: Track::new(self.log_every),
            bar: self.bars.map(|multi| new_bar(multi, group)),
        });
        g.track.observe(c);
        let eta = Eta(g.track.eta(c));
        let show = match &g.bar {
            Some(bar) => {
                bar.set_position((c.fraction() * STEPS as f64) as u64);
                Show::Bar(bar.clone())
            }
            None if g.track.log_due(c.elapsed) => Show::Log,
            None => Show::Nothing,
        };
        (eta, show)
    }

    /// The group's window is read whole: the bar goes, a log line with the totals stays.
    pub fn finish(&self, group: &str, events: u64, elapsed: Duration) {
        if let Some(Group { bar: Some(bar), .. }) = self.groups.lock().unwrap().remove(group) {
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

fn new_bar(multi: &MultiProgress, group: &str) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(STEPS));
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("backfill {group}"));
    bar
}

impl Default for Backfill {
    fn default() -> Self {
        Self::new(LOG_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600 * 1000;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Slices of one hour, each taking the given wall time; returns every update's `Covered`.
    fn run(slice_secs: &[f64]) -> Vec<Covered> {
        let now = slice_secs.len() as i64 * HOUR;
        let mut elapsed = 0.0;
        slice_secs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                elapsed += s;
                Covered {
                    first: 0,
                    now,
                    until: (i as i64 + 1) * HOUR,
                    events: 10 * (i as u64 + 1),
                    elapsed: secs(elapsed),
                }
            })
            .collect()
    }

    #[test]
    fn fraction_and_rate_follow_the_window() {
        let c = Covered {
            first: 0,
            now: 1000,
            until: 250,
            events: 500,
            elapsed: Duration::from_secs(10),
        };
        assert_eq!(c.fraction(), 0.25);
        assert_eq!(c.events_per_sec(), 50);
        assert_eq!(Covered { until: 5000, ..c }.fraction(), 1.0);
    }

    /// The run measured on the sample (300 events in 4 of 36 one-hour slices, 1.3 s per full
    /// slice, 0.25 s per empty one): 35 lines and a first ETA of 86 s for a 14 s job before.
    #[test]
    fn the_sample_backfill_logs_once_with_an_eta_near_the_truth() {
        let mut slices = vec![1.3; 4];
        slices.extend([0.25; 32]);
        let total: f64 = slices.iter().sum();
        let mut track = Track::new(LOG_EVERY);
        let mut lines = Vec::new();
        for c in run(&slices) {
            track.observe(&c);
            if track.log_due(c.elapsed) {
                lines.push((c, track.eta(&c).expect("measured for 10 s")));
            }
        }
        assert_eq!(lines.len(), 1, "one line for a {total:.1} s job");
        let (c, eta) = lines[0];
        let truth = total - c.elapsed.as_secs_f64();
        let eta = eta.as_secs_f64();
        assert!(
            eta < 2.0 * truth + 1.0 && eta > truth / 2.0,
            "ETA {eta:.1} s at {:.1} s, {truth:.1} s were left",
            c.elapsed.as_secs_f64()
        );
    }

    #[test]
    fn no_eta_until_enough_was_measured() {
        let mut track = Track::new(LOG_EVERY);
        let cs = run(&[1.3, 1.3, 1.3, 1.3, 0.25]);
        track.observe(&cs[0]);
        assert_eq!(track.eta(&cs[0]), None, "one slice of 1.3 s");
        track.observe(&cs[1]);
        assert_eq!(track.eta(&cs[1]), None, "2.6 s measured");
        track.observe(&cs[2]);
        let eta = track.eta(&cs[2]).expect("3.9 s measured");
        // 3 slices in 3.9 s, 2 left.
        assert!((eta.as_secs_f64() - 2.6).abs() < 0.01, "{eta:?}");
        assert_eq!(Eta(None).to_string(), "measuring");
        assert_eq!(Eta(Some(secs(2.6))).to_string(), "3s");
    }

    #[test]
    fn a_steady_rate_gives_the_exact_remaining_time() {
        let mut track = Track::new(LOG_EVERY);
        for c in run(&[1.0; 100]).iter().take(50) {
            track.observe(c);
        }
        let last = run(&[1.0; 100])[49];
        let eta = track.eta(&last).unwrap().as_secs_f64();
        assert!((eta - 50.0).abs() < 0.01, "{eta}");
    }

    #[test]
    fn the_rate_is_that_of_the_last_window_not_of_a_slow_start() {
        // 20 slices of 3 s, then 40 of 0.5 s: after 20 fast ones (10 s), the window holds only
        // those: 20 slices left at 2 a second.
        let mut slices = vec![3.0; 20];
        slices.extend([0.5; 40]);
        let cs = run(&slices);
        let mut track = Track::new(LOG_EVERY);
        for c in &cs[..40] {
            track.observe(c);
        }
        let eta = track.eta(&cs[39]).unwrap().as_secs_f64();
        assert!((eta - 10.0).abs() < 0.01, "{eta}");
        assert!(track.samples.len() <= 22, "old samples are dropped");
    }

    #[test]
    fn log_lines_at_most_every_ten_seconds() {
        let mut track = Track::new(LOG_EVERY);
        let mut at = Vec::new();
        for c in run(&[0.25; 140]) {
            track.observe(&c);
            if track.log_due(c.elapsed) {
                at.push(c.elapsed.as_secs_f64());
            }
        }
        assert_eq!(at, vec![10.0, 20.0, 30.0], "35 s of updates every 0.25 s");
    }
}

//! One event from message to `_bulk` item: decode, enrich, choose index and id, encode.

use super::cloudtrail::{CloudTrailRecord, DecodeError};
use super::document::Document;
use super::facts::Facts;
use super::filter::Filter;
use super::minting::Minted;
use crate::enrich::Enricher;
use crate::sink::bulk::{BulkBatch, BulkItem, DocId};
use crate::source::Origin;
use crate::source::RawEvent;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// OpenSearch refuses `_id`s over 512 bytes.
const MAX_ID_BYTES: usize = 512;

pub struct Encoder {
    enricher: Enricher,
    index_prefix: String,
    filter: Filter,
    window: Option<TimeWindow>,
    /// `<prefix>quarantine`.
    quarantine: Arc<str>,
    /// Whether the first quarantined event has been told in the log.
    told_quarantine: AtomicBool,
    /// Whether each item carries its [`Facts`] for the findings stage.
    facts: bool,
    /// Whether each minting event's item carries its [`Minted`] for the lineage index.
    minted: bool,
    /// Payloads keep their JSON text copy beside the flat_object (`--payloads both`).
    payload_text: bool,
}

/// How far from now an eventTime may lie and still get a daily index of its own. Each distinct
/// day is a new index of at least one shard, and a cluster takes 1,000 shards per node by
/// default: without a window, a few hundred records dated anywhere in years 0001–9999 fill it,
/// and then every event is refused. CloudTrail delivers within hours and backfills reach back
/// years, but nothing real is dated in the future beyond clock skew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Oldest accepted: now minus this.
    pub max_age: Duration,
    /// Newest accepted: now plus this.
    pub max_future: Duration,
}

impl TimeWindow {
    /// Whether `time` lies within the window around `now` (both ends included).
    pub fn contains(&self, time: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let delta = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let oldest = now.checked_sub_signed(delta(self.max_age));
        let newest = now.checked_add_signed(delta(self.max_future));
        oldest.is_none_or(|oldest| time >= oldest) && newest.is_none_or(|newest| time <= newest)
    }
}

/// The index of events outside the time window: one, whatever their dates.
pub fn quarantine_index(prefix: &str) -> String {
    format!("{prefix}quarantine")
}

/// What became of an event offered to the encoder.
#[derive(Debug)]
pub enum Encoded {
    /// Appended to the batch.
    Added,
    /// Appended to the batch for the quarantine index: its eventTime is outside the window.
    Quarantined,
    /// Left out by the filter; acknowledged as done.
    Filtered(RawEvent),
}

/// What became of one event of a chunk ([`Encoder::encode_chunk`]).
#[derive(Debug)]
pub enum Outcome {
    /// Its item, whose bytes are in the chunk's body.
    Added(BulkItem),
    /// Its item for the quarantine index, whose bytes are in the chunk's body.
    Quarantined(BulkItem),
    /// Left out by the filter.
    Filtered(RawEvent),
    /// Cannot be indexed.
    Refused(Box<Refused>),
}

/// A run of events encoded apart from the batch they will join (on a transform worker, see
/// `Pipeline`): the items' bytes, and what became of each event, in the events' order.
#[derive(Debug)]
pub struct EncodedChunk {
    pub body: Vec<u8>,
    pub outcomes: Vec<Outcome>,
}

/// Why an event could not become a bulk item.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("cannot encode the document: {0}")]
    Json(#[from] serde_json::Error),
}

/// An event that cannot become a bulk item, and why.
#[derive(Debug)]
pub struct Refused {
    pub event: RawEvent,
    pub error: EncodeError,
}

impl EncodeError {
    /// A short stable name for dead letters and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EncodeError::Decode(DecodeError::NotJson(_)) => "not_json",
            EncodeError::Decode(DecodeError::Missing(_)) => "missing_field",
            EncodeError::Decode(DecodeError::WrongType { .. }) => "wrong_type",
            EncodeError::Decode(DecodeError::BadTime(_)) => "bad_event_time",
            EncodeError::Json(_) => "encode",
        }
    }
}

impl Encoder {
    pub fn new(enricher: Enricher, index_prefix: impl Into<String>, filter: Filter) -> Self {
        let index_prefix = index_prefix.into();
        Encoder {
            enricher,
            quarantine: Arc::from(quarantine_index(&index_prefix)),
            index_prefix,
            filter,
            window: None,
            told_quarantine: AtomicBool::new(false),
            facts: false,
            minted: false,
            payload_text: false,
        }
    }

    /// Payloads keep their JSON text copy even where the `flat_object` took them (`--payloads
    /// both`, as Elastic's integration writes them); by default the text is written only for a
    /// payload the flat_object did not take (see [`Document::without_duplicate_payload_text`]).
    pub fn with_payload_text(mut self) -> Self {
        self.payload_text = true;
        self
    }

    /// Each item carries the [`Facts`] the findings stage reads.
    pub fn with_facts(mut self) -> Self {
        self.facts = true;
        self
    }

    /// Each minting event's item carries the [`Minted`] the lineage index records.
    pub fn with_minted(mut self) -> Self {
        self.minted = true;
        self
    }

    /// Events dated outside `window` go to the quarantine index, not to a daily index.
    pub fn with_window(mut self, window: TimeWindow) -> Self {
        self.window = Some(window);
        self
    }

    /// Appends `event` to `batch`, or hands it back with the reason it cannot be indexed.
    pub fn encode(&self, batch: &mut BulkBatch, event: RawEvent) -> Result<Encoded, Box<Refused>> {
        let encoded = (|| {
            let record = CloudTrailRecord::parse(&event.message)?;
            if !self.filter.matches(&record) {
                return Ok(None);
            }
            let (time, timestamp) = event_time(&record, &event.origin)?;
            let enrichment = self.enricher.enrich(&record);
            let mut doc = Document::new(&record, timestamp, &event.origin, &enrichment);
            if !self.payload_text {
                doc = doc.without_duplicate_payload_text();
            }
            let quarantined = self.window.is_some_and(|w| !w.contains(time, Utc::now()));
            // No allocation for either in the common case: the batch shares one name among the
            // items of a day, and an eventID is kept inline.
            let index = match day_suffix(time) {
                _ if quarantined => self.quarantine.clone(),
                Some(day) => batch.index_for(&self.index_prefix, day_str(&day)),
                None => Arc::from(index_name(&self.index_prefix, time)),
            };
            let id = doc_id(&record, &event.message);
            // The raw parts of the document are slices of the message: no line break byte in
            // the message (one pass, ~1/10 of scanning the written document), none in them.
            let line_breaks = has_line_break(event.message.as_bytes());
            let range = batch.encode_json(&index, &id, |out| doc.write_json(out), line_breaks)?;
            // Quarantined events are no one's habits: their dates are not to be trusted.
            let facts = (self.facts && !quarantined)
                .then(|| Facts::of(&record, time, &enrichment).map(Box::new))
                .flatten();
            // Nor their lineage: the index keeps the first claim on a key (`create`), which a
            // record with an untrustworthy date must not make.
            let minted = (self.minted && !quarantined)
                .then(|| Minted::of(&record, time).map(Box::new))
                .flatten();
            Ok::<_, EncodeError>(Some((index, id, range, quarantined, (facts, minted))))
        })();
        match encoded {
            Ok(Some((index, id, range, false, (facts, minted)))) => {
                batch.commit(index, id, range, event, facts, minted);
                Ok(Encoded::Added)
            }
            Ok(Some((index, id, range, true, (facts, minted)))) => {
                self.tell_quarantine();
                batch.commit(index, id, range, event, facts, minted);
                Ok(Encoded::Quarantined)
            }
            Ok(None) => Ok(Encoded::Filtered(event)),
            Err(error) => Err(Box::new(Refused { event, error })),
        }
    }
}

impl Encoder {
    /// Encodes `events` into a batch of their own, to be moved into the batch being built, item
    /// by item, with [`BulkBatch::push_item`] (so batch limits are checked per event, as when
    /// encoding straight into it). The bytes are written into `body`, emptied first: the body of
    /// a chunk already taken into a batch, or a new `Vec` (see [`BulkBatch::take_items`]).
    pub fn encode_chunk(&self, events: Vec<RawEvent>, body: Vec<u8>) -> EncodedChunk {
        // A document with its action line is about twice its message (README Benchmarks: 711
        // MB/s of body out for 378 MB/s of messages in): one allocation nearly always suffices.
        let bytes = events.iter().map(|e| 2 * e.message.len() + 256).sum();
        let mut part = BulkBatch::reusing(body, bytes);
        let encoded: Vec<_> = events
            .into_iter()
            .map(|event| self.encode(&mut part, event))
            .collect();
        let (body, items) = part.into_body_and_items();
        let mut items = items.into_iter();
        // `encode` appends exactly one item when it says Added or Quarantined, none otherwise.
        let mut item = || items.next().expect("one item per event added");
        let outcomes = encoded
            .into_iter()
            .map(|encoded| match encoded {
                Ok(Encoded::Added) => Outcome::Added(item()),
                Ok(Encoded::Quarantined) => Outcome::Quarantined(item()),
                Ok(Encoded::Filtered(event)) => Outcome::Filtered(event),
                Err(refused) => Outcome::Refused(refused),
            })
            .collect();
        EncodedChunk { body, outcomes }
    }

    #[cold]
    fn tell_quarantine(&self) {
        if !self.told_quarantine.swap(true, Ordering::Relaxed) {
            let window = self.window.unwrap_or(TimeWindow {
                max_age: Duration::ZERO,
                max_future: Duration::ZERO,
            });
            tracing::warn!(
                index = %self.quarantine,
                "an eventTime more than {} in the past or {} in the future: such events go to \
                 the index {} instead of a daily index each (counted as `quarantined`; widen \
                 --max-event-age / --max-event-future to index them by day)",
                humantime::format_duration(window.max_age),
                humantime::format_duration(window.max_future),
                self.quarantine
            );
        }
    }
}

/// The time an event is indexed under: its `eventTime`, written as CloudTrail wrote it when that
/// is RFC 3339 (no re-formatting on the hot path), normalised otherwise. A record without one
/// (hand-made, never real CloudTrail) takes the CloudWatch Logs timestamp it was delivered with;
/// from a file it cannot be placed in time and is refused.
pub fn event_time<'a>(
    record: &'a CloudTrailRecord<'a>,
    origin: &Origin,
) -> Result<(DateTime<Utc>, Cow<'a, str>), DecodeError> {
    let rfc3339 = |t: DateTime<Utc>| Cow::Owned(t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    match (record.event_time, record.event_time_text.as_deref()) {
        // Parsed once, by the decoder, which says whether the text was RFC 3339.
        (Some(t), Some(text)) if record.event_time_is_rfc3339 => Ok((t, Cow::Borrowed(text))),
        (Some(t), _) => Ok((t, rfc3339(t))),
        (None, text) => match origin {
            Origin::CloudWatch(p) => DateTime::from_timestamp_millis(p.timestamp)
                .map(|t| (t, rfc3339(t)))
                .ok_or(DecodeError::Missing("eventTime")),
            Origin::File { .. } | Origin::Sqs { .. } => Err(match text {
                Some(text) => DecodeError::BadTime(text.to_owned()),
                None => DecodeError::Missing("eventTime"),
            }),
        },
    }
}

/// The daily index of an event: `<prefix>YYYY.MM.DD` of its eventTime in UTC, so a replay of the
/// same event always lands in the same index.
pub fn index_name(prefix: &str, time: DateTime<Utc>) -> String {
    if let Some(day) = day_suffix(time) {
        let mut name = String::with_capacity(prefix.len() + day.len());
        name.push_str(prefix);
        name.push_str(day_str(&day));
        return name;
    }
    format!(
        "{prefix}{:04}.{:02}.{:02}",
        time.year(),
        time.month(),
        time.day()
    )
}

/// `YYYY.MM.DD` of `time`, digits written without formatting machinery, when the year has four
/// digits (always, for CloudTrail).
fn day_suffix(time: DateTime<Utc>) -> Option<[u8; 10]> {
    let (year, month, day) = (time.year(), time.month(), time.day());
    if !(0..=9999).contains(&year) {
        return None;
    }
    let digit = |n: u32| b'0' + (n % 10) as u8;
    let year = year as u32;
    Some([
        digit(year / 1000),
        digit(year / 100),
        digit(year / 10),
        digit(year),
        b'.',
        digit(month / 10),
        digit(month),
        b'.',
        digit(day / 10),
        digit(day),
    ])
}

fn day_str(day: &[u8; 10]) -> &str {
    std::str::from_utf8(day).expect("ASCII digits and dots")
}

/// Whether `bytes` hold a `\n` or a `\r`, in one pass: 16 bytes at a time look for any byte
/// below 0x0e (in JSON text nearly never: only whitespace outside strings can be a control
/// character), and only such a chunk is looked at byte by byte. Two `contains` were two
/// byte-wise passes, ~5% of the transform.
fn has_line_break(bytes: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let is_break = |b: &u8| *b == b'\n' || *b == b'\r';
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        let (a, b) = chunk.split_at(8);
        let a = u64::from_le_bytes(a.try_into().expect("8 bytes"));
        let b = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let low = (a.wrapping_sub(LO * 0x0e) & !a) | (b.wrapping_sub(LO * 0x0e) & !b);
        if low & HI != 0 && chunk.iter().any(is_break) {
            return true;
        }
    }
    chunks.remainder().iter().any(is_break)
}

/// CloudTrail's eventID (a GUID, unique per event) makes delivery idempotent: a replay is a 409.
/// A record without a usable one gets a hash of its exact text, stable across runs.
pub fn document_id(record: &CloudTrailRecord<'_>, message: &str) -> String {
    doc_id(record, message).to_string()
}

/// [`document_id`], kept inline (no allocation for an eventID).
fn doc_id(record: &CloudTrailRecord<'_>, message: &str) -> DocId {
    match record.event_id.as_deref() {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID_BYTES => DocId::from(id),
        _ => DocId::from(format!(
            "sha256-{}",
            hex::encode(Sha256::digest(message.as_bytes()))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn index_names_are_zero_padded_utc_days() {
        let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 23, 59, 59).unwrap();
        assert_eq!(
            index_name("cloudtrail-", at(2026, 11, 5)),
            "cloudtrail-2026.11.05"
        );
        assert_eq!(index_name("ct_", at(7, 1, 31)), "ct_0007.01.31");
        assert_eq!(index_name("", at(9999, 12, 1)), "9999.12.01");
        assert_eq!(index_name("x-", at(10000, 2, 29)), "x-10000.02.29");
    }

    #[test]
    fn the_window_includes_both_ends() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
        let w = TimeWindow {
            max_age: Duration::from_secs(2 * 365 * 86_400),
            max_future: Duration::from_secs(86_400),
        };
        let day = chrono::Duration::days(1);
        assert!(w.contains(now, now));
        assert!(w.contains(now + day, now));
        assert!(!w.contains(now + day + chrono::Duration::seconds(1), now));
        assert!(w.contains(now - chrono::Duration::days(730), now));
        assert!(!w.contains(now - chrono::Duration::days(731), now));
        for y in [1, 1000, 9999] {
            assert!(!w.contains(Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap(), now));
        }
        // A window wider than chrono's range takes everything.
        let all = TimeWindow {
            max_age: Duration::MAX,
            max_future: Duration::MAX,
        };
        assert!(all.contains(DateTime::<Utc>::MIN_UTC, now));
        assert!(all.contains(DateTime::<Utc>::MAX_UTC, now));
    }

    #[test]
    fn line_breaks_are_found_anywhere() {
        assert!(!has_line_break(b""));
        for len in 1..40 {
            let mut text = vec![b'a'; len];
            assert!(!has_line_break(&text));
            for at in 0..len {
                for b in [b'\n', b'\r'] {
                    text[at] = b;
                    assert!(has_line_break(&text), "{len} {at}");
                    text[at] = b'a';
                }
            }
            // Neighbours of the two bytes, high bytes and control characters are not.
            let others: Vec<u8> = (0..=255u8).filter(|b| *b != b'\n' && *b != b'\r').collect();
            assert!(!has_line_break(&others));
        }
    }
}

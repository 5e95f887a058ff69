//! One event from message to `_bulk` item: decode, enrich, choose index and id, encode.

use super::cloudtrail::{CloudTrailRecord, DecodeError};
use super::document::Document;
use super::filter::Filter;
use crate::enrich::Enricher;
use crate::sink::bulk::BulkBatch;
use crate::source::Origin;
use crate::source::RawEvent;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// OpenSearch refuses `_id`s over 512 bytes.
const MAX_ID_BYTES: usize = 512;

pub struct Encoder {
    enricher: Enricher,
    index_prefix: String,
    filter: Filter,
}

/// What became of an event offered to the encoder.
#[derive(Debug)]
pub enum Encoded {
    /// Appended to the batch.
    Added,
    /// Left out by the filter; acknowledged as done.
    Filtered(RawEvent),
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
        Encoder {
            enricher,
            index_prefix: index_prefix.into(),
            filter,
        }
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
            let doc = Document::new(&record, timestamp, &event.origin, &enrichment);
            let index = index_name(&self.index_prefix, time);
            let id = document_id(&record, &event.message);
            // The raw parts of the document are slices of the message: no line break byte in
            // the message (memchr, ~1/10 of scanning the written document), none in them.
            let bytes = event.message.as_bytes();
            let line_breaks = bytes.contains(&b'\n') || bytes.contains(&b'\r');
            let range = batch.encode_with(&index, &id, &doc, line_breaks)?;
            Ok::<_, EncodeError>(Some((index, id, range)))
        })();
        match encoded {
            Ok(Some((index, id, range))) => {
                batch.commit(index, id, range, event);
                Ok(Encoded::Added)
            }
            Ok(None) => Ok(Encoded::Filtered(event)),
            Err(error) => Err(Box::new(Refused { event, error })),
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
        (Some(t), Some(text)) if DateTime::parse_from_rfc3339(text).is_ok() => {
            Ok((t, Cow::Borrowed(text)))
        }
        (Some(t), _) => Ok((t, rfc3339(t))),
        (None, text) => match origin {
            Origin::CloudWatch(p) => DateTime::from_timestamp_millis(p.timestamp)
                .map(|t| (t, rfc3339(t)))
                .ok_or(DecodeError::Missing("eventTime")),
            Origin::File { .. } => Err(match text {
                Some(text) => DecodeError::BadTime(text.to_owned()),
                None => DecodeError::Missing("eventTime"),
            }),
        },
    }
}

/// The daily index of an event: `<prefix>YYYY.MM.DD` of its eventTime in UTC, so a replay of the
/// same event always lands in the same index.
pub fn index_name(prefix: &str, time: DateTime<Utc>) -> String {
    let (year, month, day) = (time.year(), time.month(), time.day());
    if (0..=9999).contains(&year) {
        // Once per event: digits pushed into one exact allocation, no formatting machinery.
        let mut name = String::with_capacity(prefix.len() + 10);
        name.push_str(prefix);
        let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
        let year = year as u32;
        for n in [year / 1000, year / 100, year / 10, year] {
            name.push(digit(n));
        }
        for n in [month, day] {
            name.push('.');
            name.push(digit(n / 10));
            name.push(digit(n));
        }
        return name;
    }
    format!(
        "{prefix}{:04}.{:02}.{:02}",
        time.year(),
        time.month(),
        time.day()
    )
}

/// CloudTrail's eventID (a GUID, unique per event) makes delivery idempotent: a replay is a 409.
/// A record without a usable one gets a hash of its exact text, stable across runs.
pub fn document_id(record: &CloudTrailRecord<'_>, message: &str) -> String {
    match record.event_id.as_deref() {
        Some(id) if !id.is_empty() && id.len() <= MAX_ID_BYTES => id.to_owned(),
        _ => format!("sha256-{}", hex::encode(Sha256::digest(message.as_bytes()))),
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
}

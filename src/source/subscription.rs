//! Decodes CloudWatch Logs subscription payloads: what a subscription filter delivers to a Lambda
//! function (`{"awslogs":{"data":"<base64>"}}`), a Kinesis data stream or Firehose (the gzip bytes).
//!
//! A payload is gzip-compressed JSON, base64-encoded where it travels as text:
//!
//! ```json
//! {"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"aws-cloudtrail-logs",
//!  "logStream":"111122223333_CloudTrail_eu-west-1","subscriptionFilters":["trailscope"],
//!  "logEvents":[{"id":"3195310...","timestamp":1432826855000,"message":"{\"eventVersion\":...}"}]}
//! ```
//!
//! `CONTROL_MESSAGE`s (sent once to check that the destination is reachable) carry no events.
//! Unknown fields (`policyLevel` from account-level subscriptions, ...) are ignored. Event ids are
//! strings on AWS (56 digits) and JSON integers in moto: both are accepted and become the same
//! string the poller sees from FilterLogEvents, so both paths index the same document.

use super::{CloudWatchPosition, Origin, RawEvent};
use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

/// Largest decompressed payload accepted by default. CloudWatch Logs sends at most ~1 MiB of
/// events per payload (a PutLogEvents batch), which JSON escaping can roughly double; anything
/// far beyond that is not a subscription payload but a gzip bomb.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 16 * 1024 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a payload could not be decoded. Nothing of a malformed payload is indexed; the caller
/// decides what to do with its bytes (fail the invocation, dead-letter them).
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("empty subscription payload")]
    Empty,
    #[error("the subscription payload is not base64, gzip or JSON: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("the subscription payload's gzip stream is corrupt or truncated: {0}")]
    Gzip(std::io::Error),
    #[error(
        "the subscription payload decompresses to more than {limit} bytes (a gzip bomb?): refused"
    )]
    TooLarge { limit: usize },
    #[error("the subscription payload is not a CloudWatch Logs subscription message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown messageType {0:?} (expected DATA_MESSAGE or CONTROL_MESSAGE)")]
    UnknownType(String),
    #[error("a DATA_MESSAGE without {0}")]
    Missing(&'static str),
    #[error(
        "the subscription payload is not valid UTF-8 outside its log events (byte {offset} of \
         its JSON)"
    )]
    NotUtf8 { offset: usize },
}

/// Why one log event of a payload could not be read; the payload's other events are delivered.
#[derive(Debug, thiserror::Error)]
pub enum LogEventError {
    #[error(
        "logEvents[{index}] of a subscription payload is not valid UTF-8 (first invalid byte at \
         offset {offset} of the log event's JSON)"
    )]
    NotUtf8 { index: usize, offset: usize },
    #[error(
        "logEvents[{index}] of a subscription payload is not a log event (an id, a timestamp and \
         a message): {error}"
    )]
    Shape {
        index: usize,
        error: serde_json::Error,
    },
}

impl LogEventError {
    /// A short stable name for dead letters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            LogEventError::NotUtf8 { .. } => "log_event_not_utf8",
            LogEventError::Shape { .. } => "bad_log_event",
        }
    }
}

/// A log event refused alone: its JSON bytes exactly as they were in the payload, and as much of
/// its position as could be read (the event id and timestamp may be what is wrong).
#[derive(Debug)]
pub struct RejectedLogEvent {
    pub origin: Origin,
    pub input: Vec<u8>,
    pub error: LogEventError,
}

impl PayloadError {
    /// A short stable name for dead letters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PayloadError::Empty => "empty_payload",
            PayloadError::Base64(_) => "bad_base64",
            PayloadError::Gzip(_) => "bad_gzip",
            PayloadError::TooLarge { .. } => "payload_too_large",
            PayloadError::Json(_) => "bad_payload_json",
            PayloadError::UnknownType(_) => "unknown_message_type",
            PayloadError::Missing(_) => "missing_field",
            PayloadError::NotUtf8 { .. } => "payload_not_utf8",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// Log events to forward.
    Data,
    /// A reachability check from CloudWatch Logs: acknowledge it, index nothing.
    Control,
}

/// One decoded payload.
#[derive(Debug)]
pub struct Payload {
    pub message_type: MessageType,
    pub owner: String,
    pub log_group: String,
    pub log_stream: String,
    pub subscription_filters: Vec<String>,
    /// The log events, each with the same position the poller would give it (no ingestion time:
    /// a payload does not carry it). Empty for a CONTROL_MESSAGE.
    pub events: Vec<RawEvent>,
    /// Log events that could not be read, each refused alone.
    pub rejected: Vec<RejectedLogEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<E> {
    message_type: String,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    log_group: Option<String>,
    #[serde(default)]
    log_stream: Option<String>,
    #[serde(default)]
    subscription_filters: Vec<String>,
    #[serde(default = "Vec::new")]
    log_events: Vec<E>,
}

#[derive(Deserialize)]
struct LogEvent {
    id: EventId,
    timestamp: i64,
    message: String,
}

/// What can be read of a log event's position when the event itself cannot be read.
#[derive(Deserialize, Default)]
struct Position {
    #[serde(default)]
    id: Option<EventId>,
    #[serde(default)]
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EventId {
    Text(String),
    Number(u64),
}

impl EventId {
    fn into_string(self) -> String {
        match self {
            EventId::Text(s) => s,
            EventId::Number(n) => n.to_string(),
        }
    }
}

/// Decodes one payload in any of the forms it travels in: gzip bytes (Kinesis, Firehose, a file),
/// base64 text of those bytes (Lambda's `awslogs.data`), or the decompressed JSON itself.
/// Decompression stops at `max_decompressed` bytes.
pub fn decode(bytes: &[u8], max_decompressed: usize) -> Result<Payload, PayloadError> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Err(PayloadError::Empty);
    }
    if trimmed.starts_with(&GZIP_MAGIC) {
        // Gzip is binary: trimming could have cut into it, so use the bytes as given.
        let start = bytes.len() - bytes.trim_ascii_start().len();
        let json = gunzip(&bytes[start..], max_decompressed)?;
        return decode_json(&json);
    }
    if trimmed[0] == b'{' {
        if trimmed.len() > max_decompressed {
            return Err(PayloadError::TooLarge {
                limit: max_decompressed,
            });
        }
        return decode_json(trimmed);
    }
    let compressed = base64::engine::general_purpose::STANDARD.decode(trimmed)?;
    if !compressed.starts_with(&GZIP_MAGIC) {
        // CloudWatch Logs always compresses; base64 of anything else is not a payload.
        return match compressed.first() {
            Some(b'{') => decode_json(&compressed),
            _ => Err(PayloadError::Gzip(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the base64 text does not hold gzip data",
            ))),
        };
    }
    let json = gunzip(&compressed, max_decompressed)?;
    decode_json(&json)
}

/// Decompresses at most `limit` bytes; more is an error, not a truncation.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, PayloadError> {
    let mut out = Vec::with_capacity((compressed.len() * 8).min(limit).min(4 * 1024 * 1024));
    flate2::read::MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(PayloadError::Gzip)?;
    if out.len() > limit {
        return Err(PayloadError::TooLarge { limit });
    }
    Ok(out)
}

fn decode_json(json: &[u8]) -> Result<Payload, PayloadError> {
    // Every event well formed (the rule): read in one pass, as before.
    let mut error = match serde_json::from_slice::<Envelope<LogEvent>>(json) {
        Ok(envelope) => {
            return payload(envelope, |group, stream, events| {
                let events = events
                    .into_iter()
                    .map(|e| event(group, stream, e))
                    .collect();
                (events, Vec::new())
            })
        }
        Err(e) => e,
    };
    // Otherwise each log event is read alone, so that one bad event (or byte) does not take the
    // others with it. Invalid UTF-8 bytes become `?` for this reading: the same length, so the
    // offsets found are those of the original bytes, which a refused event keeps.
    let mut text = Cow::Borrowed(json);
    let mut invalid = Vec::new();
    let mut at = 0;
    while let Err(e) = std::str::from_utf8(&text[at..]) {
        let start = at + e.valid_up_to();
        let end = start + e.error_len().unwrap_or(text.len() - start);
        text.to_mut()[start..end].fill(b'?');
        invalid.extend(start..end);
        at = end;
    }
    if !invalid.is_empty() {
        error = match serde_json::from_slice::<Envelope<&RawValue>>(&text) {
            Ok(_) => error,
            Err(e) => e,
        };
    }
    let envelope: Envelope<&RawValue> = serde_json::from_slice(&text).map_err(|_| error)?;
    let base = text.as_ptr() as usize;
    let spans: Vec<std::ops::Range<usize>> = envelope
        .log_events
        .iter()
        .map(|raw| {
            let start = raw.get().as_ptr() as usize - base;
            start..start + raw.get().len()
        })
        .collect();
    if let Some(&offset) = invalid
        .iter()
        .find(|&&i| !spans.iter().any(|span| span.contains(&i)))
    {
        return Err(PayloadError::NotUtf8 { offset });
    }
    payload(envelope, |group, stream, raws| {
        let mut events = Vec::with_capacity(raws.len());
        let mut rejected = Vec::new();
        for (index, (raw, span)) in raws.into_iter().zip(spans).enumerate() {
            let bad_byte = invalid.iter().find(|&&i| span.contains(&i));
            let error = match bad_byte {
                Some(&i) => LogEventError::NotUtf8 {
                    index,
                    offset: i - span.start,
                },
                None => match serde_json::from_str::<LogEvent>(raw.get()) {
                    Ok(e) => {
                        events.push(event(group, stream, e));
                        continue;
                    }
                    Err(error) => LogEventError::Shape { index, error },
                },
            };
            let position: Position = serde_json::from_str(raw.get()).unwrap_or_default();
            rejected.push(RejectedLogEvent {
                origin: Origin::CloudWatch(CloudWatchPosition {
                    log_group: group.clone(),
                    log_stream: stream.clone(),
                    event_id: position.id.map(EventId::into_string).unwrap_or_default(),
                    timestamp: position.timestamp.unwrap_or_default(),
                    ingestion_time: None,
                }),
                input: json[span].to_vec(),
                error,
            });
        }
        (events, rejected)
    })
}

type Split = (Vec<RawEvent>, Vec<RejectedLogEvent>);

/// The payload of an envelope, its log events read by `read` (given the group and stream).
fn payload<E>(
    envelope: Envelope<E>,
    read: impl FnOnce(&Arc<str>, &Arc<str>, Vec<E>) -> Split,
) -> Result<Payload, PayloadError> {
    let message_type = match envelope.message_type.as_str() {
        "DATA_MESSAGE" => MessageType::Data,
        "CONTROL_MESSAGE" => MessageType::Control,
        _ => return Err(PayloadError::UnknownType(envelope.message_type)),
    };
    let owner = envelope.owner.unwrap_or_default();
    if message_type == MessageType::Control {
        return Ok(Payload {
            message_type,
            owner,
            log_group: envelope.log_group.unwrap_or_default(),
            log_stream: envelope.log_stream.unwrap_or_default(),
            subscription_filters: envelope.subscription_filters,
            events: Vec::new(),
            rejected: Vec::new(),
        });
    }
    let log_group = envelope
        .log_group
        .filter(|g| !g.is_empty())
        .ok_or(PayloadError::Missing("logGroup"))?;
    let log_stream = envelope
        .log_stream
        .filter(|s| !s.is_empty())
        .ok_or(PayloadError::Missing("logStream"))?;
    let group: Arc<str> = Arc::from(log_group.as_str());
    let stream: Arc<str> = Arc::from(log_stream.as_str());
    let (events, rejected) = read(&group, &stream, envelope.log_events);
    Ok(Payload {
        message_type,
        owner,
        log_group,
        log_stream,
        subscription_filters: envelope.subscription_filters,
        events,
        rejected,
    })
}

fn event(group: &Arc<str>, stream: &Arc<str>, e: LogEvent) -> RawEvent {
    RawEvent {
        message: e.message,
        origin: Origin::CloudWatch(CloudWatchPosition {
            log_group: group.clone(),
            log_stream: stream.clone(),
            event_id: e.id.into_string(),
            timestamp: e.timestamp,
            ingestion_time: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    const AWS_ID: &str = "31953106606966983378809025079804211143289615424298221568";

    fn data_message() -> String {
        serde_json::json!({
            "messageType": "DATA_MESSAGE",
            "owner": "111122223333",
            "logGroup": "aws-cloudtrail-logs-111122223333",
            "logStream": "111122223333_CloudTrail_eu-west-1",
            "subscriptionFilters": ["trailscope"],
            "policyLevel": "ACCOUNT_LEVEL_POLICY",
            "logEvents": [
                {"id": AWS_ID, "timestamp": 1432826855000i64, "message": "{\"eventID\":\"a\"}"},
                {"id": 42, "timestamp": 1432826855001i64, "message": "not json \"at all\""}
            ]
        })
        .to_string()
    }

    #[test]
    fn decodes_base64_gzip_gzip_and_plain_json_alike() {
        let json = data_message();
        let forms = [
            b64(&gzip(json.as_bytes())).into_bytes(),
            format!("{}\n", b64(&gzip(json.as_bytes()))).into_bytes(),
            gzip(json.as_bytes()),
            json.clone().into_bytes(),
        ];
        for form in forms {
            let p = decode(&form, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
            assert_eq!(p.message_type, MessageType::Data);
            assert_eq!(p.owner, "111122223333");
            assert_eq!(p.subscription_filters, ["trailscope"]);
            assert_eq!(p.events.len(), 2);
            assert_eq!(p.events[0].message, "{\"eventID\":\"a\"}");
            assert_eq!(p.events[1].message, "not json \"at all\"");
            let Origin::CloudWatch(pos) = &p.events[0].origin else {
                panic!("not a CloudWatch origin")
            };
            assert_eq!(&*pos.log_group, "aws-cloudtrail-logs-111122223333");
            assert_eq!(&*pos.log_stream, "111122223333_CloudTrail_eu-west-1");
            assert_eq!(pos.event_id, AWS_ID);
            assert_eq!(pos.timestamp, 1432826855000);
            assert_eq!(pos.ingestion_time, None);
            let Origin::CloudWatch(pos) = &p.events[1].origin else {
                panic!("not a CloudWatch origin")
            };
            assert_eq!(pos.event_id, "42", "moto's integer id");
        }
    }

    #[test]
    fn control_message_has_no_events() {
        let json = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;
        let p = decode(b64(&gzip(json.as_bytes())).as_bytes(), 1 << 20).unwrap();
        assert_eq!(p.message_type, MessageType::Control);
        assert!(p.events.is_empty());
    }

    #[test]
    fn malformed_payloads_are_clear_errors() {
        let json = data_message();
        let gz = gzip(json.as_bytes());
        let truncated = &gz[..gz.len() / 2];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (truncated.to_vec(), "bad_gzip"),
            (b64(truncated).into_bytes(), "bad_gzip"),
            (b"!!! not base64 !!!".to_vec(), "bad_base64"),
            (b64(b"plain text").into_bytes(), "bad_gzip"),
            (gzip(b"[1,2,3]"), "bad_payload_json"),
            (
                gzip(br#"{"messageType":"DATA_MESSAGE","logEvents":[]}"#),
                "missing_field",
            ),
            (
                gzip(br#"{"messageType":"SOMETHING_ELSE"}"#),
                "unknown_message_type",
            ),
            (b"  \n".to_vec(), "empty_payload"),
        ];
        for (bytes, kind) in cases {
            let e = decode(&bytes, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap_err();
            assert_eq!(e.kind(), kind, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn one_bad_log_event_or_byte_is_refused_alone() {
        let mut json = serde_json::json!({
            "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
            "subscriptionFilters": ["f"],
            "logEvents": [
                {"id": "1", "timestamp": 10, "message": "{\"eventID\":\"a\"}"},
                {"id": "2", "timestamp": "not a number", "message": "m"},
                {"id": "3", "timestamp": 30, "message": "BAD"},
                {"id": "4", "timestamp": 40, "message": "{\"eventID\":\"d\"}"}
            ]
        })
        .to_string()
        .into_bytes();
        // An invalid UTF-8 byte inside the third event's message.
        let at = json.windows(3).position(|w| w == b"BAD").unwrap();
        json[at + 1] = 0xff;
        let bad_event = {
            let start = json[..at].iter().rposition(|b| *b == b'{').unwrap();
            let end = at + json[at..].iter().position(|b| *b == b'}').unwrap() + 1;
            json[start..end].to_vec()
        };
        for form in [json.clone(), gzip(&json), b64(&gzip(&json)).into_bytes()] {
            let p = decode(&form, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
            let messages: Vec<&str> = p.events.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(messages, ["{\"eventID\":\"a\"}", "{\"eventID\":\"d\"}"]);
            let kinds: Vec<&str> = p.rejected.iter().map(|r| r.error.kind()).collect();
            assert_eq!(kinds, ["bad_log_event", "log_event_not_utf8"]);
            assert!(matches!(
                p.rejected[1].error,
                LogEventError::NotUtf8 { index: 2, offset } if bad_event[offset] == 0xff
            ));
            assert_eq!(p.rejected[1].input, bad_event, "the original bytes");
            let Origin::CloudWatch(pos) = &p.rejected[1].origin else {
                panic!("not a CloudWatch origin")
            };
            assert_eq!((pos.event_id.as_str(), pos.timestamp), ("3", 30));
            let Origin::CloudWatch(pos) = &p.rejected[0].origin else {
                panic!("not a CloudWatch origin")
            };
            assert_eq!(pos.event_id, "", "the position could not be read");
        }
        // An invalid byte outside every log event refuses the payload, saying where.
        let mut json = data_message().into_bytes();
        let at = json.windows(11).position(|w| w == b"trailscope\"").unwrap();
        json[at] = 0xfe;
        let e = decode(&json, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap_err();
        assert!(
            matches!(e, PayloadError::NotUtf8 { offset } if offset == at),
            "{e}"
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        // 64 MiB of zeros compress to ~64 KiB.
        let bomb = gzip(&vec![0u8; 64 * 1024 * 1024]);
        assert!(bomb.len() < 200 * 1024);
        let e = decode(&bomb, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap_err();
        assert!(
            matches!(e, PayloadError::TooLarge { limit } if limit == DEFAULT_MAX_DECOMPRESSED_BYTES),
            "{e}"
        );
        // Exactly at the limit is accepted.
        let json = data_message();
        assert!(decode(&gzip(json.as_bytes()), json.len()).is_ok());
        assert!(matches!(
            decode(&gzip(json.as_bytes()), json.len() - 1),
            Err(PayloadError::TooLarge { .. })
        ));
    }
}

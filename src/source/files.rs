//! Reads events from files or stdin, for backfills (`trailscope ingest`). Recognised, by content
//! rather than by name, and mixed freely within one input:
//!
//! - CloudTrail log files as CloudTrail writes them to S3: `{"Records":[...]}`, gzip or not, on one
//!   line or pretty-printed. Each record becomes one event whose message is the record's exact
//!   JSON text (sliced with [`RawValue`], never re-serialized).
//! - NDJSON of CloudTrail records, one per line.
//! - CloudWatch Logs subscription payloads: raw (gzip bytes, or their JSON), base64 (one per line),
//!   or a Lambda event `{"awslogs":{"data":"..."}}`. Their events keep their CloudWatch position,
//!   so they index exactly as the poller would index them.
//!
//! A whole input may be gzip-compressed. Reading is blocking (std I/O): run it on a blocking thread.

use super::subscription::{self, MessageType, PayloadError};
use super::{Origin, RawEvent};
use crate::event::json_scan::{Cursor, Stop};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

/// Largest line or document read into memory by default (after decompression).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Events per page handed on.
    pub page_size: usize,
    /// Cap on one decompressed subscription payload (see [`subscription::decode`]).
    pub max_payload_bytes: usize,
    /// Cap on one line or one whole JSON document of an input.
    pub max_document_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            page_size: 1000,
            max_payload_bytes: subscription::DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: a line or document is larger than {limit} bytes (decompressed): refused")]
    TooLarge { path: String, limit: usize },
    #[error("the pipeline stopped accepting events")]
    Closed,
}

/// What reading an input produces, in order.
#[derive(Debug)]
pub enum Item {
    /// A page of events for the pipeline.
    Events(Vec<RawEvent>),
    /// A subscription payload that could not be decoded: nothing of it is in any page. `payload`
    /// is its text as read (gzip bytes are given as base64), to keep it in the dead-letter file.
    Malformed {
        origin: Origin,
        payload: String,
        error: PayloadError,
    },
}

/// What one input held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct InputStats {
    /// Events handed on (CloudTrail records and subscription log events).
    pub events: u64,
    /// Subscription payloads decoded (DATA and CONTROL).
    pub payloads: u64,
    pub control_messages: u64,
    pub malformed_payloads: u64,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
    #[serde(rename = "messageType", default)]
    message_type: Option<IgnoredAny>,
    #[serde(borrow, default)]
    awslogs: Option<AwsLogs<'a>>,
}

#[derive(Deserialize)]
struct AwsLogs<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
}

struct Reader<'o> {
    path: Arc<str>,
    options: &'o ReadOptions,
    page: Vec<RawEvent>,
    record: u64,
    stats: InputStats,
}

/// Reads one input (`path` names it in origins and errors; `-` for stdin) and hands on pages of
/// events and malformed payloads through `out`, which may refuse with [`FilesError::Closed`].
pub fn read_input(
    path: Arc<str>,
    input: impl Read,
    options: &ReadOptions,
    out: &mut dyn FnMut(Item) -> Result<(), FilesError>,
) -> Result<InputStats, FilesError> {
    let io = |source| FilesError::Io {
        path: path.to_string(),
        source,
    };
    let mut raw = BufReader::with_capacity(256 * 1024, input);
    let gzip = raw.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let mut lines: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    let mut r = Reader {
        path: path.clone(),
        options,
        page: Vec::with_capacity(options.page_size),
        record: 0,
        stats: InputStats::default(),
    };
    let cap = options.max_document_bytes;
    let too_large = || FilesError::TooLarge {
        path: path.to_string(),
        limit: cap,
    };
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut seen_content = false;
    loop {
        line.clear();
        let n = (&mut lines)
            .take(cap as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        if line.len() > cap {
            return Err(too_large());
        }
        line_no += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if !seen_content && text[0] == b'{' {
            if let Err(e) = serde_json::from_slice::<IgnoredAny>(text) {
                if e.is_eof() {
                    // One JSON document over several lines (pretty-printed): read it whole.
                    (&mut lines)
                        .take((cap - line.len()) as u64 + 1)
                        .read_to_end(&mut line)
                        .map_err(io)?;
                    if line.len() > cap {
                        return Err(too_large());
                    }
                    let whole = String::from_utf8_lossy(&line).into_owned();
                    if serde_json::from_str::<IgnoredAny>(whole.trim()).is_ok() {
                        r.line(whole.trim(), line_no, out)?;
                    } else {
                        // Not one document after all: take it line by line.
                        for (i, l) in whole.lines().enumerate() {
                            if !l.trim().is_empty() {
                                r.line(l.trim(), line_no + i as u64, out)?;
                            }
                        }
                    }
                    break;
                }
            }
        }
        seen_content = true;
        r.line(&utf8(text), line_no, out)?;
    }
    r.flush(out)?;
    Ok(r.stats)
}

impl Reader<'_> {
    fn push(
        &mut self,
        event: RawEvent,
        out: &mut dyn FnMut(Item) -> Result<(), FilesError>,
    ) -> Result<(), FilesError> {
        self.page.push(event);
        self.stats.events += 1;
        if self.page.len() >= self.options.page_size {
            self.flush(out)?;
        }
        Ok(())
    }

    fn flush(
        &mut self,
        out: &mut dyn FnMut(Item) -> Result<(), FilesError>,
    ) -> Result<(), FilesError> {
        if !self.page.is_empty() {
            let page =
                std::mem::replace(&mut self.page, Vec::with_capacity(self.options.page_size));
            out(Item::Events(page))?;
        }
        Ok(())
    }

    /// Hands on one event read from the file itself (not from a payload), numbered in order.
    fn record(
        &mut self,
        message: String,
        out: &mut dyn FnMut(Item) -> Result<(), FilesError>,
    ) -> Result<(), FilesError> {
        self.record += 1;
        let origin = Origin::File {
            path: self.path.clone(),
            record: self.record,
        };
        self.push(RawEvent { message, origin }, out)
    }

    /// One line (or whole document) of text, trimmed and not empty.
    fn line(
        &mut self,
        text: &str,
        line_no: u64,
        out: &mut dyn FnMut(Item) -> Result<(), FilesError>,
    ) -> Result<(), FilesError> {
        if !text.starts_with('{') {
            if looks_like_base64(text) {
                return self.payload(text.as_bytes(), text, line_no, out);
            }
            // Neither JSON nor a payload: the pipeline dead-letters it like any bad message.
            return self.record(text.to_owned(), out);
        }
        if is_plain_object(text) {
            // A CloudTrail record (or a JSON object the pipeline will dead-letter): what the
            // probe below would conclude, without it (the probe was ~7% of `ingest`'s CPU).
            return self.record(one_line(text), out);
        }
        match serde_json::from_str::<Probe>(text) {
            Ok(Probe {
                records: Some(records),
                ..
            }) => {
                for record in records {
                    self.record(one_line(record.get()), out)?;
                }
                Ok(())
            }
            Ok(Probe {
                message_type: Some(_),
                ..
            }) => self.payload(text.as_bytes(), text, line_no, out),
            Ok(Probe {
                awslogs: Some(logs),
                ..
            }) => self.payload(logs.data.as_bytes(), text, line_no, out),
            // A CloudTrail record, or something the pipeline will dead-letter with the reason.
            _ => self.record(one_line(text), out),
        }
    }

    fn payload(
        &mut self,
        bytes: &[u8],
        text: &str,
        line_no: u64,
        out: &mut dyn FnMut(Item) -> Result<(), FilesError>,
    ) -> Result<(), FilesError> {
        match subscription::decode(bytes, self.options.max_payload_bytes) {
            Ok(payload) => {
                self.stats.payloads += 1;
                if payload.message_type == MessageType::Control {
                    self.stats.control_messages += 1;
                }
                for event in payload.events {
                    self.push(event, out)?;
                }
                Ok(())
            }
            Err(error) => {
                self.stats.malformed_payloads += 1;
                // Events before it keep their order ahead of the error.
                self.flush(out)?;
                out(Item::Malformed {
                    origin: Origin::File {
                        path: self.path.clone(),
                        record: line_no,
                    },
                    payload: text.to_owned(),
                    error,
                })
            }
        }
    }
}

/// The JSON text of a record on one line. Records of a pretty-printed file carry line breaks,
/// which in valid JSON can only be whitespace between tokens (inside strings they are escaped):
/// they become spaces, because documents go into NDJSON `_bulk` bodies where a raw line break
/// would end the line. Text without line breaks (every CloudTrail file, every NDJSON line) is
/// kept exactly as it is.
fn one_line(text: &str) -> String {
    if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some() {
        text.replace(['\n', '\r'], " ")
    } else {
        text.to_owned()
    }
}

/// The line as text: borrowed when it is valid UTF-8 (std's check reads ASCII a word at a time;
/// `from_utf8_lossy`'s reads a byte at a time: ~7% of `ingest`'s CPU under perf), else with U+FFFD for
/// each invalid sequence, as before.
fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Whether `text` is one JSON object none of whose top-level keys is `Records`, `messageType` or
/// `awslogs`: [`Probe`] would then find none of them either, and the text is an event. Walked by
/// the decoder's scanner (keys compared decoded, as serde_json compares them); whatever it
/// refuses, or an object with one of those keys, goes to the probe as before.
fn is_plain_object(text: &str) -> bool {
    let mut cursor = Cursor::new(text);
    let walked = cursor.object(|key, cursor| {
        if matches!(&*key, "Records" | "messageType" | "awslogs") {
            return Err(Stop::Refused(()));
        }
        cursor.value()?;
        Ok(())
    });
    walked.is_ok() && cursor.end().is_ok()
}

/// Base64 text (standard alphabet, padded), as a payload travels in Lambda events and dumps.
fn looks_like_base64(text: &str) -> bool {
    text.len() >= 4
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read(bytes: &[u8], options: &ReadOptions) -> (Vec<RawEvent>, Vec<Item>, InputStats) {
        let mut events = Vec::new();
        let mut other = Vec::new();
        let stats = read_input(Arc::from("in"), bytes, options, &mut |item| {
            match item {
                Item::Events(page) => {
                    assert!(!page.is_empty() && page.len() <= options.page_size);
                    events.extend(page)
                }
                malformed => other.push(malformed),
            }
            Ok(())
        })
        .unwrap();
        (events, other, stats)
    }

    const R1: &str =
        r#"{"eventVersion":"1.08","eventID":"e1","requestParameters":{"a" : [1, 2.50]}}"#;
    const R2: &str = r#"{"eventVersion":"1.08","eventID":"e2","x":"\u00e9"}"#;

    #[test]
    fn records_file_yields_each_record_text_exactly() {
        let file = format!("{{\"Records\":[{R1},\n  {R2}]}}");
        for bytes in [file.clone().into_bytes(), gzip(file.as_bytes())] {
            let (events, other, stats) = read(&bytes, &ReadOptions::default());
            assert!(other.is_empty());
            assert_eq!(stats.events, 2);
            assert_eq!(events[0].message, R1);
            assert_eq!(events[1].message, R2);
            assert_eq!(
                events[1].origin,
                Origin::File {
                    path: Arc::from("in"),
                    record: 2
                }
            );
        }
    }

    #[test]
    fn ndjson_and_payload_lines_mix() {
        let payload = serde_json::json!({
            "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
            "subscriptionFilters": ["f"],
            "logEvents": [{"id": "7", "timestamp": 5, "message": R1}]
        })
        .to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(gzip(payload.as_bytes()));
        let lambda = serde_json::json!({"awslogs": {"data": b64}}).to_string();
        let input = format!("{R1}\n\n{R2}\n{b64}\n{lambda}\nnot json\nAAAA\n");
        let options = ReadOptions {
            page_size: 2,
            ..ReadOptions::default()
        };
        let (events, other, stats) = read(input.as_bytes(), &options);
        let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, [R1, R2, R1, R1, "not json"]);
        assert!(matches!(events[2].origin, Origin::CloudWatch(ref p) if p.event_id == "7"));
        assert_eq!(stats.payloads, 2);
        assert_eq!(stats.malformed_payloads, 1);
        let Item::Malformed {
            origin, payload, ..
        } = &other[0]
        else {
            panic!("expected a malformed payload")
        };
        assert_eq!(payload, "AAAA");
        assert_eq!(
            origin,
            &Origin::File {
                path: Arc::from("in"),
                record: 7
            }
        );
    }

    #[test]
    fn oversized_lines_are_refused() {
        let options = ReadOptions {
            max_document_bytes: 64,
            ..ReadOptions::default()
        };
        let input = format!("{R1}{R1}\n");
        let e =
            read_input(Arc::from("in"), input.as_bytes(), &options, &mut |_| Ok(())).unwrap_err();
        assert!(matches!(e, FilesError::TooLarge { limit: 64, .. }), "{e}");
    }

    #[test]
    fn invalid_utf8_is_replaced_as_before() {
        let mut input = br#"{"eventID":"e1","x":""#.to_vec();
        input.extend_from_slice(&[0xff, 0xc3]);
        input.extend_from_slice(b"\"}\n");
        let (events, other, _) = read(&input, &ReadOptions::default());
        assert!(other.is_empty());
        assert_eq!(
            events[0].message,
            "{\"eventID\":\"e1\",\"x\":\"\u{fffd}\u{fffd}\"}"
        );
    }

    #[test]
    fn the_scanner_hands_containers_and_escaped_keys_to_the_probe() {
        assert!(is_plain_object(R1) && is_plain_object(R2));
        assert!(
            is_plain_object(r#"{"a":{"Records":[]}}"#),
            "nested keys are not the probe's"
        );
        for text in [
            r#"{"Records":[]}"#,
            r#"{"eventID":"e","messageType":"DATA_MESSAGE"}"#,
            r#"{"awslogs":{"data":"AAAA"}}"#,
            r#"{"Rec\u006frds":[]}"#,
            r#"{"a":1} x"#,
            r#"{"a":1"#,
            r#"[1]"#,
        ] {
            assert!(!is_plain_object(text), "{text}");
        }
        // An escaped key is the same key to the probe: the records are found.
        let (events, _, _) = read(
            br#"{"Rec\u006frds":[{"eventID":"e1"}]}"#,
            &ReadOptions::default(),
        );
        assert_eq!(events[0].message, r#"{"eventID":"e1"}"#);
    }

    mod scanner_agrees_with_the_probe {
        use super::super::{is_plain_object, Probe};
        use crate::event::json_scan::tests::{config, mutate, mutation, value, ws};
        use proptest::prelude::*;

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "\"Records\"",
                    "\"messageType\"",
                    "\"awslogs\"",
                    "\"Rec\\u006frds\"",
                    "\"aws\\u006Cogs\"",
                    "\"records\"",
                    "\"eventID\"",
                ])
                .prop_map(String::from),
                "\"[a-zA-Z]{0,12}\"",
            ]
        }

        fn object() -> impl Strategy<Value = String> {
            let member =
                (ws(), key(), ws(), value()).prop_map(|(a, k, b, v)| format!("{a}{k}:{b}{v}"));
            prop::collection::vec(member, 0..5).prop_map(|m| format!("{{{}}}", m.join(",")))
        }

        proptest! {
            #![proptest_config(config(1000))]

            /// Whatever the scanner calls a plain object, the probe finds none of its three
            /// keys in (or refuses): the line is an event either way.
            #[test]
            fn plain_objects_are_events_to_the_probe(
                text in object(),
                mutations in proptest::collection::vec(mutation(), 0..2),
            ) {
                let text = mutate(&text, &mutations);
                if is_plain_object(&text) {
                    let found = serde_json::from_str::<Probe>(&text).map(|p| {
                        (p.records.is_some(), p.message_type.is_some(), p.awslogs.is_some())
                    });
                    prop_assert!(
                        matches!(found, Err(_) | Ok((false, false, false))),
                        "{:?}: {:?}",
                        text,
                        found
                    );
                }
            }
        }
    }
}

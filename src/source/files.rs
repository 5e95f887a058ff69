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

use super::subscription::{self, LogEventError, MessageType, PayloadError};
use super::{Origin, RawEvent};
use crate::event::json_scan::{Cursor, Stop};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the pipeline stopped accepting events")]
    Closed,
}

/// What reading an input produces, in order.
#[derive(Debug)]
pub enum Item {
    /// A page of events for the pipeline.
    Events(Vec<RawEvent>),
    /// Something read that is not delivered: the caller dead-letters it with the reason.
    Rejected(Rejected),
}

/// A line, document, payload or log event refused while reading, with its bytes exactly as read.
#[derive(Debug)]
pub struct Rejected {
    pub origin: Origin,
    pub input: Vec<u8>,
    pub reason: Rejection,
}

/// Why something read was not handed on as an event.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// A subscription payload that could not be decoded: nothing of it is delivered.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// One log event of a payload whose other events were delivered.
    #[error(transparent)]
    LogEvent(#[from] LogEventError),
    #[error("line is not valid UTF-8 (first invalid byte at offset {offset} of the line)")]
    NotUtf8 { offset: usize },
    #[error(
        "line of {len} bytes is longer than --max-document-bytes ({limit}): not read (only its \
         first {kept} bytes are kept here); raise the limit to read it"
    )]
    TooLarge { len: u64, limit: usize, kept: usize },
    #[error(
        "JSON document longer than --max-document-bytes ({limit}) from line {first_line} to line \
         {last_line}: the records before the cut were read, the rest was skipped (only its first \
         {kept} bytes are kept here); raise the limit to read it"
    )]
    DocumentTooLarge {
        limit: usize,
        first_line: u64,
        last_line: u64,
        kept: usize,
    },
    #[error(
        "the rest of a Records document that is cut or broken ({error}): the {records} record(s) \
         before it were read"
    )]
    Broken {
        records: u64,
        error: serde_json::Error,
    },
    #[error(
        "a JSON {0}, not a CloudTrail record, Records file or subscription payload (those are \
         JSON objects)"
    )]
    NotAnObject(JsonKind),
    #[error("neither JSON nor a base64 subscription payload ({0})")]
    NotJson(serde_json::Error),
    #[error(
        "a JSON object whose `Records`, `messageType` or `awslogs` member is not what CloudTrail \
         or CloudWatch Logs write ({0}): neither a Records file, a subscription payload nor a \
         Lambda event"
    )]
    WrongShape(serde_json::Error),
}

impl Rejection {
    /// A short stable name for dead letters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Payload(e) => e.kind(),
            Rejection::LogEvent(e) => e.kind(),
            Rejection::NotUtf8 { .. } => "not_utf8",
            Rejection::TooLarge { .. } => "line_too_large",
            Rejection::DocumentTooLarge { .. } => "document_too_large",
            Rejection::Broken { .. } => "broken_document",
            Rejection::NotAnObject(_) => "not_an_object",
            Rejection::NotJson(_) => "not_json",
            Rejection::WrongShape(_) => "wrong_shape",
        }
    }

    /// Whether part of the input could not be read (as opposed to read and refused).
    pub fn unread(&self) -> bool {
        matches!(
            self,
            Rejection::TooLarge { .. } | Rejection::DocumentTooLarge { .. }
        )
    }
}

/// What a JSON value that is not an object is, to say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Array,
    String,
    Number,
    Boolean,
    Null,
}

impl std::fmt::Display for JsonKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JsonKind::Array => "array",
            JsonKind::String => "string",
            JsonKind::Number => "number",
            JsonKind::Boolean => "boolean",
            JsonKind::Null => "null",
        })
    }
}

/// Why reading an input ended before its end.
#[derive(Debug, thiserror::Error)]
pub enum StopReason {
    #[error("the gzip stream is corrupt or truncated: {0}")]
    Gzip(std::io::Error),
    #[error("bytes after the last complete gzip member are neither gzip nor padding")]
    TrailingData,
    #[error("the input cannot be read: {0}")]
    Io(std::io::Error),
}

impl StopReason {
    pub fn kind(&self) -> &'static str {
        match self {
            StopReason::Gzip(_) => "bad_gzip",
            StopReason::TrailingData => "trailing_data",
            StopReason::Io(_) => "read_error",
        }
    }
}

/// Where and why an input was not read to its end. Everything read before is handed on.
#[derive(Debug)]
pub struct Stopped {
    /// Lines read before the stop (of the decompressed text); a line cut by the stop is among
    /// them.
    pub line: u64,
    /// Offset in the input as stored (compressed bytes for gzip) where reading stopped.
    pub byte: u64,
    pub reason: StopReason,
}

impl serde::Serialize for Stopped {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Stopped", 4)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("byte", &self.byte)?;
        st.serialize_field("kind", self.reason.kind())?;
        st.serialize_field("reason", &self.reason.to_string())?;
        st.end()
    }
}

/// What one input held.
#[derive(Debug, Default, serde::Serialize)]
pub struct InputStats {
    /// Events handed on (CloudTrail records and subscription log events).
    pub events: u64,
    /// Subscription payloads decoded (DATA and CONTROL).
    pub payloads: u64,
    pub control_messages: u64,
    pub malformed_payloads: u64,
    /// Everything handed on as [`Item::Rejected`] (malformed payloads included).
    pub rejected: u64,
    /// Rejected parts that were not read at all (over the size limit).
    pub unread: u64,
    /// Set when the input could not be read to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BOM: &[u8] = b"\xef\xbb\xbf";
/// How much of a line or document too large to read is kept in its dead letter.
const KEEP_OF_TOO_LARGE: usize = 4096;

/// The three members `ingest` tells inputs apart by. Written by hand rather than derived so that
/// a repeated `Records` key adds its records (serde's derive refuses duplicates, which lost the
/// whole file) and so that records already parsed survive a document cut short: they are pushed
/// into `records` as they are read.
struct ProbeSeed<'s, 'a> {
    records: &'s mut Vec<&'a RawValue>,
}

/// The members of a document that tell what it is.
#[derive(Default)]
struct Keys<'a> {
    has_records: bool,
    message_type: bool,
    awslogs: Option<AwsLogs<'a>>,
}

/// A whole document probed: its keys and its records (if it is a Records document).
struct Probe<'a> {
    keys: Keys<'a>,
    records: Vec<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Probe<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut records = Vec::new();
        let keys = ProbeSeed {
            records: &mut records,
        }
        .deserialize(d)?;
        Ok(Probe { keys, records })
    }
}

#[derive(Deserialize)]
struct AwsLogs<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
}

impl<'de> DeserializeSeed<'de> for ProbeSeed<'_, 'de> {
    type Value = Keys<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Keys<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProbeSeed<'_, 'de> {
    type Value = Keys<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys<'de>, A::Error> {
        let mut probe = Keys::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "Records" => {
                    probe.has_records = true;
                    map.next_value_seed(RecordsSeed {
                        records: &mut *self.records,
                    })?;
                }
                "messageType" => {
                    map.next_value::<IgnoredAny>()?;
                    probe.message_type = true;
                }
                "awslogs" => probe.awslogs = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(probe)
    }
}

struct RecordsSeed<'s, 'a> {
    records: &'s mut Vec<&'a RawValue>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of CloudTrail records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<&'de RawValue>()? {
            self.records.push(record);
        }
        Ok(())
    }
}

/// Counts the bytes read from the input and remembers whether the input itself failed, so that
/// a read error is told apart from a corrupt gzip stream by type, not by its text.
struct Counting<R> {
    inner: R,
    bytes: u64,
    failed: bool,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed |= e.kind() != std::io::ErrorKind::Interrupted;
                Err(e)
            }
        }
    }
}

/// Bytes after a gzip member that are neither another member nor padding.
#[derive(Debug, thiserror::Error)]
#[error("data after the last gzip member")]
struct TrailingData;

/// The decompressed text of gzip members back to back (`cat a.gz b.gz`, Firehose objects, bgzip)
/// as one stream, like `flate2::MultiGzDecoder`, but NUL bytes and whitespace between or after
/// members are padding (tape and block devices, `echo >>`), not a corrupt header; anything else
/// there is [`TrailingData`].
struct Members<R: BufRead> {
    member: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let mut raw = self.member.take().expect("checked above").into_inner();
            loop {
                let available = raw.fill_buf()?;
                if available.is_empty() {
                    return Ok(0);
                }
                let padding = available
                    .iter()
                    .take_while(|b| **b == 0 || b.is_ascii_whitespace())
                    .count();
                if padding == 0 {
                    break;
                }
                raw.consume(padding);
            }
            if !raw.fill_buf()?.starts_with(&GZIP_MAGIC) {
                return Err(std::io::Error::other(TrailingData));
            }
            self.member = Some(flate2::bufread::GzDecoder::new(raw));
        }
    }
}

/// How a line read ended.
enum LineEnd {
    /// Nothing more to read.
    Eof,
    Line,
    /// A line longer than the cap: only its first `cap` bytes are in the buffer.
    TooLong {
        len: u64,
    },
}

/// Reads one line ended by LF, CR or CRLF (CR alone is what classic Mac OS and some exporters
/// write) into `buf`, without its end; at most `cap` bytes of it are kept. In valid JSON a CR or
/// LF can only be whitespace between tokens, so splitting on both never cuts a record.
fn read_line(
    input: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
    pending_cr: &mut bool,
) -> std::io::Result<LineEnd> {
    let mut len = 0u64;
    let mut take = |buf: &mut Vec<u8>, chunk: &[u8]| {
        len += chunk.len() as u64;
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        len
    };
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match len {
                0 => LineEnd::Eof,
                n if n > cap as u64 => LineEnd::TooLong { len: n },
                _ => LineEnd::Line,
            });
        }
        if std::mem::take(pending_cr) && available[0] == b'\n' {
            input.consume(1);
            continue;
        }
        match memchr::memchr2(b'\n', b'\r', available) {
            Some(i) => {
                let total = take(buf, &available[..i]);
                *pending_cr = available[i] == b'\r';
                input.consume(i + 1);
                return Ok(if total > cap as u64 {
                    LineEnd::TooLong { len: total }
                } else {
                    LineEnd::Line
                });
            }
            None => {
                let n = available.len();
                take(buf, available);
                input.consume(n);
            }
        }
    }
}

/// Brackets still open in JSON text read so far, strings and escapes followed: a document
/// spread over lines is whole when its depth is back to zero.
#[derive(Debug, Default, Clone, Copy)]
struct Balance {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Balance {
    fn feed(&mut self, text: &[u8]) {
        for &b in text {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
    }
}

/// A JSON document spread over several lines (pretty-printed), read so far.
struct Doc {
    text: String,
    /// Each line's number and where it starts in `text`.
    lines: Vec<(u64, usize)>,
    balance: Balance,
}

/// A document too large to hold, being skipped to its end.
struct Skip {
    first_line: u64,
    balance: Balance,
    kept: Vec<u8>,
}

enum Interrupt {
    Closed,
    Read(std::io::Error),
}

impl From<FilesError> for Interrupt {
    fn from(_: FilesError) -> Self {
        Interrupt::Closed
    }
}

type Out<'f> = dyn FnMut(Item) -> Result<(), FilesError> + 'f;

struct Reader<'o> {
    path: Arc<str>,
    options: &'o ReadOptions,
    page: Vec<RawEvent>,
    record: u64,
    line_no: u64,
    doc: Option<Doc>,
    skip: Option<Skip>,
    stats: InputStats,
}

/// Reads one input (`path` names it in origins; `-` for stdin) and hands on pages of events and
/// rejected parts through `out`, which may refuse with [`FilesError::Closed`]. An input that
/// cannot be read to its end is no error: everything before is handed on and
/// [`InputStats::stopped`] says where and why.
pub fn read_input(
    path: Arc<str>,
    input: impl Read,
    options: &ReadOptions,
    out: &mut Out,
) -> Result<InputStats, FilesError> {
    let mut raw = BufReader::with_capacity(
        256 * 1024,
        Counting {
            inner: input,
            bytes: 0,
            failed: false,
        },
    );
    let mut r = Reader {
        path,
        options,
        page: Vec::with_capacity(options.page_size),
        record: 0,
        line_no: 0,
        doc: None,
        skip: None,
        stats: InputStats::default(),
    };
    let read = match raw.fill_buf() {
        Err(e) => Err(Interrupt::Read(e)),
        Ok(start) if start.starts_with(&GZIP_MAGIC) => {
            let members = Members {
                member: Some(flate2::bufread::GzDecoder::new(&mut raw)),
            };
            r.read_text(&mut BufReader::with_capacity(256 * 1024, members), out)
        }
        Ok(_) => r.read_text(&mut raw, out),
    };
    match read {
        Ok(()) => {}
        Err(Interrupt::Closed) => return Err(FilesError::Closed),
        Err(Interrupt::Read(e)) => {
            let counting = raw.get_ref();
            let reason = if counting.failed {
                StopReason::Io(e)
            } else if e.get_ref().is_some_and(|inner| inner.is::<TrailingData>()) {
                StopReason::TrailingData
            } else {
                StopReason::Gzip(e)
            };
            r.stats.stopped = Some(Stopped {
                line: r.line_no,
                byte: counting.bytes - raw.buffer().len() as u64,
                reason,
            });
        }
    }
    r.flush(out)?;
    Ok(r.stats)
}

impl Reader<'_> {
    fn read_text(&mut self, input: &mut dyn BufRead, out: &mut Out) -> Result<(), Interrupt> {
        let cap = self.options.max_document_bytes;
        let mut line = Vec::new();
        let mut pending_cr = false;
        loop {
            line.clear();
            let end = read_line(input, &mut line, cap, &mut pending_cr);
            let first = self.line_no == 0;
            let bytes = match (first, line.strip_prefix(BOM)) {
                (true, Some(rest)) => rest,
                _ => &line[..],
            };
            match end {
                Ok(LineEnd::Line) => {
                    self.line_no += 1;
                    self.bytes(bytes, out)?;
                }
                Ok(LineEnd::TooLong { len }) => {
                    self.line_no += 1;
                    self.close(out)?;
                    let kept = bytes.len().min(KEEP_OF_TOO_LARGE);
                    self.reject(
                        self.line_no,
                        bytes[..kept].to_vec(),
                        Rejection::TooLarge {
                            len,
                            limit: cap,
                            kept,
                        },
                        out,
                    )?;
                }
                Ok(LineEnd::Eof) => {
                    self.close(out)?;
                    return Ok(());
                }
                Err(e) => {
                    // What was read of the cut line is handed on like any line.
                    if !bytes.is_empty() {
                        self.line_no += 1;
                        self.bytes(bytes, out)?;
                    }
                    self.close(out)?;
                    return Err(Interrupt::Read(e));
                }
            }
        }
    }

    /// One line as read, without its end.
    fn bytes(&mut self, line: &[u8], out: &mut Out) -> Result<(), FilesError> {
        let text = line.trim_ascii();
        if let Some(skip) = &mut self.skip {
            skip.balance.feed(text);
            if skip.balance.depth == 0 || skip.balance.in_string {
                self.end_skip(out)?;
            }
            return Ok(());
        }
        if text.is_empty() {
            return Ok(());
        }
        match std::str::from_utf8(text) {
            Ok(text) => self.text(text, self.line_no, out),
            Err(e) => {
                self.close(out)?;
                // A payload (gzip decompressed to JSON) with a bad byte in one log event: the
                // decoder refuses that event alone.
                if text.starts_with(b"{") {
                    if let Ok(payload) = subscription::decode(text, self.options.max_payload_bytes)
                    {
                        return self.decoded(payload, out);
                    }
                }
                // CloudTrail and CloudWatch Logs write UTF-8: an invalid byte is damage, and
                // replacing it would change what a record says. The line is kept as it was.
                let offset = e.valid_up_to() + (text.as_ptr() as usize - line.as_ptr() as usize);
                self.reject(
                    self.line_no,
                    line.to_vec(),
                    Rejection::NotUtf8 { offset },
                    out,
                )
            }
        }
    }

    /// One line of text, trimmed and not empty.
    fn text(&mut self, text: &str, line_no: u64, out: &mut Out) -> Result<(), FilesError> {
        if let Some(doc) = &mut self.doc {
            let start = doc.text.len();
            doc.text.push_str(text);
            doc.text.push('\n');
            doc.lines.push((line_no, start));
            doc.balance.feed(text.as_bytes());
            if doc.balance.in_string || doc.balance.depth == 0 {
                return self.end_doc(out);
            }
            if doc.text.len() > self.options.max_document_bytes {
                if broken_at(&doc.text).is_some() {
                    // Not one document after all (a damaged line before good ones).
                    return self.end_doc(out);
                }
                let doc = self.doc.take().expect("checked above");
                let first_line = doc.lines[0].0;
                let balance = doc.balance;
                let kept = doc.text.as_bytes()[..doc.text.len().min(KEEP_OF_TOO_LARGE)].to_vec();
                // The records before the limit are read; the rest is skipped to the end of the
                // document and reported once, rather than line by line.
                self.document(&doc.text, first_line, true, out)?;
                self.skip = Some(Skip {
                    first_line,
                    balance,
                    kept,
                });
            }
            return Ok(());
        }
        if text.starts_with('{') {
            if is_plain_object(text) {
                // A CloudTrail record (or a JSON object the pipeline will dead-letter): what the
                // probe would conclude, without it (the probe was ~7% of `ingest`'s CPU).
                return self.record(one_line(text), out);
            }
            if opens_document(text) {
                let mut balance = Balance::default();
                balance.feed(text.as_bytes());
                if balance.depth > 0 && !balance.in_string {
                    let mut doc = Doc {
                        text: String::with_capacity(text.len() * 4),
                        lines: vec![(line_no, 0)],
                        balance,
                    };
                    doc.text.push_str(text);
                    doc.text.push('\n');
                    self.doc = Some(doc);
                    return Ok(());
                }
            }
        }
        self.document(text, line_no, false, out)
    }

    /// Ends the document being gathered over lines (complete, cut by the end of the input, or
    /// broken by a line that cannot belong to it).
    fn end_doc(&mut self, out: &mut Out) -> Result<(), FilesError> {
        let Some(doc) = self.doc.take() else {
            return Ok(());
        };
        // Documents back to back, the last possibly cut short by the end of the input: read as
        // such. Anything else means the first line was not the start of a longer document (a
        // damaged line before good ones): it stands alone and the lines after are read again.
        let line_text = |i: usize| {
            let start = doc.lines[i].1;
            let end = doc.lines.get(i + 1).map_or(doc.text.len(), |l| l.1);
            doc.text[start..end].trim_end()
        };
        let Some(broken_at) = broken_at(&doc.text) else {
            if doc.balance.depth == 0 || records_before_the_cut(&doc.text) > 0 {
                return self.document(doc.text.trim_end(), doc.lines[0].0, true, out);
            }
            // Cut short before any record: no Records document to salvage, and the first line
            // may be a damaged one before good lines. Each line stands alone (none starts
            // another document, which would read the lines again and again).
            for i in 0..doc.lines.len() {
                self.document(line_text(i), doc.lines[i].0, false, out)?;
            }
            return Ok(());
        };
        self.document(line_text(0), doc.lines[0].0, false, out)?;
        // Lines before the break were a valid start of the same document: they do not start
        // another one (which would read them again and again).
        for i in 1..doc.lines.len() {
            if i + 1 < broken_at {
                self.document(line_text(i), doc.lines[i].0, false, out)?;
            } else {
                self.text(line_text(i), doc.lines[i].0, out)?;
            }
        }
        Ok(())
    }

    /// Ends whatever spans lines at a hard boundary (the end of the input, a line that cannot
    /// belong to a document). Ending a document that turns out broken reads its lines again,
    /// which may start a shorter one: ended too, until none is left.
    fn close(&mut self, out: &mut Out) -> Result<(), FilesError> {
        while self.doc.is_some() {
            self.end_doc(out)?;
        }
        self.end_skip(out)
    }

    fn end_skip(&mut self, out: &mut Out) -> Result<(), FilesError> {
        let Some(skip) = self.skip.take() else {
            return Ok(());
        };
        let kept = skip.kept.len();
        self.reject(
            skip.first_line,
            skip.kept,
            Rejection::DocumentTooLarge {
                limit: self.options.max_document_bytes,
                first_line: skip.first_line,
                last_line: self.line_no,
                kept,
            },
            out,
        )
    }

    /// Text holding one or more JSON documents (or none), from `line_no`. `cut` says the text
    /// may end inside a document (the end of a document over lines that never came).
    fn document(
        &mut self,
        text: &str,
        line_no: u64,
        cut: bool,
        out: &mut Out,
    ) -> Result<(), FilesError> {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Probe>();
        let mut at = 0;
        loop {
            let rest = text[at..].trim_start();
            if rest.is_empty() {
                return Ok(());
            }
            if !rest.starts_with('{') {
                return self.not_an_object(rest, line_no, out);
            }
            let Some(Ok(Probe { keys, records })) = stream.next() else {
                // Probed again, for the records before the damage (the stream drops them).
                let mut records = Vec::new();
                let seed = ProbeSeed {
                    records: &mut records,
                };
                return match seed.deserialize(&mut serde_json::Deserializer::from_str(rest)) {
                    Err(e) => self.broken(rest, &records, e, line_no, cut, out),
                    Ok(_) => self.record(one_line(rest), out),
                };
            };
            let end = stream.byte_offset();
            let doc = text[at..end].trim();
            match keys {
                Keys {
                    has_records: true, ..
                } => {
                    for record in records {
                        self.record(one_line(record.get()), out)?;
                    }
                }
                Keys {
                    message_type: true, ..
                } => self.payload(doc.as_bytes(), doc, line_no, out)?,
                Keys {
                    awslogs: Some(logs),
                    ..
                } => self.payload(logs.data.as_bytes(), doc, line_no, out)?,
                _ => self.record(one_line(doc), out)?,
            }
            at = end;
        }
    }

    /// A document the probe could not read to its end (`text` starts with it).
    fn broken(
        &mut self,
        text: &str,
        records: &[&RawValue],
        error: serde_json::Error,
        line_no: u64,
        cut: bool,
        out: &mut Out,
    ) -> Result<(), FilesError> {
        use serde_json::error::Category;
        let doc = text.trim();
        if error.classify() == Category::Data {
            return self.reject(
                line_no,
                doc.as_bytes().to_vec(),
                Rejection::WrongShape(error),
                out,
            );
        }
        if records.is_empty() && !cut {
            // Not a Records document (or one broken before its first record): an event the
            // pipeline dead-letters with what is wrong with it.
            return self.record(one_line(doc), out);
        }
        // Records read before the damage are delivered; the rest is kept with the reason.
        for record in records {
            self.record(one_line(record.get()), out)?;
        }
        let after = records.last().map_or(0, |r| {
            r.get().as_ptr() as usize - text.as_ptr() as usize + r.get().len()
        });
        self.reject(
            line_no,
            text[after..].trim().as_bytes().to_vec(),
            Rejection::Broken {
                records: records.len() as u64,
                error,
            },
            out,
        )
    }

    /// A line or document that does not start with `{`.
    fn not_an_object(&mut self, text: &str, line_no: u64, out: &mut Out) -> Result<(), FilesError> {
        if looks_like_payload(text) {
            return self.payload(text.as_bytes(), text, line_no, out);
        }
        let reason = match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => Rejection::NotAnObject(match text.as_bytes()[0] {
                b'[' => JsonKind::Array,
                b'"' => JsonKind::String,
                b't' | b'f' => JsonKind::Boolean,
                b'n' => JsonKind::Null,
                _ => JsonKind::Number,
            }),
            Err(e) => Rejection::NotJson(e),
        };
        self.reject(line_no, text.as_bytes().to_vec(), reason, out)
    }

    fn push(&mut self, event: RawEvent, out: &mut Out) -> Result<(), FilesError> {
        self.page.push(event);
        self.stats.events += 1;
        if self.page.len() >= self.options.page_size {
            self.flush(out)?;
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Out) -> Result<(), FilesError> {
        if !self.page.is_empty() {
            let page =
                std::mem::replace(&mut self.page, Vec::with_capacity(self.options.page_size));
            out(Item::Events(page))?;
        }
        Ok(())
    }

    fn reject(
        &mut self,
        line_no: u64,
        input: Vec<u8>,
        reason: Rejection,
        out: &mut Out,
    ) -> Result<(), FilesError> {
        self.stats.rejected += 1;
        self.stats.unread += u64::from(reason.unread());
        // Events before it keep their order ahead of it.
        self.flush(out)?;
        out(Item::Rejected(Rejected {
            origin: Origin::File {
                path: self.path.clone(),
                record: line_no,
            },
            input,
            reason,
        }))
    }

    /// Hands on one event read from the file itself (not from a payload), numbered in order.
    fn record(&mut self, message: String, out: &mut Out) -> Result<(), FilesError> {
        self.record += 1;
        let origin = Origin::File {
            path: self.path.clone(),
            record: self.record,
        };
        self.push(RawEvent { message, origin }, out)
    }

    fn payload(
        &mut self,
        bytes: &[u8],
        text: &str,
        line_no: u64,
        out: &mut Out,
    ) -> Result<(), FilesError> {
        match subscription::decode(bytes, self.options.max_payload_bytes) {
            Ok(payload) => self.decoded(payload, out),
            Err(error) => {
                self.stats.malformed_payloads += 1;
                self.reject(line_no, text.as_bytes().to_vec(), error.into(), out)
            }
        }
    }

    /// Hands on a decoded payload's events, and each of its log events refused alone.
    fn decoded(&mut self, payload: subscription::Payload, out: &mut Out) -> Result<(), FilesError> {
        self.stats.payloads += 1;
        if payload.message_type == MessageType::Control {
            self.stats.control_messages += 1;
        }
        for event in payload.events {
            self.push(event, out)?;
        }
        for bad in payload.rejected {
            self.stats.rejected += 1;
            self.flush(out)?;
            out(Item::Rejected(Rejected {
                origin: bad.origin,
                input: bad.input,
                reason: Rejection::LogEvent(bad.error),
            }))?;
        }
        Ok(())
    }
}

/// The line (1-based) where `text` stops being JSON documents back to back, the last possibly
/// cut short by its end; `None` when it is.
fn broken_at(text: &str) -> Option<usize> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<IgnoredAny>();
    loop {
        match stream.next() {
            None => return None,
            Some(Ok(_)) => {}
            Some(Err(e)) if e.is_eof() => return None,
            Some(Err(e)) => return Some(e.line()),
        }
    }
}

/// How many whole records the Records array of `text`, a document cut short, holds.
fn records_before_the_cut(text: &str) -> usize {
    let mut records = Vec::new();
    let seed = ProbeSeed {
        records: &mut records,
    };
    let _cut = seed.deserialize(&mut serde_json::Deserializer::from_str(text));
    records.len()
}

/// Base64 text of a payload as it travels in Lambda events and dumps: gzip (`H4sI`, how every
/// CloudWatch Logs payload starts) or JSON (`eyJ`, `{"`). Other words made of base64 letters
/// (`true`, `null`, `1234`, `junk`) are not payloads.
fn looks_like_payload(text: &str) -> bool {
    (text.starts_with("H4sI") || text.starts_with("eyJ"))
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Whether a line that is not a whole JSON value may start one spread over lines: it ends where
/// a pretty-printer breaks a line (after `{`, `[`, `,` or `:`). A line cut short (damaged
/// NDJSON) mostly ends elsewhere, and then stands alone rather than swallowing the lines after.
fn opens_document(text: &str) -> bool {
    matches!(text.as_bytes().last(), Some(b'{' | b'[' | b',' | b':'))
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

    fn read(bytes: &[u8], options: &ReadOptions) -> (Vec<RawEvent>, Vec<Rejected>, InputStats) {
        let mut events = Vec::new();
        let mut other = Vec::new();
        let stats = read_input(Arc::from("in"), bytes, options, &mut |item| {
            match item {
                Item::Events(page) => {
                    assert!(!page.is_empty() && page.len() <= options.page_size);
                    events.extend(page)
                }
                Item::Rejected(r) => other.push(r),
            }
            Ok(())
        })
        .unwrap();
        (events, other, stats)
    }

    fn messages(events: &[RawEvent]) -> Vec<&str> {
        events.iter().map(|e| e.message.as_str()).collect()
    }

    fn kinds(rejected: &[Rejected]) -> Vec<&'static str> {
        rejected.iter().map(|r| r.reason.kind()).collect()
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
        let input = format!("{R1}\n\n{R2}\n{b64}\n{lambda}\nnot json\nH4sIAAAA\n");
        let options = ReadOptions {
            page_size: 2,
            ..ReadOptions::default()
        };
        let (events, other, stats) = read(input.as_bytes(), &options);
        assert_eq!(messages(&events), [R1, R2, R1, R1]);
        assert!(matches!(events[2].origin, Origin::CloudWatch(ref p) if p.event_id == "7"));
        assert_eq!(stats.payloads, 2);
        assert_eq!(stats.malformed_payloads, 1);
        assert_eq!(stats.rejected, 2);
        assert_eq!(kinds(&other), ["not_json", "bad_gzip"]);
        assert_eq!(other[0].input, b"not json");
        let Rejected { origin, input, .. } = &other[1];
        assert_eq!(input, b"H4sIAAAA");
        assert_eq!(
            origin,
            &Origin::File {
                path: Arc::from("in"),
                record: 7
            }
        );
    }

    fn no_stop(stats: &InputStats) {
        assert!(stats.stopped.is_none(), "{:?}", stats.stopped);
    }

    #[test]
    fn an_oversized_line_is_refused_alone_and_the_next_lines_are_read() {
        let options = ReadOptions {
            max_document_bytes: 100,
            page_size: 1000,
            ..ReadOptions::default()
        };
        let long = format!("{R1}{R1}");
        let input = format!("{R1}\n{long}\n{R2}\n");
        let (events, other, stats) = read(input.as_bytes(), &options);
        no_stop(&stats);
        assert_eq!(messages(&events), [R1, R2]);
        assert_eq!(kinds(&other), ["line_too_large"]);
        assert_eq!(other[0].input, &long.as_bytes()[..100]);
        assert!(matches!(
            other[0].reason,
            Rejection::TooLarge { len, limit: 100, kept: 100 } if len == long.len() as u64
        ));
        assert_eq!((stats.rejected, stats.unread), (1, 1));
    }

    #[test]
    fn invalid_utf8_lines_are_refused_with_their_bytes() {
        let mut bad = br#"{"eventID":"e1","x":""#.to_vec();
        bad.extend_from_slice(&[0xff, 0xc3]);
        bad.extend_from_slice(b"\"}");
        let mut input = format!("{R1}\n").into_bytes();
        input.extend_from_slice(&bad);
        input.extend_from_slice(format!("\n{R2}\n").as_bytes());
        let (events, other, stats) = read(&input, &ReadOptions::default());
        no_stop(&stats);
        assert_eq!(messages(&events), [R1, R2]);
        assert_eq!(kinds(&other), ["not_utf8"]);
        assert_eq!(other[0].input, bad, "the original bytes");
        assert!(matches!(other[0].reason, Rejection::NotUtf8 { offset: 21 }));
    }

    #[test]
    fn gzip_cut_short_delivers_what_was_read_and_says_where_it_stopped() {
        let text: String = (0..200)
            .map(|i| format!("{{\"eventID\":\"e{i}\",\"n\":{i}}}\n"))
            .collect();
        let gz = gzip(text.as_bytes());
        let cut = &gz[..gz.len() - 20];
        let (events, other, stats) = read(cut, &ReadOptions::default());
        let stopped = stats.stopped.expect("a stop");
        assert_eq!(stopped.reason.kind(), "bad_gzip");
        assert_eq!(stopped.byte, cut.len() as u64);
        // Every complete line before the cut is delivered; the cut one is handed on as read.
        assert!(events.len() >= 190, "{}", events.len());
        for (i, e) in events.iter().enumerate().take(events.len() - 1) {
            assert_eq!(e.message, format!("{{\"eventID\":\"e{i}\",\"n\":{i}}}"));
        }
        assert!(other.len() <= 1);
    }

    #[test]
    fn padding_after_gzip_members_is_not_an_error_and_members_are_all_read() {
        let a = gzip(format!("{R1}\n").as_bytes());
        let b = gzip(R2.as_bytes());
        let mut input = a.clone();
        input.extend_from_slice(&b);
        input.extend_from_slice(&[0u8; 4096]);
        input.extend_from_slice(b"\n");
        let (events, other, stats) = read(&input, &ReadOptions::default());
        no_stop(&stats);
        assert!(other.is_empty());
        assert_eq!(messages(&events), [R1, R2]);
        // Anything else after a member is trailing data: the members before are delivered.
        let mut input = a;
        input.extend_from_slice(b"\0\0garbage");
        let (events, _, stats) = read(&input, &ReadOptions::default());
        assert_eq!(messages(&events), [R1]);
        let stopped = stats.stopped.expect("a stop");
        assert_eq!(stopped.reason.kind(), "trailing_data");
    }

    #[test]
    fn payloads_in_gzip_members_back_to_back_are_each_read() {
        // A Firehose object: each member a subscription payload, no line break between them.
        let payload = |id: &str| {
            serde_json::json!({
                "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
                "subscriptionFilters": ["f"],
                "logEvents": [{"id": id, "timestamp": 5, "message": R1}]
            })
            .to_string()
        };
        let mut input = Vec::new();
        for id in ["1", "2", "3"] {
            input.extend(gzip(payload(id).as_bytes()));
        }
        let (events, other, stats) = read(&input, &ReadOptions::default());
        no_stop(&stats);
        assert!(other.is_empty());
        assert_eq!(stats.payloads, 3);
        let ids: Vec<_> = events
            .iter()
            .map(|e| match &e.origin {
                Origin::CloudWatch(p) => p.event_id.as_str(),
                _ => panic!("not a payload event"),
            })
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
    }

    #[test]
    fn records_documents_back_to_back_pretty_with_bom_and_any_line_end() {
        let one = format!("{{\"Records\":[{R1}]}}");
        let two = format!("{{\"Records\":[{R2}]}}");
        let pretty = |r: &str| format!("{{\n  \"Records\": [\n    {r}\n  ]\n}}\n");
        let cases: Vec<Vec<u8>> = vec![
            format!("{one}{two}").into_bytes(),
            format!("{one} {two}\n").into_bytes(),
            [gzip(one.as_bytes()), gzip(two.as_bytes())].concat(),
            format!("{}{}", pretty(R1), pretty(R2)).into_bytes(),
            format!("\u{feff}{}{}", pretty(R1), pretty(R2)).into_bytes(),
            format!("\u{feff}{one}\n{two}").into_bytes(),
            format!("\u{feff}{R1}\n{R2}\n").into_bytes(),
            format!("{R1}\r{R2}\r").into_bytes(),
            format!("{R1}\r\n{R2}\r\n").into_bytes(),
            format!(
                "{}{}",
                pretty(R1).replace('\n', "\r"),
                pretty(R2).replace('\n', "\r\n")
            )
            .into_bytes(),
            [
                gzip(format!("\u{feff}{}", pretty(R1)).as_bytes()),
                gzip(pretty(R2).as_bytes()),
            ]
            .concat(),
            format!("{{\"Records\":[{R1}],\"Records\":[{R2}]}}").into_bytes(),
        ];
        for (i, input) in cases.iter().enumerate() {
            let (events, other, stats) = read(input, &ReadOptions::default());
            no_stop(&stats);
            assert_eq!(kinds(&other), Vec::<&str>::new(), "case {i}");
            assert_eq!(messages(&events), [R1, R2], "case {i}");
        }
    }

    #[test]
    fn a_records_document_cut_short_delivers_its_whole_records() {
        let file = format!("{{\"Records\":[{R1},{R2},{{\"eventID\":\"e3\",\"x\":\"abc");
        let (events, other, _) = read(file.as_bytes(), &ReadOptions::default());
        assert_eq!(messages(&events), [R1, R2]);
        assert_eq!(kinds(&other), ["broken_document"]);
        assert_eq!(other[0].input, b",{\"eventID\":\"e3\",\"x\":\"abc");
        // Pretty-printed and cut: the same.
        let file = format!("{{\n\"Records\": [\n{R1},\n{R2},\n{{\"eventID\": \"e3\",\n");
        let (events, other, _) = read(file.as_bytes(), &ReadOptions::default());
        assert_eq!(messages(&events), [R1, R2]);
        assert_eq!(kinds(&other), ["broken_document"]);
    }

    #[test]
    fn a_damaged_line_does_not_swallow_the_lines_after_it() {
        let input = format!("{{\"eventID\":\"cut\",\n{R1}\n{R2}\n");
        let (events, other, _) = read(input.as_bytes(), &ReadOptions::default());
        assert!(other.is_empty());
        assert_eq!(messages(&events), ["{\"eventID\":\"cut\",", R1, R2]);
    }

    #[test]
    fn a_damaged_line_is_found_out_at_the_size_limit_at_the_latest() {
        // Every line after it is balanced: the document never closes; at the limit the text is
        // checked, and the lines are read one by one.
        let options = ReadOptions {
            max_document_bytes: 300,
            ..ReadOptions::default()
        };
        let records: String = (0..10).map(|_| format!("{R1}\n")).collect();
        let input = format!("{{\"a\":[\n{records}");
        let (events, other, stats) = read(input.as_bytes(), &options);
        assert!(other.is_empty(), "{:?}", kinds(&other));
        assert_eq!(stats.unread, 0);
        assert_eq!(events.len(), 11);
        assert_eq!(events[0].message, "{\"a\":[");
        assert!(events[1..].iter().all(|e| e.message == R1));
    }

    #[test]
    fn a_document_over_the_limit_is_skipped_to_its_end_and_reported_once() {
        let options = ReadOptions {
            max_document_bytes: 200,
            ..ReadOptions::default()
        };
        let records: String = (0..10).map(|_| format!("    {R1},\n")).collect();
        let input = format!("{{\n  \"Records\": [\n{records}    {R1}\n  ]\n}}\n{R2}\n");
        let (events, other, _) = read(input.as_bytes(), &options);
        assert_eq!(kinds(&other), ["broken_document", "document_too_large"]);
        assert_eq!(events.last().unwrap().message, R2);
        assert!(events[..events.len() - 1].iter().all(|e| e.message == R1));
    }

    #[test]
    fn words_and_scalars_say_what_they_are() {
        let input = "true\nnull\n1234\n\"text\"\n[1,2]\njunk\n{\"awslogs\":{\"data\":123}}\n{\"Records\":\"x\"}\n";
        let (events, other, stats) = read(input.as_bytes(), &ReadOptions::default());
        assert!(events.is_empty());
        assert_eq!(stats.malformed_payloads, 0);
        assert_eq!(
            kinds(&other),
            [
                "not_an_object",
                "not_an_object",
                "not_an_object",
                "not_an_object",
                "not_an_object",
                "not_json",
                "wrong_shape",
                "wrong_shape"
            ]
        );
        let reasons: Vec<String> = other.iter().map(|r| r.reason.to_string()).collect();
        assert!(reasons[0].starts_with("a JSON boolean"), "{}", reasons[0]);
        assert!(reasons[2].starts_with("a JSON number"), "{}", reasons[2]);
        assert!(reasons[6].contains("expected a string"), "{}", reasons[6]);
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

    #[test]
    fn junk_that_wraps_a_record_into_one_document_is_refused_whole_with_it() {
        // Found by `no_record_is_lost` in CI: `{"a":[`, a record, `]`, `}` on four lines is one
        // valid JSON document: handed on whole (the decoder dead-letters it, record inside), and
        // the next line is read as its own record.
        let text = format!("{{\"a\":[\n{R1}\n]\n}}\n{R2}\n");
        let (events, refused, stats) = read(text.as_bytes(), &ReadOptions::default());
        assert!(stats.stopped.is_none() && refused.is_empty());
        assert_eq!(events.len(), 2);
        assert!(events[0].message.starts_with("{\"a\":[") && events[0].message.contains(R1));
        assert_eq!(events[1].message, R2);
    }

    mod no_record_is_lost {
        use super::*;
        use crate::event::json_scan::tests::config;
        use proptest::prelude::*;

        /// One part of a generated input: good records (by number) or something to refuse.
        #[derive(Debug, Clone)]
        enum Part {
            Line,
            Records,
            TwoOnOneLine,
            Pretty,
            Blank,
            Junk(&'static str),
        }

        fn part() -> impl Strategy<Value = Part> {
            prop_oneof![
                4 => Just(Part::Line),
                1 => Just(Part::Records),
                1 => Just(Part::TwoOnOneLine),
                1 => Just(Part::Pretty),
                1 => Just(Part::Blank),
                2 => prop::sample::select(vec![
                    "junk", "true", "null", "1234", "[1,2]", "\"s\"", "{\"a\":1",
                    "{\"a\":1,", "{\"a\":[", "{\"awslogs\":{\"data\":1}}", "{\"Records\":7}", "}", "]",
                ])
                .prop_map(Part::Junk),
            ]
        }

        fn rec(n: &mut usize) -> String {
            *n += 1;
            format!("{{\"eventID\":\"r{n}\",\"x\":[1,{{\"y\":\"a\\\"b\"}}]}}")
        }

        /// The input's text (lines without their ends) and how many records it holds.
        fn render(parts: &[Part]) -> (Vec<String>, usize) {
            let mut n = 0;
            let mut lines = Vec::new();
            for p in parts {
                match p {
                    Part::Line => lines.push(rec(&mut n)),
                    Part::Records => {
                        lines.push(format!("{{\"Records\":[{},{}]}}", rec(&mut n), rec(&mut n)))
                    }
                    Part::TwoOnOneLine => lines.push(format!(
                        "{{\"Records\":[{}]}} {{\"Records\":[{}]}}",
                        rec(&mut n),
                        rec(&mut n)
                    )),
                    Part::Pretty => {
                        lines.push("{".into());
                        lines.push("  \"Records\": [".into());
                        lines.push(format!("    {},", rec(&mut n)));
                        lines.push(format!("    {}", rec(&mut n)));
                        lines.push("  ]".into());
                        lines.push("}".into());
                    }
                    Part::Blank => lines.push(String::new()),
                    Part::Junk(j) => lines.push((*j).to_owned()),
                }
            }
            (lines, n)
        }

        proptest! {
            #![proptest_config(config(300))]

            /// Whatever the mix, line ends, BOM and gzip members: every good record is handed
            /// on exactly once, as its own event — or inside a whole document that is refused
            /// (dead-lettered) — and reading never stops.
            #[test]
            fn every_good_record_is_delivered_once(
                parts in prop::collection::vec(part(), 0..24),
                end in prop::sample::select(vec!["\n", "\r", "\r\n"]),
                bom in any::<bool>(),
                members in 0usize..4,
            ) {
                let (lines, n) = render(&parts);
                let mut text = if bom { "\u{feff}".to_owned() } else { String::new() };
                text.push_str(&lines.join(end));
                // Cut into members anywhere (bgzip does), even inside a record.
                let bytes = match text.len().checked_div(members) {
                    None => text.into_bytes(),
                    Some(step) => text.as_bytes().chunks(step + 1).flat_map(gzip).collect(),
                };
                let (events, refused, stats) = read(&bytes, &ReadOptions::default());
                prop_assert!(stats.stopped.is_none());
                // Junk around records can make one valid document (`{"a":[` + a record + `]` +
                // `}`): that document is handed on (or refused) whole, records inside, and the
                // decoder dead-letters it — kept, not lost. Only a whole JSON document may take
                // records with it: a damaged part never swallows the good lines after it.
                let ids_inside = |text: &str| -> Vec<usize> {
                    text.split("\"eventID\":\"r")
                        .skip(1)
                        .filter_map(|rest| {
                            let digits: String =
                                rest.chars().take_while(char::is_ascii_digit).collect();
                            digits.parse().ok()
                        })
                        .collect()
                };
                let mut ids = Vec::new();
                let wholes = events
                    .iter()
                    .map(|e| e.message.clone())
                    .chain(refused.iter().map(|r| String::from_utf8_lossy(&r.input).into_owned()));
                for text in wholes {
                    let own = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v["eventID"].as_str()?.strip_prefix('r')?.parse().ok());
                    match own {
                        Some(id) => ids.push(id),
                        None => {
                            let inside = ids_inside(&text);
                            if !inside.is_empty() {
                                let whole = serde_json::from_str::<serde_json::Value>(
                                    text.trim_start_matches('\u{feff}'),
                                );
                                prop_assert!(
                                    whole.is_ok(),
                                    "a part that is not one document holds records: {}",
                                    text
                                );
                                ids.extend(inside);
                            }
                        }
                    }
                }
                ids.sort_unstable();
                prop_assert_eq!(ids, (1..=n).collect::<Vec<_>>());
            }
        }
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
                        (p.keys.has_records, p.keys.message_type, p.keys.awslogs.is_some())
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

//! A validating JSON scanner for the decoder's hot path: it walks the members of an object (the
//! elements of an array) and finds where each value ends, building nothing.
//!
//! With serde_json's `&RawValue` walk, decoding a record of the bench corpus took ~21k
//! instructions, most of them per token, in the visitor and raw-buffering machinery around its
//! skipper; with this scanner, ~14k. A value is skipped by one loop over bytes: string bodies
//! eight bytes at a time, nesting on an explicit stack, errors out of line.
//!
//! The contract with the callers: what this accepts is JSON as RFC 8259 defines it, and it gives
//! the same members, keys and value slices as serde_json's walk. It may refuse what serde_json
//! takes (the caller then reads with serde_json), never the other way round; the proptests below
//! hold it to both. Like serde_json when it skips a value, it does not check that `\u` escapes
//! pair surrogates; a key with escapes is decoded by serde_json itself, which does.

use super::json_escape;
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Error as _, Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A slice of the input that is exactly one valid JSON value (no whitespace around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawJson<'a> {
    text: &'a str,
    /// A string without escapes: its text is what lies between the quotes. The scanner knows
    /// it for free; finding it out again (a search for `\\`) was a pass over every value read
    /// as a string.
    plain_str: bool,
}

impl<'a> RawJson<'a> {
    /// A `null` from no particular place (one kept for a member read as absent).
    pub const NULL: RawJson<'static> = RawJson {
        text: "null",
        plain_str: false,
    };

    /// `text` must be one valid JSON value with nothing around it.
    fn valid(text: &'a str) -> Self {
        let plain_str = text.len() >= 2 && text.starts_with('"') && !text.contains('\\');
        RawJson { text, plain_str }
    }

    #[inline]
    pub fn get(self) -> &'a str {
        self.text
    }

    /// The text of a string that has no escapes, borrowed; `None` for any other value.
    #[inline]
    pub fn plain_str(self) -> Option<&'a str> {
        self.plain_str.then(|| &self.text[1..self.text.len() - 1])
    }

    /// `text` when it is one JSON value (whitespace around it is left out, as serde_json does).
    pub fn parse(text: &'a str) -> Result<Self, ScanError> {
        let mut cur = Cursor::new(text);
        let value = cur.value()?;
        cur.end()?;
        Ok(value)
    }
}

/// serde_json checks what it hands out as a `&RawValue`.
impl<'de> Deserialize<'de> for RawJson<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&RawValue>::deserialize(deserializer).map(|raw| RawJson::valid(raw.get()))
    }
}

/// The text as it came, as `&RawValue` writes it: only serde_json's own serializer knows how to
/// write raw text, through `RawValue`. The slice is valid JSON, so borrowing it as a `RawValue`
/// cannot fail (the reference serializer is not on the hot path: it may check again).
impl Serialize for RawJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(self.text).map_err(S::Error::custom)?;
        raw.serialize(s)
    }
}

/// Why the scanner refused its input, and where (a byte offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct ScanError {
    pub kind: Malformed,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("unexpected end of input")]
    Eof,
    #[error("expected a value")]
    ExpectedValue,
    #[error("invalid literal")]
    Literal,
    #[error("invalid number")]
    Number,
    #[error("control character in a string")]
    ControlCharacter,
    #[error("invalid escape")]
    Escape,
    #[error("expected a string key")]
    Key,
    #[error("a key whose escapes do not decode")]
    KeyEscape,
    #[error("expected `:`")]
    Colon,
    #[error("expected `,` or `}}`")]
    ObjectCommaOrEnd,
    #[error("expected `,` or `]`")]
    ArrayCommaOrEnd,
    #[error("expected an object")]
    NotObject,
    #[error("expected an array")]
    NotArray,
    #[error("characters after the value")]
    Trailing,
}

/// Why a walk stopped: the JSON was not what was expected (`Json`), or the callback refused a
/// member (`Refused`, its own error).
#[derive(Debug)]
pub enum Stop<E> {
    Json(ScanError),
    Refused(E),
}

impl<E> From<ScanError> for Stop<E> {
    fn from(e: ScanError) -> Self {
        Stop::Json(e)
    }
}

/// What a walk over a skipped value tells, token by token, to a check of its shape made in the
/// same walk (bound.rs: what a `flat_object` field may take), so that a payload is read once,
/// not once to find its end and again to check it. `()` watches nothing and costs nothing.
pub trait Watch<'a> {
    /// `{` (`object`) or `[`.
    fn open(&mut self, object: bool);
    /// The `}` or `]` of the innermost open container.
    fn close(&mut self);
    /// An object's key as written, quotes included; `escaped` when it holds escapes.
    fn key(&mut self, quoted: &'a str, escaped: bool);
    /// A string value whose text between the quotes is `len` bytes as written.
    fn string(&mut self, len: usize);
    /// A number or a literal of `len` bytes.
    fn scalar(&mut self, len: usize);
}

impl Watch<'_> for () {
    #[inline(always)]
    fn open(&mut self, _: bool) {}
    #[inline(always)]
    fn close(&mut self) {}
    #[inline(always)]
    fn key(&mut self, _: &str, _: bool) {}
    #[inline(always)]
    fn string(&mut self, _: usize) {}
    #[inline(always)]
    fn scalar(&mut self, _: usize) {}
}

/// Where the input ends, `Eof`; else `kind`, at `offset`. Out of line: errors are the rare path,
/// and keeping them apart keeps the scanning loops small.
#[cold]
#[inline(never)]
fn malformed(text: &str, offset: usize, kind: Malformed) -> ScanError {
    let kind = if offset >= text.len() {
        Malformed::Eof
    } else {
        kind
    };
    ScanError { kind, offset }
}

/// A position in JSON text, read forward.
pub struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn error(&self, kind: Malformed) -> ScanError {
        malformed(self.text, self.pos, kind)
    }

    /// The next byte that is not whitespace (JSON's four bytes only), not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// After the top-level value: only whitespace may follow.
    pub fn end(&mut self) -> Result<(), ScanError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error(Malformed::Trailing)),
        }
    }

    /// Consumes a `null` at the cursor (`true`); anything else is left for the caller (`false`).
    pub fn null(&mut self) -> Result<bool, ScanError> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    /// Hands each member of the object at the cursor to `f`, in order, with the cursor at the
    /// member's value: `f` must read that one value (`value`, `object`, `array`, `null`).
    pub fn object<E>(
        &mut self,
        mut f: impl FnMut(Cow<'a, str>, &mut Self) -> Result<(), Stop<E>>,
    ) -> Result<(), Stop<E>> {
        self.open(b'{', Malformed::NotObject)?;
        if self.close(b'}') {
            return Ok(());
        }
        loop {
            let key = self.key()?;
            f(key, self)?;
            if self.next_or_close(b'}', Malformed::ObjectCommaOrEnd)? {
                return Ok(());
            }
        }
    }

    /// [`Cursor::object`] for the elements of an array.
    pub fn array<E>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<(), Stop<E>>,
    ) -> Result<(), Stop<E>> {
        self.open(b'[', Malformed::NotArray)?;
        if self.close(b']') {
            return Ok(());
        }
        loop {
            f(self)?;
            if self.next_or_close(b']', Malformed::ArrayCommaOrEnd)? {
                return Ok(());
            }
        }
    }

    fn open(&mut self, bracket: u8, otherwise: Malformed) -> Result<(), ScanError> {
        if self.peek() != Some(bracket) {
            return Err(self.error(otherwise));
        }
        self.pos += 1;
        Ok(())
    }

    /// Consumes `bracket` if it comes next.
    #[inline(always)]
    fn close(&mut self, bracket: u8) -> bool {
        let closes = self.peek() == Some(bracket);
        self.pos += usize::from(closes);
        closes
    }

    /// After a member or element: `,` (`false`, another follows) or the closing `bracket`.
    #[inline(always)]
    fn next_or_close(&mut self, bracket: u8, otherwise: Malformed) -> Result<bool, ScanError> {
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) if b == bracket => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.error(otherwise)),
        }
    }

    /// A member's key and its colon: borrowed when it has no escapes, else decoded by
    /// serde_json (rare), so that a key reads exactly as it did.
    #[inline(always)]
    fn key(&mut self) -> Result<Cow<'a, str>, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.error(Malformed::Key));
        }
        let start = self.pos;
        let key = if self.string()? {
            Cow::Owned(self.decode_key(start)?)
        } else {
            Cow::Borrowed(&self.text[start + 1..self.pos - 1])
        };
        self.colon()?;
        Ok(key)
    }

    #[cold]
    fn decode_key(&self, start: usize) -> Result<String, ScanError> {
        serde_json::from_str(&self.text[start..self.pos])
            .map_err(|_| malformed(self.text, start, Malformed::KeyEscape))
    }

    #[inline(always)]
    fn colon(&mut self) -> Result<(), ScanError> {
        if self.peek() != Some(b':') {
            return Err(self.error(Malformed::Colon));
        }
        self.pos += 1;
        Ok(())
    }

    /// Skips the value at the cursor and returns its text.
    #[inline]
    pub fn value(&mut self) -> Result<RawJson<'a>, ScanError> {
        self.value_watched(&mut ())
    }

    /// [`Cursor::value`], telling `watch` every token of the value on the way.
    #[inline]
    pub fn value_watched(&mut self, watch: &mut impl Watch<'a>) -> Result<RawJson<'a>, ScanError> {
        let Some(first) = self.peek() else {
            return Err(self.error(Malformed::Eof));
        };
        let start = self.pos;
        let plain_str = match first {
            b'"' => {
                let escaped = self.string()?;
                watch.string(self.pos - start - 2);
                !escaped
            }
            b'{' | b'[' => {
                self.container(watch)?;
                false
            }
            _ => {
                self.scalar(first)?;
                watch.scalar(self.pos - start);
                false
            }
        };
        let text = &self.text[start..self.pos];
        Ok(RawJson { text, plain_str })
    }

    /// Skips the object or array at the cursor, however deep, without recursion.
    #[inline(never)]
    fn container(&mut self, watch: &mut impl Watch<'a>) -> Result<(), ScanError> {
        let mut nesting = Nesting::default();
        loop {
            self.begin_value(&mut nesting, watch)?;
            // After a complete value: close what ends here, up to where the next value begins.
            loop {
                let Some(object) = nesting.innermost_is_object() else {
                    return Ok(());
                };
                let (bracket, otherwise) = if object {
                    (b'}', Malformed::ObjectCommaOrEnd)
                } else {
                    (b']', Malformed::ArrayCommaOrEnd)
                };
                if !self.next_or_close(bracket, otherwise)? {
                    if object {
                        self.skip_key(watch)?;
                    }
                    break;
                }
                nesting.pop();
                watch.close();
            }
        }
    }

    /// Reads a scalar whole, or opens a container (and its first key): the part of a value that
    /// comes before anything nested in it.
    fn begin_value(
        &mut self,
        nesting: &mut Nesting,
        watch: &mut impl Watch<'a>,
    ) -> Result<(), ScanError> {
        loop {
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    watch.open(true);
                    if self.close(b'}') {
                        watch.close();
                        return Ok(());
                    }
                    nesting.push(true);
                    self.skip_key(watch)?;
                }
                Some(b'[') => {
                    self.pos += 1;
                    watch.open(false);
                    if self.close(b']') {
                        watch.close();
                        return Ok(());
                    }
                    nesting.push(false);
                }
                Some(b'"') => {
                    let start = self.pos;
                    self.string()?;
                    watch.string(self.pos - start - 2);
                    return Ok(());
                }
                Some(b) => {
                    let start = self.pos;
                    self.scalar(b)?;
                    watch.scalar(self.pos - start);
                    return Ok(());
                }
                None => return Err(self.error(Malformed::Eof)),
            }
        }
    }

    /// A key inside a skipped value: checked like any string, not decoded.
    #[inline(always)]
    fn skip_key(&mut self, watch: &mut impl Watch<'a>) -> Result<(), ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.error(Malformed::Key));
        }
        let start = self.pos;
        let escaped = self.string()?;
        watch.key(&self.text[start..self.pos], escaped);
        self.colon()
    }

    /// A number or a literal, whose first byte is `first`.
    #[inline(always)]
    fn scalar(&mut self, first: u8) -> Result<(), ScanError> {
        match first {
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.error(Malformed::ExpectedValue)),
        }
    }

    /// The string at the cursor (at its opening quote), up to its closing quote; whether it
    /// holds escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<bool, ScanError> {
        let bytes = self.text.as_bytes();
        let mut i = self.pos + 1;
        let mut escaped = false;
        loop {
            i = find_special(bytes, i);
            match bytes.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    i = self.escape(i + 1)?;
                }
                _ => return Err(malformed(self.text, i, Malformed::ControlCharacter)),
            }
        }
    }

    /// The escape whose backslash is just before `i`; where the string goes on after it.
    fn escape(&self, i: usize) -> Result<usize, ScanError> {
        let bytes = self.text.as_bytes();
        match bytes.get(i) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 1),
            Some(b'u') => match bytes.get(i + 1..i + 5) {
                Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => Ok(i + 5),
                Some(_) => Err(malformed(self.text, i, Malformed::Escape)),
                None => Err(malformed(self.text, bytes.len(), Malformed::Eof)),
            },
            _ => Err(malformed(self.text, i, Malformed::Escape)),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ScanError> {
        let end = self.pos + word.len();
        if self.text.as_bytes().get(self.pos..end) != Some(word) {
            return Err(self.error(Malformed::Literal));
        }
        self.pos = end;
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as serde_json skips numbers.
    fn number(&mut self) -> Result<(), ScanError> {
        let bytes = self.text.as_bytes();
        let mut i = self.pos + usize::from(bytes.get(self.pos) == Some(&b'-'));
        i = match bytes.get(i) {
            // One leading zero only: `01` is not a number followed by another.
            Some(b'0') if !matches!(bytes.get(i + 1), Some(b'0'..=b'9')) => i + 1,
            Some(b'1'..=b'9') => digits(bytes, i + 1),
            _ => return Err(malformed(self.text, i, Malformed::Number)),
        };
        if bytes.get(i) == Some(&b'.') {
            let end = digits(bytes, i + 1);
            if end == i + 1 {
                return Err(malformed(self.text, end, Malformed::Number));
            }
            i = end;
        }
        if let Some(b'e' | b'E') = bytes.get(i) {
            i += 1 + usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
            let end = digits(bytes, i);
            if end == i {
                return Err(malformed(self.text, end, Malformed::Number));
            }
            i = end;
        }
        self.pos = i;
        Ok(())
    }
}

/// The end of the run of ASCII digits that starts at `i`.
fn digits(bytes: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = bytes.get(i) {
        i += 1;
    }
    i
}

/// The first byte from `i` on that ends a plain run in a string: `"`, `\` or a control
/// character; `bytes.len()` if none. Eight bytes at a time: payload strings are long.
#[inline(always)]
fn find_special(bytes: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let hits = json_escape::special(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if json_escape::is_special(b) {
            return i;
        }
        i += 1;
    }
    i
}

/// The containers a skipped value is inside, innermost first: one bit each (set for an
/// object), 64 levels inline, deeper ones spilled (real records never nest that deep; without a
/// limit, serde_json skips any depth, and so must this).
#[derive(Default)]
struct Nesting {
    bits: u64,
    len: u32,
    spilled: Vec<u64>,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        if self.len == u64::BITS {
            self.spilled.push(self.bits);
            (self.bits, self.len) = (0, 0);
        }
        self.bits = (self.bits << 1) | u64::from(object);
        self.len += 1;
    }

    fn pop(&mut self) {
        self.bits >>= 1;
        self.len -= 1;
        if self.len == 0 {
            if let Some(bits) = self.spilled.pop() {
                (self.bits, self.len) = (bits, u64::BITS);
            }
        }
    }

    /// Whether the innermost container is an object; `None` outside all of them.
    fn innermost_is_object(&self) -> Option<bool> {
        (self.len > 0).then_some(self.bits & 1 == 1)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::fields::BorrowedKey;
    use proptest::prelude::*;
    use serde::de::{MapAccess, SeqAccess, Visitor};
    use std::fmt;

    type Members = Vec<(String, String)>;

    /// The scanner's walk of an object: its members, or `None` if refused.
    fn scan_members(json: &str) -> Option<Members> {
        let mut out = Vec::new();
        let mut cur = Cursor::new(json);
        cur.object(|k, cur| {
            let value = cur.value()?;
            // What the scanner found out about a string is what a look at its text says.
            assert_eq!(value, RawJson::valid(value.get()));
            out.push((k.into_owned(), value.get().to_owned()));
            Ok::<_, Stop<()>>(())
        })
        .ok()?;
        cur.end().ok()?;
        Some(out)
    }

    fn scan_elements(json: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut cur = Cursor::new(json);
        cur.array(|cur| {
            let value = cur.value()?;
            assert_eq!(value, RawJson::valid(value.get()));
            out.push(value.get().to_owned());
            Ok::<_, Stop<()>>(())
        })
        .ok()?;
        cur.end().ok()?;
        Some(out)
    }

    /// serde_json's walk, as the decoder read records before this scanner: keys through
    /// `MapAccess`, values as `&RawValue`.
    fn serde_members(json: &str) -> Option<Members> {
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members, M::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<BorrowedKey>()? {
                    let value: &RawValue = map.next_value()?;
                    out.push((key.0.into_owned(), value.get().to_owned()));
                }
                Ok(out)
            }
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let out = de.deserialize_map(Walk).ok()?;
        de.end().ok()?;
        Some(out)
    }

    fn serde_elements(json: &str) -> Option<Vec<String>> {
        struct Walk;
        impl<'de> Visitor<'de> for Walk {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Vec<String>, S::Error> {
                let mut out = Vec::new();
                while let Some(value) = seq.next_element::<&RawValue>()? {
                    out.push(value.get().to_owned());
                }
                Ok(out)
            }
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let out = de.deserialize_seq(Walk).ok()?;
        de.end().ok()?;
        Some(out)
    }

    fn serde_value(json: &str) -> Option<&str> {
        serde_json::from_str::<&RawValue>(json)
            .ok()
            .map(RawValue::get)
    }

    /// Every way the scanner reads `json` agrees with serde_json: the whole value, and the walk
    /// of an object or an array. (Stronger than the contract, which lets the scanner refuse
    /// more: it turns out to refuse exactly what serde_json refuses.)
    fn assert_agrees(json: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            RawJson::parse(json).ok().map(RawJson::get),
            serde_value(json),
            "value of {:?}",
            json
        );
        prop_assert_eq!(
            scan_members(json),
            serde_members(json),
            "members of {:?}",
            json
        );
        prop_assert_eq!(
            scan_elements(json),
            serde_elements(json),
            "elements of {:?}",
            json
        );
        Ok(())
    }

    pub(crate) fn ws() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec![" ", "\t", "\n", "\r"]), 0..3)
            .prop_map(|w| w.concat())
    }

    /// Numbers of every shape JSON allows.
    fn number() -> impl Strategy<Value = String> {
        "-?(0|[1-9][0-9]{0,20})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,4})?"
    }

    /// String bodies: any character that needs no escape, every escape, `\u` with any four
    /// hex digits (lone surrogates included).
    fn string() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => "[a-zA-Z0-9 ]{1,8}",
            2 => any::<char>()
                .prop_filter("no escape needed", |c| !matches!(c, '"' | '\\' | '\0'..='\u{1f}'))
                .prop_map(String::from),
            1 => prop::sample::select(vec!["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
                .prop_map(String::from),
            1 => "\\\\u[0-9a-fA-F]{4}",
            1 => "\\\\u[dD][89abAB][0-9a-f]{2}\\\\u[dD][c-fC-F][0-9a-f]{2}",
        ];
        prop::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat()))
    }

    /// Any JSON value as text, with whitespace anywhere it may go.
    pub(crate) fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            number(),
            string(),
            prop::sample::select(vec!["true", "false", "null"]).prop_map(String::from),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            let member = (ws(), key(), ws(), ws(), inner.clone(), ws())
                .prop_map(|(a, k, b, c, v, d)| format!("{a}{k}{b}:{c}{v}{d}"));
            let element = (ws(), inner, ws()).prop_map(|(a, v, b)| format!("{a}{v}{b}"));
            prop_oneof![
                (prop::collection::vec(member, 0..6), ws())
                    .prop_map(|(m, w)| format!("{{{w}{}}}", m.join(","))),
                (prop::collection::vec(element, 0..6), ws())
                    .prop_map(|(e, w)| format!("[{w}{}]", e.join(","))),
            ]
        })
    }

    /// A key serde_json takes: `\u` escapes that pair surrogates (a key is decoded, a value only
    /// checked).
    fn key() -> impl Strategy<Value = String> {
        string().prop_filter("a key that decodes", |k| {
            serde_json::from_str::<String>(k).is_ok()
        })
    }

    fn object() -> impl Strategy<Value = String> {
        let member = (ws(), key(), ws(), ws(), value(), ws())
            .prop_map(|(a, k, b, c, v, d)| format!("{a}{k}{b}:{c}{v}{d}"));
        (ws(), prop::collection::vec(member, 0..8), ws(), ws())
            .prop_map(|(a, m, b, c)| format!("{a}{{{b}{}}}{c}", m.join(",")))
    }

    /// A change to valid JSON that mostly makes it invalid: bytes that matter to the grammar,
    /// control characters, anything.
    #[derive(Debug, Clone)]
    pub(crate) enum Mutation {
        Insert(usize, char),
        Replace(usize, char),
        Remove(usize, usize),
        Truncate(usize),
    }

    pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
        let c = prop_oneof![
            prop::sample::select(
                "\"\\{}[],: \t\n\r0123456789-+.eEtrufalsn/bu\u{0}\u{1f}\u{7f}x"
                    .chars()
                    .collect::<Vec<_>>()
            ),
            any::<char>(),
        ];
        let at = any::<prop::sample::Index>();
        prop_oneof![
            (at.clone(), c.clone()).prop_map(|(i, c)| Mutation::Insert(i.index(usize::MAX), c)),
            (at.clone(), c).prop_map(|(i, c)| Mutation::Replace(i.index(usize::MAX), c)),
            (at.clone(), 1..4usize).prop_map(|(i, n)| Mutation::Remove(i.index(usize::MAX), n)),
            at.prop_map(|i| Mutation::Truncate(i.index(usize::MAX))),
        ]
    }

    pub(crate) fn mutate(text: &str, mutations: &[Mutation]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for m in mutations {
            let n = chars.len() + 1;
            match *m {
                Mutation::Insert(i, c) => chars.insert(i % n, c),
                Mutation::Replace(i, c) if !chars.is_empty() => {
                    let i = i % chars.len();
                    chars[i] = c;
                }
                Mutation::Remove(i, len) if !chars.is_empty() => {
                    let i = i % chars.len();
                    chars.drain(i..(i + len).min(chars.len()));
                }
                Mutation::Truncate(i) => chars.truncate(i % n),
                _ => {}
            }
        }
        chars.into_iter().collect()
    }

    /// `PROPTEST_CASES` raises the case counts for a longer local run; failures are not saved
    /// into the checkout.
    pub(crate) fn config(cases: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(cases);
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config(1000))]

        #[test]
        fn valid_values_read_as_serde_json_reads_them(text in value(), a in ws(), b in ws()) {
            let text = format!("{a}{text}{b}");
            prop_assert!(RawJson::parse(&text).is_ok(), "refused {:?}", text);
            assert_agrees(&text)?;
        }

        #[test]
        fn valid_objects_walk_as_serde_json_walks_them(text in object()) {
            prop_assert!(scan_members(&text).is_some(), "refused {:?}", text);
            assert_agrees(&text)?;
        }

        #[test]
        fn mutated_json_is_never_taken_when_serde_json_refuses_it(
            text in prop_oneof![object(), value()],
            mutations in prop::collection::vec(mutation(), 1..4),
        ) {
            assert_agrees(&mutate(&text, &mutations))?;
        }

        #[test]
        fn deep_nesting_is_skipped_without_a_limit(
            opens in prop::collection::vec(any::<bool>(), 0..300),
            leaf in value(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut text = String::from("{\"k\":");
            for &object in &opens {
                text.push_str(if object { "{\"a\" : " } else { "[ 1, " });
            }
            text.push_str(&leaf);
            for &object in opens.iter().rev() {
                text.push(if object { '}' } else { ']' });
            }
            text.push('}');
            prop_assert!(scan_members(&text).is_some(), "refused {:?}", text);
            assert_agrees(&text)?;
            // Cut anywhere, or with one bracket swapped for the other kind, it is refused.
            let cut = cut.index(text.len());
            if text.is_char_boundary(cut) {
                assert_agrees(&text[..cut])?;
            }
            assert_agrees(&text.replacen(']', "}", 1))?;
        }
    }

    #[test]
    fn edge_cases_agree_with_serde_json() {
        for text in [
            "",
            " ",
            "{",
            "}",
            "{}",
            "[]",
            "[",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "[1,]",
            "[,1]",
            "{,}",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "[1 2]",
            "{\"a\":1}}",
            "[1]]",
            "[}",
            "{]",
            "01",
            "-",
            "-0",
            "-01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "1E-7",
            "0.0e0",
            "1.5x",
            "-a",
            "+1",
            "nul",
            "nulll",
            "truee",
            "True",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"\\x\"",
            "\"a",
            "\"\\",
            "\"\\u\"",
            "\"\u{1}\"",
            "\"\u{7f}\"",
            "\"\\ud800\"",
            "{\"\\ud800\":1}",
            "{\"\\u0041\":1}",
            "{\"a\\\"b\":[{}]}",
            "\u{b}1",
            "\u{c}1",
            "1\u{a0}",
            "{\"a\":1}\u{0}",
            "[\"\\/\"]",
            "{\"a\":{\"b\":[1,{\"c\":null}]},\"a\":2}",
            "[[[[[]]]]]",
            "[[[[[]]]]",
        ] {
            assert_agrees(text).unwrap();
        }
    }

    #[test]
    fn keys_borrow_unless_escaped_and_errors_say_where() {
        let mut keys = Vec::new();
        Cursor::new(r#"{"plain":1,"esc\u0041ped":2}"#)
            .object(|k, cur| {
                keys.push(k);
                cur.value().map(|_| ()).map_err(Stop::<()>::from)
            })
            .unwrap();
        assert!(matches!(keys[0], Cow::Borrowed("plain")));
        assert!(matches!(&keys[1], Cow::Owned(k) if k == "escAped"));
        assert_eq!(
            RawJson::parse("[1, 02]").unwrap_err(),
            ScanError {
                kind: Malformed::Number,
                offset: 4
            }
        );
        assert_eq!(
            RawJson::parse(" {\"a\" : [1]} ").unwrap().get(),
            "{\"a\" : [1]}"
        );
    }

    #[test]
    fn serializes_as_raw_value_does() {
        let text = r#"{"a" : [1, "\u00e9"], "b":null}"#;
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        let ours = RawJson::parse(text).unwrap();
        assert_eq!(
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(raw).unwrap()
        );
        assert_eq!(serde_json::to_string(&ours).unwrap(), text);
    }

    #[test]
    fn find_special_finds_the_first_in_any_position() {
        for len in 0..20 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0, 0x1f] {
                    let mut bytes = vec![b'a'; len];
                    bytes.extend([0xc3, 0xa9, 0x20, 0x7f, 0xff]);
                    if at < len {
                        bytes[at] = special;
                        // Another hit after the first must not hide it.
                        bytes.push(b'"');
                    }
                    let want = if at < len { at } else { bytes.len() };
                    assert_eq!(find_special(&bytes, 0), want, "{len} {at} {special}");
                }
            }
        }
    }
}

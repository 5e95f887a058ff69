//! What may go into a `flat_object` field without costing the event or hurting the cluster.
//!
//! A `flat_object` field indexes every key path and every leaf value of a raw JSON value as
//! keyword terms, and OpenSearch 2.19.1 walks it recursively. Measured on a real node:
//! - ~1,500 nested objects or ~3,000 nested arrays (a 6–9 KB record) overflow the stack of the
//!   flat_object mapper and the JVM exits: the node dies (1,000 / 2,000 survived);
//! - a term over Lucene's 32,766 bytes (`path=value`, the path being the field's own dotted
//!   path plus the keys down to the value) rejects the document;
//! - a number of more than 1,000 characters (Jackson's default limit) rejects the document;
//! - a key twice in one object (also written with escapes, `"a"` and `"\u0061"`) rejects it.
//!
//! A value that breaks none of these goes into its `flat_object` field as it came; any other is
//! kept as text only (the caller decides where), so nothing is lost and nothing is sent that
//! could hurt the node. No tree built, and no walk of its own for a record's payloads: the
//! checks are made as the decoder's scanner walks them ([`Fit`]).

use super::json_escape;
use super::json_scan::{Cursor, RawJson, Watch};
use std::borrow::Cow;
use std::collections::HashSet;

/// Deepest nesting of objects and arrays taken into a `flat_object`. The deepest payload of
/// the shared corpus of real records nests 10 levels; a node died at ~1,500 (1,000 survived):
/// 32 leaves real payloads three times their depth and stays 30 times below the crash.
pub const MAX_DEPTH: usize = 32;

/// Lucene's limit on one term (UTF-8 bytes).
pub const MAX_TERM_BYTES: usize = 32_766;

/// Jackson's default `maxNumberLength`, which OpenSearch 2.19 keeps: a longer number (1,001
/// characters) rejects the document.
pub const MAX_NUMBER_CHARS: usize = 1_000;

/// Why a value cannot go into its field (a `flat_object`, a `date`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("a key path and value longer than Lucene's {MAX_TERM_BYTES}-byte term limit")]
    TermTooLong,
    #[error("a number longer than {MAX_NUMBER_CHARS} characters")]
    NumberTooLong,
    #[error("a key that appears twice in one object")]
    DuplicateKey,
    #[error("the same field again (the first one is indexed)")]
    Repeated,
    #[error("not a JSON object")]
    NotObject,
    #[error("larger than {} KiB", MAX_FLATTENED_BYTES / 1024)]
    TooLarge,
    #[error("not a time OpenSearch reads")]
    NotTime,
    #[error("JSON the scanner does not read")]
    Unreadable,
}

/// Whether `raw` can be indexed in a `flat_object` field whose own dotted path is `path` bytes
/// long (e.g. `aws.cloudtrail.flattened.request_parameters`): a walk of its own. The decoder
/// makes the same check in its one walk over a record's payloads ([`Fit`]); this is for values
/// read otherwise.
///
/// Lengths are taken from the JSON text, escapes included: a decoded string is never longer
/// than its escaped text, so the bound is safe.
pub fn check(raw: RawJson<'_>, path: usize) -> Result<(), Unsafe> {
    let mut fit = Fit::default();
    fit.start(path);
    match Cursor::new(raw.get()).value_watched(&mut fit) {
        Ok(_) => fit.verdict(),
        // Never for a `RawJson` (valid JSON, which the scanner reads as serde_json does); were
        // it refused, the value would stay out of the field all the same.
        Err(_) => Err(Unsafe::Unreadable),
    }
}

/// A [`check`] made while the scanner walks the value ([`Watch`]): [`Fit::start`] before the
/// value, [`Fit::verdict`] after it. Reused from value to value, it allocates only for the keys
/// of the first objects it meets.
pub struct Fit<'a> {
    /// The keys of the open objects, outermost first: each object's are checked for
    /// duplicates when it closes.
    keys: Vec<Cow<'a, str>>,
    /// The open containers, outermost first: never more than the bound, so no allocation.
    stack: [Frame; MAX_DEPTH],
    depth: usize,
    /// The path length of the value itself, and of the value after the last key met.
    base: usize,
    key_path: usize,
    /// The first rule broken; once one is, the rest of the walk is not looked at.
    verdict: Result<(), Unsafe>,
}

/// One open container: whether it is an object, its own path length (that of the values in
/// it, for an array), and where its keys start in `Fit::keys`.
#[derive(Clone, Copy)]
struct Frame {
    object: bool,
    path: usize,
    keys: usize,
}

const EMPTY: Frame = Frame {
    object: false,
    path: 0,
    keys: 0,
};

impl Default for Fit<'_> {
    fn default() -> Self {
        Fit {
            keys: Vec::new(),
            stack: [EMPTY; MAX_DEPTH],
            depth: 0,
            base: 0,
            key_path: 0,
            verdict: Ok(()),
        }
    }
}

impl<'a> Fit<'a> {
    /// Before a value for a field whose own dotted path is `path` bytes long.
    pub fn start(&mut self, path: usize) {
        self.keys.clear();
        self.depth = 0;
        self.base = path;
        self.key_path = path;
        self.verdict = Ok(());
    }

    /// After the value: whether it can go into its field.
    pub fn verdict(&self) -> Result<(), Unsafe> {
        self.verdict
    }

    /// The path length of a value that starts here: the field's at the top, the key's in an
    /// object, the array's own in an array.
    #[inline]
    fn value_path(&self) -> usize {
        match self.depth.checked_sub(1).map(|n| self.stack[n]) {
            None => self.base,
            Some(top) if top.object => self.key_path,
            Some(top) => top.path,
        }
    }

    #[cold]
    fn refuse(&mut self, why: Unsafe) {
        self.verdict = Err(why);
    }

    /// No key twice among the keys of the object that closes (from `start` on), then forgets
    /// them.
    fn no_duplicates(&mut self, start: usize) -> Result<(), Unsafe> {
        let keys = &mut self.keys[start..];
        let duplicate = if keys.len() <= 8 {
            (1..keys.len()).any(|n| keys[..n].contains(&keys[n]))
        } else {
            keys.sort_unstable();
            keys.windows(2).any(|w| w[0] == w[1])
        };
        self.keys.truncate(start);
        if duplicate {
            Err(Unsafe::DuplicateKey)
        } else {
            Ok(())
        }
    }
}

impl<'a> Watch<'a> for Fit<'a> {
    #[inline]
    fn open(&mut self, object: bool) {
        if self.verdict.is_err() {
            return;
        }
        if self.depth == MAX_DEPTH {
            return self.refuse(Unsafe::TooDeep);
        }
        self.stack[self.depth] = Frame {
            object,
            path: self.value_path(),
            keys: self.keys.len(),
        };
        self.depth += 1;
    }

    #[inline]
    fn close(&mut self) {
        if self.verdict.is_err() {
            return;
        }
        self.depth -= 1;
        let frame = self.stack[self.depth];
        if frame.object {
            if let Err(why) = self.no_duplicates(frame.keys) {
                self.refuse(why);
            }
        }
    }

    #[inline]
    fn key(&mut self, quoted: &'a str, escaped: bool) {
        if self.verdict.is_err() {
            return;
        }
        let top = self.stack[self.depth - 1];
        // `<path>.<key>` is itself a term (the `_path` subfield).
        self.key_path = top.path + 1 + quoted.len() - 2;
        if self.key_path > MAX_TERM_BYTES {
            return self.refuse(Unsafe::TermTooLong);
        }
        self.keys.push(key(quoted, escaped));
    }

    #[inline]
    fn string(&mut self, len: usize) {
        if self.verdict.is_ok() && self.value_path() + 1 + len > MAX_TERM_BYTES {
            self.refuse(Unsafe::TermTooLong);
        }
    }

    #[inline]
    fn scalar(&mut self, len: usize) {
        if self.verdict.is_err() {
            return;
        }
        if len > MAX_NUMBER_CHARS {
            self.refuse(Unsafe::NumberTooLong);
        } else if self.value_path() + 1 + len > MAX_TERM_BYTES {
            self.refuse(Unsafe::TermTooLong);
        }
    }
}

/// A key as written (quotes included), decoded when it has escapes: two spellings of one key
/// are the same key to OpenSearch.
fn key<'a>(quoted: &'a str, escaped: bool) -> Cow<'a, str> {
    if !escaped {
        return Cow::Borrowed(&quoted[1..quoted.len() - 1]);
    }
    serde_json::from_str::<String>(quoted)
        .map(Cow::Owned)
        // A lone surrogate does not decode to a `String`: its text stands for it.
        .unwrap_or(Cow::Borrowed(quoted))
}

/// Members meant for one `flat_object` field (such as `unknown_fields`, whose own path is
/// `path` bytes long), split into those it can take and those kept as text only: a member whose
/// key path or value is unsafe (see [`check`]), or whose key came before (the first is indexed).
/// Borrowed as they are when all can be indexed (the common case).
pub fn split_members<'s, 'a>(
    members: &'s [(Cow<'a, str>, RawJson<'a>)],
    path: usize,
    aside: &mut SetAside,
) -> Cow<'s, [(Cow<'a, str>, RawJson<'a>)]> {
    // Few members in nearly every record: the quadratic look for an earlier key costs less
    // than a set.
    let small = members.len() <= 64;
    let verdict = |n: usize, seen: &mut HashSet<&'s str>| {
        let (key, value) = &members[n];
        let key_path = path + 1 + key.len();
        if key_path > MAX_TERM_BYTES {
            return Err(Unsafe::TermTooLong);
        }
        check(*value, key_path)?;
        let repeated = if small {
            members[..n].iter().any(|(k, _)| k == key)
        } else {
            !seen.insert(key.as_ref())
        };
        if repeated {
            return Err(Unsafe::Repeated);
        }
        Ok(())
    };
    let mut seen = HashSet::new();
    if small && (0..members.len()).all(|n| verdict(n, &mut seen).is_ok()) {
        return Cow::Borrowed(members);
    }
    let mut seen = HashSet::new();
    let mut kept = Vec::with_capacity(members.len());
    for (n, (key, value)) in members.iter().enumerate() {
        match verdict(n, &mut seen) {
            Ok(()) => kept.push((key.clone(), *value)),
            Err(why) => aside.push(key, *value, why),
        }
    }
    Cow::Owned(kept)
}

/// Lucene refuses a term over 32,766 bytes, and a `flat_object` indexes every string value as
/// a term: a payload above this size (a CloudFormation template body, a policy document) is
/// kept as text only, which also keeps big documents cheap to index.
pub const MAX_FLATTENED_BYTES: usize = 32 * 1024;

/// A record's payloads that go into `flat_object` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    RequestParameters,
    ResponseElements,
    AdditionalEventData,
    ServiceEventDetails,
}

impl Payload {
    pub const ALL: [Payload; 4] = [
        Payload::RequestParameters,
        Payload::ResponseElements,
        Payload::AdditionalEventData,
        Payload::ServiceEventDetails,
    ];

    /// The record's member, as CloudTrail names it.
    pub fn member(self) -> &'static str {
        match self {
            Payload::RequestParameters => "requestParameters",
            Payload::ResponseElements => "responseElements",
            Payload::AdditionalEventData => "additionalEventData",
            Payload::ServiceEventDetails => "serviceEventDetails",
        }
    }

    /// The dotted path of its `flat_object` field.
    pub fn path(self) -> &'static str {
        match self {
            Payload::RequestParameters => "aws.cloudtrail.flattened.request_parameters",
            Payload::ResponseElements => "aws.cloudtrail.flattened.response_elements",
            Payload::AdditionalEventData => "aws.cloudtrail.flattened.additional_event_data",
            Payload::ServiceEventDetails => "aws.cloudtrail.flattened.service_event_details",
        }
    }
}

/// [`check`]'s verdict on each payload of a record that is an object, made as the record was
/// read; `None` for a payload that is absent or not an object.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fits([Option<Result<(), Unsafe>>; 4]);

impl Fits {
    pub fn get(&self, payload: Payload) -> Option<Result<(), Unsafe>> {
        self.0[payload as usize]
    }

    pub fn set(&mut self, payload: Payload, verdict: Option<Result<(), Unsafe>>) {
        self.0[payload as usize] = verdict;
    }
}

/// A payload for its `flat_object` field: only a JSON object goes there, and only when it is
/// safe (`fit`, the decoder's [`check`]; made here when the decoder did not) and not too large.
/// The caller keeps the payload's text copy; what is left out here is noted under its member's
/// name with the reason.
pub fn payload<'a>(
    raw: Option<RawJson<'a>>,
    fit: Option<Result<(), Unsafe>>,
    which: Payload,
    aside: &mut SetAside,
) -> Option<RawJson<'a>> {
    let raw = raw.filter(|r| r.get().starts_with('{'))?;
    let verdict = if raw.get().len() > MAX_FLATTENED_BYTES {
        Err(Unsafe::TooLarge)
    } else {
        fit.unwrap_or_else(|| check(raw, which.path().len()))
    };
    match verdict {
        Ok(()) => Some(raw),
        Err(why) => {
            aside.note(which.member(), why);
            None
        }
    }
}

/// Values kept as text only, as the text of one JSON object by dotted path (`{"brandNew":
/// <value as it came>, ...}`): indexed as a string that is stored, not searched, so no content
/// can hurt the node, and the original is all there (a path may appear twice: it is text).
/// Beside it, for people and searches, why each value is not searchable by its path.
#[derive(Debug, Default)]
pub struct SetAside {
    text: String,
    /// `<dotted path>: <reason>`, in the order met.
    reasons: Vec<String>,
}

impl SetAside {
    pub fn push(&mut self, path: &str, value: RawJson<'_>, why: Unsafe) {
        self.write(path, |out| out.extend_from_slice(value.get().as_bytes()));
        self.note(path, why);
    }

    /// A string value, decoded.
    pub fn push_str(&mut self, path: &str, value: &str, why: Unsafe) {
        self.write(path, |out| json_escape::write_str(out, value));
        self.note(path, why);
    }

    /// Why the value at `path` is not searchable by its path (its text is kept elsewhere).
    pub fn note(&mut self, path: &str, why: Unsafe) {
        self.reasons.push(format!("{path}: {why}"));
    }

    fn write(&mut self, path: &str, value: impl FnOnce(&mut Vec<u8>)) {
        let mut out = std::mem::take(&mut self.text).into_bytes();
        out.push(if out.is_empty() { b'{' } else { b',' });
        json_escape::write_str(&mut out, path);
        out.push(b':');
        value(&mut out);
        self.text = String::from_utf8(out).expect("JSON text is UTF-8");
    }

    /// A value for a `flat_object` field at `path` (its own dotted path), or `None` after
    /// setting it aside under `name` when it is not an object or not safe.
    pub fn object_or_aside<'a>(
        &mut self,
        name: &str,
        path: &str,
        value: Option<RawJson<'a>>,
    ) -> Option<RawJson<'a>> {
        let value = value?;
        let verdict = if value.get().starts_with('{') {
            check(value, path.len())
        } else {
            Err(Unsafe::NotObject)
        };
        match verdict {
            Ok(()) => Some(value),
            Err(why) => {
                self.push(name, value, why);
                None
            }
        }
    }

    /// The JSON object text of what was set aside (`None` when nothing was), and the reasons.
    pub fn into_parts(self) -> (Option<String>, Vec<String>) {
        if self.text.is_empty() {
            return (None, self.reasons);
        }
        let mut text = self.text;
        text.push('}');
        (Some(text), self.reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str, path: usize) -> Result<(), Unsafe> {
        check(RawJson::parse(text).unwrap(), path)
    }

    fn nested_objects(depth: usize) -> String {
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    }

    fn nested_arrays(depth: usize) -> String {
        format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    }

    #[test]
    fn depth_up_to_the_bound_is_taken() {
        assert_eq!(check_text(&nested_objects(MAX_DEPTH), 10), Ok(()));
        assert_eq!(check_text(&nested_arrays(MAX_DEPTH), 10), Ok(()));
        assert_eq!(
            check_text(&nested_objects(MAX_DEPTH + 1), 10),
            Err(Unsafe::TooDeep)
        );
        assert_eq!(
            check_text(&nested_arrays(MAX_DEPTH + 1), 10),
            Err(Unsafe::TooDeep)
        );
        // The depth that kills a node, and far beyond: refused at once, no recursion.
        assert_eq!(check_text(&nested_objects(1_500), 10), Err(Unsafe::TooDeep));
        assert_eq!(
            check_text(&nested_arrays(100_000), 10),
            Err(Unsafe::TooDeep)
        );
        // Siblings do not add up.
        let wide = format!("[{}]", vec![nested_objects(MAX_DEPTH - 1); 50].join(","));
        assert_eq!(check_text(&wide, 10), Ok(()));
    }

    #[test]
    fn a_term_is_the_path_and_the_value() {
        let path = "aws.cloudtrail.flattened.request_parameters".len();
        let value = |n: usize| format!("{{\"abc\":\"{}\"}}", "x".repeat(n));
        // `<path>.abc=<value>`: measured on a node, 32,760 x's there are a 32,808-byte term.
        let fits = MAX_TERM_BYTES - path - ".abc=".len();
        assert_eq!(check_text(&value(fits), path), Ok(()));
        assert_eq!(check_text(&value(fits + 1), path), Err(Unsafe::TermTooLong));
        let long_key = format!("{{\"{}\":1}}", "k".repeat(MAX_TERM_BYTES));
        assert_eq!(check_text(&long_key, path), Err(Unsafe::TermTooLong));
        // In an array the path is the array's.
        let in_array = format!("{{\"abc\":[1,\"{}\"]}}", "x".repeat(fits + 1));
        assert_eq!(check_text(&in_array, path), Err(Unsafe::TermTooLong));
        // Escapes count as written: never shorter than what they decode to.
        let escaped = format!("{{\"abc\":\"{}\"}}", "\\u00e9".repeat(fits / 6 + 1));
        assert_eq!(check_text(&escaped, path), Err(Unsafe::TermTooLong));
    }

    #[test]
    fn numbers_up_to_a_thousand_characters() {
        let n = |digits: usize| format!("{{\"a\":[{}]}}", "9".repeat(digits));
        assert_eq!(check_text(&n(MAX_NUMBER_CHARS), 10), Ok(()));
        assert_eq!(
            check_text(&n(MAX_NUMBER_CHARS + 1), 10),
            Err(Unsafe::NumberTooLong)
        );
        assert_eq!(
            check_text("{\"a\":-1.5e-300,\"b\":true,\"c\":null}", 10),
            Ok(())
        );
    }

    #[test]
    fn a_key_twice_in_one_object_is_refused() {
        assert_eq!(
            check_text("{\"a\":1,\"a\":2}", 10),
            Err(Unsafe::DuplicateKey)
        );
        assert_eq!(
            check_text("{\"a\":1,\"\\u0061\":2}", 10),
            Err(Unsafe::DuplicateKey)
        );
        assert_eq!(
            check_text("{\"x\":{\"a\":1,\"b\":{\"a\":1},\"a\":3}}", 10),
            Err(Unsafe::DuplicateKey)
        );
        let many: Vec<String> = (0..100).map(|n| format!("\"k{n}\":{n}")).collect();
        let mut text = format!("{{{}}}", many.join(","));
        assert_eq!(check_text(&text, 10), Ok(()));
        text.insert_str(1, "\"k99\":0,");
        assert_eq!(check_text(&text, 10), Err(Unsafe::DuplicateKey));
        // The same key in sibling or nested objects is no duplicate.
        assert_eq!(
            check_text("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}", 10),
            Ok(())
        );
        assert_eq!(check_text("{\"\\ud800\":1,\"\\udc00\":2}", 10), Ok(()));
    }

    #[test]
    fn members_split_into_indexed_and_text() {
        let long = format!("\"{}\"", "x".repeat(40_000));
        let deep = nested_objects(40);
        let members: Vec<(Cow<str>, RawJson)> = vec![
            (Cow::Borrowed("ok"), RawJson::parse("{\"a\":1}").unwrap()),
            (Cow::Borrowed("long"), RawJson::parse(&long).unwrap()),
            (Cow::Borrowed("ok"), RawJson::parse("2").unwrap()),
            (Cow::Borrowed("deep"), RawJson::parse(&deep).unwrap()),
        ];
        let mut aside = SetAside::default();
        let kept = split_members(&members, 10, &mut aside);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].0, "ok");
        let (text, reasons) = aside.into_parts();
        assert_eq!(
            text.unwrap(),
            format!("{{\"long\":{long},\"ok\":2,\"deep\":{deep}}}")
        );
        assert_eq!(
            reasons,
            [
                "long: a key path and value longer than Lucene's 32766-byte term limit",
                "ok: the same field again (the first one is indexed)",
                "deep: nested deeper than 32 levels",
            ]
        );
        // Nothing unsafe: the members as they are, nothing set aside.
        let mut aside = SetAside::default();
        assert!(matches!(
            split_members(&members[..1], 10, &mut aside),
            Cow::Borrowed(_)
        ));
        assert_eq!(aside.into_parts(), (None, Vec::new()));
    }
}

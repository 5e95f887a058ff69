//! JSON string writing that gives exactly serde_json's bytes, faster.
//!
//! serde_json escapes a string byte by byte and hands every run and every escape to its
//! `Formatter` (an `io::Write::write_all` each). The documents hold JSON payloads written a
//! second time as JSON text (`request_parameters`, ...), where every key and string brings two
//! quotes to escape: that loop was ~35% of the transform's instructions. This writer looks at 8
//! bytes at a time (SWAR) for the only bytes that need escaping (`"`, `\`, below 0x20) and copies
//! the runs between them.
//!
//! Hand-written rather than a crate: `memchr` finds at most 3 distinct bytes (34 need escaping
//! here), and the JSON escapers on crates.io either allocate, escape more than serde_json does
//! (`/`, non-ASCII, DEL) or bring SIMD stacks; the output must be byte-for-byte serde_json's, which
//! the tests below (and a proptest over arbitrary strings) check.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that is `"`, `\` or a control character (< 0x20). Bytes below
/// the lowest flagged one are never flagged wrongly (a borrow only runs upwards from a flagged
/// byte), so `trailing_zeros` finds the first byte to escape exactly. (The decoder's scanner
/// finds where a string ends with it too.)
#[inline(always)]
pub(super) fn special(w: u64) -> u64 {
    let control = w.wrapping_sub(LO * 0x20);
    let quote = w ^ (LO * u64::from(b'"'));
    let backslash = w ^ (LO * u64::from(b'\\'));
    (control | quote.wrapping_sub(LO) | backslash.wrapping_sub(LO)) & !w & HI
}

#[inline(always)]
pub(super) fn is_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends the JSON string literal of `s` (quotes included), exactly as
/// `serde_json::to_writer(out, s)` would.
///
/// Every 8 bytes are appended whole before they are looked at (a fixed-size copy, one store):
/// a run between two escapes costs no `memcpy` call of its own. When the 8 hold a byte to
/// escape, what was appended from that byte on is taken back. (Writing a document took ~3% fewer
/// instructions than with a copy of each run as found. Measured and dropped: the last bytes
/// padded into a word, and every escape of a word done from one load with an exact mask; both
/// cost more than they saved.)
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Escapes make it longer; most strings have none, JSON texts one or two per member.
    out.reserve(bytes.len() + 2 + bytes.len() / 8 + 8);
    out.push(b'"');
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let chunk: &[u8; 8] = chunk.try_into().expect("8 bytes");
        out.extend_from_slice(chunk);
        let m = special(u64::from_le_bytes(*chunk));
        if m == 0 {
            i += 8;
            continue;
        }
        let k = (m.trailing_zeros() / 8) as usize;
        out.truncate(out.len() - (8 - k));
        escape(out, bytes[i + k]);
        i += k + 1;
    }
    for &byte in &bytes[i..] {
        if is_special(byte) {
            escape(out, byte);
        } else {
            out.push(byte);
        }
    }
    out.push(b'"');
}

/// Appends the escape serde_json writes for `byte` (one that [`is_special`]).
#[inline(always)]
fn escape(out: &mut Vec<u8>, byte: u8) {
    match byte {
        b'"' | b'\\' => out.extend_from_slice(&[b'\\', byte]),
        _ => write_control(out, byte),
    }
}

/// The escape of a control character.
#[cold]
fn write_control(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        0x08 => out.extend_from_slice(b"\\b"),
        b'\t' => out.extend_from_slice(b"\\t"),
        b'\n' => out.extend_from_slice(b"\\n"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\r' => out.extend_from_slice(b"\\r"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(s: &str) -> Vec<u8> {
        let mut out = b"prefix".to_vec();
        write_str(&mut out, s);
        out.split_off(6)
    }

    fn serde(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).unwrap()
    }

    #[test]
    fn every_single_char_is_escaped_as_serde_json_does() {
        for c in (0u32..0x800).chain([0xfffd, 0x10000, 0x10ffff]) {
            let Some(c) = char::from_u32(c) else { continue };
            for s in [
                c.to_string(),
                format!("{c}abcdefghij"),
                format!("abcdefg{c}"),
                format!("abcdefgh{c}ijklmnopqrstu"),
            ] {
                assert_eq!(ours(&s), serde(&s), "{s:?}");
            }
        }
    }

    #[test]
    fn json_text_and_edges() {
        for s in [
            "",
            "\"",
            "\\",
            "\"\"\"\"\"\"\"\"\"",
            r#"{"bucketName":"b","key":"a \"quoted\" \\ path","n":[1,2,{"x":null}]}"#,
            "{\n  \"a\": \"x\\ny\"\r\n}\t",
            "\u{0}\u{1}\u{1f}\u{7f}\u{80}é€😀",
            "1234567\"",
            "12345678\"",
            "123456789\"",
            "\x1f\x20\x21\x22\x5b\x5c\x5d\x7f",
        ] {
            assert_eq!(ours(s), serde(s), "{s:?}");
        }
        // Runs of escapes, the six-byte ones too, and runs between them of every length.
        for s in [
            "\u{1}".repeat(100),
            "\u{1f}\"".repeat(40),
            format!("{}{}", "\"".repeat(30), "\u{2}".repeat(30)),
            format!("abcdefgh{}ijklmnop", "\u{3}".repeat(17)),
        ] {
            assert_eq!(ours(&s), serde(&s), "{s:?}");
        }
    }

    #[test]
    fn appends_without_touching_what_is_there() {
        let mut out = b"{\"a\":".to_vec();
        write_str(&mut out, "x\"y");
        assert_eq!(out, b"{\"a\":\"x\\\"y\"");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn same_bytes_as_serde_json(s in any::<String>()) {
            prop_assert_eq!(ours(&s), serde(&s));
        }

        #[test]
        fn same_bytes_as_serde_json_for_json_like_text(
            s in r#"[\x00-\x1f"\\{}:,\[\] a-zA-Z0-9é€😀\x7f]{0,80}"#
        ) {
            prop_assert_eq!(ours(&s), serde(&s));
        }

        #[test]
        fn same_bytes_as_serde_json_for_json_values(v in json_value()) {
            let text = v.to_string();
            prop_assert_eq!(ours(&text), serde(&text));
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

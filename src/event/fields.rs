//! A JSON object read as `(key, raw value)` pairs, in order, without parsing the values.
//!
//! The CloudTrail model reads its known fields out of this and keeps every other field as it came:
//! serde's `flatten` cannot hold raw values and would buffer every value, so this walk is both
//! lossless and cheaper. The walk is [`json_scan`](super::json_scan)'s, not serde_json's.

use super::json_scan::{Cursor, RawJson};
use serde::de::{Deserialize, Deserializer, Visitor};
use std::borrow::Cow;
use std::fmt;

pub use super::json_scan::Stop;

/// A JSON string borrowed from the input when it has no escapes, owned otherwise.
pub struct BorrowedKey<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = BorrowedKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedKey(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedKey(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowedKey(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Hands each member of the JSON object `json` to `f`, in order, as it is read: no list of
/// members is built (that was a ~1 KB allocation per object, several per record), and `f` may stop
/// the reading early with an error of its own.
pub fn members<'a, E>(
    json: &'a str,
    mut f: impl FnMut(Cow<'a, str>, RawJson<'a>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut cur = Cursor::new(json);
    cur.object(|key, cur| {
        let value = cur.value()?;
        f(key, value).map_err(Stop::Refused)
    })?;
    Ok(cur.end()?)
}

/// [`members`] for the elements of a JSON array.
pub fn elements<'a, E>(
    json: &'a str,
    mut f: impl FnMut(RawJson<'a>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut cur = Cursor::new(json);
    cur.array(|cur| {
        let value = cur.value()?;
        f(value).map_err(Stop::Refused)
    })?;
    Ok(cur.end()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_in_order_and_stop_on_refusal() {
        let mut seen = Vec::new();
        let r: Result<(), Stop<()>> = members(r#"{"a":1,"b\"":{"c":[2]},"a":null}"#, |k, v| {
            seen.push((k.into_owned(), v.get().to_owned()));
            Ok(())
        });
        assert!(r.is_ok());
        assert_eq!(
            seen,
            [
                ("a".into(), "1".into()),
                ("b\"".into(), r#"{"c":[2]}"#.into()),
                ("a".into(), "null".into())
            ]
        );
        let r = members(
            r#"{"a":1,"b":2}"#,
            |k, _| if k == "b" { Err(7) } else { Ok(()) },
        );
        assert!(matches!(r, Err(Stop::Refused(7))));
        assert!(matches!(
            members("[1]", |_, _| Ok::<_, ()>(())),
            Err(Stop::Json(_))
        ));
        assert!(matches!(
            members("{} x", |_, _| Ok::<_, ()>(())),
            Err(Stop::Json(_))
        ));
        let mut n = Vec::new();
        let r = elements("[1, {\"a\":2}, null]", |v| {
            n.push(v.get().to_owned());
            Ok::<_, ()>(())
        });
        assert!(r.is_ok());
        assert_eq!(n, ["1", "{\"a\":2}", "null"]);
        assert!(matches!(
            elements("{}", |_| Ok::<_, ()>(())),
            Err(Stop::Json(_))
        ));
    }
}

//! A JSON object read as `(key, raw value)` pairs, in order, without parsing the values.
//!
//! The CloudTrail model reads its known fields out of this and keeps every other field as it came:
//! serde's `flatten` cannot hold `RawValue`s and would buffer every value, so this small visitor is
//! both lossless and cheaper.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The members of one JSON object, values left unparsed.
#[derive(Debug, Default)]
pub struct Fields<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FieldsVisitor<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some(key) = map.next_key::<BorrowedKey<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    out.push((key.0, value));
                }
                Ok(Fields(out))
            }
        }
        deserializer.deserialize_map(FieldsVisitor(std::marker::PhantomData))
    }
}

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

/// Why [`members`] or [`elements`] stopped: the JSON was not what was expected (`Json`), or the
/// callback refused a member (`Refused`, its own error).
pub enum Stop<E> {
    Json(serde_json::Error),
    Refused(E),
}

/// Hands each member of the JSON object `json` to `f`, in order, as it is read: no list of
/// members is built (that was a ~1 KB allocation per object, several per record), and `f` may stop
/// the reading early with an error of its own.
pub fn members<'a, E>(
    json: &'a str,
    f: impl FnMut(Cow<'a, str>, &'a RawValue) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    struct MembersVisitor<F, E> {
        f: F,
        refused: Option<E>,
    }
    impl<'a, F, E> Visitor<'a> for &mut MembersVisitor<F, E>
    where
        F: FnMut(Cow<'a, str>, &'a RawValue) -> Result<(), E>,
    {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<(), M::Error> {
            while let Some(key) = map.next_key::<BorrowedKey<'a>>()? {
                let value: &'a RawValue = map.next_value()?;
                if let Err(e) = (self.f)(key.0, value) {
                    self.refused = Some(e);
                    return Err(serde::de::Error::custom("member refused"));
                }
            }
            Ok(())
        }
    }
    let mut visitor = MembersVisitor { f, refused: None };
    let mut de = serde_json::Deserializer::from_str(json);
    let read = de.deserialize_map(&mut visitor).and_then(|()| de.end());
    match (read, visitor.refused) {
        (_, Some(e)) => Err(Stop::Refused(e)),
        (Ok(()), None) => Ok(()),
        (Err(e), None) => Err(Stop::Json(e)),
    }
}

/// [`members`] for the elements of a JSON array.
pub fn elements<'a, E>(
    json: &'a str,
    f: impl FnMut(&'a RawValue) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    struct ElementsVisitor<F, E> {
        f: F,
        refused: Option<E>,
    }
    impl<'a, F, E> Visitor<'a> for &mut ElementsVisitor<F, E>
    where
        F: FnMut(&'a RawValue) -> Result<(), E>,
    {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<S: SeqAccess<'a>>(self, mut seq: S) -> Result<(), S::Error> {
            while let Some(value) = seq.next_element::<&'a RawValue>()? {
                if let Err(e) = (self.f)(value) {
                    self.refused = Some(e);
                    return Err(serde::de::Error::custom("element refused"));
                }
            }
            Ok(())
        }
    }
    let mut visitor = ElementsVisitor { f, refused: None };
    let mut de = serde_json::Deserializer::from_str(json);
    let read = de.deserialize_seq(&mut visitor).and_then(|()| de.end());
    match (read, visitor.refused) {
        (_, Some(e)) => Err(Stop::Refused(e)),
        (Ok(()), None) => Ok(()),
        (Err(e), None) => Err(Stop::Json(e)),
    }
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

//! The `_bulk` request body: one `create` action and one document per event, written straight
//! into one buffer, with the byte range of each item kept so that a retry can resend only the
//! items that failed.

use crate::event::facts::Facts;
use crate::event::json_escape;
use crate::event::minting::Minted;
use crate::source::RawEvent;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;

/// One event in a batch: where it goes, and the event itself for dead letters and acks.
#[derive(Debug)]
pub struct BulkItem {
    /// Shared by the items of one daily index (see [`BulkBatch::index_for`]).
    pub index: Arc<str>,
    pub id: DocId,
    range: Range<usize>,
    pub event: RawEvent,
    /// What the findings stage needs of the event, when findings are on (read by the encoder
    /// from the parsed record: the stage never parses the event again).
    pub facts: Option<Box<Facts>>,
    /// The credential the event minted, when it is a minting STS call and the lineage index is
    /// on (read by the encoder, as `facts`).
    pub minted: Option<Box<Minted>>,
}

/// A batch of `create` operations, encoded as NDJSON.
#[derive(Debug, Default)]
pub struct BulkBatch {
    body: Vec<u8>,
    items: Vec<BulkItem>,
    /// The index name of the last item asked for.
    last_index: Option<Arc<str>>,
}

/// A document `_id`, kept inline up to [`DocId::INLINE`] bytes (CloudTrail eventIDs are 36-byte
/// GUIDs, the hashes of records without one 71), so that most events cost no allocation for it.
/// Reads as a `&str`.
#[derive(Clone)]
pub struct DocId(IdRepr);

#[derive(Clone)]
enum IdRepr {
    Inline { len: u8, bytes: [u8; DocId::INLINE] },
    Heap(Box<str>),
}

impl DocId {
    pub const INLINE: usize = 79;
}

impl From<&str> for DocId {
    fn from(id: &str) -> Self {
        if id.len() <= DocId::INLINE {
            let mut bytes = [0; DocId::INLINE];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            DocId(IdRepr::Inline {
                len: id.len() as u8,
                bytes,
            })
        } else {
            DocId(IdRepr::Heap(id.into()))
        }
    }
}

impl From<String> for DocId {
    fn from(id: String) -> Self {
        if id.len() <= DocId::INLINE {
            DocId::from(id.as_str())
        } else {
            DocId(IdRepr::Heap(id.into_boxed_str()))
        }
    }
}

impl std::ops::Deref for DocId {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            // Copied from a `&str` whole: always UTF-8 (checked again rather than trusted; this
            // is read for dead letters only).
            IdRepr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            IdRepr::Heap(id) => id,
        }
    }
}

impl std::fmt::Display for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq<str> for DocId {
    fn eq(&self, other: &str) -> bool {
        **self == *other
    }
}

impl BulkBatch {
    pub fn with_capacity(bytes: usize) -> Self {
        BulkBatch {
            body: Vec::with_capacity(bytes),
            // About one item per KiB of body (CloudTrail items are 1-3 KiB): growing the items
            // one doubling at a time copied them over and over on the hot path.
            items: Vec::with_capacity((bytes / 1024).min(16 * 1024)),
            last_index: None,
        }
    }

    /// A batch writing into `body` (emptied, its allocation kept, grown to `bytes` if smaller):
    /// see [`BulkBatch::take_items`].
    pub fn reusing(mut body: Vec<u8>, bytes: usize) -> Self {
        body.clear();
        body.reserve(bytes);
        BulkBatch {
            body,
            items: Vec::with_capacity((bytes / 1024).min(16 * 1024)),
            last_index: None,
        }
    }

    /// The items, leaving the batch empty with its body's allocation kept for the next batch.
    /// A multi-MiB body made anew for every batch (or chunk) costs a page fault per 4 KiB
    /// written once glibc maps it apart, or, made on one thread and freed on another, leaves
    /// its arenas holding freed bodies beside the live ones: reused, the bodies are a fixed
    /// part of the memory (README Benchmarks, the memory bound).
    pub fn take_items(&mut self) -> Vec<BulkItem> {
        self.body.clear();
        self.last_index = None;
        let capacity = self.items.capacity();
        std::mem::replace(&mut self.items, Vec::with_capacity(capacity))
    }

    /// The name `prefix` + `suffix` as an `Arc<str>`: the previous one when it is the same (a
    /// batch's events nearly all fall in one daily index), so naming an item's index costs no
    /// allocation.
    pub fn index_for(&mut self, prefix: &str, suffix: &str) -> Arc<str> {
        if let Some(last) = &self.last_index {
            if last.len() == prefix.len() + suffix.len()
                && last.starts_with(prefix)
                && last.ends_with(suffix)
            {
                return Arc::clone(last);
            }
        }
        let mut name = String::with_capacity(prefix.len() + suffix.len());
        name.push_str(prefix);
        name.push_str(suffix);
        let name: Arc<str> = Arc::from(name);
        self.last_index = Some(Arc::clone(&name));
        name
    }

    /// Appends a `create` of `doc` into `index` under `id`, and returns the bytes it took; the
    /// caller then hands over the event with [`BulkBatch::commit`]. (Two steps, because the
    /// document usually borrows from the event.) On an encoding error nothing is appended.
    pub fn encode<D: Serialize>(
        &mut self,
        index: &str,
        id: &str,
        doc: &D,
    ) -> Result<Range<usize>, serde_json::Error> {
        self.encode_with(index, id, doc, true)
    }

    /// [`BulkBatch::encode`], told whether the document's raw JSON parts may hold a line break.
    /// They are slices of the message, so a message without any `\n` or `\r` byte (nearly all)
    /// cannot give one, and the written document need not be scanned for them.
    pub fn encode_with<D: Serialize>(
        &mut self,
        index: &str,
        id: &str,
        doc: &D,
        line_breaks_possible: bool,
    ) -> Result<Range<usize>, serde_json::Error> {
        self.encode_json(
            index,
            id,
            |out| serde_json::to_writer(out, doc),
            line_breaks_possible,
        )
    }

    /// [`BulkBatch::encode_with`] for a document that writes itself: `write` appends exactly one
    /// compact JSON value to the buffer it is given.
    pub fn encode_json<F>(
        &mut self,
        index: &str,
        id: &str,
        write: F,
        line_breaks_possible: bool,
    ) -> Result<Range<usize>, serde_json::Error>
    where
        F: FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
    {
        let start = self.body.len();
        // The action line, as serde_json writes `{"create":{"_index":..,"_id":..}}`.
        self.body.extend_from_slice(b"{\"create\":{\"_index\":");
        json_escape::write_str(&mut self.body, index);
        self.body.extend_from_slice(b",\"_id\":");
        json_escape::write_str(&mut self.body, id);
        self.body.extend_from_slice(b"}}\n");
        let doc_start = self.body.len();
        match write(&mut self.body) {
            Ok(()) => {
                // Free-form payloads are copied as their raw JSON text, which may be
                // pretty-printed: a line break would split the document in the NDJSON body.
                // Outside strings (inside them JSON escapes it) a line break is only whitespace,
                // so a space is the same JSON.
                if line_breaks_possible {
                    for b in &mut self.body[doc_start..] {
                        if *b == b'\n' || *b == b'\r' {
                            *b = b' ';
                        }
                    }
                }
                self.body.push(b'\n');
                Ok(start..self.body.len())
            }
            Err(e) => {
                self.body.truncate(start);
                Err(e)
            }
        }
    }

    /// Records the event whose document [`BulkBatch::encode`] wrote at `range`.
    pub fn commit(
        &mut self,
        index: Arc<str>,
        id: DocId,
        range: Range<usize>,
        event: RawEvent,
        facts: Option<Box<Facts>>,
        minted: Option<Box<Minted>>,
    ) {
        debug_assert_eq!(range.start, self.items.last().map_or(0, |i| i.range.end));
        self.items.push(BulkItem {
            index,
            id,
            range,
            event,
            facts,
            minted,
        });
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn byte_len(&self) -> usize {
        self.body.len()
    }

    pub fn items(&self) -> &[BulkItem] {
        &self.items
    }

    pub fn into_items(self) -> Vec<BulkItem> {
        self.items
    }

    /// The body and the items, for moving the items into another batch one by one
    /// ([`BulkBatch::push_item`]).
    pub fn into_body_and_items(self) -> (Vec<u8>, Vec<BulkItem>) {
        (self.body, self.items)
    }

    /// Appends `item`, encoded into another batch whose body is `body`: its bytes are copied.
    pub fn push_item(&mut self, body: &[u8], mut item: BulkItem) {
        let start = self.body.len();
        self.body.extend_from_slice(&body[item.range.clone()]);
        item.range = start..self.body.len();
        self.items.push(item);
    }

    /// The whole body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// A body holding only the items at `positions` (in that order).
    pub fn body_of(&self, positions: &[usize]) -> Vec<u8> {
        let len = positions.iter().map(|&i| self.items[i].range.len()).sum();
        let mut body = Vec::with_capacity(len);
        for &i in positions {
            body.extend_from_slice(&self.body[self.items[i].range.clone()]);
        }
        body
    }

    /// The document line of the item at `position` (without its action line), for tests.
    pub fn document_of(&self, position: usize) -> &[u8] {
        let item = &self.body[self.items[position].range.clone()];
        let action_end = item.iter().position(|&b| b == b'\n').unwrap_or(0);
        &item[action_end + 1..item.len() - 1]
    }
}

/// A `_bulk` response, as trimmed by [`FILTER_PATH`].
#[derive(Debug, Deserialize)]
pub struct BulkResponse {
    /// Not trusted: outcomes are read from the items (a proxy or an old version may leave it
    /// out, and it says nothing about which items failed).
    #[serde(default)]
    pub errors: bool,
    #[serde(default)]
    pub items: Vec<ItemResponse>,
}

/// The fields of a bulk response the sink reads; the rest is not sent (`filter_path`).
pub const FILTER_PATH: &str = "errors,items.*.status,items.*.error.type,items.*.error.reason";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemResponse {
    Create(ItemResult),
    Index(ItemResult),
    Update(ItemResult),
    Delete(ItemResult),
}

impl ItemResponse {
    pub fn result(&self) -> &ItemResult {
        match self {
            ItemResponse::Create(r)
            | ItemResponse::Index(r)
            | ItemResponse::Update(r)
            | ItemResponse::Delete(r) => r,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ItemResult {
    pub status: u16,
    pub error: Option<ItemError>,
}

#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
pub struct ItemError {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Origin;
    use std::sync::Arc;

    fn event(n: u64) -> RawEvent {
        RawEvent {
            message: format!("m{n}"),
            origin: Origin::File {
                path: Arc::from("t"),
                record: n,
            },
        }
    }

    #[test]
    fn body_is_ndjson_and_subsets_keep_whole_items() {
        let mut b = BulkBatch::default();
        for n in 0..3 {
            let id = format!("id\"{n}");
            let range = b
                .encode("cloudtrail-2024.01.01", &id, &serde_json::json!({"n": n}))
                .unwrap();
            b.commit(
                "cloudtrail-2024.01.01".into(),
                id.into(),
                range,
                event(n),
                None,
                None,
            );
        }
        let text = String::from_utf8(b.body().to_vec()).unwrap();
        assert_eq!(text.lines().count(), 6);
        assert!(text.starts_with(
            "{\"create\":{\"_index\":\"cloudtrail-2024.01.01\",\"_id\":\"id\\\"0\"}}\n{\"n\":0}\n"
        ));
        let sub = String::from_utf8(b.body_of(&[2, 0])).unwrap();
        assert_eq!(
            sub,
            "{\"create\":{\"_index\":\"cloudtrail-2024.01.01\",\"_id\":\"id\\\"2\"}}\n{\"n\":2}\n\
             {\"create\":{\"_index\":\"cloudtrail-2024.01.01\",\"_id\":\"id\\\"0\"}}\n{\"n\":0}\n"
        );
        assert_eq!(b.document_of(1), b"{\"n\":1}");
    }

    #[test]
    fn line_breaks_in_raw_payloads_never_split_a_document() {
        let raw: Box<serde_json::value::RawValue> =
            serde_json::from_str("{\n  \"a\": \"x\\ny\"\r\n}").unwrap();
        let mut b = BulkBatch::default();
        let range = b.encode("i", "1", &raw).unwrap();
        b.commit("i".into(), "1".into(), range, event(0), None, None);
        let text = String::from_utf8(b.body().to_vec()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let doc: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(
            doc["a"], "x\ny",
            "escaped line breaks inside strings are kept"
        );
    }

    #[test]
    fn ids_read_back_as_given_and_index_names_are_shared() {
        for id in [
            String::new(),
            "7ea15c0e-0000-4000-8000-000000000001".to_owned(),
            "é".repeat(39) + "x",
            "x".repeat(DocId::INLINE),
            "x".repeat(DocId::INLINE + 1),
            "y".repeat(512),
        ] {
            let d = DocId::from(id.as_str());
            assert_eq!(&*d, id);
            assert_eq!(&*DocId::from(id.clone()), id);
            assert_eq!(d.to_string(), id);
            assert_eq!(format!("{d:?}"), format!("{id:?}"));
        }
        let mut b = BulkBatch::default();
        let a = b.index_for("ct-", "2024.01.01");
        assert_eq!(&*a, "ct-2024.01.01");
        assert!(Arc::ptr_eq(&a, &b.index_for("ct-", "2024.01.01")));
        assert_eq!(&*b.index_for("ct-", "2024.01.02"), "ct-2024.01.02");
        assert_eq!(&*b.index_for("ct", "-2024.01.02"), "ct-2024.01.02");
        assert_eq!(&*b.index_for("x-", "2024.01.02"), "x-2024.01.02");
    }
}

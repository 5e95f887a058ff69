//! The dead-letter file: NDJSON, one line per event that can never be indexed as it is, with the
//! original message and the reason, so nothing is lost and a person can see why.

use crate::source::{Origin, RawEvent};
use serde::Serialize;
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
#[error("cannot write the dead-letter file {path}: {source}")]
pub struct DeadLetterError {
    path: PathBuf,
    source: std::io::Error,
}

/// At which step an event was refused.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The message is not a CloudTrail record trailscope can read.
    Decode,
    /// OpenSearch refused the document.
    Index,
}

/// One dead letter as written.
#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    pub time: String,
    pub stage: Stage,
    pub error_type: &'a str,
    pub reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    pub origin: &'a Origin,
    /// The original message, exactly as received (base64 when `event_encoding` says so).
    pub event: &'a str,
    /// Set when `event` is the base64 of the original bytes, which were not UTF-8 text: decode
    /// it to replay them exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_encoding: Option<Encoding>,
}

/// How a dead letter's `event` holds bytes that are not text.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Base64,
}

/// An append-only NDJSON file. A dead letter must be on disk before its event is acknowledged
/// (the checkpoint moves past it): a writer calls [`DeadLetterFile::sync`] once per batch or
/// page, before the acks, because one fsync per letter made 10k junk lines cost seconds of disk
/// waits.
pub struct DeadLetterFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
    /// Letters were written since the last sync (read and changed under `file`'s lock).
    unsynced: AtomicBool,
}

impl DeadLetterFile {
    /// The file is created on the first dead letter, not before.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DeadLetterFile {
            path: path.into(),
            file: Mutex::new(None),
            unsynced: AtomicBool::new(false),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a letter, not yet synced: call [`DeadLetterFile::sync`] before acknowledging its
    /// event.
    pub fn write(
        &self,
        stage: Stage,
        error_type: &str,
        reason: &str,
        index: Option<&str>,
        id: Option<&str>,
        event: &RawEvent,
    ) -> Result<(), DeadLetterError> {
        let letter = DeadLetter {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            stage,
            error_type,
            reason,
            index,
            id,
            origin: &event.origin,
            event: &event.message,
            event_encoding: None,
        };
        self.append(&letter)
    }

    /// A dead letter of input as read, before it was an event: text as it is, other bytes as
    /// base64 (a lossy conversion would make the dead letter unfaithful to what was read).
    pub fn write_input(
        &self,
        stage: Stage,
        error_type: &str,
        reason: &str,
        origin: &Origin,
        input: &[u8],
    ) -> Result<(), DeadLetterError> {
        use base64::Engine;
        let (event, event_encoding) = match std::str::from_utf8(input) {
            Ok(text) => (Cow::Borrowed(text), None),
            Err(_) => (
                Cow::Owned(base64::engine::general_purpose::STANDARD.encode(input)),
                Some(Encoding::Base64),
            ),
        };
        self.append(&DeadLetter {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            stage,
            error_type,
            reason,
            index: None,
            id: None,
            origin,
            event: &event,
            event_encoding,
        })
    }

    fn append(&self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        let mut line = serde_json::to_vec(letter).expect("a dead letter always serializes");
        line.push(b'\n');
        let err = |source| DeadLetterError {
            path: self.path.clone(),
            source,
        };
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(err)?;
            *guard = Some(file);
        }
        let file = guard.as_mut().expect("opened above");
        self.unsynced.store(true, Ordering::Relaxed);
        file.write_all(&line).map_err(err)
    }

    /// Puts every letter written so far on disk (nothing to do when none was). Checked and
    /// synced under the lock, so that a sync never returns while another caller's sync of the
    /// same letters is still under way.
    pub fn sync(&self) -> Result<(), DeadLetterError> {
        let guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let Some(file) = guard.as_ref() else {
            return Ok(());
        };
        if !self.unsynced.load(Ordering::Relaxed) {
            return Ok(());
        }
        file.sync_data().map_err(|source| DeadLetterError {
            path: self.path.clone(),
            source,
        })?;
        self.unsynced.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Whether every letter written so far is synced (for tests of who syncs before acking).
    #[cfg(test)]
    pub(crate) fn is_synced(&self) -> bool {
        let _guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        !self.unsynced.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn writes_one_line_per_letter_with_the_original_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dead.ndjson");
        let dlq = DeadLetterFile::new(&path);
        let event = RawEvent {
            message: "not json {".into(),
            origin: Origin::File {
                path: Arc::from("in.ndjson"),
                record: 7,
            },
        };
        dlq.write(
            Stage::Decode,
            "decode",
            "not a JSON object",
            None,
            None,
            &event,
        )
        .unwrap();
        dlq.write(
            Stage::Index,
            "mapper_parsing_exception",
            "bad",
            Some("i"),
            Some("x"),
            &event,
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "not json {");
        assert_eq!(lines[0]["stage"], "decode");
        assert_eq!(lines[0]["origin"]["file"]["record"], 7);
        assert_eq!(lines[1]["error_type"], "mapper_parsing_exception");
        assert_eq!(lines[1]["index"], "i");
        assert!(lines[0].get("event_encoding").is_none());
    }

    #[test]
    fn input_that_is_not_text_is_kept_as_base64() {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.ndjson");
        let dlq = DeadLetterFile::new(&path);
        let origin = Origin::File {
            path: Arc::from("in"),
            record: 3,
        };
        let binary = b"{\"eventID\":\"\xff\xc3\"}\x00";
        dlq.write_input(Stage::Decode, "not_utf8", "r", &origin, binary)
            .unwrap();
        dlq.write_input(Stage::Decode, "not_json", "r", &origin, b"junk")
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["event_encoding"], "base64");
        let back = base64::engine::general_purpose::STANDARD
            .decode(lines[0]["event"].as_str().unwrap())
            .unwrap();
        assert_eq!(back, binary);
        assert_eq!(lines[1]["event"], "junk");
        assert!(lines[1].get("event_encoding").is_none());
    }

    #[test]
    fn sync_is_free_without_new_letters_and_keeps_every_letter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.ndjson");
        let dlq = DeadLetterFile::new(&path);
        dlq.sync().expect("nothing written yet: nothing to sync");
        assert!(!path.exists(), "the file is made by the first letter only");
        let event = RawEvent {
            message: "x".into(),
            origin: Origin::File {
                path: Arc::from("in"),
                record: 1,
            },
        };
        for _ in 0..3 {
            dlq.write(Stage::Decode, "not_json", "r", None, None, &event)
                .unwrap();
        }
        assert!(dlq.unsynced.load(Ordering::Relaxed));
        dlq.sync().unwrap();
        assert!(!dlq.unsynced.load(Ordering::Relaxed));
        dlq.sync().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }
}

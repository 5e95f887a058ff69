//! Reads a dead-letter file back as input (`trailscope ingest --replay-dead-letters`): each dead
//! letter's `event` — the original bytes, decoded from base64 where `event_encoding` says so —
//! becomes one line of input again, read like any other input by `files`.
//!
//! The dead-letter format belongs to the sink; it is read here by its two fields only, so that
//! the source does not reach up into the sink.

use base64::Engine;
use serde::Deserialize;
use std::io::{BufRead, Read};

#[derive(Deserialize)]
struct Letter {
    event: String,
    #[serde(default)]
    event_encoding: Option<String>,
}

/// A line of the dead-letter file that is not a dead letter.
#[derive(Debug, thiserror::Error)]
#[error(
    "line {line} of the dead-letter file is not a dead letter (a JSON object with `event`): \
     {reason}; is this a dead-letter file?"
)]
pub struct NotADeadLetter {
    pub line: u64,
    pub reason: String,
}

/// The events of a dead-letter file, one per line, as a byte stream.
pub struct Replay<R> {
    input: R,
    line: Vec<u8>,
    line_no: u64,
    out: Vec<u8>,
    at: usize,
}

impl<R: BufRead> Replay<R> {
    pub fn new(input: R) -> Self {
        Replay {
            input,
            line: Vec::new(),
            line_no: 0,
            out: Vec::new(),
            at: 0,
        }
    }

    /// Reads the next letter into `out`; false at the end.
    fn next_letter(&mut self) -> std::io::Result<bool> {
        loop {
            self.line.clear();
            if self.input.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            if self.line.trim_ascii().is_empty() {
                continue;
            }
            let bad = |reason: String| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    NotADeadLetter {
                        line: self.line_no,
                        reason,
                    },
                )
            };
            let letter: Letter =
                serde_json::from_slice(&self.line).map_err(|e| bad(e.to_string()))?;
            self.out.clear();
            self.at = 0;
            match letter.event_encoding.as_deref() {
                None => self.out.extend_from_slice(letter.event.as_bytes()),
                Some("base64") => {
                    self.out = base64::engine::general_purpose::STANDARD
                        .decode(&letter.event)
                        .map_err(|e| bad(format!("its base64 event does not decode: {e}")))?
                }
                Some(other) => return Err(bad(format!("unknown event_encoding {other:?}"))),
            }
            self.out.push(b'\n');
            return Ok(true);
        }
    }
}

impl<R: BufRead> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.out.len() && !self.next_letter()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_exactly_text_and_binary() {
        let binary = [0x00u8, 0xff, b'x'];
        let file = format!(
            "{}\n\n{}\n",
            serde_json::json!({"stage": "decode", "event": "junk \"quoted\""}),
            serde_json::json!({
                "event": base64::engine::general_purpose::STANDARD.encode(binary),
                "event_encoding": "base64"
            })
        );
        let mut out = Vec::new();
        Replay::new(file.as_bytes()).read_to_end(&mut out).unwrap();
        let mut expected = b"junk \"quoted\"\n".to_vec();
        expected.extend_from_slice(&binary);
        expected.push(b'\n');
        assert_eq!(out, expected);
        let e = Replay::new(&b"{\"event\":\"a\"}\nnot a letter\n"[..])
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        let inner = e.get_ref().and_then(|i| i.downcast_ref::<NotADeadLetter>());
        assert!(matches!(inner, Some(NotADeadLetter { line: 2, .. })), "{e}");
    }
}

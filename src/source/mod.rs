//! Where events come from. Every source yields [`RawEvent`]s: the message bytes as they were
//! received and the position they came from, which the sink reports back when it is done with them.

pub mod ack;
pub mod aws_client;
pub mod aws_error;
pub mod checkpoint;
pub mod cloudwatch;
pub mod digests;
pub mod files;
pub mod poller;
pub mod rate_limit;
pub mod replay;
pub mod s3;
pub mod sqs;
pub mod subscription;

use serde::Serialize;
use std::sync::Arc;

/// One message as a source received it, before any decoding.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub message: String,
    pub origin: Origin,
}

/// Where a message came from; indexed as `cloudwatch.*` and written with dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    CloudWatch(CloudWatchPosition),
    /// A line or record of a file (or stdin), for backfills.
    File {
        path: Arc<str>,
        record: u64,
    },
    /// A queue message that named nothing to read (dead letters only: events come from files).
    Sqs {
        queue_url: Arc<str>,
        message_id: String,
    },
}

/// As in the dead-letter file (JSON), for logs: what a person reads, not Rust's debug output.
impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

/// The position of one CloudWatch Logs event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudWatchPosition {
    pub log_group: Arc<str>,
    pub log_stream: Arc<str>,
    /// CloudWatch's event id: a 56-digit string on AWS (moto uses small integers).
    pub event_id: String,
    /// Milliseconds since the epoch: the event's own timestamp in CloudWatch Logs.
    pub timestamp: i64,
    /// Milliseconds since the epoch when CloudWatch Logs received it, where known.
    pub ingestion_time: Option<i64>,
}

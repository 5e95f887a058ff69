//! `trailscope lambda`: runs as an AWS Lambda function (custom runtime, provided.al2023) behind a
//! CloudWatch Logs subscription filter, directly or through a Kinesis data stream.
//!
//! - A CloudWatch Logs event (`{"awslogs":{"data":"<base64 gzip>"}}`, asynchronous invocation):
//!   the invocation succeeds only once every event is indexed, a known duplicate or
//!   dead-lettered; otherwise it fails and Lambda retries it (then sends it to the function's
//!   on-failure destination). Document ids are CloudTrail's eventID, so a retry never duplicates.
//! - A Kinesis event (event source mapping with `ReportBatchItemFailures`): each record is one
//!   subscription payload; the response lists the sequence numbers of records not fully
//!   delivered (or not decodable), so only those are retried.
//!
//! Configuration comes from the environment (the same variables as the flags: TRAILSCOPE_*).
//! The binary is the same as the CLI: named `bootstrap` (as provided.al2023 wants), it runs this.

use super::PipelineArgs;
use crate::pipeline::{Pipeline, PipelineError};
use crate::sink::dead_letter::Stage;
use crate::source::subscription::{self, MessageType, PayloadError, RejectedLogEvent};
use crate::source::{Origin, RawEvent};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use clap::{Args, Parser};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Args)]
pub struct LambdaArgs {
    #[command(flatten)]
    pub output: PipelineArgs,
    /// Largest decompressed subscription payload accepted (a bigger one is refused as a gzip bomb).
    #[arg(long, env = "TRAILSCOPE_MAX_PAYLOAD_BYTES", default_value_t = subscription::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    pub max_payload_bytes: usize,
    /// Seconds kept free before the invocation's deadline (at most a third of the time left):
    /// delivery still running then is abandoned and the invocation fails (to be retried) rather
    /// than being killed by a timeout.
    #[arg(long, env = "TRAILSCOPE_DEADLINE_MARGIN_SECS", default_value_t = 5)]
    pub deadline_margin_secs: u64,
}

/// Parses `LambdaArgs` alone (flags, then the environment), for embedding and tests.
#[derive(Debug, Parser)]
#[command(name = "trailscope-lambda")]
struct LambdaCli {
    #[command(flatten)]
    args: LambdaArgs,
}

impl LambdaArgs {
    pub fn try_parse_from<I, T>(args: I) -> Result<LambdaArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        LambdaCli::try_parse_from(args).map(|c| c.args)
    }
}

/// The command line to parse: when the binary runs as `bootstrap` (the name Lambda's
/// provided.al2023 runtime executes), `trailscope lambda` with the configuration from the
/// environment; otherwise the arguments as given.
pub fn bootstrap_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let is_bootstrap = args
        .first()
        .and_then(|a| {
            std::path::Path::new(a)
                .file_name()
                .map(|n| n == "bootstrap")
        })
        .unwrap_or(false);
    if is_bootstrap {
        args.insert(1, OsString::from("lambda"));
    }
    args
}

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error(
        "the invocation event is neither a CloudWatch Logs subscription event ({{\"awslogs\": \
         {{\"data\": ...}}}}) nor a Kinesis event ({{\"Records\": [...]}}): {0}"
    )]
    UnknownEvent(String),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("delivery to OpenSearch failed: {0}")]
    Pipeline(#[from] PipelineError),
    #[error(
        "the invocation's deadline is near and {pending} event(s) are not delivered yet: failing \
         so that Lambda retries (ids are idempotent; raise the function's timeout or lower \
         TRAILSCOPE_BATCH_* if this repeats)"
    )]
    Deadline { pending: usize },
}

impl LambdaError {
    pub fn kind(&self) -> &'static str {
        match self {
            LambdaError::UnknownEvent(_) => "UnknownEvent",
            LambdaError::Payload(_) => "MalformedPayload",
            LambdaError::Pipeline(_) => "DeliveryFailed",
            LambdaError::Deadline { .. } => "DeadlineReached",
        }
    }
}

/// A failed invocation as handed to the runtime, which logs it with `{:?}` before reporting it
/// to Lambda: its Debug is the sentence a person reads in the function's log (the derived
/// Debug of the error would print Rust's structure of it).
pub struct Failed(pub LambdaError);

impl std::fmt::Debug for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invocation failed: {}: {}", self.0.kind(), self.0)
    }
}

impl From<Failed> for lambda_runtime::Diagnostic {
    fn from(e: Failed) -> Self {
        e.0.into()
    }
}

impl From<LambdaError> for lambda_runtime::Diagnostic {
    fn from(e: LambdaError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.kind().to_owned(),
            error_message: e.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct LogsEvent {
    awslogs: AwsLogs,
}

#[derive(Deserialize)]
struct AwsLogs {
    data: String,
}

/// What one invocation did (logged, and returned by [`Handler::handle_logs`] for tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Invocation {
    pub events: usize,
    pub control_messages: usize,
    /// Log events refused alone (unreadable), written to the dead-letter file.
    pub dead_lettered: usize,
}

/// The function: one pipeline per execution environment, reused by every invocation.
pub struct Handler {
    pipeline: Pipeline,
    max_payload_bytes: usize,
    deadline_margin: Duration,
    dead_letters_seen: Mutex<u64>,
}

impl Handler {
    /// Connects to OpenSearch and checks the index template (in the function's init phase).
    pub async fn new(args: &LambdaArgs) -> anyhow::Result<Handler> {
        Ok(Handler {
            pipeline: args.output.pipeline().await?,
            max_payload_bytes: args.max_payload_bytes,
            deadline_margin: Duration::from_secs(args.deadline_margin_secs),
            dead_letters_seen: Mutex::new(0),
        })
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Handles one invocation event of either kind. `deadline` is the invocation's (from the
    /// Lambda context); `None` waits as long as delivery takes.
    pub async fn handle(
        &self,
        event: Value,
        deadline: Option<SystemTime>,
    ) -> Result<Value, LambdaError> {
        let result = if event.get("awslogs").is_some() {
            let logs: LogsEvent = serde_json::from_value(event)
                .map_err(|e| LambdaError::UnknownEvent(e.to_string()))?;
            self.handle_logs(&logs.awslogs.data, deadline)
                .await
                .map(|_| Value::Null)
        } else if event.get("Records").is_some() {
            let kinesis: KinesisEvent = serde_json::from_value(event)
                .map_err(|e| LambdaError::UnknownEvent(e.to_string()))?;
            let response = self.handle_kinesis(kinesis, deadline).await;
            Ok(serde_json::to_value(response).expect("a Kinesis response serializes"))
        } else {
            Err(LambdaError::UnknownEvent(
                "no awslogs or Records field".into(),
            ))
        };
        self.echo_dead_letters();
        result
    }

    /// A CloudWatch Logs subscription event: `data` is the base64 payload.
    pub async fn handle_logs(
        &self,
        data: &str,
        deadline: Option<SystemTime>,
    ) -> Result<Invocation, LambdaError> {
        let payload = subscription::decode(data.as_bytes(), self.max_payload_bytes)
            .inspect_err(|e| tracing::error!(kind = e.kind(), "{e}"))?;
        if payload.message_type == MessageType::Control {
            tracing::info!(owner = %payload.owner, "CONTROL_MESSAGE acknowledged");
            return Ok(Invocation {
                events: 0,
                control_messages: 1,
                dead_lettered: 0,
            });
        }
        let dead_lettered = self.dead_letter(payload.rejected)?;
        let n = payload.events.len();
        let mut pending = n;
        let result = self
            .deliver(payload.events, deadline, &mut |_: &Origin| pending -= 1)
            .await;
        match result {
            Err(LambdaError::Deadline { .. }) => Err(LambdaError::Deadline { pending }),
            Err(e) => Err(e),
            Ok(()) => {
                tracing::info!(log_group = %payload.log_group, log_stream = %payload.log_stream, events = n, "delivered");
                Ok(Invocation {
                    events: n,
                    control_messages: 0,
                    dead_lettered,
                })
            }
        }
    }

    /// A Kinesis event: every record a subscription payload. Records not fully delivered are
    /// reported as batch item failures (by sequence number).
    pub async fn handle_kinesis(
        &self,
        event: KinesisEvent,
        deadline: Option<SystemTime>,
    ) -> KinesisEventResponse {
        let records = event.records;
        let mut failed = vec![false; records.len()];
        let mut pending = vec![0usize; records.len()];
        // Which record each event came from, by its CloudWatch position (a position may repeat
        // when a payload is delivered twice: each ack settles one of them).
        let mut owners: HashMap<(Arc<str>, Arc<str>, String), Vec<usize>> = HashMap::new();
        let mut events = Vec::new();
        for (i, record) in records.iter().enumerate() {
            match subscription::decode(&record.kinesis.data.0, self.max_payload_bytes) {
                Ok(payload) => {
                    if let Err(e) = self.dead_letter(payload.rejected) {
                        tracing::error!(kind = e.kind(), "{e}");
                        failed[i] = true;
                    }
                    for e in payload.events {
                        if let Some(key) = position(&e.origin) {
                            owners.entry(key).or_default().push(i);
                            pending[i] += 1;
                        }
                        events.push(e);
                    }
                }
                Err(e) => {
                    tracing::error!(
                        sequence_number = %record.kinesis.sequence_number,
                        kind = e.kind(),
                        "{e}"
                    );
                    failed[i] = true;
                }
            }
        }
        let result = self
            .deliver(events, deadline, &mut |origin: &Origin| {
                if let Some(i) = position(origin)
                    .and_then(|k| owners.get_mut(&k))
                    .and_then(|v| v.pop())
                {
                    pending[i] -= 1;
                }
            })
            .await;
        if let Err(e) = &result {
            tracing::error!(kind = e.kind(), "{e}");
        }
        let mut response = KinesisEventResponse::default();
        for (i, record) in records.iter().enumerate() {
            if failed[i] || pending[i] > 0 {
                let mut failure = KinesisBatchItemFailure::default();
                failure.item_identifier = Some(record.kinesis.sequence_number.clone());
                response.batch_item_failures.push(failure);
            }
        }
        tracing::info!(
            records = records.len(),
            failed = response.batch_item_failures.len(),
            "Kinesis batch handled"
        );
        response
    }

    /// Writes log events refused alone to the dead-letter file (before the payload's other
    /// events are delivered, so that an acknowledged invocation has kept them all).
    fn dead_letter(&self, rejected: Vec<RejectedLogEvent>) -> Result<usize, LambdaError> {
        let n = rejected.len();
        for bad in rejected {
            tracing::error!(origin = %bad.origin, kind = bad.error.kind(), "{}", bad.error);
            self.pipeline
                .sink
                .dead_letters()
                .write_input(
                    Stage::Decode,
                    bad.error.kind(),
                    &bad.error.to_string(),
                    &bad.origin,
                    &bad.input,
                )
                .map_err(|e| LambdaError::Pipeline(e.into()))?;
            self.pipeline.stats.read(1);
            self.pipeline.stats.dead_lettered(1);
        }
        Ok(n)
    }

    async fn deliver(
        &self,
        events: Vec<RawEvent>,
        deadline: Option<SystemTime>,
        acks: &mut impl FnMut(&Origin),
    ) -> Result<(), LambdaError> {
        const PAGE: usize = 1000;
        let n = events.len();
        let (tx, rx) = mpsc::channel(n.div_ceil(PAGE).max(1));
        let mut events = events.into_iter();
        loop {
            let page: Vec<RawEvent> = events.by_ref().take(PAGE).collect();
            if page.is_empty() {
                break;
            }
            tx.try_send(page).expect("the channel holds every page");
        }
        drop(tx);
        let mut acked = 0usize;
        let mut count = |o: &Origin| {
            acked += 1;
            acks(o)
        };
        let run = self.pipeline.run(rx, &mut count);
        match deadline {
            None => run.await?,
            Some(deadline) => {
                // Keep the margin free, but never more than a third of a short invocation's time
                // (Lambda's default timeout is 3 s).
                let remaining = deadline
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                let left = remaining - self.deadline_margin.min(remaining / 3);
                if left.is_zero() {
                    // No time to deliver anything: start nothing, report everything.
                    return Err(LambdaError::Deadline { pending: n });
                }
                match tokio::time::timeout(left, run).await {
                    Ok(result) => result?,
                    Err(_) => return Err(LambdaError::Deadline { pending: n - acked }),
                }
            }
        }
        Ok(())
    }

    /// The dead-letter file lives in the function's /tmp, which goes away with the execution
    /// environment: copy each new dead letter into the function's log so it is kept.
    fn echo_dead_letters(&self) {
        let path = self.pipeline.sink.dead_letters().path();
        let Ok(mut file) = std::fs::File::open(path) else {
            return;
        };
        let mut seen = self
            .dead_letters_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut new = String::new();
        if file.seek(SeekFrom::Start(*seen)).is_ok() && file.read_to_string(&mut new).is_ok() {
            *seen += new.len() as u64;
            for line in new.lines() {
                tracing::warn!(target: "trailscope::dead_letter", "{line}");
            }
        }
    }
}

/// The invocation's deadline: milliseconds since the epoch on AWS. A value before 2001 is no
/// such deadline (`cargo lambda watch` sends the timeout itself, e.g. 600000): then none is known.
fn epoch_deadline(ms: u64) -> Option<SystemTime> {
    (ms >= 1_000_000_000_000).then(|| UNIX_EPOCH + Duration::from_millis(ms))
}

fn position(origin: &Origin) -> Option<(Arc<str>, Arc<str>, String)> {
    match origin {
        Origin::CloudWatch(p) => Some((
            p.log_group.clone(),
            p.log_stream.clone(),
            p.event_id.clone(),
        )),
        _ => None,
    }
}

/// Runs the function until the Lambda runtime stops it.
pub async fn run(args: LambdaArgs) -> anyhow::Result<()> {
    let handler = match Handler::new(&args).await {
        Ok(handler) => Arc::new(handler),
        Err(e) => {
            report_init_error(&e).await;
            return Err(e);
        }
    };
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| {
            let handler = handler.clone();
            async move {
                tracing::debug!(
                    request_id = %event.context.request_id,
                    deadline_ms = event.context.deadline,
                    "invocation"
                );
                handler
                    .handle(event.payload, epoch_deadline(event.context.deadline))
                    .await
                    .map_err(Failed)
            }
        },
    ))
    .await
    .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))
}

/// Tells the Runtime API why the function could not start (`/runtime/init/error`), so that
/// Lambda shows the sentence with the failed invocation instead of a bare "Runtime exited with
/// error"; best effort: the process exits with the error anyway, and it is in the log.
async fn report_init_error(error: &anyhow::Error) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let url = format!("http://{api}/2018-06-01/runtime/init/error");
    let body = serde_json::json!({
        "errorType": "InitError",
        "errorMessage": format!("{error:#}"),
        "stackTrace": [],
    });
    let sent = reqwest::Client::new()
        .post(&url)
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(Duration::from_secs(2))
        .body(body.to_string())
        .send()
        .await;
    if let Err(e) = sent {
        tracing::warn!(
            "cannot report the start-up failure to the Lambda Runtime API at {url}: {e}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_epoch_milliseconds() {
        assert_eq!(
            epoch_deadline(1_764_072_000_123),
            Some(UNIX_EPOCH + Duration::from_millis(1_764_072_000_123))
        );
        assert_eq!(epoch_deadline(600_000), None);
    }

    #[test]
    fn bootstrap_name_runs_the_lambda_command() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            bootstrap_args(args(&["/var/runtime/bootstrap"])),
            args(&["/var/runtime/bootstrap", "lambda"])
        );
        assert_eq!(
            bootstrap_args(args(&["trailscope", "ingest", "x"])),
            args(&["trailscope", "ingest", "x"])
        );
    }
}

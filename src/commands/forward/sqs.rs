//! `trailscope forward --sqs-queue-url URL`: the continuous mode of S3 event notifications.
//! Messages are received with long polling; each names log files (`source::sqs` tells the
//! shapes apart), which are read whole with the same reader as `ingest s3://`. A message is
//! deleted only once every event of all its objects is acknowledged by the pipeline (indexed,
//! known duplicate or dead-lettered); until then its visibility timeout is extended, and if the
//! process dies the message comes back after the timeout and is read again (event ids make the
//! second read duplicates, not new documents). A message that can never be read (not JSON, an
//! unknown shape, an object that does not exist or is corrupt) is dead-lettered with the reason
//! and deleted, never retried forever. Several instances on one queue share the work: SQS hands
//! each message to one of them at a time.

use crate::commands::ingest::read_object;
use crate::commands::PipelineArgs;
use crate::sink::dead_letter::{DeadLetterFile, Stage};
use crate::source::aws_client::{self, AssumeRole};
use crate::source::aws_error::AwsFailure;
use crate::source::files::{FilesError, ReadOptions};
use crate::source::s3::{self, S3Error};
use crate::source::sqs::{self, Notice, ObjectRef, Queue, Received};
use crate::source::{Origin, RawEvent};
use crate::stats::{Snapshot, Stats};
use anyhow::{Context as _, Result};
use backon::{ExponentialBuilder, Retryable};
use clap::Args;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Flags of the SQS mode.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "From SQS (S3 event notifications)")]
pub struct SqsArgs {
    /// Read the CloudTrail log files named by the S3 event notifications on this queue (sent by
    /// the bucket directly or through SNS, or CloudTrail's own SNS notification) instead of
    /// CloudWatch Logs. --endpoint-url, --region and --role-arn then apply to SQS and S3.
    #[arg(long, value_name = "URL", env = "TRAILSCOPE_SQS_QUEUE_URL")]
    pub sqs_queue_url: Option<String>,
    /// How long a received message stays invisible to other readers. It is extended while the
    /// message's objects are read; after a crash the message comes back once it has passed.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "TRAILSCOPE_SQS_VISIBILITY_TIMEOUT")]
    pub sqs_visibility_timeout: Duration,
    /// Long polling: how long one receive waits for a message (at most 20s).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration, env = "TRAILSCOPE_SQS_WAIT")]
    pub sqs_wait: Duration,
    /// Messages read at once (each holds at most one object in memory while it is read). Up to
    /// 16 times as many more, read and waiting for their events' acknowledgements, hold only
    /// their receipt.
    #[arg(long, default_value_t = 8, env = "TRAILSCOPE_SQS_MESSAGES_IN_FLIGHT")]
    pub sqs_messages_in_flight: usize,
    /// Stop (exit 0, everything received delivered and deleted) after this many receives in a
    /// row found no message while nothing was in flight. `--once` is `--idle-exit 1`.
    #[arg(long, value_name = "N", env = "TRAILSCOPE_IDLE_EXIT")]
    pub idle_exit: Option<u32>,
}

/// What the rest of `forward`'s flags give the SQS mode.
pub struct Common<'a> {
    pub queue_url: &'a str,
    pub output: &'a PipelineArgs,
    pub endpoint_url: Option<&'a str>,
    pub region: Option<&'a str>,
    pub role: Option<AssumeRole>,
    /// Give up when SQS keeps failing this long.
    pub give_up: Duration,
    pub idle_exit: Option<u32>,
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// What `forward --sqs-queue-url` did: the pipeline's counters and the messages'.
#[derive(Debug, serde::Serialize)]
pub struct SqsSummary {
    #[serde(flatten)]
    pub stats: Snapshot,
    /// Messages received (a message received again after its timeout counts again).
    pub messages: u64,
    pub deleted: u64,
    /// s3:TestEvent, or records of no new object: deleted, nothing read.
    pub nothing_to_read: u64,
    /// Messages written to the dead-letter file (with the reason), then deleted.
    pub dead_lettered_messages: u64,
    /// Log files read.
    pub objects: u64,
    /// Objects named that are not log files (digest files, folders): not read.
    pub skipped_objects: u64,
    /// Messages left on the queue after a passing failure or a stop: read again after their
    /// visibility timeout.
    pub released: u64,
}

#[derive(Default)]
struct Counts {
    messages: AtomicU64,
    deleted: AtomicU64,
    nothing_to_read: AtomicU64,
    dead_lettered_messages: AtomicU64,
    objects: AtomicU64,
    skipped_objects: AtomicU64,
    released: AtomicU64,
}

/// The reads whose events are not all acknowledged yet. A read is known by its name's `Arc`
/// (every origin of its events shares it), not by the object's URL: two messages may name the
/// same object (S3 may notify twice) and be read at the same time.
#[derive(Default)]
struct Tracker {
    reads: HashMap<usize, ReadAcks>,
    closed: bool,
}

struct ReadAcks {
    /// Known once the object is read whole.
    events: Option<u64>,
    acked: u64,
    done: oneshot::Sender<()>,
}

fn read_key(name: &Arc<str>) -> usize {
    Arc::as_ptr(name) as *const u8 as usize
}

impl Tracker {
    /// Before any event of the read is handed on. The receiver fires when every event is
    /// acknowledged, and fails when the pipeline is gone first.
    fn register(&mut self, name: &Arc<str>) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        if !self.closed {
            self.reads.insert(
                read_key(name),
                ReadAcks {
                    events: None,
                    acked: 0,
                    done,
                },
            );
        }
        rx
    }

    fn read(&mut self, name: &Arc<str>, events: u64) {
        let key = read_key(name);
        if let Some(r) = self.reads.get_mut(&key) {
            r.events = Some(events);
        }
        self.settle(key);
    }

    fn acked(&mut self, origin: &Origin) {
        if let Origin::File { path, .. } = origin {
            let key = read_key(path);
            if let Some(r) = self.reads.get_mut(&key) {
                r.acked += 1;
                self.settle(key);
            }
        }
    }

    fn settle(&mut self, key: usize) {
        if self
            .reads
            .get(&key)
            .is_some_and(|r| r.events == Some(r.acked))
        {
            if let Some(r) = self.reads.remove(&key) {
                let _ = r.done.send(());
            }
        }
    }

    /// The pipeline is gone: nothing more will be acknowledged.
    fn close(&mut self) {
        self.closed = true;
        self.reads.clear();
    }
}

struct Context {
    queue: Queue,
    s3: aws_sdk_s3::Client,
    tx: mpsc::Sender<Vec<RawEvent>>,
    tracker: Arc<Mutex<Tracker>>,
    dead_letters: Arc<DeadLetterFile>,
    stats: Arc<Stats>,
    counts: Arc<Counts>,
    options: ReadOptions,
    visibility: Duration,
}

/// What becomes of a message once its work ends.
enum Settled {
    Delete,
    /// Left on the queue: it comes back after its visibility timeout.
    Release(String),
}

pub async fn run(
    args: &SqsArgs,
    common: Common<'_>,
    cancel: CancellationToken,
) -> Result<SqsSummary> {
    if args.sqs_messages_in_flight == 0 {
        return Err(crate::exit::UsageError(
            "--sqs-messages-in-flight must be at least 1".to_owned(),
        )
        .into());
    }
    // A queue URL of AWS names its region: enough without --region.
    let region = common
        .region
        .map(str::to_owned)
        .or_else(|| sqs::region_of(common.queue_url));
    let (config, target) = aws_client::sdk_config(
        common.endpoint_url,
        region.as_deref(),
        common.role.as_ref(),
        "sqs",
    )
    .await?;
    let queue = Queue::new(&config, common.queue_url, &target.endpoint);
    queue.check().await?;
    let s3 = s3::client_from(&config, common.endpoint_url.is_some());
    let pipeline = common.output.pipeline().await?;
    let stats = pipeline.stats.clone();
    let dead_letters = pipeline.sink.dead_letters().clone();
    let metrics = match common.metrics_addr {
        Some(addr) => {
            let readiness = crate::metrics::Readiness {
                opensearch: pipeline.sink.client().clone(),
                checkpoint: None,
            };
            let (_, task) = crate::metrics::start(addr, stats.clone(), readiness)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            Some(task)
        }
        None => None,
    };
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let counts = Arc::new(Counts::default());
    let (tx, rx) = mpsc::channel::<Vec<RawEvent>>(4);
    let pipeline_task = {
        let tracker = tracker.clone();
        tokio::spawn(async move {
            let result = pipeline
                .run(rx, &mut |origin: &Origin| {
                    tracker.lock().unwrap().acked(origin)
                })
                .await;
            tracker.lock().unwrap().close();
            result
        })
    };
    let ctx = Arc::new(Context {
        queue,
        s3,
        tx,
        tracker,
        dead_letters,
        stats: stats.clone(),
        counts: counts.clone(),
        options: ReadOptions::default(),
        visibility: args.sqs_visibility_timeout.max(Duration::from_secs(3)),
    });
    tracing::info!(queue = common.queue_url, endpoint = %target.endpoint, "receiving S3 notifications");
    let received = receive_loop(args, &common, ctx, &cancel).await;
    let delivered = pipeline_task.await.context("the pipeline panicked")?;
    if let Some(task) = metrics {
        task.abort();
    }
    let c = |n: &AtomicU64| n.load(Relaxed);
    let summary = SqsSummary {
        stats: stats.snapshot(),
        messages: c(&counts.messages),
        deleted: c(&counts.deleted),
        nothing_to_read: c(&counts.nothing_to_read),
        dead_lettered_messages: c(&counts.dead_lettered_messages),
        objects: c(&counts.objects),
        skipped_objects: c(&counts.skipped_objects),
        released: c(&counts.released),
    };
    tracing::info!(
        read = summary.stats.read,
        indexed = summary.stats.indexed,
        duplicates = summary.stats.duplicates,
        dead_lettered = summary.stats.dead_lettered,
        messages = summary.messages,
        deleted = summary.deleted,
        "forward finished"
    );
    delivered?;
    received?;
    Ok(summary)
}

/// How many messages, per message being read, may wait for their events' acknowledgements (a
/// batch lingers up to a second before it is sent: without these, readers would wait for it
/// instead of reading on).
const UNSETTLED_PER_READING: usize = 16;

/// What a message being handled holds: a place among the messages read at once (given back
/// once its objects are read), and one among the messages not yet settled.
struct Permits {
    reading: OwnedSemaphorePermit,
    _unsettled: OwnedSemaphorePermit,
}

/// Receives while messages may be taken (permits), hands each to its own task, and returns once
/// stopped (signal, --idle-exit, a fatal error) and every task has ended.
async fn receive_loop(
    args: &SqsArgs,
    common: &Common<'_>,
    ctx: Arc<Context>,
    cancel: &CancellationToken,
) -> Result<()> {
    let reading = Arc::new(Semaphore::new(args.sqs_messages_in_flight));
    let unsettled = Arc::new(Semaphore::new(
        args.sqs_messages_in_flight * UNSETTLED_PER_READING,
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let mut idle = 0u32;
    let mut failing_since: Option<tokio::time::Instant> = None;
    let mut fatal: Option<anyhow::Error> = None;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times();
    let mut delays = backon::BackoffBuilder::build(backoff);
    loop {
        while let Some(joined) = tasks.try_join_next() {
            if let Err(e) = joined.context("a message reader panicked").and_then(|r| r) {
                fatal.get_or_insert(e);
            }
        }
        if fatal.is_some() || cancel.is_cancelled() {
            break;
        }
        let first = tokio::select! {
            _ = cancel.cancelled() => break,
            p = async {
                let unsettled = unsettled.clone().acquire_owned().await;
                let reading = reading.clone().acquire_owned().await;
                (unsettled, reading)
            } => match p {
                (Ok(unsettled), Ok(reading)) => Permits { reading, _unsettled: unsettled },
                _ => unreachable!("the semaphores are never closed"),
            },
        };
        let mut taken = vec![first];
        while taken.len() < 10 {
            let Ok(u) = unsettled.clone().try_acquire_owned() else {
                break;
            };
            let Ok(r) = reading.clone().try_acquire_owned() else {
                break;
            };
            taken.push(Permits {
                reading: r,
                _unsettled: u,
            });
        }
        let received = tokio::select! {
            _ = cancel.cancelled() => break,
            r = ctx.queue.receive(taken.len() as i32, args.sqs_wait, ctx.visibility) => r,
        };
        let messages = match received {
            Ok(messages) => {
                failing_since = None;
                delays = backon::BackoffBuilder::build(backoff);
                messages
            }
            Err(e) if e.aws_failure() == AwsFailure::Transient => {
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= common.give_up {
                    fatal.get_or_insert(anyhow::Error::new(e).context(format!(
                        "SQS kept failing for {} (--source-give-up)",
                        humantime::format_duration(common.give_up)
                    )));
                    break;
                }
                tracing::warn!("{e}: trying again");
                let delay = delays.next().unwrap_or(Duration::from_secs(30));
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(delay) => continue,
                }
            }
            Err(e) => {
                fatal.get_or_insert(e.into());
                break;
            }
        };
        ctx.counts
            .messages
            .fetch_add(messages.len() as u64, Relaxed);
        if messages.is_empty() {
            idle += 1;
            if common.idle_exit.is_some_and(|n| idle >= n) && tasks.is_empty() {
                tracing::info!(
                    receives = idle,
                    "no message and nothing in flight: stopping"
                );
                break;
            }
            continue;
        }
        idle = 0;
        for (message, permits) in messages.into_iter().zip(taken) {
            let ctx = ctx.clone();
            tasks.spawn(async move { handle(&ctx, message, permits).await });
        }
    }
    if fatal.is_some() {
        // Their messages come back after their visibility timeout.
        tasks.abort_all();
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Err(e)) => {
                fatal.get_or_insert(e);
            }
            Err(e) if e.is_panic() => {
                fatal.get_or_insert(anyhow::anyhow!("a message reader panicked"));
            }
            _ => {}
        }
    }
    // The last sender: the pipeline drains and ends.
    drop(ctx);
    fatal.map_or(Ok(()), Err)
}

/// One message, from receipt to deletion (or release), its visibility timeout extended meanwhile.
/// An error is fatal to the whole process (permissions, the dead-letter file).
async fn handle(ctx: &Context, message: Received, permits: Permits) -> Result<()> {
    let Permits {
        reading,
        _unsettled: unsettled,
    } = permits;
    let work = settle(ctx, &message, reading);
    tokio::pin!(work);
    let every = ctx.visibility / 3;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let settled = loop {
        tokio::select! {
            settled = &mut work => break settled?,
            _ = beat.tick() => {
                if let Err(e) = ctx.queue.extend(&message.receipt_handle, ctx.visibility).await {
                    if e.aws_failure() == AwsFailure::Auth {
                        return Err(e.into());
                    }
                    tracing::warn!(message_id = %message.message_id, "{e}");
                }
            }
        }
    };
    match settled {
        Settled::Delete => match ctx.queue.delete(&message.receipt_handle).await {
            Ok(()) => {
                ctx.counts.deleted.fetch_add(1, Relaxed);
            }
            Err(e) if e.aws_failure() == AwsFailure::Auth => return Err(e.into()),
            // It comes back and is read again: its events are then known duplicates.
            Err(e) => {
                tracing::warn!(message_id = %message.message_id, "{e}: it will be read again");
                ctx.counts.released.fetch_add(1, Relaxed);
            }
        },
        Settled::Release(why) => {
            tracing::warn!(
                message_id = %message.message_id,
                "message left on the queue ({why}): read again after its visibility timeout"
            );
            ctx.counts.released.fetch_add(1, Relaxed);
        }
    }
    drop(unsettled);
    Ok(())
}

/// Reads what a message names, gives `reading` back, and waits for every event's
/// acknowledgement.
async fn settle(
    ctx: &Context,
    message: &Received,
    reading: OwnedSemaphorePermit,
) -> Result<Settled> {
    let objects = match sqs::parse(&message.body) {
        Ok(Notice::Objects(objects)) => objects,
        Ok(Notice::Nothing(what)) => {
            tracing::info!(message_id = %message.message_id, "{what}: nothing to read");
            ctx.counts.nothing_to_read.fetch_add(1, Relaxed);
            return Ok(Settled::Delete);
        }
        Err(e) => {
            dead_letter(ctx, message, e.kind(), &e.to_string())?;
            return Ok(Settled::Delete);
        }
    };
    // Reasons the message is dead-lettered once its readable objects are delivered.
    let mut problems: Vec<(&'static str, String)> = Vec::new();
    let mut waits = Vec::new();
    let mut events = 0;
    for object in objects {
        if !sqs::is_log_file(&object.key) {
            tracing::info!(object = %object.url(), "not a CloudTrail log file: not read");
            ctx.counts.skipped_objects.fetch_add(1, Relaxed);
            continue;
        }
        let body =
            match get(ctx, &object).await {
                Ok(body) => body,
                Err(e) if e.is_missing() => {
                    problems.push((
                        "object_missing",
                        format!(
                            "{e}: the notification names an object that does not exist (deleted \
                         since, or in another account's bucket)"
                        ),
                    ));
                    continue;
                }
                Err(e) => match e.aws_failure() {
                    Some(AwsFailure::Auth) => return Err(anyhow::Error::new(e).context(
                        "reading a log file a notification names (the reader needs s3:GetObject \
                         on the trail's prefix, and kms:Decrypt when the trail is SSE-KMS: see \
                         deploy/)",
                    )),
                    Some(AwsFailure::Transient) => return Ok(Settled::Release(e.to_string())),
                    _ => {
                        problems.push(("object_unreadable", e.to_string()));
                        continue;
                    }
                },
            };
        let name: Arc<str> = Arc::from(object.url());
        let done = ctx.tracker.lock().unwrap().register(&name);
        let (tx, dead_letters, options, stats, read_name) = (
            ctx.tx.clone(),
            ctx.dead_letters.clone(),
            ctx.options.clone(),
            ctx.stats.clone(),
            name.clone(),
        );
        let read = tokio::task::spawn_blocking(move || {
            read_object(read_name, &body, &options, &tx, &dead_letters, &stats)
        })
        .await
        .context("the S3 object reader panicked")?;
        let read = match read {
            Ok(read) => read,
            Err(e) if matches!(e.downcast_ref::<FilesError>(), Some(FilesError::Closed)) => {
                return Ok(Settled::Release("the pipeline stopped".to_owned()));
            }
            Err(e) => return Err(e),
        };
        ctx.counts.objects.fetch_add(1, Relaxed);
        events += read.events;
        ctx.tracker.lock().unwrap().read(&name, read.events);
        if let Some(stopped) = &read.stopped {
            problems.push((
                "object_cut",
                format!(
                    "{name} could not be read to its end (line {}, byte {}: {}); the {} event(s) \
                     before were delivered",
                    stopped.line, stopped.byte, stopped.reason, read.events
                ),
            ));
        }
        waits.push(done);
    }
    drop(reading);
    for done in waits {
        if done.await.is_err() {
            return Ok(Settled::Release("the pipeline stopped".to_owned()));
        }
    }
    if let Some((kind, _)) = problems.first() {
        let reason = problems
            .iter()
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        dead_letter(ctx, message, kind, &reason)?;
    }
    tracing::info!(message_id = %message.message_id, events, "message done");
    Ok(Settled::Delete)
}

/// GetObject, tried again a few times when the failure may pass.
async fn get(ctx: &Context, object: &ObjectRef) -> Result<Vec<u8>, S3Error> {
    (|| s3::get_object(&ctx.s3, &object.bucket, &object.key))
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_times(3),
        )
        .when(|e: &S3Error| e.aws_failure() == Some(AwsFailure::Transient))
        .await
}

/// The message and why it is never read: in the dead-letter file, synced, before it is deleted.
fn dead_letter(ctx: &Context, message: &Received, kind: &str, reason: &str) -> Result<()> {
    tracing::error!(message_id = %message.message_id, kind, "{reason}: the message is dead-lettered and deleted");
    let origin = Origin::Sqs {
        queue_url: Arc::from(ctx.queue.url.as_str()),
        message_id: message.message_id.clone(),
    };
    ctx.dead_letters.write_input(
        Stage::Decode,
        kind,
        reason,
        &origin,
        message.body.as_bytes(),
    )?;
    ctx.dead_letters.sync()?;
    ctx.stats.read(1);
    ctx.stats.dead_lettered(1);
    ctx.counts.dead_lettered_messages.fetch_add(1, Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(name: &Arc<str>) -> Origin {
        Origin::File {
            path: name.clone(),
            record: 0,
        }
    }

    /// Two reads of one object (a duplicate notification) are told apart: each settles with its
    /// own acknowledgements, whichever order they come in.
    #[tokio::test]
    async fn reads_of_the_same_object_settle_apart() {
        let mut t = Tracker::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("s3://b/k"), Arc::from("s3://b/k"));
        let mut done_a = t.register(&a);
        let mut done_b = t.register(&b);
        t.acked(&origin(&a));
        t.read(&b, 1);
        assert!(done_a.try_recv().is_err() && done_b.try_recv().is_err());
        t.read(&a, 1);
        assert!(done_a.try_recv().is_ok());
        t.acked(&origin(&b));
        assert!(done_b.try_recv().is_ok());
        // A read of no events is done once read; after close nothing waits forever.
        let empty: Arc<str> = Arc::from("s3://b/e");
        let mut done = t.register(&empty);
        t.read(&empty, 0);
        assert!(done.try_recv().is_ok());
        let pending: Arc<str> = Arc::from("s3://b/p");
        let done = t.register(&pending);
        t.close();
        assert!(done.await.is_err());
    }
}

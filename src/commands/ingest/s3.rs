//! `trailscope ingest s3://bucket/prefix`: a backfill from where a trail writes its log files.
//! The objects are listed by the trail's layout (`source::s3`), read one at a time, and each is
//! handed to the same reader as a local file; the checkpoint records an object once every one of
//! its events is acknowledged by the pipeline, so a second run reads nothing new and a killed
//! run resumes where it stopped.

use super::{read_object, Incomplete, IngestArgs, IngestSummary};
use crate::audit::TimeSpec;
use crate::exit::UsageError;
use crate::source::digests::{self, PublicKeys};
use crate::source::files::{InputStats, ReadOptions};
use crate::source::s3::{self, DoneObjects, S3Location, Selection};
use crate::source::{Origin, RawEvent};
use anyhow::{Context, Result};
use clap::Args;
use futures::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// GetObject requests in flight ahead of the reader.
const OBJECTS_AHEAD: usize = 4;

/// Flags of `ingest s3://...` (refused with local files).
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "From S3 (s3://BUCKET/PREFIX)")]
pub struct S3Args {
    /// Log files of days from this one on: RFC 3339, a date (UTC midnight) or an age such as 7d.
    /// The day in each object's key is compared, so every file of an overlapping day is read.
    #[arg(long)]
    pub since: Option<TimeSpec>,
    /// Log files of days before this time (excluded).
    #[arg(long)]
    pub until: Option<TimeSpec>,
    /// Only this account's log files (repeat for several); all accounts by default.
    #[arg(long = "account", value_name = "ACCOUNT_ID")]
    pub accounts: Vec<String>,
    /// Only this region's log files (repeat for several); all regions by default.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Records each object once all its events are indexed (or dead-lettered); objects already
    /// in it are skipped, so a run can be repeated or resumed.
    #[arg(long, value_name = "FILE")]
    pub checkpoint_file: Option<PathBuf>,
    /// S3 endpoint override (a local S3 such as moto; path-style addressing is used with it).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Validates the trail's digest files (CloudTrail log file integrity validation) over the
    /// window: signatures, their chain, and every log file's SHA-256. Problems are in the
    /// summary's `digests` and make the run fail (after indexing).
    #[arg(long, requires = "digest_public_keys")]
    pub validate_digests: bool,
    /// The region's CloudTrail public keys: the saved output of `aws cloudtrail list-public-keys
    /// --start-time ... --output json` covering the window.
    #[arg(long, value_name = "FILE", requires = "validate_digests")]
    pub digest_public_keys: Option<PathBuf>,
}

impl S3Args {
    fn is_given(&self) -> bool {
        self.since.is_some()
            || self.until.is_some()
            || !self.accounts.is_empty()
            || !self.regions.is_empty()
            || self.checkpoint_file.is_some()
            || self.endpoint_url.is_some()
            || self.validate_digests
    }
}

/// The S3 location among the inputs, if any: it must then be the only input; S3 flags without
/// one are a mistake.
pub fn location(args: &IngestArgs) -> Result<Option<S3Location>> {
    let mut found = None;
    for input in &args.files {
        if let Some(location) = input.to_str().and_then(S3Location::parse) {
            if args.files.len() > 1 {
                return Err(UsageError(format!(
                    "{} cannot be given with other inputs: ingest one s3:// location per run",
                    input.display()
                ))
                .into());
            }
            found = Some(location.map_err(|e| UsageError(e.to_string()))?);
        }
    }
    if found.is_none() && args.s3.is_given() {
        return Err(UsageError(
            "--since, --until, --account, --region, --checkpoint-file, --endpoint-url and \
             --validate-digests apply to an s3://BUCKET/PREFIX input only: name one, or drop them \
             for local files"
                .to_owned(),
        )
        .into());
    }
    Ok(found)
}

/// Events of each object handed on and acknowledged; an object whose read is finished and whose
/// every event is acknowledged goes into the checkpoint.
struct Progress {
    objects: HashMap<Arc<str>, ObjectAcks>,
    done: Option<DoneObjects>,
    error: Option<s3::S3Error>,
}

#[derive(Default)]
struct ObjectAcks {
    /// Known once the object is read whole.
    events: Option<u64>,
    acked: u64,
}

impl Progress {
    fn settle(&mut self, url: &Arc<str>) {
        let finished = self
            .objects
            .get(url)
            .is_some_and(|o| o.events == Some(o.acked));
        if !finished {
            return;
        }
        self.objects.remove(url);
        if let Some(done) = &mut self.done {
            if let Err(e) = done.mark(url) {
                self.error.get_or_insert(e);
            }
        }
    }

    fn acked(&mut self, origin: &Origin) {
        if let Origin::File { path, .. } = origin {
            if let Some(o) = self.objects.get_mut(path) {
                o.acked += 1;
                self.settle(&path.clone());
            }
        }
    }

    fn read(&mut self, url: &Arc<str>, events: u64) {
        self.objects.entry(url.clone()).or_default().events = Some(events);
        self.settle(url);
    }
}

pub async fn run(args: IngestArgs, location: S3Location) -> Result<IngestSummary> {
    let now = chrono::Utc::now();
    let selection = Selection {
        since: args.s3.since.map(|t| t.resolve(now)),
        until: args.s3.until.map(|t| t.resolve(now)),
        accounts: args.s3.accounts.clone(),
        regions: args.s3.regions.clone(),
    };
    if let (Some(since), Some(until)) = (selection.since, selection.until) {
        if since >= until {
            return Err(UsageError(format!(
                "--since ({since}) is not before --until ({until}): nothing to read"
            ))
            .into());
        }
    }
    // A wrong keys file fails in seconds, before any listing.
    let keys = args
        .s3
        .digest_public_keys
        .as_deref()
        .map(PublicKeys::from_file)
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    let done = args
        .s3
        .checkpoint_file
        .as_deref()
        .map(DoneObjects::open)
        .transpose()?;
    // OpenSearch first: a mistake there should not wait for a long listing.
    let pipeline = args.output.pipeline().await?;
    let client = s3::client(args.s3.endpoint_url.as_deref()).await;
    let (objects, listed) = s3::list_log_objects(&client, &location, &selection)
        .await
        .context("listing the trail's log files (is the location s3://BUCKET/PREFIX, with the trail's AWSLogs/ under PREFIX?)")?;
    let digests = match &keys {
        Some(keys) => Some(
            digests::validate(&client, &location, &selection, &objects, keys)
                .await
                .context("validating the trail's digest files")?,
        ),
        None => None,
    };
    let todo: Vec<_> = objects
        .into_iter()
        .filter(|o| {
            done.as_ref()
                .is_none_or(|d| !d.contains(&location.object_url(&o.key)))
        })
        .collect();
    tracing::info!(
        list_requests = listed.list_requests,
        objects = listed.objects,
        to_read = todo.len(),
        "listed s3://{}/{}",
        location.bucket,
        location.prefix
    );

    let stats = pipeline.stats.clone();
    let dead_letters = pipeline.sink.dead_letters().clone();
    let options = ReadOptions {
        max_payload_bytes: args.max_payload_bytes,
        max_document_bytes: args.max_document_bytes,
        ..ReadOptions::default()
    };
    let progress = Arc::new(Mutex::new(Progress {
        objects: HashMap::new(),
        done,
        error: None,
    }));

    let (tx, rx) = mpsc::channel::<Vec<RawEvent>>(4);
    let reader_progress = progress.clone();
    let reader_stats = stats.clone();
    let reader = tokio::spawn(async move {
        let mut sum = InputStats::default();
        let mut incomplete = Vec::new();
        let (mut files, mut bytes) = (0u64, 0u64);
        // Objects are fetched a few ahead of the reader, in order: GetObject's latency overlaps
        // with reading, and memory stays bounded by OBJECTS_AHEAD bodies.
        let mut bodies = futures::stream::iter(todo.into_iter().map(|object| {
            let (client, bucket) = (client.clone(), location.bucket.clone());
            async move {
                let body = s3::get_object(&client, &bucket, &object.key).await;
                (object, body)
            }
        }))
        .buffered(OBJECTS_AHEAD);
        while let Some((object, body)) = bodies.next().await {
            let body = body?;
            let url: Arc<str> = Arc::from(location.object_url(&object.key));
            // Registered before any of its events can be acknowledged.
            reader_progress
                .lock()
                .unwrap()
                .objects
                .insert(url.clone(), Default::default());
            let (tx, dead_letters, options, name, stats) = (
                tx.clone(),
                dead_letters.clone(),
                options.clone(),
                url.clone(),
                reader_stats.clone(),
            );
            let (mut read, body_len) = tokio::task::spawn_blocking(move || {
                let read = read_object(name, &body, &options, &tx, &dead_letters, &stats)?;
                anyhow::Ok((read, body.len() as u64))
            })
            .await
            .context("the S3 object reader panicked")??;
            tracing::info!(input = %url, events = read.events, rejected = read.rejected, "read input");
            match read.stopped.take() {
                // Not done: the next run reads it again and says so again, never skips it.
                Some(stopped) => {
                    tracing::error!(input = %url, kind = stopped.reason.kind(), "reading stopped part-way: {}", stopped.reason);
                    incomplete.push(Incomplete {
                        input: url.to_string(),
                        stopped_at: stopped,
                    });
                }
                None => reader_progress.lock().unwrap().read(&url, read.events),
            }
            files += 1;
            bytes += body_len;
            sum.events += read.events;
            sum.payloads += read.payloads;
            sum.control_messages += read.control_messages;
            sum.malformed_payloads += read.malformed_payloads;
            sum.rejected += read.rejected;
            sum.unread += read.unread;
        }
        anyhow::Ok((sum, files, bytes, incomplete))
    });
    let delivered = pipeline
        .run(rx, &mut |origin: &Origin| {
            progress.lock().unwrap().acked(origin)
        })
        .await;
    let read = reader.await.context("the S3 reader panicked")?;
    delivered?;
    let (read, files, bytes, incomplete) = read?;
    if let Some(e) = progress.lock().unwrap().error.take() {
        return Err(e.into());
    }
    Ok(IngestSummary {
        stats: stats.snapshot(),
        files,
        bytes,
        payloads: read.payloads,
        control_messages: read.control_messages,
        malformed_payloads: read.malformed_payloads,
        rejected: read.rejected,
        unread: read.unread,
        incomplete,
        digests,
        dead_letter_file: args.output.dead_letter_file.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &Arc<str>, record: u64) -> Origin {
        Origin::File {
            path: url.clone(),
            record,
        }
    }

    /// An object goes into the checkpoint only when it is read whole and every event of it is
    /// acknowledged, in whichever order those happen.
    #[test]
    fn objects_are_done_after_their_read_and_all_their_acks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done");
        let mut p = Progress {
            objects: HashMap::new(),
            done: Some(DoneObjects::open(&path).unwrap()),
            error: None,
        };
        let (a, b, empty): (Arc<str>, Arc<str>, Arc<str>) =
            ("s3://b/a".into(), "s3://b/b".into(), "s3://b/e".into());
        for url in [&a, &b, &empty] {
            p.objects.insert(url.clone(), ObjectAcks::default());
        }
        // a: acknowledged before its read ends.
        p.acked(&origin(&a, 0));
        p.acked(&origin(&a, 1));
        // b: read first, then acknowledged one by one.
        p.read(&b, 2);
        p.acked(&origin(&b, 0));
        let done = || DoneObjects::open(&path).unwrap();
        assert!(!done().contains("s3://b/a") && !done().contains("s3://b/b"));
        p.read(&a, 2);
        assert!(done().contains("s3://b/a") && !done().contains("s3://b/b"));
        p.acked(&origin(&b, 1));
        assert!(done().contains("s3://b/b"));
        // An object without events is done as soon as it is read.
        p.read(&empty, 0);
        assert!(done().contains("s3://b/e"));
        assert!(p.objects.is_empty() && p.error.is_none());
    }
}

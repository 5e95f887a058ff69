//! `trailscope ingest s3://bucket/prefix`: a backfill from where a trail writes its log files.
//! The objects are listed by the trail's layout (`source::s3`), fetched several at once within
//! the request budget (`--s3-concurrency`, `--s3-requests-per-second`) and handed in key order
//! to the same reader as a local file; the checkpoint records an object once every one of its
//! events is acknowledged by the pipeline, so a second run reads nothing new and a killed run
//! resumes where it stopped.

use super::{read_object, Incomplete, IngestArgs, IngestSummary};
use crate::audit::TimeSpec;
use crate::exit::UsageError;
use crate::findings::integrity;
use crate::progress::{self, Backfill};
use crate::source::digests::{self, PublicKeys};
use crate::source::files::{InputStats, ReadOptions};
use crate::source::s3::{self, Budget, DoneObjects, S3Location, Selection, TrailFolder};
use crate::source::{Origin, RawEvent};
use anyhow::{Context, Result};
use clap::Args;
use futures::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// Compressed bytes of objects fetched and not yet decoded, at most (in KiB, the unit of the
/// semaphore's permits): with the pipeline's own bounded queue, what a backfill holds in memory
/// does not grow with the window. An object bigger than this is fetched alone.
const KIB_IN_FLIGHT: u32 = 64 * 1024;

/// Flags of `ingest s3://...` (refused with local files).
#[derive(Debug, Clone, Args)]
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
    /// S3 requests in flight at once (listing and reading); objects are still decoded and
    /// checkpointed in key order. At most 64 MiB of fetched objects wait for the decoder.
    #[arg(long, value_name = "N", default_value_t = s3::DEFAULT_CONCURRENCY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub s3_concurrency: usize,
    /// S3 requests a second at most (evenly spaced), for a bucket that other readers share;
    /// unlimited by default. S3's SlowDown is waited out either way.
    #[arg(long, value_name = "R", value_parser = positive_rate)]
    pub s3_requests_per_second: Option<f64>,
    /// Leaves out the trail's CloudTrail-Insights/ folder, read by default beside CloudTrail/ (a
    /// trail with Insights enabled writes its `AwsCloudTrailInsight` events there).
    #[arg(long)]
    pub no_insights: bool,
    /// Without a terminal, a `backfill progress` log line at most this often (a terminal shows a
    /// bar instead).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub progress_every: Duration,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("give a number of requests a second above 0, e.g. 50".to_owned()),
    }
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
            || self.s3_concurrency != s3::DEFAULT_CONCURRENCY
            || self.s3_requests_per_second.is_some()
            || self.no_insights
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
            "--since, --until, --account, --region, --checkpoint-file, --endpoint-url, \
             --validate-digests, --s3-concurrency, --s3-requests-per-second and --no-insights apply to an s3://BUCKET/PREFIX input only: name one, or drop them \
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
    /// What is reported as the backfill's progress.
    report: Option<Report>,
}

#[derive(Default)]
struct ObjectAcks {
    /// Known once the object is read whole.
    events: Option<u64>,
    acked: u64,
    bytes: u64,
}

/// The backfill's progress as reported: objects and bytes listed so far, and done.
struct Report {
    backfill: Backfill,
    source: String,
    started: Instant,
    listed: u64,
    bytes_total: u64,
    done: u64,
    bytes_done: u64,
    events: u64,
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
        if let (Some(o), Some(r)) = (self.objects.remove(url), &mut self.report) {
            r.done += 1;
            r.bytes_done += o.bytes;
            r.events += o.acked;
            r.backfill.update_objects(
                &r.source,
                progress::Objects {
                    listed: r.listed,
                    done: r.done,
                    bytes_total: r.bytes_total,
                    bytes_done: r.bytes_done,
                    events: r.events,
                    elapsed: r.started.elapsed(),
                },
            );
        }
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

    /// One more object to read, found by the listing (which goes on while objects are read).
    fn listed(&mut self, size: u64) {
        if let Some(r) = &mut self.report {
            r.listed += 1;
            r.bytes_total += size;
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
    let client = s3::client(args.s3.endpoint_url.as_deref()).await;
    let budget = Budget::new(args.s3.s3_concurrency, args.s3.s3_requests_per_second);
    let started = Instant::now();
    // The location first: one request tells a wrong one, before OpenSearch's checks (index
    // templates, findings) and long before the listing.
    let root = match s3::trail_root(&client, &location, &budget).await {
        Ok(root) => root,
        // The location is the user's mistake: say so with the fix, exit as a usage error.
        Err(e @ s3::S3Error::NoTrail { .. }) => return Err(UsageError(e.to_string()).into()),
        Err(e) => return Err(anyhow::Error::from(e).context(LISTING)),
    };
    // OpenSearch next: a mistake there should not wait for a long listing.
    let pipeline = args.output.pipeline().await?;
    let folders: &'static [TrailFolder] = if args.s3.no_insights {
        &[TrailFolder::Logs]
    } else {
        &[TrailFolder::Logs, TrailFolder::Insights]
    };

    let stats = pipeline.stats.clone();
    let dead_letters = pipeline.sink.dead_letters().clone();
    let options = ReadOptions {
        max_payload_bytes: args.max_payload_bytes,
        max_document_bytes: args.max_document_bytes,
        ..ReadOptions::default()
    };
    let source = format!("s3://{}/{}", location.bucket, location.prefix);
    let progress = Arc::new(Mutex::new(Progress {
        objects: HashMap::new(),
        done,
        error: None,
        report: Some(Report {
            backfill: Backfill::new(args.s3.progress_every),
            source: source.clone(),
            started,
            listed: 0,
            bytes_total: 0,
            done: 0,
            bytes_done: 0,
            events: 0,
        }),
    }));

    // Three stages joined by bounded channels, so that none waits on another's latency: the
    // listing hands on each day's objects as soon as that day is listed; the fetcher keeps up to
    // the budget's concurrency GetObjects going (in a task of its own, so they go on while the
    // reader decodes); the reader decodes in key order. Listing and fetching share the budget.
    let (keys_tx, keys_rx) = mpsc::channel::<s3::LogObject>(KEYS_AHEAD);
    let lister = {
        let (client, bucket, selection, budget) = (
            client.clone(),
            location.bucket.clone(),
            selection.clone(),
            budget.clone(),
        );
        let source = source.clone();
        tokio::spawn(async move {
            let (days, walked) =
                s3::day_folders(&client, &bucket, &root, &selection, folders, &budget).await?;
            let listed = s3::send_objects(&client, &bucket, days, &budget, &keys_tx).await?;
            tracing::info!(
                list_requests = walked + listed.list_requests,
                objects = listed.objects,
                "listed {source}"
            );
            Ok::<_, s3::S3Error>(())
        })
    };
    let (fetched_tx, mut fetched_rx) = mpsc::channel::<Fetched>(budget.concurrency());
    let fetcher = {
        let (client, location, budget) = (client.clone(), location.clone(), budget.clone());
        let (progress, validating) = (progress.clone(), keys.is_some());
        tokio::spawn(fetch(
            keys_rx, fetched_tx, client, location, budget, progress, validating,
        ))
    };

    let (tx, rx) = mpsc::channel::<Vec<RawEvent>>(4);
    let reader_progress = progress.clone();
    let reader_stats = stats.clone();
    let reader_location = location.clone();
    let reader = tokio::spawn(async move {
        let mut sum = InputStats::default();
        let mut incomplete = Vec::new();
        let (mut files, mut bytes) = (0u64, 0u64);
        while let Some((object, body, permit)) = fetched_rx.recv().await {
            let body = body?;
            let url: Arc<str> = Arc::from(reader_location.object_url(&object.key));
            // Registered before any of its events can be acknowledged.
            reader_progress.lock().unwrap().objects.insert(
                url.clone(),
                ObjectAcks {
                    bytes: object.size,
                    ..Default::default()
                },
            );
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
            drop(permit);
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
    if read.is_err() {
        // The run fails anyway: no need to walk the rest of a long window first.
        lister.abort();
    }
    let logs = fetcher.await.context("the S3 fetcher panicked")?;
    match lister.await {
        // A listing that failed part-way ended the reading early: that is the error to tell.
        Ok(listed) => listed.context(LISTING)?,
        Err(e) if e.is_cancelled() => {}
        Err(e) => return Err(e).context("the S3 lister panicked"),
    }
    delivered?;
    let (read, files, bytes, incomplete) = read?;

    let digests = match &keys {
        Some(keys) => {
            // Digest files cover the log files; Insights files are not checked.
            let report = digests::validate(&client, &location, &selection, &logs, keys, &budget)
                .await
                .context("validating the trail's digest files")?;
            // Each problem is a finding too: where a security engineer looks for incidents.
            if let Some(findings) = &pipeline.findings {
                let trail = format!("s3://{}/{}", location.bucket, location.prefix);
                let new = findings
                    .record(integrity::findings(&report, &trail, chrono::Utc::now()))
                    .await
                    .context("writing the integrity findings")?;
                if !new.is_empty() {
                    tracing::info!(
                        findings = new.len(),
                        index = %findings.settings().index,
                        "log file integrity problems written as findings"
                    );
                }
            }
            Some(report)
        }
        None => None,
    };
    let mut progress = progress.lock().unwrap();
    if let Some(e) = progress.error.take() {
        return Err(e.into());
    }
    if let Some(r) = &progress.report {
        r.backfill.finish(&source, r.events, r.started.elapsed());
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

/// What a failed listing is reported with.
const LISTING: &str = "listing the trail's log files (is the location s3://BUCKET/PREFIX, with the trail's AWSLogs/ under PREFIX?)";

/// Objects listed and not yet fetched, at most: a listing that runs ahead of the reader waits.
const KEYS_AHEAD: usize = 1024;

/// An object fetched (or the error that fetching it ended with), holding its share of
/// `KIB_IN_FLIGHT` until it is decoded.
type Fetched = (
    s3::LogObject,
    Result<Vec<u8>, s3::S3Error>,
    Option<tokio::sync::OwnedSemaphorePermit>,
);

/// Fetches the listed objects not in the checkpoint, up to the budget's concurrency at once, and
/// hands them on in key order; memory stays bounded by `KIB_IN_FLIGHT` (permits are taken in
/// order, so the object the reader waits for is never starved by later ones). Returns the log
/// files listed (checkpointed or not) when `validating`, for the digests to cover.
async fn fetch(
    mut keys: mpsc::Receiver<s3::LogObject>,
    to: mpsc::Sender<Fetched>,
    client: aws_sdk_s3::Client,
    location: S3Location,
    budget: Budget,
    progress: Arc<Mutex<Progress>>,
    validating: bool,
) -> Vec<s3::LogObject> {
    let in_flight = Arc::new(Semaphore::new(KIB_IN_FLIGHT as usize));
    let mut logs = Vec::new();
    let todo = futures::stream::poll_fn(|cx| keys.poll_recv(cx)).filter(|object| {
        if validating && object.folder == TrailFolder::Logs {
            logs.push(object.clone());
        }
        let mut progress = progress.lock().unwrap();
        let to_read = progress
            .done
            .as_ref()
            .is_none_or(|d| !d.contains(&location.object_url(&object.key)));
        if to_read {
            progress.listed(object.size);
        }
        std::future::ready(to_read)
    });
    let mut bodies = todo
        .map(|object| {
            let (client, bucket, budget) =
                (client.clone(), location.bucket.clone(), budget.clone());
            let in_flight = in_flight.clone();
            async move {
                let kib = object
                    .size
                    .div_ceil(1024)
                    .clamp(1, u64::from(KIB_IN_FLIGHT)) as u32;
                // Never closed, so acquiring cannot fail.
                let permit = in_flight.acquire_many_owned(kib).await.ok();
                let body = s3::get_object_within(&client, &bucket, &object.key, &budget).await;
                (object, body, permit)
            }
        })
        .buffered(budget.concurrency());
    while let Some(fetched) = bodies.next().await {
        if to.send(fetched).await.is_err() {
            break;
        }
    }
    drop(bodies);
    logs
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
            report: None,
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

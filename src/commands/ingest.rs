//! `trailscope ingest [FILE...|-]`: backfills from files or stdin — CloudTrail log files as
//! written to S3 (`{"Records":[...]}`, `.json` or `.json.gz`), NDJSON of CloudTrail records, and
//! CloudWatch Logs subscription payloads (raw or base64). See `source::files` for the formats.
//!
//! A malformed subscription payload is written to the dead-letter file (so even one read from
//! stdin is kept) and reported; everything else is delivered, and the command then fails.

mod s3;

use super::PipelineArgs;
use crate::exit::UsageError;
use crate::sink::dead_letter::{DeadLetterError, DeadLetterFile, Stage};
use crate::source::digests::DigestReport;
use crate::source::files::{self, FilesError, InputStats, Item, ReadOptions, Rejected, Stopped};
use crate::source::replay::Replay;
use crate::source::{subscription, RawEvent};
use crate::stats::{Snapshot, Stats};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Files to read (`-` or none: stdin), or one s3://BUCKET/PREFIX where a trail writes. Gzip is
    /// detected by content, as is the format.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub output: PipelineArgs,
    /// Largest decompressed subscription payload accepted (a bigger one is refused as a gzip bomb).
    #[arg(long, default_value_t = subscription::DEFAULT_MAX_DECOMPRESSED_BYTES)]
    pub max_payload_bytes: usize,
    /// Largest line or JSON document read into memory (decompressed).
    #[arg(long, default_value_t = files::DEFAULT_MAX_DOCUMENT_BYTES)]
    pub max_document_bytes: usize,
    #[command(flatten)]
    pub s3: s3::S3Args,
    /// The inputs are dead-letter files: read each dead letter's original event again (after
    /// fixing what refused it). Use another --dead-letter-file for this run.
    #[arg(long)]
    pub replay_dead_letters: bool,
}

/// What `ingest` did: the pipeline's counters and what the inputs held.
#[derive(Debug, serde::Serialize)]
pub struct IngestSummary {
    #[serde(flatten)]
    pub stats: Snapshot,
    pub files: u64,
    pub bytes: u64,
    pub payloads: u64,
    pub control_messages: u64,
    pub malformed_payloads: u64,
    /// Lines, documents, payloads and log events refused while reading (dead-lettered, and
    /// counted in `read` and `dead_lettered` too).
    pub rejected: u64,
    /// Of them, parts not read at all (over `--max-document-bytes`).
    pub unread: u64,
    /// Inputs that could not be read to their end: where reading stopped and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incomplete: Vec<Incomplete>,
    /// `--validate-digests`: what the trail's integrity validation found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digests: Option<DigestReport>,
    #[serde(skip)]
    pub dead_letter_file: PathBuf,
}

/// An input not read whole.
#[derive(Debug, serde::Serialize)]
pub struct Incomplete {
    pub input: String,
    pub stopped_at: Stopped,
}

/// Why `ingest` read everything it could but not everything it was given: the command fails
/// (exit code 1) after delivering the rest.
#[derive(Debug, thiserror::Error)]
pub enum IngestIncomplete {
    #[error(
        "{0} malformed subscription payload(s): nothing of them was indexed; they are in the \
         dead-letter file {1} with the reason"
    )]
    MalformedPayloads(u64, PathBuf),
    #[error(
        "{count} input(s) could not be read to their end ({first}: {reason}); everything before \
         was delivered, the summary's `incomplete` says where each stopped"
    )]
    Stopped {
        count: usize,
        first: String,
        reason: String,
    },
    #[error(
        "integrity validation found {problems} problem(s), first {first}: the summary's `digests` \
         names every one (missing, altered, unchained, bad_signature, no_key, not_covered); the \
         events were indexed all the same"
    )]
    Digests { problems: usize, first: String },
    #[error(
        "{0} line(s) or document(s) longer than --max-document-bytes were not read (their start \
         is in the dead-letter file {1}); raise the limit to read them"
    )]
    Unread(u64, PathBuf),
}

impl IngestSummary {
    /// An error when some input was not read whole: a payload that could not be decoded, an
    /// input that stopped part-way, a part over the size limit (after everything else was
    /// delivered).
    pub fn check(&self) -> Result<(), IngestIncomplete> {
        if let Some(report) = self.digests.as_ref().filter(|r| r.problems() > 0) {
            let first = [
                &report.missing,
                &report.altered,
                &report.unchained,
                &report.bad_signature,
                &report.no_key,
                &report.not_covered,
            ]
            .into_iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default();
            return Err(IngestIncomplete::Digests {
                problems: report.problems(),
                first,
            });
        }
        if let Some(first) = self.incomplete.first() {
            return Err(IngestIncomplete::Stopped {
                count: self.incomplete.len(),
                first: first.input.clone(),
                reason: first.stopped_at.reason.to_string(),
            });
        }
        if self.unread > 0 {
            return Err(IngestIncomplete::Unread(
                self.unread,
                self.dead_letter_file.clone(),
            ));
        }
        if self.malformed_payloads > 0 {
            return Err(IngestIncomplete::MalformedPayloads(
                self.malformed_payloads,
                self.dead_letter_file.clone(),
            ));
        }
        Ok(())
    }
}

enum Input {
    Stdin,
    File(PathBuf),
}

pub async fn run(args: IngestArgs) -> Result<IngestSummary> {
    if let Some(location) = s3::location(&args)? {
        return s3::run(args, location).await;
    }
    let replay = args.replay_dead_letters;
    if replay
        && args
            .files
            .iter()
            .any(|f| f.as_path() == args.output.dead_letter_file.as_path())
    {
        return Err(UsageError(format!(
            "--replay-dead-letters reads {} and would write its dead letters to the same file: \
             give another --dead-letter-file",
            args.output.dead_letter_file.display()
        ))
        .into());
    }
    let mut inputs = Vec::new();
    let mut total_bytes = Some(0u64);
    for path in &args.files {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            total_bytes = None;
            continue;
        }
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            bail!(
                "{} is a directory: name the files to ingest",
                path.display()
            );
        }
        total_bytes = total_bytes.map(|t| t + meta.len());
        inputs.push(Input::File(path.clone()));
    }
    if inputs.is_empty() {
        inputs.push(Input::Stdin);
        total_bytes = None;
    }
    let pipeline = args.output.pipeline().await?;
    let stats = pipeline.stats.clone();
    let dead_letters = pipeline.sink.dead_letters().clone();
    let options = ReadOptions {
        max_payload_bytes: args.max_payload_bytes,
        max_document_bytes: args.max_document_bytes,
        ..ReadOptions::default()
    };
    let progress = progress_bar(total_bytes);

    let (tx, rx) = mpsc::channel::<Vec<RawEvent>>(4);
    let bar = progress.clone();
    let reader_stats = stats.clone();
    let reader =
        tokio::task::spawn_blocking(move || -> Result<(InputStats, u64, Vec<Incomplete>)> {
            let stats = reader_stats;
            let mut sum = InputStats::default();
            let mut incomplete = Vec::new();
            let mut files = 0;
            let count = inputs.len();
            for input in inputs {
                let (name, stream): (Arc<str>, Box<dyn std::io::Read>) = match &input {
                    Input::Stdin => (Arc::from("-"), Box::new(std::io::stdin().lock())),
                    Input::File(p) => (
                        Arc::from(p.to_string_lossy().as_ref()),
                        Box::new(
                            std::fs::File::open(p)
                                .with_context(|| format!("cannot open {}", p.display()))?,
                        ),
                    ),
                };
                let stream: Box<dyn std::io::Read> = if replay {
                    Box::new(Replay::new(std::io::BufReader::new(stream)))
                } else {
                    stream
                };
                bar.set_message(format!("file {}/{count}: {name}", files + 1));
                let mut out = |item: Item| {
                    hand_on(item, &name, &tx, &dead_letters, &stats, |log| {
                        bar.suspend(log)
                    })
                };
                let read =
                    files::read_input(name.clone(), bar.wrap_read(stream), &options, &mut out)?;
                files += 1;
                if bar.is_hidden() {
                    tracing::info!(
                        input = %name,
                        events = read.events,
                        payloads = read.payloads,
                        malformed_payloads = read.malformed_payloads,
                        rejected = read.rejected,
                        "read input"
                    );
                }
                sum.events += read.events;
                sum.payloads += read.payloads;
                sum.control_messages += read.control_messages;
                sum.malformed_payloads += read.malformed_payloads;
                sum.rejected += read.rejected;
                sum.unread += read.unread;
                if let Some(stopped) = read.stopped {
                    bar.suspend(|| {
                        tracing::error!(
                            input = %name,
                            line = stopped.line,
                            byte = stopped.byte,
                            kind = stopped.reason.kind(),
                            "reading stopped part-way: {}",
                            stopped.reason
                        )
                    });
                    incomplete.push(Incomplete {
                        input: name.to_string(),
                        stopped_at: stopped,
                    });
                }
            }
            Ok((sum, files, incomplete))
        });
    let delivered = pipeline.run(rx, &mut |_: &crate::source::Origin| {}).await;
    let read = reader.await.context("the file reader panicked")?;
    progress.finish_and_clear();
    delivered?;
    let (read, files, incomplete) = read?;
    Ok(IngestSummary {
        stats: stats.snapshot(),
        files,
        bytes: progress.position(),
        payloads: read.payloads,
        control_messages: read.control_messages,
        malformed_payloads: read.malformed_payloads,
        rejected: read.rejected,
        unread: read.unread,
        incomplete,
        digests: None,
        dead_letter_file: args.output.dead_letter_file.clone(),
    })
}

/// What the reader of one input hands on: a page goes to the pipeline; a part it refused is
/// logged (through `show`, which may hide a progress bar meanwhile), counted like the pipeline's
/// own refusals (read, then dead-lettered) and written to the dead-letter file, unsynced (the
/// caller syncs before anything of the input counts as done).
fn hand_on(
    item: Item,
    name: &str,
    tx: &mpsc::Sender<Vec<RawEvent>>,
    dead_letters: &DeadLetterFile,
    stats: &Stats,
    show: impl FnOnce(&dyn Fn()),
) -> Result<(), FilesError> {
    match item {
        Item::Events(page) => tx.blocking_send(page).map_err(|_| FilesError::Closed),
        Item::Rejected(Rejected {
            origin,
            input,
            reason,
        }) => {
            show(&|| tracing::error!(input = %name, %origin, kind = reason.kind(), "{reason}"));
            stats.read(1);
            stats.dead_lettered(1);
            dead_letters
                .write_input(
                    Stage::Decode,
                    reason.kind(),
                    &reason.to_string(),
                    &origin,
                    &input,
                )
                .map_err(|e| dead_letter_failed(dead_letters, e))
        }
    }
}

/// One object read whole (from S3, by `ingest s3://` and `forward --sqs-queue-url`) through the
/// file reader, as `ingest` reads a file; what it rejects is dead-lettered and synced before the
/// object can count as done.
pub(crate) fn read_object(
    name: Arc<str>,
    body: &[u8],
    options: &ReadOptions,
    tx: &mpsc::Sender<Vec<RawEvent>>,
    dead_letters: &DeadLetterFile,
    stats: &Stats,
) -> Result<InputStats> {
    let mut out = |item: Item| hand_on(item, &name, tx, dead_letters, stats, |log| log());
    let read = files::read_input(name.clone(), body, options, &mut out)?;
    if read.rejected > 0 {
        dead_letters
            .sync()
            .map_err(|e| dead_letter_failed(dead_letters, e))?;
    }
    Ok(read)
}

/// A dead letter that could not be written stops reading the input, as a read error would.
fn dead_letter_failed(dead_letters: &DeadLetterFile, e: DeadLetterError) -> FilesError {
    FilesError::Io {
        path: dead_letters.path().display().to_string(),
        source: std::io::Error::other(e),
    }
}

/// A bar over bytes read (compressed, as on disk) on a terminal; hidden otherwise, where each
/// input is logged as it is finished instead.
fn progress_bar(total_bytes: Option<u64>) -> ProgressBar {
    let bar = match total_bytes {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
    };
    if std::io::stderr().is_terminal() {
        let template = if total_bytes.is_some() {
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}"
        } else {
            "{spinner} [{elapsed_precise}] {bytes} ({bytes_per_sec}) {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    bar
}

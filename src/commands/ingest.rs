//! `trailscope ingest [FILE...|-]`: backfills from files or stdin — CloudTrail log files as
//! written to S3 (`{"Records":[...]}`, `.json` or `.json.gz`), NDJSON of CloudTrail records, and
//! CloudWatch Logs subscription payloads (raw or base64). See `source::files` for the formats.
//!
//! A malformed subscription payload is written to the dead-letter file (so even one read from
//! stdin is kept) and reported; everything else is delivered, and the command then fails.

mod s3;

use super::PipelineArgs;
use crate::sink::dead_letter::Stage;
use crate::source::files::{self, FilesError, InputStats, Item, ReadOptions};
use crate::source::{subscription, RawEvent};
use crate::stats::Snapshot;
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
}

/// What `ingest` did: the pipeline's counters and what the inputs held.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestSummary {
    #[serde(flatten)]
    pub stats: Snapshot,
    pub files: u64,
    pub bytes: u64,
    pub payloads: u64,
    pub control_messages: u64,
    pub malformed_payloads: u64,
    #[serde(skip)]
    pub dead_letter_file: PathBuf,
}

impl IngestSummary {
    /// An error when some payload could not be decoded (after everything else was delivered).
    pub fn check(&self) -> Result<()> {
        if self.malformed_payloads > 0 {
            bail!(
                "{} malformed subscription payload(s): nothing of them was indexed; they are in \
                 the dead-letter file {} with the reason",
                self.malformed_payloads,
                self.dead_letter_file.display()
            );
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
    let reader = tokio::task::spawn_blocking(move || -> Result<(InputStats, u64)> {
        let mut sum = InputStats::default();
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
            bar.set_message(format!("file {}/{count}: {name}", files + 1));
            let mut out = |item: Item| match item {
                Item::Events(page) => tx.blocking_send(page).map_err(|_| FilesError::Closed),
                Item::Malformed {
                    origin,
                    payload,
                    error,
                } => {
                    bar.suspend(
                        || tracing::error!(input = %name, ?origin, kind = error.kind(), "{error}"),
                    );
                    let event = RawEvent {
                        message: payload,
                        origin,
                    };
                    dead_letters
                        .write(
                            Stage::Decode,
                            error.kind(),
                            &error.to_string(),
                            None,
                            None,
                            &event,
                        )
                        .map_err(|e| FilesError::Io {
                            path: dead_letters.path().display().to_string(),
                            source: std::io::Error::other(e),
                        })
                }
            };
            let read = files::read_input(name.clone(), bar.wrap_read(stream), &options, &mut out)?;
            files += 1;
            if bar.is_hidden() {
                tracing::info!(
                    input = %name,
                    events = read.events,
                    payloads = read.payloads,
                    malformed_payloads = read.malformed_payloads,
                    "read input"
                );
            }
            sum.events += read.events;
            sum.payloads += read.payloads;
            sum.control_messages += read.control_messages;
            sum.malformed_payloads += read.malformed_payloads;
        }
        Ok((sum, files))
    });
    let delivered = pipeline.run(rx, &mut |_: &crate::source::Origin| {}).await;
    let read = reader.await.context("the file reader panicked")?;
    progress.finish_and_clear();
    delivered?;
    let (read, files) = read?;
    Ok(IngestSummary {
        stats: stats.snapshot(),
        files,
        bytes: progress.position(),
        payloads: read.payloads,
        control_messages: read.control_messages,
        malformed_payloads: read.malformed_payloads,
        dead_letter_file: args.output.dead_letter_file.clone(),
    })
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

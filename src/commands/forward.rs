//! `trailscope forward`: CloudWatch Logs log groups → OpenSearch, continuously or once, with
//! crash-safe checkpoints; or, with `--sqs-queue-url`, the log files S3 event notifications name
//! (`forward/sqs.rs`).

mod sqs;

use super::PipelineArgs;
use crate::source::ack::AckTracker;
use crate::source::ack::Acknowledge;
use crate::source::aws_client::{self, AssumeRole, Target};
use crate::source::checkpoint::CheckpointIndex;
use crate::source::checkpoint::{CheckpointFile, CheckpointStore};
use crate::source::cloudwatch::{self, ReadAhead, Reader, SourceError};
use crate::source::poller::{Checkpoints, PollConfig, PollError, Poller};
use crate::stats::Snapshot;
use anyhow::{Context, Result};
use clap::Args;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Args)]
pub struct ForwardArgs {
    /// Log group(s) that CloudTrail writes to. Repeat the flag (or separate with commas).
    #[arg(
        long = "log-group",
        env = "TRAILSCOPE_LOG_GROUPS",
        value_delimiter = ','
    )]
    pub log_groups: Vec<String>,
    /// Also forward every log group whose name starts with this (found with DescribeLogGroups,
    /// looked for again every --discover-interval).
    #[arg(
        long = "log-group-prefix",
        env = "TRAILSCOPE_LOG_GROUP_PREFIXES",
        value_delimiter = ','
    )]
    pub log_group_prefixes: Vec<String>,
    #[command(flatten)]
    pub output: PipelineArgs,
    #[command(flatten)]
    pub sqs: sqs::SqsArgs,
    /// Read everything available now, deliver it, save the checkpoint, and exit.
    #[arg(long)]
    pub once: bool,
    /// Where progress is kept (per log group: watermark, delivered ids, measured lag).
    #[arg(
        long,
        default_value = "trailscope-checkpoint.json",
        env = "TRAILSCOPE_CHECKPOINT_FILE"
    )]
    pub checkpoint_file: PathBuf,
    /// Keep the checkpoint in this OpenSearch index instead of --checkpoint-file, one document per
    /// log group (containers without a volume; several instances sharing log groups). Without a
    /// value: .trailscope-state.
    #[arg(
        long,
        value_name = "INDEX",
        num_args = 0..=1,
        default_missing_value = crate::source::checkpoint::index::DEFAULT_INDEX,
        env = "TRAILSCOPE_CHECKPOINT_INDEX"
    )]
    pub checkpoint_index: Option<String>,
    /// The name of this job's checkpoints in --checkpoint-index. Instances that share the work
    /// share a name; jobs that read the same log group into different places need their own.
    #[arg(long, default_value = "trailscope", env = "TRAILSCOPE_CHECKPOINT_JOB")]
    pub checkpoint_job: String,
    /// Where a log group without a checkpoint starts: a duration back from now ("24h", "7d") or
    /// an RFC 3339 time. Default: the group's beginning.
    #[arg(long, env = "TRAILSCOPE_SINCE")]
    pub since: Option<String>,
    /// The smallest lag allowance: how far back each poll re-reads for late events. It grows
    /// with the ingestion delays measured, and comes back down as they fade (a measured delay
    /// halves every day).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration, env = "TRAILSCOPE_LAG_FLOOR")]
    pub lag_floor: Duration,
    /// CloudWatch Logs endpoint override (for a local CloudWatch Logs API such as moto); by default
    /// the standard AWS configuration decides.
    #[arg(long, env = "TRAILSCOPE_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region; by default the standard AWS configuration decides (AWS_REGION, profile, ...).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// A CloudWatch Logs filter pattern passed to FilterLogEvents unchanged.
    #[arg(long, env = "TRAILSCOPE_FILTER_PATTERN")]
    pub filter_pattern: Option<String>,
    /// FilterLogEvents calls per second for this process (AWS allows 5 per account and region,
    /// shared by every caller).
    #[arg(
        long,
        default_value_t = 4.0,
        env = "TRAILSCOPE_MAX_REQUESTS_PER_SECOND"
    )]
    pub max_requests_per_second: f64,
    /// Time between polls when running continuously.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, env = "TRAILSCOPE_POLL_INTERVAL")]
    pub poll_interval: Duration,
    /// Time between looks for new log groups matching --log-group-prefix.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "TRAILSCOPE_DISCOVER_INTERVAL")]
    pub discover_interval: Duration,
    /// Without a terminal, a `backfill progress` log line at most this often (a terminal shows a
    /// bar instead).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, env = "TRAILSCOPE_PROGRESS_EVERY")]
    pub progress_every: Duration,
    /// Give up (exit non-zero, checkpoint kept) when CloudWatch Logs keeps failing this long.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration, env = "TRAILSCOPE_SOURCE_GIVE_UP")]
    pub source_give_up: Duration,
    /// Serve Prometheus /metrics, /healthz and /readyz on this address, e.g. 127.0.0.1:9464
    /// (off by default; it binds exactly where told, so keep it on loopback or a private network).
    #[arg(long, value_name = "ADDR", env = "TRAILSCOPE_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Read CloudWatch Logs with this role, assumed with STS from the standard chain's
    /// credentials (cross-account forwarding); refreshed before it expires.
    #[arg(long, value_name = "ARN", env = "TRAILSCOPE_ROLE_ARN")]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy requires (with --role-arn).
    #[arg(long, requires = "role_arn", env = "TRAILSCOPE_EXTERNAL_ID")]
    pub external_id: Option<String>,
    /// The session name of the assumed role, as CloudTrail records it.
    #[arg(
        long,
        default_value = "trailscope",
        env = "TRAILSCOPE_ROLE_SESSION_NAME"
    )]
    pub role_session_name: String,
}

/// `--since`: a duration back from now or an RFC 3339 time, as ms since the epoch.
pub fn parse_since(text: &str, now: chrono::DateTime<chrono::Utc>) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let d = humantime::parse_duration(text).with_context(|| {
        format!("--since {text:?} is neither a duration (24h, 7d) nor an RFC 3339 time")
    })?;
    Ok(now.timestamp_millis() - d.as_millis() as i64)
}

/// What `forward` did, printed as JSON when it ends.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum ForwardSummary {
    LogGroups(Snapshot),
    Sqs(sqs::SqsSummary),
}

pub async fn run(args: ForwardArgs) -> Result<ForwardSummary> {
    let logs = !args.log_groups.is_empty() || !args.log_group_prefixes.is_empty();
    match &args.sqs.sqs_queue_url {
        Some(_) if logs => Err(crate::exit::UsageError(
            "--sqs-queue-url reads S3 notifications, --log-group and --log-group-prefix read \
             CloudWatch Logs: one source per process (run two)"
                .into(),
        )
        .into()),
        Some(url) => {
            let cancel = CancellationToken::new();
            spawn_signal_handler(cancel.clone());
            let common = sqs::Common {
                queue_url: url,
                output: &args.output,
                endpoint_url: args.endpoint_url.as_deref(),
                region: args.region.as_deref(),
                role: role(&args),
                give_up: args.source_give_up,
                idle_exit: args.sqs.idle_exit.or(args.once.then_some(1)),
                metrics_addr: args.metrics_addr,
            };
            Ok(ForwardSummary::Sqs(
                sqs::run(&args.sqs, common, cancel).await?,
            ))
        }
        None if !logs => Err(crate::exit::UsageError(
            "name at least one --log-group or --log-group-prefix (CloudWatch Logs), or \
             --sqs-queue-url (S3 event notifications)"
                .into(),
        )
        .into()),
        None => Ok(ForwardSummary::LogGroups(run_log_groups(args).await?)),
    }
}

fn role(args: &ForwardArgs) -> Option<AssumeRole> {
    args.role_arn.as_ref().map(|arn| AssumeRole {
        role_arn: arn.clone(),
        external_id: args.external_id.clone(),
        session_name: args.role_session_name.clone(),
    })
}

async fn run_log_groups(args: ForwardArgs) -> Result<Snapshot> {
    let start = args
        .since
        .as_deref()
        .map(|s| parse_since(s, chrono::Utc::now()))
        .transpose()?;
    // AWS first: a missing region or credentials is a configuration error, told before anything
    // else is contacted.
    let role = role(&args);
    let (client, target) = aws_client::connect(
        args.endpoint_url.as_deref(),
        args.region.as_deref(),
        role.as_ref(),
    )
    .await?;
    let pipeline = args.output.pipeline().await?;
    let store = match &args.checkpoint_index {
        Some(index) => CheckpointStore::Index(Box::new(
            CheckpointIndex::open(pipeline.sink.client().clone(), index, &args.checkpoint_job)
                .await?,
        )),
        None => CheckpointStore::File(CheckpointFile::new(&args.checkpoint_file)),
    };
    let checkpoints = Arc::new(Checkpoints::open(store)?);
    // Fail now, not after the first delivery, when progress could not be kept.
    checkpoints.save()?;
    let stats = pipeline.stats.clone();
    let metrics = match args.metrics_addr {
        Some(addr) => {
            let readiness = crate::metrics::Readiness {
                opensearch: pipeline.sink.client().clone(),
                checkpoint: Some(checkpoints.clone()),
            };
            let (_, task) = crate::metrics::start(addr, stats.clone(), readiness)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            Some(task)
        }
        None => None,
    };
    let cancel = CancellationToken::new();
    let acks = Arc::new(AckTracker::default());
    let read_ahead = Arc::new(ReadAhead::new(cloudwatch::READ_AHEAD_BYTES));
    let poller = Arc::new(Poller {
        reader: Reader {
            client,
            target,
            limiter: Arc::new(crate::source::rate_limit::RateLimiter::new(
                args.max_requests_per_second,
            )),
            filter_pattern: args.filter_pattern.clone(),
            give_up_after: args.source_give_up,
            read_ahead: read_ahead.clone(),
        },
        checkpoints: checkpoints.clone(),
        acks: acks.clone(),
        config: PollConfig {
            lag_floor: args.lag_floor.as_millis() as i64,
            start,
            ..PollConfig::default()
        },
        cancel: cancel.clone(),
        progress: crate::progress::Backfill::new(args.progress_every),
    });
    spawn_signal_handler(cancel.clone());

    let (tx, rx) = mpsc::channel(8);
    let pipeline_task = {
        let mut feedback = Feedback {
            acks: acks.clone(),
            read_ahead,
        };
        let stop = cancel.clone();
        tokio::spawn(async move {
            let result = pipeline.run_until(rx, &mut feedback, &stop).await;
            acks.close();
            result
        })
    };
    let polling = poll_loop(&args, poller, tx, cancel.clone(), &stats).await;
    if polling.is_err() {
        cancel.cancel();
    }
    let delivered = pipeline_task.await.context("the pipeline panicked")?;
    if let Some(task) = metrics {
        task.abort();
    }
    let s = stats.snapshot();
    tracing::info!(
        read = s.read,
        indexed = s.indexed,
        duplicates = s.duplicates,
        dead_lettered = s.dead_lettered,
        filtered = s.filtered,
        checkpoint = %checkpoints.store().describe(),
        "forward finished"
    );
    delivered?;
    polling?;
    Ok(s)
}

/// `--once` found log groups that do not exist (after reading the others).
#[derive(Debug, thiserror::Error)]
#[error(
    "{} in {target}: check the names, --region and --endpoint-url (the other groups were read)",
    match groups.as_slice() {
        [one] => format!("log group {one} does not exist"),
        many => format!("log groups {} do not exist", many.join(", ")),
    }
)]
pub struct MissingLogGroups {
    pub groups: Vec<String>,
    pub target: Target,
}

/// What the pipeline reports back to the readers: events done (the checkpoints may pass them),
/// and pages taken off the channel (room to read ahead again).
struct Feedback {
    acks: Arc<AckTracker>,
    read_ahead: Arc<ReadAhead>,
}

impl Acknowledge for Feedback {
    fn ack(&mut self, origin: &crate::source::Origin) {
        (&mut &*self.acks).ack(origin);
    }

    fn received(&mut self, events: &[crate::source::RawEvent]) {
        self.read_ahead.received(events);
    }
}

/// Polls every group until cancelled (or once). Returns when done; dropping `tx` then lets the
/// pipeline drain and finish.
async fn poll_loop(
    args: &ForwardArgs,
    poller: Arc<Poller>,
    tx: mpsc::Sender<Vec<crate::source::RawEvent>>,
    cancel: CancellationToken,
    stats: &crate::stats::Stats,
) -> Result<()> {
    let mut groups: BTreeSet<String> = args.log_groups.iter().cloned().collect();
    let mut last_discovery: Option<tokio::time::Instant> = None;
    // Groups that did not exist at their last poll: CloudTrail may create them later.
    let mut missing: BTreeSet<String> = BTreeSet::new();
    let target = &poller.reader.target;
    loop {
        if !args.log_group_prefixes.is_empty()
            && last_discovery.is_none_or(|t| t.elapsed() >= args.discover_interval)
        {
            for prefix in &args.log_group_prefixes {
                // A shutdown does not wait for a server that does not answer.
                let found = tokio::select! {
                    found = poller.reader.discover(prefix) => found?,
                    _ = cancel.cancelled() => return Ok(()),
                };
                for name in found {
                    if groups.insert(name.clone()) {
                        tracing::info!(log_group = %name, prefix, "found a new log group");
                    }
                }
            }
            last_discovery = Some(tokio::time::Instant::now());
        }
        let mut passes = tokio::task::JoinSet::new();
        for group in &groups {
            let (poller, tx, group) = (poller.clone(), tx.clone(), group.clone());
            passes.spawn(async move {
                let report = poller.pass(&group, &tx).await;
                (group, report)
            });
        }
        while let Some(joined) = passes.join_next().await {
            let (group, report) = joined.context("a poller panicked")?;
            let report = match report {
                Err(PollError::Source(SourceError::NoSuchGroup { .. })) => {
                    if missing.insert(group.clone()) && !args.once {
                        tracing::warn!(
                            log_group = %group,
                            "log group {group} does not exist in {target}: polling the others, \
                             and this one again every --poll-interval (CloudTrail may create it)"
                        );
                    }
                    continue;
                }
                other => other.with_context(|| format!("polling log group {group}"))?,
            };
            if missing.remove(&group) {
                tracing::info!(log_group = %group, "log group {group} exists now");
            }
            stats.source_throttled(report.throttled);
            stats.group_polled(&group, report.watermark, report.max_ingestion_delay);
            tracing::info!(
                log_group = %group,
                events = report.events,
                already_delivered = report.skipped,
                throttled = report.throttled,
                later_than_lag = report.later_than_lag,
                lag_ms = report.lag,
                watermark = report.watermark,
                interrupted = report.interrupted,
                "poll finished"
            );
        }
        if args.once && !missing.is_empty() {
            return Err(MissingLogGroups {
                groups: missing.into_iter().collect(),
                target: target.clone(),
            }
            .into());
        }
        if args.once || cancel.is_cancelled() {
            return Ok(());
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(args.poll_interval) => {}
        }
    }
}

/// SIGINT or SIGTERM: stop reading; what was read is delivered and checkpointed, then exit 0.
fn spawn_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping: finishing what was read, then saving the checkpoint");
        cancel.cancel();
        // A second signal: stop now, without draining (what was not acknowledged is read again
        // by the next run).
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::warn!("second signal: exiting before delivery finished (exit code 130)");
            std::process::exit(crate::exit::INTERRUPTED.into());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_since("24h", now).unwrap(),
            now.timestamp_millis() - 86_400_000
        );
        assert_eq!(
            parse_since("2026-01-01T00:00:00Z", now).unwrap(),
            now.timestamp_millis() - 86_400_000
        );
        assert!(parse_since("yesterday", now).is_err());
    }
}

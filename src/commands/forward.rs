//! `trailscope forward`: CloudWatch Logs log groups → OpenSearch.

use super::setup::{self, TemplateState};
use super::OpenSearchArgs;
use crate::enrich::Enricher;
use crate::event::encode::Encoder;
use crate::pipeline::Pipeline;
use crate::sink::dead_letter::DeadLetterFile;
use crate::sink::opensearch::Client;
use crate::sink::{Sink, SinkConfig};
use crate::source::cloudwatch::{self, Window};
use crate::stats::{Snapshot, Stats};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Args)]
pub struct ForwardArgs {
    /// Log group(s) that CloudTrail writes to. Repeat the flag for several.
    #[arg(
        long = "log-group",
        required = true,
        env = "TRAILSCOPE_LOG_GROUPS",
        value_delimiter = ','
    )]
    pub log_groups: Vec<String>,
    #[command(flatten)]
    pub opensearch: OpenSearchArgs,
    /// Read everything available now, deliver it, and exit.
    #[arg(long)]
    pub once: bool,
    /// CloudWatch Logs endpoint override (for a local CloudWatch Logs API such as moto); by default
    /// the standard AWS configuration decides.
    #[arg(long, env = "TRAILSCOPE_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region; by default the standard AWS configuration decides (AWS_REGION, profile, ...).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// A CloudWatch Logs filter pattern passed to FilterLogEvents unchanged.
    #[arg(long)]
    pub filter_pattern: Option<String>,
    /// Indices are named <prefix>YYYY.MM.DD by the event's UTC date.
    #[arg(long, default_value = "cloudtrail-", env = "TRAILSCOPE_INDEX_PREFIX")]
    pub index_prefix: String,
    /// Where events that can never be indexed are written (NDJSON, with the reason).
    #[arg(
        long,
        default_value = "trailscope-dead-letters.ndjson",
        env = "TRAILSCOPE_DEAD_LETTER_FILE"
    )]
    pub dead_letter_file: PathBuf,
    /// Seconds between polls when running continuously.
    #[arg(long, default_value_t = 30)]
    pub poll_interval_secs: u64,
    #[command(flatten)]
    pub sink: SinkArgs,
}

/// Batching and delivery settings.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Send a bulk request once its body reaches this many bytes (uncompressed; at most 9 MiB).
    #[arg(long, default_value_t = 5 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=9 * 1024 * 1024))]
    pub batch_bytes: u64,
    /// Send a bulk request once it holds this many events.
    #[arg(long, default_value_t = 5000)]
    pub batch_events: usize,
    /// Bulk requests in flight at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// Send bulk bodies uncompressed.
    #[arg(long)]
    pub no_gzip: bool,
    /// Give up on a batch (exit non-zero, checkpoint unmoved) after retrying this many seconds.
    #[arg(long, default_value_t = 900)]
    pub retry_give_up_secs: u64,
}

impl SinkArgs {
    pub fn config(&self) -> SinkConfig {
        let mut c = SinkConfig {
            max_batch_bytes: self.batch_bytes as usize,
            max_batch_events: self.batch_events.max(1),
            concurrency: self.concurrency as usize,
            gzip: !self.no_gzip,
            ..SinkConfig::default()
        };
        c.retry.give_up_after = Duration::from_secs(self.retry_give_up_secs);
        c
    }
}

pub async fn run(args: ForwardArgs) -> Result<Snapshot> {
    let client = Client::connect(&args.opensearch.connect_options())?;
    let version = client.ping().await?;
    tracing::info!(url = %client.url, version, "connected to OpenSearch");
    match setup::template_state(&client, &args.index_prefix).await? {
        TemplateState::Current => {}
        TemplateState::Missing => bail!(
            "the index template {} is not installed in OpenSearch at {}: run `trailscope setup \
             --opensearch-url {}` first (it maps the fields so no event is rejected)",
            setup::template_name(&args.index_prefix),
            client.url,
            client.url
        ),
        TemplateState::Outdated { installed } => tracing::warn!(
            ?installed,
            "the index template is older than this trailscope: run `trailscope setup` to update it"
        ),
    }
    let cw = cloudwatch::client(args.endpoint_url.as_deref(), args.region.as_deref()).await;

    let stats = Arc::new(Stats::default());
    let sink = Arc::new(Sink::new(
        client,
        Arc::new(DeadLetterFile::new(&args.dead_letter_file)),
        args.sink.config(),
        stats.clone(),
    ));
    let pipeline = Pipeline {
        encoder: Arc::new(Encoder::new(Enricher::default(), args.index_prefix.clone())),
        sink,
        stats: stats.clone(),
    };

    loop {
        let (tx, rx) = mpsc::channel(4);
        let groups = args.log_groups.clone();
        let filter = args.filter_pattern.clone();
        let cw = cw.clone();
        let reader = tokio::spawn(async move {
            for group in &groups {
                let read =
                    cloudwatch::read_window(&cw, group, Window::default(), filter.as_deref(), &tx)
                        .await?;
                tracing::info!(log_group = %group, pages = read.pages, events = read.events, "read log group");
            }
            Ok::<_, cloudwatch::SourceError>(())
        });
        let delivered = pipeline.run(rx, &mut |_: &crate::source::Origin| {}).await;
        let read = reader
            .await
            .context("the CloudWatch Logs reader panicked")?;
        delivered?;
        read?;
        let s = stats.snapshot();
        tracing::info!(
            read = s.read,
            indexed = s.indexed,
            duplicates = s.duplicates,
            dead_lettered = s.dead_lettered,
            "pass complete"
        );
        if args.once {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_secs(args.poll_interval_secs)).await;
    }
}

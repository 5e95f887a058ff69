//! `trailscope forward`: CloudWatch Logs log groups → OpenSearch.

use super::PipelineArgs;
use crate::source::cloudwatch::{self, Window};
use crate::stats::Snapshot;
use anyhow::{Context, Result};
use clap::Args;
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
    pub output: PipelineArgs,
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
    /// Seconds between polls when running continuously.
    #[arg(long, default_value_t = 30)]
    pub poll_interval_secs: u64,
}

pub async fn run(args: ForwardArgs) -> Result<Snapshot> {
    let pipeline = args.output.pipeline().await?;
    let stats = pipeline.stats.clone();
    let cw = cloudwatch::client(args.endpoint_url.as_deref(), args.region.as_deref()).await;

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

//! One module per subcommand; `main.rs` only parses arguments and calls these.

pub mod audit;
pub mod dashboards;
pub mod forward;
pub mod ingest;
pub mod lambda;
pub mod setup;

use crate::enrich::Enricher;
use crate::event::encode::Encoder;
use crate::event::filter::Filter;
use crate::pipeline::Pipeline;
use crate::secret::Secret;
use crate::sink::dead_letter::DeadLetterFile;
use crate::sink::opensearch::{Client, ConnectOptions};
use crate::sink::{Sink, SinkConfig};
use crate::stats::Stats;
use anyhow::{bail, Result};
use clap::Args;
use setup::TemplateState;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How to reach OpenSearch: shared by every command that talks to it.
#[derive(Debug, Clone, Args)]
pub struct OpenSearchArgs {
    /// OpenSearch URL, e.g. http://127.0.0.1:9200 or https://search-x.eu-west-1.es.amazonaws.com
    #[arg(long, env = "TRAILSCOPE_OPENSEARCH_URL")]
    pub opensearch_url: Url,
    /// User name for basic authentication (the password comes from
    /// TRAILSCOPE_OPENSEARCH_PASSWORD, never from a flag: flags show in `ps`).
    #[arg(long, env = "TRAILSCOPE_OPENSEARCH_USERNAME")]
    pub opensearch_username: Option<String>,
    /// Seconds one request to OpenSearch may take.
    #[arg(long, default_value_t = 60)]
    pub request_timeout_secs: u64,
}

impl OpenSearchArgs {
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            url: self.opensearch_url.clone(),
            username: self.opensearch_username.clone(),
            password: std::env::var("TRAILSCOPE_OPENSEARCH_PASSWORD")
                .ok()
                .map(Secret::new),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
        }
    }
}

/// Where and how events are delivered: shared by every command that indexes events
/// (`forward`, `ingest`, `lambda`).
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub opensearch: OpenSearchArgs,
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
    #[command(flatten)]
    pub sink: SinkArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Which events to keep, on parsed fields; the same in every mode. Repeat a flag for
/// alternatives; different flags must all match.
#[derive(Debug, Clone, Args, Default)]
pub struct FilterArgs {
    /// Keep only calls made with this access key id.
    #[arg(long = "access-key", value_name = "ID")]
    pub access_keys: Vec<String>,
    /// Keep only calls by this principal ARN (a user, an assumed-role session, or the role).
    #[arg(long = "principal-arn", value_name = "ARN")]
    pub principal_arns: Vec<String>,
    /// Keep only calls to this event source (e.g. ec2.amazonaws.com).
    #[arg(long = "event-source", value_name = "SOURCE")]
    pub event_sources: Vec<String>,
    /// Keep only this event name (e.g. ConsoleLogin).
    #[arg(long = "event-name", value_name = "NAME")]
    pub event_names: Vec<String>,
}

impl FilterArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            access_keys: self.access_keys.clone(),
            principal_arns: self.principal_arns.clone(),
            event_sources: self.event_sources.clone(),
            event_names: self.event_names.clone(),
        }
    }
}

impl PipelineArgs {
    /// Connects to OpenSearch, checks the index template, and builds the pipeline.
    pub async fn pipeline(&self) -> Result<Pipeline> {
        let client = Client::connect(&self.opensearch.connect_options())?;
        let version = client.ping().await?;
        tracing::info!(url = %client.url, version, "connected to OpenSearch");
        match setup::template_state(&client, &self.index_prefix).await? {
            TemplateState::Current => {}
            TemplateState::Missing => bail!(
                "the index template {} is not installed in OpenSearch at {}: run `trailscope setup \
                 --opensearch-url {}` first (it maps the fields so no event is rejected)",
                setup::template_name(&self.index_prefix),
                client.url,
                client.url
            ),
            TemplateState::Outdated { installed } => tracing::warn!(
                ?installed,
                "the index template is older than this trailscope: run `trailscope setup` to update it"
            ),
        }
        let stats = Arc::new(Stats::default());
        let sink = Arc::new(Sink::new(
            client,
            Arc::new(DeadLetterFile::new(&self.dead_letter_file)),
            self.sink.config(),
            stats.clone(),
        ));
        Ok(Pipeline {
            encoder: Arc::new(Encoder::new(
                Enricher::default(),
                self.index_prefix.clone(),
                self.filter.filter(),
            )),
            sink,
            stats,
        })
    }
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

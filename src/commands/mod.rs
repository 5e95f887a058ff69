//! One module per subcommand; `main.rs` only parses arguments and calls these.

pub mod audit;
pub mod config;
pub mod dashboards;
pub mod forward;
pub mod ingest;
pub mod lambda;
pub mod policy;
pub mod retention;
pub mod setup;

use crate::enrich::Enricher;
use crate::event::encode::{Encoder, TimeWindow};
use crate::event::filter::Filter;
use crate::findings::output::{Outputs, Webhook};
use crate::findings::{Findings, Settings};
use crate::lineage::Recorder;
use crate::pipeline::Pipeline;
use crate::secret::Secret;
use crate::sink::dead_letter::DeadLetterFile;
use crate::sink::opensearch::{Client, ConnectOptions, TlsOptions};
use crate::sink::shard_budget::ShardBudget;
use crate::sink::sigv4::SigV4;
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
    // Required: an `Option` only so that `setup --print-roles` can go without it.
    #[arg(long, env = "TRAILSCOPE_OPENSEARCH_URL", required = true)]
    pub opensearch_url: Option<Url>,
    /// User name for basic authentication (the password comes from
    /// TRAILSCOPE_OPENSEARCH_PASSWORD or --opensearch-password-file, never from a flag value:
    /// flags show in `ps`).
    #[arg(long, env = "TRAILSCOPE_OPENSEARCH_USERNAME")]
    pub opensearch_username: Option<String>,
    /// A file whose first line is the password for --opensearch-username (instead of
    /// TRAILSCOPE_OPENSEARCH_PASSWORD; not both).
    #[arg(long, value_name = "FILE", env = "TRAILSCOPE_OPENSEARCH_PASSWORD_FILE")]
    pub opensearch_password_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust, besides the system's, for OpenSearch's HTTPS
    /// certificate (e.g. the cluster's root-ca.pem). The hostname is still verified.
    #[arg(long, value_name = "FILE", env = "TRAILSCOPE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify OpenSearch's certificate nor its hostname. Diagnosis only: anyone on the
    /// path could read the password and the events. Logged as a warning at every start.
    #[arg(
        long,
        env = "TRAILSCOPE_INSECURE_SKIP_TLS_VERIFY",
        conflicts_with = "ca_cert"
    )]
    pub insecure_skip_tls_verify: bool,
    /// Seconds one request to OpenSearch may take.
    #[arg(long, env = "TRAILSCOPE_REQUEST_TIMEOUT_SECS", default_value_t = 60)]
    pub request_timeout_secs: u64,
    /// Sign requests with AWS SigV4 for this service: `es` (Amazon OpenSearch Service) or `aoss`
    /// (OpenSearch Serverless), with credentials from the standard AWS chain (refreshed).
    #[arg(
        long,
        value_name = "SERVICE",
        env = "TRAILSCOPE_AWS_SIGV4",
        value_parser = ["es", "aoss"],
        conflicts_with = "opensearch_username"
    )]
    pub aws_sigv4: Option<String>,
    /// Region of the domain or collection for --aws-sigv4 (default: AWS_REGION).
    #[arg(long, value_name = "REGION", env = "TRAILSCOPE_AWS_SIGV4_REGION")]
    pub aws_sigv4_region: Option<String>,
}

impl OpenSearchArgs {
    pub fn connect_options(&self) -> ConnectOptions {
        let mut url = self
            .opensearch_url
            .clone()
            .expect("clap requires --opensearch-url");
        // Credentials in the URL (https://user:password@host) are taken out of it, so that the
        // URL printed in messages and logs never carries the password.
        // The URL keeps them percent-encoded (`p%40ss`): what the server checks is `p@ss`.
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let url_user = (!url.username().is_empty()).then(|| decode(url.username()));
        let url_password = url.password().map(|p| Secret::new(decode(p)));
        if url_user.is_some() || url_password.is_some() {
            tracing::warn!(
                "credentials in --opensearch-url: prefer --opensearch-username and \
                 TRAILSCOPE_OPENSEARCH_PASSWORD (a URL shows in `ps` and in shell history)"
            );
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        ConnectOptions {
            url,
            username: self.opensearch_username.clone().or(url_user),
            password: std::env::var("TRAILSCOPE_OPENSEARCH_PASSWORD")
                .ok()
                .map(Secret::new)
                .or(url_password),
            password_file: self.opensearch_password_file.clone(),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            sigv4: self.aws_sigv4.as_ref().map(|service| SigV4 {
                service: service.clone(),
                region: self
                    .aws_sigv4_region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                    .unwrap_or_default(),
            }),
            tls: TlsOptions {
                ca_cert: self.ca_cert.clone(),
                insecure_skip_verify: self.insecure_skip_tls_verify,
            },
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
    #[command(flatten)]
    pub geoip: GeoIpArgs,
    /// Events whose eventTime is older than this (e.g. 2y, 400d) go to the one index
    /// <prefix>quarantine instead of a daily index each: hostile or broken dates cannot create
    /// thousands of indices. Widen it to backfill older archives by day.
    #[arg(long, default_value = "2y", value_parser = humantime::parse_duration, env = "TRAILSCOPE_MAX_EVENT_AGE")]
    pub max_event_age: Duration,
    /// Events dated further ahead than this go to <prefix>quarantine (CloudTrail never dates
    /// an event in the future beyond clock skew).
    #[arg(long, default_value = "1d", value_parser = humantime::parse_duration, env = "TRAILSCOPE_MAX_EVENT_FUTURE")]
    pub max_event_future: Duration,
    #[command(flatten)]
    pub findings: FindingsArgs,
    #[command(flatten)]
    pub lineage: LineageArgs,
    /// Threads that decode, enrich and encode events at once (chunks of up to 1,000 events;
    /// batches, acknowledgements and checkpoints keep the events' order). 1 (the default) does it
    /// on the pipeline's own thread; more may help on machines with more than 2 cores.
    // Default 1, measured on 2 cores (debug build, 1M events into bench/fake_bulk.py, 2 rounds
    // interleaved): 2 workers took 78-122 s against 79-86 s for 1 and held 89-92 MiB against
    // 77-82 MiB; the memory bound (64 MiB in a 1M backfill) comes first.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64), env = "TRAILSCOPE_TRANSFORM_WORKERS")]
    pub transform_workers: u64,
    /// How requestParameters, responseElements, additionalEventData and serviceEventDetails are
    /// indexed: `flat` (the flat_object copy, searchable by path; the JSON text only for a
    /// payload the flat_object cannot take) or `both` (the text copy always, as Elastic's
    /// integration writes it: for saved searches that show it as a column).
    // Default `flat`: the text copy is stored, never indexed (nothing searches it), yet it cost
    // OpenSearch 12-20% more CPU and 18-22% more disk per document (scripts/doc-cost.sh).
    #[arg(long, value_enum, default_value_t = Payloads::Flat, env = "TRAILSCOPE_PAYLOADS")]
    pub payloads: Payloads,
}

/// How the free-form payloads are indexed (`--payloads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Payloads {
    /// The flat_object copy only, where it takes the payload (the default).
    Flat,
    /// The JSON text and the flat_object copy.
    Both,
}

/// The lineage index: one document per credential minted through STS (README, "Credential
/// lineage"). Shared by `forward`, `ingest` and `lambda` (which write it) and `audit` (which
/// reads it).
#[derive(Debug, Clone, Args)]
pub struct LineageArgs {
    /// Do not use the lineage index: `forward`, `ingest` and `lambda` write no lineage document,
    /// `audit` and the findings find minting events by searching the events only.
    #[arg(long, env = "TRAILSCOPE_NO_LINEAGE")]
    pub no_lineage: bool,
    /// The index of minted credentials (created when missing).
    #[arg(
        long,
        default_value = crate::lineage::store::DEFAULT_INDEX,
        env = "TRAILSCOPE_LINEAGE_INDEX"
    )]
    pub lineage_index: String,
}

impl LineageArgs {
    /// The lineage index's name, or none when turned off.
    pub fn index(&self) -> Option<&str> {
        (!self.no_lineage).then_some(self.lineage_index.as_str())
    }

    /// The writer of the lineage index, or none when turned off; creates the index when missing.
    pub async fn start(&self, client: &Client) -> Result<Option<Arc<Recorder>>> {
        let Some(index) = self.index() else {
            return Ok(None);
        };
        tracing::info!(
            index,
            "minted credentials are written to the lineage index (--no-lineage turns it off)"
        );
        Ok(Some(Arc::new(
            Recorder::start(client.clone(), index.to_owned()).await?,
        )))
    }
}

/// First-seen findings: what an identity does that it never did before (README, "Findings").
#[derive(Debug, Clone, Args)]
pub struct FindingsArgs {
    /// Do not look for first-seen behaviour (no findings are written).
    #[arg(long, env = "TRAILSCOPE_NO_FINDINGS")]
    pub no_findings: bool,
    /// The index findings are written to (created when missing).
    #[arg(
        long,
        default_value = "trailscope-findings",
        env = "TRAILSCOPE_FINDINGS_INDEX"
    )]
    pub findings_index: String,
    /// History an identity needs (from its first indexed event) before anything it does is
    /// called new; until then it is learning and gets no finding.
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration, env = "TRAILSCOPE_FINDINGS_LEARNING")]
    pub findings_learning: Duration,
    /// Events older than this make no finding (they are baseline only): an RFC 3339 time or a
    /// duration back from the start (24h, 30d). Default: 1h before the start, so a backfill of
    /// old files builds the baseline without a flood of findings about the past.
    #[arg(long, value_name = "TIME|DURATION", env = "TRAILSCOPE_FINDINGS_FROM")]
    pub findings_from: Option<String>,
    /// Also append each new finding to this file (NDJSON, one finding per line).
    #[arg(long, value_name = "FILE", env = "TRAILSCOPE_FINDINGS_FILE")]
    pub findings_file: Option<PathBuf>,
    /// Also POST each new finding as JSON to this URL (tried 5 times with growing pauses).
    #[arg(long, value_name = "URL", env = "TRAILSCOPE_FINDINGS_WEBHOOK")]
    pub findings_webhook: Option<Url>,
    #[command(flatten)]
    pub policies: PoliciesArgs,
    /// How often the registered policies are read again while running, so that `trailscope
    /// policy set` takes effect without a restart.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration, env = "TRAILSCOPE_POLICIES_REFRESH")]
    pub policies_refresh: Duration,
}

/// Where the registered policies are (`trailscope policy set`): shared by `policy`, `audit` and
/// the findings of `forward`, `ingest` and `lambda`.
#[derive(Debug, Clone, Args)]
pub struct PoliciesArgs {
    /// The index of the policies registered with `trailscope policy set`.
    #[arg(
        long,
        default_value = crate::findings::registry::DEFAULT_INDEX,
        env = "TRAILSCOPE_POLICIES_INDEX"
    )]
    pub policies_index: String,
}

/// Authorization failures in one hour that make a `denied_burst` finding.
const DENIED_BURST: usize = 10;

impl FindingsArgs {
    /// The findings stage, or none when turned off; creates the findings index when missing.
    pub async fn start(
        &self,
        client: &Client,
        index_prefix: &str,
        lineage: Option<&str>,
    ) -> Result<Option<Arc<Findings>>> {
        if self.no_findings {
            return Ok(None);
        }
        let now = chrono::Utc::now();
        let from = match self.findings_from.as_deref() {
            Some(text) => forward::parse_since(text, now)
                .map_err(|e| crate::exit::UsageError(format!("--findings-from: {e:#}")))?,
            None => now.timestamp_millis() - 3_600_000,
        };
        let settings = Settings {
            index: self.findings_index.clone(),
            events: format!("{index_prefix}*"),
            learning: chrono::Duration::from_std(self.findings_learning)
                .unwrap_or(chrono::Duration::MAX),
            from: chrono::DateTime::from_timestamp_millis(from).unwrap_or(now),
            denied_burst: DENIED_BURST,
            policies: self.policies.policies_index.clone(),
            policies_refresh: self.policies_refresh,
            lineage: lineage.map(str::to_owned),
        };
        let mut outputs = Outputs::default();
        if let Some(path) = &self.findings_file {
            outputs = outputs.with_file(path.clone());
        }
        if let Some(url) = &self.findings_webhook {
            outputs = outputs.with_webhook(Webhook::new(url.clone(), Duration::from_secs(10))?);
        }
        tracing::info!(
            index = %settings.index,
            from = %settings.from,
            learning = %humantime::format_duration(self.findings_learning),
            "first-seen findings are on (--no-findings turns them off)"
        );
        Ok(Some(Arc::new(
            Findings::start(client.clone(), settings, outputs).await?,
        )))
    }
}

/// Where the GeoIP and ASN databases are (MaxMind DB files; nothing is ever downloaded).
#[derive(Debug, Clone, Args, Default)]
pub struct GeoIpArgs {
    /// Country/city database in the MaxMind DB format (GeoLite2-City/Country, DB-IP,
    /// ip-location-db ...): fills source.geo.*. Without it that part is off.
    #[arg(long, value_name = "FILE", env = "TRAILSCOPE_GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,
    /// Autonomous system database in the MaxMind DB format (GeoLite2-ASN layout): fills
    /// source.as.*. Without it that part is off.
    #[arg(long, value_name = "FILE", env = "TRAILSCOPE_ASN_DB")]
    pub asn_db: Option<PathBuf>,
    /// A database that cannot be opened at start is a warning (that part is off) rather than an
    /// error.
    #[arg(long, env = "TRAILSCOPE_GEOIP_OPTIONAL")]
    pub geoip_optional: bool,
    /// How often the database files are checked; a replaced file is reloaded without a restart.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, env = "TRAILSCOPE_GEOIP_RELOAD_INTERVAL")]
    pub geoip_reload_interval: Duration,
}

impl GeoIpArgs {
    /// The enricher, with the databases that are configured and open; starts the reload check.
    pub fn enricher(&self) -> Result<Enricher> {
        use crate::enrich::geoip::{GeoIp, GeoIpConfig};
        if self.geoip_db.is_none() {
            tracing::info!("no GeoIP database (--geoip-db): source.geo.* is not filled");
        }
        if self.asn_db.is_none() {
            tracing::info!("no ASN database (--asn-db): source.as.* is not filled");
        }
        let (geoip, errors) = GeoIp::open_each(&GeoIpConfig {
            geo: self.geoip_db.clone(),
            asn: self.asn_db.clone(),
            cache_capacity: 0,
        });
        for e in errors {
            if !self.geoip_optional {
                bail!(
                    "{e} (check --geoip-db / --asn-db, or pass --geoip-optional to go on without it)"
                );
            }
            tracing::warn!("{e}; going on without it (--geoip-optional)");
        }
        if !geoip.has_geo() && !geoip.has_asn() {
            return Ok(Enricher::default());
        }
        let geoip = Arc::new(geoip);
        GeoIp::spawn_reloader(&geoip, self.geoip_reload_interval)?;
        Ok(Enricher::default().with_geoip(geoip))
    }
}

/// Which events to keep, on parsed fields; the same in every mode. Repeat a flag for
/// alternatives; different flags must all match.
#[derive(Debug, Clone, Args, Default)]
pub struct FilterArgs {
    /// Keep only calls made with this access key id.
    #[arg(
        long = "access-key",
        value_name = "ID",
        env = "TRAILSCOPE_ACCESS_KEYS",
        value_delimiter = ','
    )]
    pub access_keys: Vec<String>,
    /// Keep only calls by this principal ARN (a user, an assumed-role session, or the role).
    #[arg(
        long = "principal-arn",
        value_name = "ARN",
        env = "TRAILSCOPE_PRINCIPAL_ARNS",
        value_delimiter = ','
    )]
    pub principal_arns: Vec<String>,
    /// Keep only calls to this event source (e.g. ec2.amazonaws.com).
    #[arg(
        long = "event-source",
        value_name = "SOURCE",
        env = "TRAILSCOPE_EVENT_SOURCES",
        value_delimiter = ','
    )]
    pub event_sources: Vec<String>,
    /// Keep only this event name (e.g. ConsoleLogin).
    #[arg(
        long = "event-name",
        value_name = "NAME",
        env = "TRAILSCOPE_EVENT_NAMES",
        value_delimiter = ','
    )]
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
                 --opensearch-url {}{}` first (it maps the fields so no event is rejected)",
                setup::template_name(&self.index_prefix),
                client.url,
                client.url,
                // The command to run as written, for the prefix this run was given.
                if self.index_prefix == "cloudtrail-" {
                    String::new()
                } else {
                    format!(" --index-prefix {}", self.index_prefix)
                }
            ),
            TemplateState::Outdated { installed } => tracing::warn!(
                ?installed,
                "the index template is older than this trailscope: run `trailscope setup` to update it"
            ),
        }
        let enricher = self.geoip.enricher()?;
        let lineage = self.lineage.start(&client).await?;
        let findings = self
            .findings
            .start(&client, &self.index_prefix, self.lineage.index())
            .await?;
        let stats = Arc::new(Stats::default());
        let sink = Arc::new(
            Sink::new(
                client.clone(),
                Arc::new(DeadLetterFile::new(&self.dead_letter_file)),
                self.sink.config(),
                stats.clone(),
            )
            .with_shard_budget(ShardBudget::new(client, &self.index_prefix)),
        );
        let mut encoder = Encoder::new(enricher, self.index_prefix.clone(), self.filter.filter())
            .with_window(TimeWindow {
                max_age: self.max_event_age,
                max_future: self.max_event_future,
            });
        if findings.is_some() {
            encoder = encoder.with_facts();
        }
        if lineage.is_some() {
            encoder = encoder.with_minted();
        }
        if self.payloads == Payloads::Both {
            encoder = encoder.with_payload_text();
        }
        Ok(Pipeline {
            encoder: Arc::new(encoder),
            sink,
            stats,
            findings,
            lineage,
            transform_workers: self.transform_workers as usize,
        })
    }
}

/// Batching and delivery settings.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Send a bulk request once its body reaches this many bytes (uncompressed; at most 9 MiB).
    #[arg(long, env = "TRAILSCOPE_BATCH_BYTES", default_value_t = 5 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=9 * 1024 * 1024))]
    pub batch_bytes: u64,
    /// Send a bulk request once it holds this many events.
    #[arg(long, env = "TRAILSCOPE_BATCH_EVENTS", default_value_t = 5000)]
    pub batch_events: usize,
    /// Bulk requests in flight at once.
    #[arg(long, env = "TRAILSCOPE_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// Send bulk bodies uncompressed.
    #[arg(long, env = "TRAILSCOPE_NO_GZIP")]
    pub no_gzip: bool,
    /// Give up on a batch (exit non-zero, checkpoint unmoved) after retrying this many seconds.
    #[arg(long, env = "TRAILSCOPE_RETRY_GIVE_UP_SECS", default_value_t = 900)]
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

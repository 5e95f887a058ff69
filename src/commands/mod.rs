//! One module per subcommand; `main.rs` only parses arguments and calls these.

pub mod forward;
pub mod setup;

use crate::secret::Secret;
use crate::sink::opensearch::ConnectOptions;
use clap::Args;
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

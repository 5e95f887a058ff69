//! AWS SigV4 request signing for Amazon OpenSearch Service (`es`) and OpenSearch Serverless
//! (`aoss`): credentials from aws-config's default chain (environment, profile, SSO, web
//! identity, ECS/EC2 roles), fetched once and refreshed before they expire.

use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use std::time::{Duration, SystemTime};
use tokio::sync::{Mutex, OnceCell};

/// Which AWS service the requests are signed for, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4 {
    /// `es` (Amazon OpenSearch Service) or `aoss` (OpenSearch Serverless).
    pub service: String,
    pub region: String,
}

/// Refresh this long before the credentials expire.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The default chain, built on first use (building it is async, the client is built in sync
/// code), with the last credentials kept until shortly before they expire: the chain itself does
/// not cache, and every request is signed.
#[derive(Debug)]
struct CachedDefaultChain {
    region: String,
    chain: OnceCell<aws_config::default_provider::credentials::DefaultCredentialsChain>,
    last: Mutex<Option<Credentials>>,
}

impl ProvideCredentials for CachedDefaultChain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let mut last = self.last.lock().await;
            if let Some(c) = last.as_ref() {
                let fresh = c
                    .expiry()
                    .is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE);
                if fresh {
                    return Ok(c.clone());
                }
            }
            let chain = self
                .chain
                .get_or_init(|| async {
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .region(aws_types::region::Region::new(self.region.clone()))
                        .build()
                        .await
                })
                .await;
            let fresh = chain.provide_credentials().await?;
            *last = Some(fresh.clone());
            Ok(fresh)
        })
    }
}

/// The opensearch crate's credentials for `sigv4`.
pub fn credentials(sigv4: &SigV4) -> opensearch::auth::Credentials {
    let provider = CachedDefaultChain {
        region: sigv4.region.clone(),
        chain: OnceCell::new(),
        last: Mutex::new(None),
    };
    opensearch::auth::Credentials::AwsSigV4(
        SharedCredentialsProvider::new(provider),
        aws_types::region::Region::new(sigv4.region.clone()),
    )
}

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

/// The last credentials of a provider, kept until shortly before they expire: the default chain
/// itself does not cache, and every request is signed. A refresh that fails while the kept
/// credentials are still valid (inside the early-refresh window) keeps using them — the next
/// request tries again — rather than failing a bulk request that could have been signed.
#[derive(Debug)]
struct Cached<P> {
    inner: P,
    last: Mutex<Option<Credentials>>,
}

impl<P: ProvideCredentials> Cached<P> {
    fn new(inner: P) -> Self {
        Cached {
            inner,
            last: Mutex::new(None),
        }
    }

    async fn get(&self, now: SystemTime) -> aws_credential_types::provider::Result {
        let mut last = self.last.lock().await;
        if let Some(c) = last.as_ref() {
            if c.expiry().is_none_or(|e| e > now + REFRESH_BEFORE) {
                return Ok(c.clone());
            }
        }
        match self.inner.provide_credentials().await {
            Ok(fresh) => {
                *last = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => match last.as_ref() {
                Some(c) if c.expiry().is_none_or(|expiry| expiry > now) => {
                    tracing::warn!(
                        "refreshing the AWS credentials for SigV4 failed; the current ones are \
                         valid for a few more minutes and are used meanwhile: {}",
                        aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e)
                    );
                    Ok(c.clone())
                }
                _ => Err(e),
            },
        }
    }
}

/// aws-config's default chain, built on first use: building it is async, and the OpenSearch
/// client is built in sync code.
#[derive(Debug)]
struct LazyDefaultChain {
    region: String,
    chain: OnceCell<aws_config::default_provider::credentials::DefaultCredentialsChain>,
}

impl ProvideCredentials for LazyDefaultChain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let chain = self
                .chain
                .get_or_init(|| async {
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .region(aws_types::region::Region::new(self.region.clone()))
                        .build()
                        .await
                })
                .await;
            chain.provide_credentials().await
        })
    }
}

impl<P: ProvideCredentials> ProvideCredentials for Cached<P> {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.get(SystemTime::now()))
    }
}

/// The opensearch crate's credentials for `sigv4`.
pub fn credentials(sigv4: &SigV4) -> opensearch::auth::Credentials {
    let provider = Cached::new(LazyDefaultChain {
        region: sigv4.region.clone(),
        chain: OnceCell::new(),
    });
    opensearch::auth::Credentials::AwsSigV4(
        SharedCredentialsProvider::new(provider),
        aws_types::region::Region::new(sigv4.region.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::error::CredentialsError;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex as StdMutex;

    /// Hands out the queued answers in order and counts the calls.
    #[derive(Debug, Default)]
    struct Scripted {
        answers: StdMutex<Vec<aws_credential_types::provider::Result>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(mut answers: Vec<aws_credential_types::provider::Result>) -> Self {
            answers.reverse();
            Scripted {
                answers: StdMutex::new(answers),
                calls: AtomicUsize::new(0),
            }
        }
    }

    impl ProvideCredentials for Scripted {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = self.answers.lock().unwrap().pop().expect("no more answers");
            future::ProvideCredentials::ready(answer)
        }
    }

    fn creds(key: &str, expiry: SystemTime) -> Credentials {
        Credentials::new(key, "secret", None, Some(expiry), "test")
    }

    fn failed() -> aws_credential_types::provider::Result {
        Err(CredentialsError::provider_error("refresh refused"))
    }

    const T0: SystemTime = SystemTime::UNIX_EPOCH;
    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn kept_until_the_refresh_window_then_refreshed() {
        let cached = Cached::new(Scripted::new(vec![
            Ok(creds("first", T0 + HOUR)),
            Ok(creds("second", T0 + 2 * HOUR)),
        ]));
        assert_eq!(cached.get(T0).await.unwrap().access_key_id(), "first");
        let before_window = T0 + HOUR - REFRESH_BEFORE - Duration::from_secs(1);
        assert_eq!(
            cached.get(before_window).await.unwrap().access_key_id(),
            "first"
        );
        assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 1);
        let in_window = T0 + HOUR - Duration::from_secs(60);
        assert_eq!(
            cached.get(in_window).await.unwrap().access_key_id(),
            "second"
        );
        assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_credentials_that_are_still_valid() {
        let cached = Cached::new(Scripted::new(vec![
            Ok(creds("first", T0 + HOUR)),
            failed(),
            Ok(creds("second", T0 + 2 * HOUR)),
        ]));
        cached.get(T0).await.unwrap();
        let in_window = T0 + HOUR - Duration::from_secs(60);
        assert_eq!(
            cached.get(in_window).await.unwrap().access_key_id(),
            "first",
            "still valid for a minute: used while the refresh fails"
        );
        assert_eq!(
            cached.get(in_window).await.unwrap().access_key_id(),
            "second",
            "the next request tries again"
        );
    }

    #[tokio::test]
    async fn a_failed_refresh_after_expiry_is_an_error() {
        let cached = Cached::new(Scripted::new(vec![Ok(creds("first", T0 + HOUR)), failed()]));
        cached.get(T0).await.unwrap();
        assert!(cached
            .get(T0 + HOUR + Duration::from_secs(1))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn a_first_failure_is_an_error() {
        let cached = Cached::new(Scripted::new(vec![failed()]));
        assert!(cached.get(T0).await.is_err());
    }
}

//! The AWS clients (CloudWatch Logs; SQS and S3 for `forward --sqs-queue-url`), made ready
//! before the first call: the region and the credentials are resolved at start (a missing one is
//! a configuration error, told in a second, not a failure retried for minutes), the role assumed
//! once, and where the calls go kept for messages.

use super::aws_error::{AwsError, AwsFailure};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_cloudwatchlogs::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_cloudwatchlogs::Client;
use std::time::Duration;

/// How long one CloudWatch Logs request may take before it is retried (the SDK's default is to
/// wait forever on a server that accepts and never answers). A page of 10,000 events comes in
/// well under a second.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where CloudWatch Logs is asked: named in messages ("log group X not found in ...").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub region: String,
    /// `--endpoint-url`, or AWS's own endpoint for the region.
    pub endpoint: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "region {} at {}", self.region, self.endpoint)
    }
}

/// A role to assume for reading CloudWatch Logs (cross-account forwarding).
#[derive(Debug, Clone)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

/// Why the client could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum AwsSetupError {
    #[error(
        "no AWS region: set AWS_REGION or --region (or `region` in the AWS profile's config file)"
    )]
    NoRegion,
    #[error("--endpoint-url {url} is not an http:// or https:// URL{reason}")]
    BadEndpoint { url: String, reason: String },
    #[error(
        "no AWS credentials found in the environment (AWS_ACCESS_KEY_ID), the shared files \
         (~/.aws, AWS_PROFILE, SSO), web identity, ECS or EC2 instance metadata (IMDS){}: set \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role",
        profile.as_ref().map(|p| format!(" (AWS_PROFILE={p} gave none: is it in ~/.aws/config?)")).unwrap_or_default()
    )]
    NoCredentials {
        /// `AWS_PROFILE` when it was set: a misspelt profile is the usual reason.
        profile: Option<String>,
    },
    #[error(
        "nothing answers at --endpoint-url {url} ({reason}, for {} s): check its host and \
         port, and that the service behind it is running",
        WAIT_FOR_ENDPOINT.as_secs()
    )]
    EndpointDown { url: String, reason: String },
    #[error("cannot load the AWS credentials: {0}")]
    Credentials(AwsError),
    #[error("cannot assume role {role_arn} with STS: {error}")]
    AssumeRole { role_arn: String, error: AwsError },
}

impl AwsSetupError {
    /// What kind of failure it is, for the exit code.
    pub fn kind(&self) -> AwsFailure {
        match self {
            AwsSetupError::NoRegion
            | AwsSetupError::BadEndpoint { .. }
            | AwsSetupError::EndpointDown { .. } => AwsFailure::Configuration,
            AwsSetupError::NoCredentials { .. } => AwsFailure::Auth,
            AwsSetupError::Credentials(e) | AwsSetupError::AssumeRole { error: e, .. } => e.kind,
        }
    }
}

fn check_endpoint(url: &str) -> Result<(), AwsSetupError> {
    let bad = |reason: String| AwsSetupError::BadEndpoint {
        url: url.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(format!(": {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(String::new()));
    }
    Ok(())
}

/// How long a refused connection to `--endpoint-url` is tried again at start before it is
/// called a mistake: a local API started beside trailscope (compose) may need that long, and
/// an endpoint briefly down must not end a run (tests/faults.rs keeps one down for 20 s).
const WAIT_FOR_ENDPOINT: Duration = Duration::from_secs(30);

/// At start, whether anything listens at an `--endpoint-url` (a mistyped port or host is
/// otherwise a transient failure, retried for --source-give-up). Only a refused connection or
/// an unknown host count: a slow network is left to the calls' own timeouts and retries.
async fn check_listening(url: &str) -> Result<(), AwsSetupError> {
    let parsed = url::Url::parse(url).map_err(|e| AwsSetupError::BadEndpoint {
        url: url.to_owned(),
        reason: format!(": {e}"),
    })?;
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Ok(());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let deadline = tokio::time::Instant::now() + WAIT_FOR_ENDPOINT;
    let mut told = false;
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((host, port)),
        )
        .await;
        let reason = match attempt {
            Ok(Ok(_)) | Err(_) => return Ok(()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused".to_owned()
            }
            // The resolver's failure has no kind of its own: any other error before a
            // connection is one of name resolution or routing, both a mistake at start.
            Ok(Err(e)) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(AwsSetupError::EndpointDown {
                url: url.to_owned(),
                reason,
            });
        }
        if !told {
            told = true;
            tracing::warn!(
                "nothing answers at --endpoint-url {url} ({reason}): trying again for {} s in \
                 case it is starting; if the host or port is mistyped, correct it",
                WAIT_FOR_ENDPOINT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn load(region: Option<&str>) -> aws_types::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build(),
    );
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    loader.load().await
}

/// No credentials anywhere in the chain.
fn no_credentials() -> AwsSetupError {
    AwsSetupError::NoCredentials {
        profile: std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()),
    }
}

fn credentials_failed(e: CredentialsError) -> AwsSetupError {
    match e {
        CredentialsError::CredentialsNotLoaded(_) => no_credentials(),
        e => AwsSetupError::Credentials(AwsError::from_credentials(&e)),
    }
}

/// A CloudWatch Logs client from the standard AWS configuration chain, with an optional endpoint
/// override (a local CloudWatch Logs API such as moto), assuming `role` when given: see
/// [`sdk_config`].
pub async fn connect(
    endpoint_url: Option<&str>,
    region: Option<&str>,
    role: Option<&AssumeRole>,
) -> Result<(Client, Target), AwsSetupError> {
    let (config, target) = sdk_config(endpoint_url, region, role, "logs").await?;
    Ok((Client::new(&config), target))
}

/// The configuration every AWS client of a command is made from (CloudWatch Logs, or SQS and S3
/// for `forward --sqs-queue-url`): the standard chain, an optional endpoint override (a local
/// AWS API such as moto, for every service), and `role` when given, assumed with STS (through
/// aws-config's `AssumeRoleProvider`, which refreshes the credentials before they expire) from
/// the standard chain's credentials. STS is reached at its usual endpoint
/// (`AWS_ENDPOINT_URL_STS` changes it), never at `endpoint_url`. Region and credentials (and
/// the role) are resolved here, so a missing or refused one fails at start with its reason
/// rather than as retries of every read. `service` is the endpoint's host name prefix (`logs`,
/// `sqs`), for messages.
pub async fn sdk_config(
    endpoint_url: Option<&str>,
    region: Option<&str>,
    role: Option<&AssumeRole>,
    service: &str,
) -> Result<(aws_types::SdkConfig, Target), AwsSetupError> {
    use aws_config::sts::AssumeRoleProvider;
    if let Some(url) = endpoint_url {
        check_endpoint(url)?;
    }
    let base = load(region).await;
    let region = base.region().ok_or(AwsSetupError::NoRegion)?.to_string();
    let target = Target {
        endpoint: endpoint_url
            .map(str::to_owned)
            .unwrap_or_else(|| format!("https://{service}.{region}.amazonaws.com")),
        region,
    };
    let chain = base.credentials_provider().ok_or_else(no_credentials)?;
    chain
        .provide_credentials()
        .await
        .map_err(credentials_failed)?;
    let mut config = base.to_builder();
    if let Some(role) = role {
        let mut builder = AssumeRoleProvider::builder(role.role_arn.clone())
            .session_name(role.session_name.clone())
            .configure(&base);
        if let Some(id) = &role.external_id {
            builder = builder.external_id(id.clone());
        }
        let provider = builder.build().await;
        if let Err(e) = provider.provide_credentials().await {
            return Err(AwsSetupError::AssumeRole {
                role_arn: role.role_arn.clone(),
                error: AwsError::from_credentials(&e),
            });
        }
        config = config.credentials_provider(SharedCredentialsProvider::new(provider));
    }
    if let Some(url) = endpoint_url {
        // After region and credentials: a missing one is the first thing to fix.
        check_listening(url).await?;
        config = config.endpoint_url(url);
    }
    Ok((config.build(), target))
}

/// What the standard AWS chain would give, for `config check`.
#[derive(Debug, Clone)]
pub struct AwsEnvironment {
    /// `None`: no region anywhere.
    pub region: Option<String>,
    /// The source of the credentials that would be used, or why there are none.
    pub credentials: Result<&'static str, String>,
}

/// The region and which source of the standard chain would give the credentials, found by
/// asking each in the chain's order (the chain itself does not tell which one answered).
pub async fn environment(region: Option<&str>) -> AwsEnvironment {
    use aws_config::{ecs, environment, imds, profile, web_identity_token};
    let base = load(region).await;
    let sources: [(&'static str, SharedCredentialsProvider); 5] = [
        (
            "the environment (AWS_ACCESS_KEY_ID)",
            SharedCredentialsProvider::new(
                environment::EnvironmentVariableCredentialsProvider::new(),
            ),
        ),
        (
            "the shared AWS files (profile, SSO, credential process)",
            SharedCredentialsProvider::new(
                profile::ProfileFileCredentialsProvider::builder().build(),
            ),
        ),
        (
            "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
            SharedCredentialsProvider::new(
                web_identity_token::WebIdentityTokenCredentialsProvider::builder().build(),
            ),
        ),
        (
            "the ECS container role",
            SharedCredentialsProvider::new(ecs::EcsCredentialsProvider::builder().build()),
        ),
        (
            "EC2 instance metadata (IMDS)",
            SharedCredentialsProvider::new(
                imds::credentials::ImdsCredentialsProvider::builder().build(),
            ),
        ),
    ];
    let mut credentials = Err(no_credentials().to_string());
    for (name, provider) in sources {
        match provider.provide_credentials().await {
            Ok(_) => {
                credentials = Ok(name);
                break;
            }
            Err(CredentialsError::CredentialsNotLoaded(_)) => continue,
            Err(e) => {
                credentials = Err(format!("{name}: {}", AwsError::from_credentials(&e)));
                break;
            }
        }
    }
    AwsEnvironment {
        region: base.region().map(ToString::to_string),
        credentials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_must_be_an_http_url() {
        assert!(check_endpoint("http://127.0.0.1:4566").is_ok());
        assert!(check_endpoint("https://logs.eu-west-1.amazonaws.com").is_ok());
        let e = check_endpoint("logs.eu-west-1.amazonaws.com").unwrap_err();
        assert_eq!(e.kind(), AwsFailure::Configuration);
        assert!(e.to_string().contains("--endpoint-url"), "{e}");
        assert!(check_endpoint("ftp://x").is_err());
    }
}

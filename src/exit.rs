//! Process exit codes, documented in the README ("Exit codes"). A supervisor (systemd, Kubernetes,
//! cron) can tell from them whether a restart can help.
//!
//! | code | meaning | a restart helps? |
//! |---|---|---|
//! | 0 | success; also a SIGINT/SIGTERM that drained and saved the checkpoint | — |
//! | 1 | any other error (a bad file, TLS, a document refused as a whole...) | maybe |
//! | 2 | invalid command line, environment or configuration file | no: fix the configuration |
//! | 3 | authentication or authorization refused (OpenSearch 401/403, AWS credentials, assume-role) | no: fix credentials or permissions |
//! | 4 | OpenSearch or CloudWatch Logs unreachable, or kept failing until the retry limit | yes, later |
//! | 130 | a second SIGINT/SIGTERM stopped the process before it had drained | yes: what was not acknowledged is read again |

use crate::config::ConfigError;
use crate::pipeline::PipelineError;
use crate::sink::opensearch::ConnectError;
use crate::sink::SinkError;
use crate::source::cloudwatch::{AssumeRoleError, SourceError};

pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const AUTH: u8 = crate::commands::EXIT_AUTH;
pub const UNREACHABLE: u8 = 4;
pub const INTERRUPTED: u8 = 130;

/// A usage error found after parsing (a missing combination of flags, a value clap cannot check):
/// exit code 2, like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// An AWS credentials or permission failure (assume-role refused, access denied): exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AwsAuthError(pub String);

/// AWS error codes that mean "these credentials are not accepted or not allowed".
const AWS_AUTH_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
];

/// Whether an AWS error text names one of the credential or permission error codes.
pub fn is_aws_auth_message(message: &str) -> bool {
    message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| AWS_AUTH_CODES.contains(&word))
}

/// The exit code for an error: the first cause in the chain that says something decides.
pub fn code(error: &anyhow::Error) -> u8 {
    // Authentication first: it is the most specific (and what `commands::exit_code` decides).
    if crate::commands::exit_code(error) == AUTH {
        return AUTH;
    }
    for cause in error.chain() {
        if cause.is::<ConfigError>() || cause.is::<UsageError>() || cause.is::<clap::Error>() {
            return USAGE;
        }
        if cause.is::<AwsAuthError>() {
            return AUTH;
        }
        if let Some(e) = cause.downcast_ref::<ConnectError>() {
            return match e {
                ConnectError::Unreachable { .. } => UNREACHABLE,
                _ => FAILURE,
            };
        }
        // `PipelineError::Sink` is transparent: the chain goes from it straight past the
        // `SinkError` to that error's own source, so it is looked into here.
        let sink = match cause.downcast_ref::<PipelineError>() {
            Some(PipelineError::Sink(e)) => Some(e),
            _ => cause.downcast_ref::<SinkError>(),
        };
        if let Some(e) = sink {
            return match e {
                SinkError::GaveUp { .. } => UNREACHABLE,
                SinkError::Auth { .. } => AUTH,
                _ => FAILURE,
            };
        }
        if let Some(e) = cause.downcast_ref::<AssumeRoleError>() {
            return if is_aws_auth_message(&e.message) {
                AUTH
            } else if e.message.contains("dispatch failure") || e.message.contains("timed out") {
                UNREACHABLE
            } else {
                FAILURE
            };
        }
        if let Some(e) = cause.downcast_ref::<SourceError>() {
            return match e {
                SourceError::GaveUp { .. } => UNREACHABLE,
                SourceError::Filter { message, .. } | SourceError::Describe(message)
                    if is_aws_auth_message(message) =>
                {
                    AUTH
                }
                _ => FAILURE,
            };
        }
    }
    FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_kind_of_error_has_its_code() {
        let config: anyhow::Error = ConfigError::Invalid("x".into()).into();
        assert_eq!(code(&config.context("loading")), USAGE);
        let usage: anyhow::Error = UsageError("name a log group".into()).into();
        assert_eq!(code(&usage), USAGE);
        let auth: anyhow::Error = ConnectError::Auth {
            url: "u".into(),
            status: 401,
        }
        .into();
        assert_eq!(code(&auth), AUTH);
        let unreachable: anyhow::Error = ConnectError::Unreachable {
            url: "u".into(),
            message: "refused".into(),
        }
        .into();
        assert_eq!(code(&unreachable), UNREACHABLE);
        let gave_up: anyhow::Error = SourceError::GaveUp {
            log_group: "g".into(),
            elapsed: Duration::from_secs(600),
            message: "dispatch failure".into(),
        }
        .into();
        assert_eq!(code(&gave_up.context("polling log group g")), UNREACHABLE);
        let denied: anyhow::Error = SourceError::Filter {
            log_group: "g".into(),
            message: "service error: AccessDeniedException: not authorized".into(),
        }
        .into();
        assert_eq!(code(&denied), AUTH);
        let other: anyhow::Error = SourceError::NoSuchGroup {
            log_group: "g".into(),
        }
        .into();
        assert_eq!(code(&other), FAILURE);
        let sink_gave_up = || SinkError::GaveUp {
            url: "u".into(),
            pending: 3,
            elapsed: Duration::from_secs(900),
            last_error: "HTTP 503".into(),
        };
        let pipeline: anyhow::Error = PipelineError::from(sink_gave_up()).into();
        assert_eq!(code(&pipeline.context("ingesting")), UNREACHABLE);
        let direct: anyhow::Error = sink_gave_up().into();
        assert_eq!(code(&direct), UNREACHABLE);
        let refused: anyhow::Error = PipelineError::from(SinkError::Refused {
            url: "u".into(),
            status: 400,
            body: "bad".into(),
        })
        .into();
        assert_eq!(code(&refused), FAILURE);
        let denied: anyhow::Error = PipelineError::from(SinkError::Auth {
            url: "u".into(),
            status: 403,
            body: "no permissions".into(),
        })
        .into();
        assert_eq!(code(&denied), AUTH);
        assert_eq!(code(&anyhow::anyhow!("anything")), FAILURE);
    }

    #[test]
    fn auth_codes_are_whole_words() {
        assert!(is_aws_auth_message(
            "ExpiredTokenException: the security token included in the request is expired"
        ));
        assert!(!is_aws_auth_message("NotAccessDeniedException happened"));
    }
}

//! An AWS call that failed, kept typed: what kind of failure it is (decided from the SDK's error
//! variant and the service's error code, never from the text) and a message for a person (the
//! causes' Display, never the SDK's Debug dump). The exit code is decided from the kind.

use crate::transport::{chain_text_with, each_cause, wire_failure, WireFailure};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_cloudwatchlogs::config::http::HttpResponse;
use aws_sdk_cloudwatchlogs::error::{
    ConnectorError, ErrorMetadata, ProvideErrorMetadata, SdkError,
};

/// What kind of failure an AWS call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFailure {
    /// The credentials were refused or a permission denied.
    Auth,
    /// The configuration points at the wrong thing: `https://` to a plain-HTTP server, an
    /// endpoint that is not the AWS API, a broken profile.
    Configuration,
    /// Throttled, timed out, unreachable, a server error: a later try may work.
    Transient,
    /// Any other error the service reported.
    Other,
}

/// A failed AWS call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    pub kind: AwsFailure,
    /// The service's error code (`AccessDeniedException`...), when it sent one.
    pub code: Option<String>,
    pub message: String,
}

/// AWS error codes that mean "these credentials are not accepted or not allowed" (the AWS API
/// references' common errors, and STS's and CloudWatch Logs' own).
const AUTH_CODES: &[&str] = &[
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

/// Error codes of a busy service: retry later.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ServiceUnavailableException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
];

/// An error and its causes for a person: the SDK's `ErrorMetadata` (whose Display is a debug
/// struct) as `Code: message`.
fn text(e: &(dyn std::error::Error + 'static)) -> String {
    chain_text_with(e, &|cause| {
        let meta = cause.downcast_ref::<ErrorMetadata>()?;
        Some(match (meta.code(), meta.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_owned(),
            (None, Some(m)) => m.to_owned(),
            (None, None) => String::new(),
        })
    })
}

fn kind_of_code(code: &str) -> Option<AwsFailure> {
    if AUTH_CODES.contains(&code) {
        Some(AwsFailure::Auth)
    } else if TRANSIENT_CODES.contains(&code) {
        Some(AwsFailure::Transient)
    } else {
        None
    }
}

/// The first bytes of a body, on one line.
fn first_bytes(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What answered, for a message: status, Server header, the first bytes of the body.
fn what_answered(response: &HttpResponse) -> String {
    let mut out = format!("HTTP {}", response.status().as_u16());
    if let Some(server) = response.headers().get("server") {
        out.push_str(&format!(", Server: {server}"));
    }
    match response.body().bytes().map(first_bytes) {
        Some(body) if !body.is_empty() => out.push_str(&format!(", body: {body}")),
        _ => out.push_str(", empty body"),
    }
    out
}

impl AwsError {
    /// The failure of a call to `service` (e.g. "CloudWatch Logs") at `endpoint`.
    pub fn from_sdk<E>(error: &SdkError<E, HttpResponse>, service: &str, endpoint: &str) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = error.code().map(str::to_owned);
        let describe = || text(error);
        let (kind, message) = match error {
            SdkError::ServiceError(e) => {
                let response = e.raw();
                let status = response.status();
                match code.as_deref() {
                    Some(c) => (
                        kind_of_code(c).unwrap_or(if status.is_server_error() {
                            AwsFailure::Transient
                        } else {
                            AwsFailure::Other
                        }),
                        describe(),
                    ),
                    None if status.is_server_error() => (AwsFailure::Transient, describe()),
                    // Every AWS API error names its code: an answer without one came from
                    // something else (a web server, a proxy, OpenSearch...).
                    None => (
                        AwsFailure::Configuration,
                        format!(
                            "{endpoint} does not answer as the {service} API ({}): check \
                             --endpoint-url",
                            what_answered(response)
                        ),
                    ),
                }
            }
            SdkError::DispatchFailure(_) => match wire_failure(error) {
                WireFailure::NotTls => (
                    AwsFailure::Configuration,
                    format!(
                        "{endpoint}: this server does not speak TLS: use http:// instead of \
                         https:// ({})",
                        describe()
                    ),
                ),
                WireFailure::Tls => (AwsFailure::Other, describe()),
                WireFailure::Network => (AwsFailure::Transient, describe()),
            },
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                (AwsFailure::Transient, describe())
            }
            _ => (AwsFailure::Other, describe()),
        };
        AwsError {
            kind,
            code,
            message,
        }
    }

    /// The failure of a credentials provider (the default chain, or assuming a role with STS).
    pub fn from_credentials(error: &CredentialsError) -> Self {
        let mut code: Option<String> = None;
        let mut network = false;
        let mut not_tls = false;
        each_cause(error, &mut |cause| {
            if let Some(meta) = cause.downcast_ref::<ErrorMetadata>() {
                code = code.take().or_else(|| meta.code().map(str::to_owned));
            }
            // The network, not a file (an SSO token missing from its cache is an io::Error too).
            let io_network = cause.downcast_ref::<std::io::Error>().is_some_and(|e| {
                use std::io::ErrorKind::*;
                matches!(
                    e.kind(),
                    ConnectionRefused
                        | ConnectionReset
                        | ConnectionAborted
                        | NotConnected
                        | AddrNotAvailable
                        | TimedOut
                )
            });
            if cause.is::<ConnectorError>() || io_network {
                network = true;
            }
        });
        if network {
            not_tls = wire_failure(error) == WireFailure::NotTls;
        }
        let kind = match error {
            CredentialsError::ProviderTimedOut(_) => AwsFailure::Transient,
            CredentialsError::InvalidConfiguration(_) => AwsFailure::Configuration,
            _ if not_tls => AwsFailure::Configuration,
            _ => match code.as_deref().and_then(kind_of_code) {
                Some(kind) => kind,
                None if network => AwsFailure::Transient,
                // The provider had what it needed and could not turn it into credentials (an
                // SSO session not logged in or expired, a role refused in its own words):
                // the credentials need fixing, a retry will not help.
                None if matches!(error, CredentialsError::ProviderError(_)) => AwsFailure::Auth,
                None => AwsFailure::Other,
            },
        };
        let mut message = text(error);
        if not_tls {
            message.push_str(": this server does not speak TLS: use http://");
        }
        AwsError {
            kind,
            code,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_the_kind_as_whole_codes() {
        assert_eq!(
            kind_of_code("ExpiredTokenException"),
            Some(AwsFailure::Auth)
        );
        assert_eq!(
            kind_of_code("ThrottlingException"),
            Some(AwsFailure::Transient)
        );
        assert_eq!(kind_of_code("NotAccessDeniedException"), None);
    }

    #[test]
    fn a_refusal_inside_a_credentials_error_is_auth() {
        let meta = ErrorMetadata::builder()
            .code("AccessDenied")
            .message("not authorized to perform sts:AssumeRole")
            .build();
        let e = CredentialsError::provider_error(meta);
        let got = AwsError::from_credentials(&e);
        assert_eq!(got.kind, AwsFailure::Auth);
        assert_eq!(got.code.as_deref(), Some("AccessDenied"));
        assert!(got.message.contains("AccessDenied"), "{}", got.message);
        // A file missing (an SSO token not in its cache) is not the network.
        let missing =
            CredentialsError::provider_error(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(AwsError::from_credentials(&missing).kind, AwsFailure::Auth);
        let refused = CredentialsError::provider_error(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        ));
        assert_eq!(
            AwsError::from_credentials(&refused).kind,
            AwsFailure::Transient
        );
        let timed_out = CredentialsError::provider_timed_out(std::time::Duration::from_secs(5));
        assert_eq!(
            AwsError::from_credentials(&timed_out).kind,
            AwsFailure::Transient
        );
    }
}

//! Process exit codes: the one place they are decided, from the type of the error (never its
//! text). The table (what each means, whether a restart helps) is in the README, "Exit codes": a
//! supervisor (systemd, Kubernetes, cron) can tell from them whether a restart can help.

use crate::audit::policy::PolicyError;
use crate::audit::AuditError;
use crate::config::ConfigError;
use crate::findings::registry::RegistryError;
use crate::findings::FindingsError;
use crate::lineage::LineageError;
use crate::pipeline::PipelineError;
use crate::sink::opensearch::ConnectError;
use crate::sink::SinkError;
use crate::source::aws_client::AwsSetupError;
use crate::source::aws_error::AwsFailure;
use crate::source::cloudwatch::SourceError;
use crate::source::poller::PollError;
use crate::source::s3::S3Error;
use crate::source::sqs::SqsError;

pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const AUTH: u8 = 3;
pub const UNREACHABLE: u8 = 4;
pub const INTERRUPTED: u8 = 130;

/// A usage error found after parsing (a missing combination of flags, a value clap cannot check):
/// exit code 2, like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn of_aws(kind: AwsFailure) -> u8 {
    match kind {
        AwsFailure::Auth => AUTH,
        AwsFailure::Configuration => USAGE,
        AwsFailure::Transient => UNREACHABLE,
        AwsFailure::Other => FAILURE,
    }
}

/// The exit code of one typed error; `None`: it does not say (look at its cause).
fn of(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    // A policy file that cannot be read or parsed is the user's to fix, as a flag is.
    if cause.is::<ConfigError>()
        || cause.is::<UsageError>()
        || cause.is::<clap::Error>()
        || cause.is::<PolicyError>()
    {
        return Some(USAGE);
    }
    if let Some(e) = cause.downcast_ref::<ConnectError>() {
        return Some(match e {
            ConnectError::Auth { .. } | ConnectError::Forbidden { .. } => AUTH,
            ConnectError::Unreachable { .. } => UNREACHABLE,
            ConnectError::NotTls { .. } | ConnectError::NotOpenSearch { .. } => USAGE,
            ConnectError::Build { .. }
            | ConnectError::Tls { .. }
            | ConnectError::File { .. }
            | ConnectError::Http { .. } => FAILURE,
        });
    }
    if let Some(e) = cause.downcast_ref::<SinkError>() {
        return match e {
            SinkError::Auth { .. } => Some(AUTH),
            SinkError::GaveUp { .. } => Some(UNREACHABLE),
            SinkError::Refused { .. } => Some(FAILURE),
            // The dead-letter file's own error: whatever its cause says.
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<AwsSetupError>() {
        return Some(of_aws(e.kind()));
    }
    if let Some(e) = cause.downcast_ref::<S3Error>() {
        return e.aws_failure().map(of_aws);
    }
    if let Some(e) = cause.downcast_ref::<SqsError>() {
        return Some(of_aws(e.aws_failure()));
    }
    if let Some(e) = cause.downcast_ref::<SourceError>() {
        return e.aws_failure().map(of_aws);
    }
    if let Some(e) = cause.downcast_ref::<FindingsError>() {
        return match e {
            FindingsError::Connect(e) => of(e),
            FindingsError::Policies(e) => of(e),
            FindingsError::Lineage(e) => of(e),
            FindingsError::Forbidden { .. } => Some(AUTH),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<AuditError>() {
        return match e {
            AuditError::Connect(e) => of(e),
            AuditError::Lineage(e) => of(e),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<LineageError>() {
        return match e {
            LineageError::Connect(e) => of(e),
            LineageError::Forbidden { .. } => Some(AUTH),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<RegistryError>() {
        return match e {
            RegistryError::Connect(e) => of(e),
            RegistryError::Forbidden { .. } => Some(AUTH),
            _ => None,
        };
    }
    // Transparent wrappers: their `source()` skips the error they wrap.
    if let Some(e) = cause.downcast_ref::<PipelineError>() {
        return match e {
            PipelineError::Sink(e) => of(e),
            PipelineError::DeadLetter(e) => of(e),
            PipelineError::Findings(e) => of(e),
            PipelineError::Lineage(e) => of(e),
            PipelineError::Cancelled => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<PollError>() {
        return match e {
            PollError::Source(e) => of(e),
            PollError::Checkpoint(e) => of(e),
            PollError::PipelineGone(_) => None,
        };
    }
    None
}

/// The exit code for an error: the first error in the chain of causes whose type decides.
/// The one place exit codes are decided.
pub fn code(error: &anyhow::Error) -> u8 {
    error.chain().find_map(of).unwrap_or(FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::aws_client::Target;
    use crate::source::aws_error::AwsError;
    use std::time::Duration;

    fn aws(kind: AwsFailure) -> AwsError {
        AwsError {
            kind,
            code: None,
            message: "m".into(),
        }
    }

    fn target() -> Target {
        Target {
            region: "us-east-1".into(),
            endpoint: "http://127.0.0.1:1".into(),
        }
    }

    #[test]
    fn each_kind_of_error_has_its_code() {
        let s3 = |kind| -> anyhow::Error {
            S3Error::Get {
                bucket: "b".into(),
                key: "k".into(),
                error: AwsError {
                    kind,
                    code: None,
                    message: "m".into(),
                },
            }
            .into()
        };
        assert_eq!(code(&s3(AwsFailure::Auth).context("reading")), AUTH);
        assert_eq!(code(&s3(AwsFailure::Transient)), UNREACHABLE);
        assert_eq!(code(&s3(AwsFailure::Other)), FAILURE);
        let config: anyhow::Error = ConfigError::Invalid("x".into()).into();
        assert_eq!(code(&config.context("loading")), USAGE);
        let usage: anyhow::Error = UsageError("name a log group".into()).into();
        assert_eq!(code(&usage), USAGE);
        let auth: anyhow::Error = ConnectError::Auth {
            url: "u".into(),
            status: 401,
        }
        .into();
        assert_eq!(code(&auth.context("connecting")), AUTH);
        let unreachable: anyhow::Error = ConnectError::Unreachable {
            url: "u".into(),
            message: "refused".into(),
        }
        .into();
        assert_eq!(code(&unreachable), UNREACHABLE);
        let not_os: anyhow::Error = ConnectError::NotOpenSearch {
            url: "u".into(),
            answered: "HTTP 200".into(),
        }
        .into();
        assert_eq!(code(&not_os), USAGE);
        let gave_up: anyhow::Error = SourceError::GaveUp {
            log_group: "g".into(),
            target: target(),
            elapsed: Duration::from_secs(600),
            error: aws(AwsFailure::Transient),
        }
        .into();
        assert_eq!(code(&gave_up.context("polling log group g")), UNREACHABLE);
        let denied: anyhow::Error = SourceError::Filter {
            log_group: "g".into(),
            target: target(),
            error: aws(AwsFailure::Auth),
        }
        .into();
        assert_eq!(code(&denied), AUTH);
        let not_tls: anyhow::Error = SourceError::Filter {
            log_group: "g".into(),
            target: target(),
            error: aws(AwsFailure::Configuration),
        }
        .into();
        assert_eq!(code(&not_tls), USAGE);
        // As `forward` returns it: inside the poller's error, inside a context.
        let polled: anyhow::Error = PollError::Source(SourceError::Filter {
            log_group: "g".into(),
            target: target(),
            error: aws(AwsFailure::Configuration),
        })
        .into();
        assert_eq!(code(&polled.context("polling log group g")), USAGE);
        // `forward --sqs-queue-url`: a queue that is not there is a mistake to fix; SQS
        // refusing or failing is told as every AWS failure.
        let no_queue: anyhow::Error = SqsError::NoSuchQueue {
            queue: "q".into(),
            endpoint: "e".into(),
        }
        .into();
        assert_eq!(code(&no_queue), USAGE);
        let sqs = |kind| -> anyhow::Error {
            SqsError::Call {
                action: "receive messages",
                queue: "q".into(),
                error: aws(kind),
            }
            .into()
        };
        assert_eq!(code(&sqs(AwsFailure::Auth)), AUTH);
        assert_eq!(
            code(&sqs(AwsFailure::Transient).context("SQS kept failing")),
            UNREACHABLE
        );
        // The lineage index refused for lack of a permission: at start, in the pipeline (a
        // failed batch), inside the findings (their roots) and inside audit.
        let forbidden = || LineageError::refused("creating the lineage index", 403, &"x".into());
        assert!(matches!(forbidden(), LineageError::Forbidden { .. }));
        assert!(forbidden().to_string().contains("--no-lineage"));
        let start: anyhow::Error = forbidden().into();
        assert_eq!(code(&start.context("starting")), AUTH);
        let batch: anyhow::Error = PipelineError::Lineage(forbidden()).into();
        assert_eq!(code(&batch), AUTH);
        let roots: anyhow::Error = FindingsError::Lineage(forbidden()).into();
        assert_eq!(code(&roots), AUTH);
        let audit: anyhow::Error = AuditError::Lineage(forbidden()).into();
        assert_eq!(code(&audit.context("auditing")), AUTH);
        let refused: anyhow::Error =
            LineageError::refused("writing lineage", 500, &"x".into()).into();
        assert_eq!(code(&refused), FAILURE);
        let no_region: anyhow::Error = AwsSetupError::NoRegion.into();
        assert_eq!(code(&no_region), USAGE);
        let no_credentials: anyhow::Error = AwsSetupError::NoCredentials { profile: None }.into();
        assert_eq!(code(&no_credentials), AUTH);
        let other: anyhow::Error = SourceError::NoSuchGroup {
            log_group: "g".into(),
            target: target(),
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
}

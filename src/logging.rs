//! Logs with `tracing`, on stderr: human text (colours only on a terminal, and never with
//! `NO_COLOR`), or one JSON object per line with `--log-format json` for collectors.
//!
//! Levels: `TRAILSCOPE_LOG` takes an `EnvFilter` directive (`debug`, `trailscope=trace`...); the
//! default is `info` for trailscope and `error` for the AWS SDK. At `info` there is one line per
//! notable event (start, a poll of a group, a retry, a stop), never one per CloudTrail event.
//!
//! Secrets: passwords are `crate::secret::Secret` (printed `***`) and are never put in a field;
//! AWS credentials stay inside the AWS SDK, whose own logs are at `warn` unless asked for.

use clap::ValueEnum;
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, message and the fields.
    Json,
}

/// The default filter when `TRAILSCOPE_LOG` is not set. The AWS SDK's own warnings are left
/// out: they carry Debug dumps of its errors (a multi-KB `FailedToLoadToken(...)` per IMDS probe
/// off EC2), and what they lead to is reported by trailscope itself, in a sentence (no region,
/// no credentials, a failed call). `TRAILSCOPE_LOG=info,aws_config=debug` shows them. The TLS
/// certificate verifier logs each refused certificate at ERROR, which the error trailscope
/// reports already says (with what to do): it is off.
pub const DEFAULT_FILTER: &str =
    "info,aws_config=error,aws_smithy_runtime=error,rustls_platform_verifier=off";

/// Whether text logs are coloured: stderr is a terminal and `NO_COLOR` is not set.
pub fn use_ansi() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// stderr, with any progress bars cleared while a line is written (each log line arrives in
/// one write).
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match crate::progress::active_bars() {
            Some(bars) => bars.suspend(|| std::io::stderr().write_all(buf).map(|()| buf.len())),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the global subscriber (once, at start).
pub fn init(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TRAILSCOPE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter);
    match format {
        LogFormat::Text => builder.with_ansi(use_ansi()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// Reports the error that ends the process: the message with its causes on one line (`a: b`),
/// as text on stderr, or as one JSON log line (level ERROR, with the exit code) with
/// `--log-format json`. Never the Debug form: with `RUST_BACKTRACE` set, anyhow's Debug output
/// of an ordinary error is a backtrace. A closed stderr is not worth a panic.
pub fn report_error(format: LogFormat, error: &anyhow::Error, exit_code: u8) {
    use std::io::Write as _;
    match format {
        LogFormat::Text => {
            let _ = writeln!(std::io::stderr(), "Error: {error:#}");
        }
        LogFormat::Json => tracing::error!(exit_code, "{error:#}"),
    }
}

/// Awaits `call`; if it has not finished after `after`, logs a warning (once) saying what is
/// still awaited, so that a server that accepts and never answers is noticed in seconds, not
/// only when the request times out.
pub async fn warn_if_slow<F: std::future::Future>(
    call: F,
    after: std::time::Duration,
    what: impl FnOnce() -> String,
) -> F::Output {
    tokio::pin!(call);
    tokio::select! {
        done = &mut call => return done,
        _ = tokio::time::sleep(after) => {}
    }
    tracing::warn!(
        waited_secs = after.as_secs(),
        "{} (no answer after {} s)",
        what(),
        after.as_secs()
    );
    call.await
}

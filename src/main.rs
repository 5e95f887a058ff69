//! The `trailscope` command line. Parsing and error reporting only; the work is in the library.

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use trailscope::commands::{audit, config, forward, ingest, lambda, policy, retention, setup};
use trailscope::logging::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "trailscope",
    version,
    about = "What is this AWS identity actually doing? CloudTrail → OpenSearch, enriched."
)]
struct Cli {
    /// A TOML configuration file: keys are the long flag names with `_` (`opensearch_url`,
    /// `log_group = ["a", "b"]`). Precedence: flag > environment variable > file > default.
    #[arg(long, global = true, value_name = "FILE", env = "TRAILSCOPE_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr: text (coloured only on a terminal) or json (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TRAILSCOPE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Forward CloudTrail events from CloudWatch Logs log groups into OpenSearch.
    Forward(Box<forward::ForwardArgs>),
    /// Install or update the index template (and ISM policy where available).
    Setup(setup::SetupArgs),
    /// What one identity did (actions, user agents, sources, failures) compared with its policies.
    Audit(Box<audit::AuditArgs>),
    /// Index files or stdin: CloudTrail log files (S3 format, .json/.json.gz), NDJSON of
    /// CloudTrail records, CloudWatch Logs subscription payloads (raw or base64).
    Ingest(Box<ingest::IngestArgs>),
    /// Run as an AWS Lambda function behind a CloudWatch Logs subscription (directly or through
    /// Kinesis); configured from TRAILSCOPE_* environment variables. Named `bootstrap`, the
    /// binary runs this.
    Lambda(Box<lambda::LambdaArgs>),
    /// Register what an identity was granted (IAM policy documents): findings tell the actions
    /// outside it (`not_granted`), and `audit` compares with it. `policy set|show|remove|list`.
    Policy(policy::PolicyArgs),
    /// Delete the daily indices older than --keep (for clusters without the ISM plugin): the date
    /// comes from the index name; other indices are never touched.
    Retention(retention::RetentionArgs),
    /// Configuration: `config check [COMMAND] [FLAGS...]` validates and prints the effective
    /// configuration of a command (flag, env, file or default for each value; secrets masked).
    Config(config::ConfigArgs),
}

/// Exit codes (README, "Exit codes"; `trailscope::exit`): 0 success, 1 an error, 2 invalid
/// command line or configuration, 3 credentials or permission refused, 4 OpenSearch or
/// CloudWatch Logs unreachable, 130 stopped by a second signal before draining.
fn main() -> ExitCode {
    let args = lambda::bootstrap_args(std::env::args_os());
    // The configuration file becomes the flags' defaults before clap parses.
    let cli: Cli = match trailscope::config::parse(&args) {
        Ok(cli) => cli,
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "Error: {e}");
            return ExitCode::from(trailscope::exit::USAGE);
        }
    };
    // Before the runtime starts its threads: they take their malloc arenas at their first
    // allocation.
    match cli.command {
        Command::Forward(_) => malloc::tune(true),
        Command::Ingest(_) => malloc::tune(false),
        _ => {}
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the Tokio runtime")
        .block_on(main_async(cli))
}

async fn main_async(cli: Cli) -> ExitCode {
    let format = cli.log_format;
    logging::init(format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = trailscope::exit::code(&e);
            // The message and its causes (as returning the error from main would print them).
            logging::report_error(format, &e, code);
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Forward(args) => {
            let summary = forward::run(*args).await?;
            out(&format!("{}\n", serde_json::to_string(&summary)?))?;
        }
        Command::Setup(args) => setup::run(args).await?,
        Command::Audit(args) => out(&audit::run(*args).await?)?,
        Command::Ingest(args) => {
            let summary = ingest::run(*args).await?;
            out(&format!("{}\n", serde_json::to_string(&summary)?))?;
            // Exit 0 means nothing was lost: every event is indexed or in the dead-letter file
            // with its reason. Those in the file are said, even when there was nothing else.
            let s = &summary.stats;
            if s.dead_lettered > 0 {
                tracing::warn!(
                    dead_lettered = s.dead_lettered,
                    indexed = s.indexed,
                    "{} of {} events were not indexed: they are in the dead-letter file {} with \
                     the reason",
                    s.dead_lettered,
                    s.read,
                    summary.dead_letter_file.display()
                );
            }
            summary.check()?;
        }
        Command::Lambda(args) => lambda::run(*args).await?,
        Command::Retention(args) => retention::run(args).await?,
        Command::Policy(args) => out(&policy::run(args).await?)?,
        Command::Config(args) => match args.command {
            config::ConfigCommand::Check(check) => {
                out(&config::check(Cli::command(), cli.config, &check).await?)?
            }
        },
    }
    Ok(())
}

/// Writes the command's output on stdout. A reader that went away (`trailscope ... | head -1`)
/// is not an error: the rest is not wanted.
fn out(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// glibc's malloc, set up for `forward` and `ingest`, whose memory goes in waves: a
/// FilterLogEvents page (moto's are ~12 MB: the response body, collected in pieces and then
/// copied whole, and its parsed messages) comes and goes while batches of up to 5 MiB are built,
/// sent and dropped. With glibc's defaults, the freed memory stays with the process: every tokio
/// thread gets an arena of its own, each keeps its own high-water mark, and the threshold above
/// which blocks are mmap'ed (and unmapped when freed) rises to the largest block freed so far,
/// so 5-12 MB blocks end up inside the arenas among small long-lived ones, which keep them from
/// being trimmed. A 1M-event backfill from moto peaked at 125-139 MiB of RSS for ~40 MB live.
/// One arena and a fixed 128 KiB mmap threshold (glibc's initial one) gave 52 MiB at the same
/// events/s, for ~4 CPU-s more per 1M events in page faults (~16% of forward's own CPU).
/// `ingest` (CPU-bound) gets the one arena only: since its deliveries became tasks of their own
/// (bodies made on one thread, gzipped and freed on another) it peaked at 66-68 MiB in a 1M
/// backfill with the defaults, 63 MiB with batch and chunk bodies reused, 58-61 MiB with one
/// arena too. The fixed threshold would give 53 MiB, but at 280k page faults per 1M events
/// (the gzip output, item lists, ...) it cost 10-20% of ingest's CPU in the same runs (README
/// Benchmarks, the memory bound).
/// A setting given in the environment (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`,
/// `GLIBC_TUNABLES`) wins: glibc has applied it already.
mod malloc {
    /// One arena, and with `fixed_mmap_threshold` the 128 KiB threshold.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub fn tune(fixed_mmap_threshold: bool) {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        let settings = [
            ("MALLOC_ARENA_MAX", "arena_max", libc::M_ARENA_MAX, 1),
            (
                "MALLOC_MMAP_THRESHOLD_",
                "mmap_threshold",
                libc::M_MMAP_THRESHOLD,
                128 * 1024,
            ),
        ];
        let count = if fixed_mmap_threshold { 2 } else { 1 };
        for (env, tunable, param, value) in settings.into_iter().take(count) {
            if std::env::var_os(env).is_some() || tunables.contains(tunable) {
                continue;
            }
            // SAFETY: mallopt only sets a parameter of the allocator (under its own lock); a
            // value it refuses leaves the default in place (it returns 0, nothing to undo).
            unsafe {
                libc::mallopt(param, value);
            }
        }
    }

    /// Other allocators (musl, macOS) are left as they are.
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub fn tune(_fixed_mmap_threshold: bool) {}
}

//! The `trailscope` command line. Parsing and error reporting only; the work is in the library.

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use trailscope::commands::{audit, config, forward, ingest, lambda, retention, setup};
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
    Audit(audit::AuditArgs),
    /// Index files or stdin: CloudTrail log files (S3 format, .json/.json.gz), NDJSON of
    /// CloudTrail records, CloudWatch Logs subscription payloads (raw or base64).
    Ingest(ingest::IngestArgs),
    /// Run as an AWS Lambda function behind a CloudWatch Logs subscription (directly or through
    /// Kinesis); configured from TRAILSCOPE_* environment variables. Named `bootstrap`, the
    /// binary runs this.
    Lambda(lambda::LambdaArgs),
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
#[tokio::main]
async fn main() -> ExitCode {
    let args = lambda::bootstrap_args(std::env::args_os());
    // The configuration file becomes the flags' defaults before clap parses.
    let cli: Cli = match trailscope::config::parse(&args) {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(trailscope::exit::USAGE);
        }
    };
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
            println!("{}", serde_json::to_string(&summary)?);
        }
        Command::Setup(args) => setup::run(args).await?,
        Command::Audit(args) => print!("{}", audit::run(args).await?),
        Command::Ingest(args) => {
            let summary = ingest::run(args).await?;
            println!("{}", serde_json::to_string(&summary)?);
            summary.check()?;
        }
        Command::Lambda(args) => lambda::run(args).await?,
        Command::Retention(args) => retention::run(args).await?,
        Command::Config(args) => match args.command {
            config::ConfigCommand::Check(check) => {
                print!("{}", config::check(Cli::command(), cli.config, &check)?)
            }
        },
    }
    Ok(())
}

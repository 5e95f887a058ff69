//! The `trailscope` command line. Parsing and error reporting only; the work is in the library.

use anyhow::Result;
use clap::{Parser, Subcommand};
use trailscope::commands::{audit, forward, ingest, lambda, setup};

#[derive(Debug, Parser)]
#[command(
    name = "trailscope",
    version,
    about = "What is this AWS identity actually doing? CloudTrail → OpenSearch, enriched."
)]
struct Cli {
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
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TRAILSCOPE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse_from(lambda::bootstrap_args(std::env::args_os()));
    init_logging();
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
    }
    Ok(())
}

//! The `trailscope` command line. Parsing and error reporting only; the work is in the library.

use anyhow::Result;
use clap::{Parser, Subcommand};
use trailscope::commands::{audit, forward, setup};

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
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Forward(args) => {
            let summary = forward::run(*args).await?;
            println!("{}", serde_json::to_string(&summary)?);
        }
        Command::Setup(args) => setup::run(args).await?,
        Command::Audit(args) => print!("{}", audit::run(args).await?),
    }
    Ok(())
}

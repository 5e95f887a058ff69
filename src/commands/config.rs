//! `trailscope config check [COMMAND] [FLAGS...]`: validates the configuration a command would
//! run with (flags given here, `TRAILSCOPE_*` variables, the `--config` file, defaults) without
//! running it, and prints every effective value with where it came from, secrets masked. The
//! output is itself a valid TOML configuration file. Exits 2 when the configuration is invalid.

use crate::config::{ConfigError, ConfigFile, Origin, Setting};
use clap::{Args, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration of a command and print the effective values (where each came
    /// from: flag, env, file or default), secrets masked. Exits 2 when it is invalid.
    Check(CheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The command whose configuration to check; name it before its flags
    /// (`config check forward --concurrency 4`).
    #[arg(value_enum, default_value_t = Mode::Forward)]
    pub mode: Mode,
    /// Flags as they would be given to that command (they take precedence as usual).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "FLAGS"
    )]
    pub flags: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Forward,
    Ingest,
    Lambda,
    Setup,
    Audit,
    Retention,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Forward => "forward",
            Mode::Ingest => "ingest",
            Mode::Lambda => "lambda",
            Mode::Setup => "setup",
            Mode::Audit => "audit",
            Mode::Retention => "retention",
        }
    }
}

/// Masks the password of a URL (`https://user:secret@host` → `https://user:***@host`).
fn mask_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => text.to_owned(),
    }
}

fn toml_string(s: &str) -> String {
    // A TOML basic string is a JSON string for everything printed here.
    serde_json::to_string(s).expect("a string serialises")
}

fn render_value(setting: &Setting) -> String {
    let one = |v: &str| {
        let v = mask_url(v);
        match v.as_str() {
            "true" | "false" => v,
            _ if !v.is_empty() && v.parse::<f64>().is_ok() && !v.starts_with('+') => v,
            _ => toml_string(&v),
        }
    };
    if setting.multiple {
        format!(
            "[{}]",
            setting
                .values
                .iter()
                .map(|v| one(v))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        setting.values.first().map(|v| one(v)).unwrap_or_default()
    }
}

/// Checks that go beyond what clap checks, for the command being configured.
fn semantic_checks(mode: Mode, settings: &[Setting]) -> Vec<String> {
    let get = |k: &str| settings.iter().find(|s| s.key == k);
    let present = |k: &str| get(k).is_some_and(|s| s.values.iter().any(|v| !v.is_empty()));
    let mut problems = Vec::new();
    if mode == Mode::Forward {
        let logs = present("log_group") || present("log_group_prefix");
        match (logs, present("sqs_queue_url")) {
            (false, false) => problems.push(
                "name at least one log_group or log_group_prefix, or sqs_queue_url".to_owned(),
            ),
            (true, true) => problems.push(
                "sqs_queue_url cannot be given with log_group or log_group_prefix: one source \
                 per process"
                    .to_owned(),
            ),
            _ => {}
        }
    }
    for key in ["opensearch_password_file", "ca_cert", "geoip_db", "asn_db"] {
        if let Some(s) = get(key) {
            for v in &s.values {
                if let Err(e) = std::fs::metadata(v) {
                    problems.push(format!("{key}: cannot read {v}: {e}"));
                }
            }
        }
    }
    if present("opensearch_password_file")
        && std::env::var_os("TRAILSCOPE_OPENSEARCH_PASSWORD").is_some()
    {
        problems.push(
            "both TRAILSCOPE_OPENSEARCH_PASSWORD and opensearch_password_file are set: keep one"
                .to_owned(),
        );
    }
    if let Some(s) = get("since").filter(|_| mode == Mode::Forward) {
        for v in &s.values {
            if let Err(e) = super::forward::parse_since(v, chrono::Utc::now()) {
                problems.push(e.to_string());
            }
        }
    }
    problems
}

/// Runs the check against `base` (the whole command line definition of the binary) and returns
/// the report to print, or the configuration error (exit code 2).
pub async fn check(
    base: clap::Command,
    config: Option<PathBuf>,
    args: &CheckArgs,
) -> Result<String, ConfigError> {
    let file = config
        .or_else(|| {
            std::env::var_os(crate::config::CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .map(|p| ConfigFile::load(&p))
        .transpose()?;
    let mut cmd = match &file {
        Some(f) => f.apply(base)?,
        None => base,
    };
    let mut argv: Vec<OsString> = vec!["trailscope".into(), args.mode.name().into()];
    argv.extend(args.flags.iter().cloned());
    let matches = cmd.try_get_matches_from_mut(&argv).map_err(|e| {
        let text = e.render().to_string();
        let text = text.trim_end();
        ConfigError::Invalid(text.strip_prefix("error: ").unwrap_or(text).to_owned())
    })?;
    cmd.build();
    let sub = cmd
        .find_subcommand(args.mode.name())
        .expect("every mode is a subcommand");
    let sub_matches = matches
        .subcommand_matches(args.mode.name())
        .expect("the mode was parsed as a subcommand");
    let settings = crate::config::settings(sub, sub_matches, file.as_ref());
    let mut problems = semantic_checks(args.mode, &settings);
    // What the AWS chain gives `forward`: the same resolution it does at start.
    let aws = match args.mode {
        Mode::Forward => {
            let region = settings
                .iter()
                .find(|s| s.key == "region")
                .and_then(|s| s.values.first())
                .filter(|v| !v.is_empty());
            let aws = crate::source::aws_client::environment(region.map(String::as_str)).await;
            if aws.region.is_none() {
                problems.push(crate::source::aws_client::AwsSetupError::NoRegion.to_string());
            }
            Some(aws)
        }
        _ => None,
    };
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "the configuration of `trailscope {}` is invalid:\n  - {}",
            args.mode.name(),
            problems.join("\n  - ")
        )));
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# trailscope {}: effective configuration (precedence: flag > env > file > default)",
        args.mode.name()
    );
    match &file {
        Some(f) => {
            let _ = writeln!(out, "# configuration file: {}", f.path.display());
        }
        None => {
            let _ = writeln!(
                out,
                "# no configuration file (--config or TRAILSCOPE_CONFIG)"
            );
        }
    }
    let width = settings
        .iter()
        .map(|s| s.key.len() + render_value(s).len() + 3)
        .max()
        .unwrap_or(0);
    for s in &settings {
        let line = format!("{} = {}", s.key, render_value(s));
        let origin = match (s.origin, &s.env) {
            (Origin::Env, Some(env)) => format!("env {env}"),
            (o, _) => o.as_str().to_owned(),
        };
        let _ = writeln!(out, "{line:width$}  # {origin}");
    }
    // Secrets: said to be set, never shown.
    if std::env::var_os("TRAILSCOPE_OPENSEARCH_PASSWORD").is_some() {
        let _ = writeln!(
            out,
            "# opensearch password: *** (env TRAILSCOPE_OPENSEARCH_PASSWORD)"
        );
    }
    if let Some(aws) = aws {
        if let Some(region) = &aws.region {
            let _ = writeln!(out, "# aws region: {region}");
        }
        match &aws.credentials {
            Ok(source) => {
                let _ = writeln!(out, "# aws credentials: from {source}");
            }
            Err(why) => {
                let _ = writeln!(out, "# aws credentials: NONE: {why}");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url("https://u:hunter2@h:9200/"),
            "https://u:***@h:9200/"
        );
        assert_eq!(mask_url("http://h:9200"), "http://h:9200");
        assert_eq!(mask_url("not a url"), "not a url");
    }
}

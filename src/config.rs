//! The configuration file (`--config FILE`, or `TRAILSCOPE_CONFIG`), and its place in the
//! precedence: **flag > environment variable > file > built-in default**.
//!
//! The file is TOML with flat keys named after the long flags (`--opensearch-url` →
//! `opensearch_url`; `-` and `_` are the same): a list for a repeatable flag
//! (`log_group = ["a", "b"]`), a string, number or boolean otherwise. How it takes its place:
//! every key becomes the *default value* of its flag in the command line definition before clap
//! parses, so clap's own order (command line, then `env =`, then the default) gives the
//! precedence, and clap's own value parsers check the file's values like any other. No process
//! environment is changed.
//!
//! A key that is no flag of any subcommand is an error naming the key (a typo must not pass in
//! silence); a key of another subcommand is ignored, so one file can serve `setup` and `forward`.
//! Secrets have no key: the OpenSearch password comes from `TRAILSCOPE_OPENSEARCH_PASSWORD` or
//! `opensearch_password_file`, AWS credentials from the AWS chain.

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable naming the configuration file (as `--config` does).
pub const CONFIG_ENV: &str = "TRAILSCOPE_CONFIG";

/// Flag ids that are never file keys: the file itself, clap's own.
const NOT_KEYS: &[&str] = &["config", "help", "version"];

/// Keys refused with a hint, because they would put a secret in a file that is easily shared.
const SECRET_KEYS: &[(&str, &str)] = &[
    (
        "opensearch_password",
        "put the password in TRAILSCOPE_OPENSEARCH_PASSWORD or in a file named by \
         opensearch_password_file",
    ),
    (
        "aws_secret_access_key",
        "AWS credentials come from the standard AWS chain (environment, profile, SSO, web \
         identity, ECS/EC2 roles), or role_arn for a role to assume",
    ),
    (
        "aws_access_key_id",
        "AWS credentials come from the standard AWS chain (environment, profile, SSO, web \
         identity, ECS/EC2 roles), or role_arn for a role to assume",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("the configuration file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "the configuration file {path} has an unknown key `{key}`{hint}: keys are the long flag \
         names with `_` (see `trailscope <command> --help`)"
    )]
    UnknownKey {
        path: PathBuf,
        key: String,
        hint: String,
    },
    #[error("the configuration file {path} must not hold `{key}`: {hint}")]
    Secret {
        path: PathBuf,
        key: String,
        hint: &'static str,
    },
    #[error("the configuration file {path}: `{key}` {message}")]
    BadValue {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// The command line, environment and file together do not make a valid command (clap's
    /// message, which names the flag).
    #[error("{0}")]
    Invalid(String),
}

/// A loaded configuration file: each key (normalised to `_`) with its values as text.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub values: BTreeMap<String, Vec<String>>,
}

/// `_` for `-`: the key form of a long flag name.
pub fn key_of(long: &str) -> String {
    long.replace('-', "_")
}

/// Where the configuration file is: `--config FILE` / `--config=FILE` on the command line, else
/// `TRAILSCOPE_CONFIG`. Read before clap parses (the file changes what clap parses).
pub fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(a) = iter.next() {
        let Some(text) = a.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl ConfigFile {
    /// Reads and parses `path`. Values are kept as text for clap's value parsers.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let mut values = BTreeMap::new();
        for (raw_key, value) in table {
            let key = key_of(&raw_key);
            if let Some((_, hint)) = SECRET_KEYS.iter().find(|(k, _)| *k == key) {
                return Err(ConfigError::Secret {
                    path: path.to_owned(),
                    key,
                    hint,
                });
            }
            let bad = |message: &str| ConfigError::BadValue {
                path: path.to_owned(),
                key: raw_key.clone(),
                message: message.to_owned(),
            };
            let list = match value {
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|v| scalar(v).ok_or_else(|| bad("must be a list of strings or numbers")))
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other).ok_or_else(|| {
                    bad("must be a string, a number, a boolean or a list (tables have no meaning here)")
                })?],
            };
            values.insert(key, list);
        }
        Ok(ConfigFile {
            path: path.to_owned(),
            values,
        })
    }

    /// Makes each key the default value of its flag in `cmd` (root and every subcommand), after
    /// checking that every key is a flag somewhere.
    pub fn apply(&self, mut cmd: Command) -> Result<Command, ConfigError> {
        let known = known_keys(&cmd);
        for key in self.values.keys() {
            if !known.contains(key) {
                let hint = closest(key, &known)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                return Err(ConfigError::UnknownKey {
                    path: self.path.clone(),
                    key: key.clone(),
                    hint,
                });
            }
        }
        cmd = self.apply_to(cmd)?;
        Ok(cmd)
    }

    fn apply_to(&self, mut cmd: Command) -> Result<Command, ConfigError> {
        let ids: Vec<(String, String, bool)> = cmd
            .get_arguments()
            .filter(|a| !NOT_KEYS.contains(&a.get_id().as_str()))
            .filter_map(|a| {
                let long = a.get_long()?;
                let multiple = matches!(a.get_action(), ArgAction::Append);
                Some((a.get_id().to_string(), key_of(long), multiple))
            })
            .collect();
        for (id, key, multiple) in ids {
            let Some(values) = self.values.get(&key) else {
                continue;
            };
            if values.len() != 1 && !multiple {
                return Err(ConfigError::BadValue {
                    path: self.path.clone(),
                    key,
                    message: "takes one value, not a list".into(),
                });
            }
            // clap keeps defaults as `&'static str` (without its `string` feature): the few
            // values of one file live as long as the process anyway.
            let values: Vec<&'static str> = values
                .iter()
                .map(|v| &*Box::leak(v.clone().into_boxed_str()))
                .collect();
            cmd = cmd.mut_arg(id, |a| a.required(false).default_values(values));
        }
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        for name in names {
            let sub = cmd
                .find_subcommand(&name)
                .cloned()
                .expect("listed just above");
            let sub = self.apply_to(sub)?;
            cmd = cmd.mut_subcommand(&name, |_| sub);
        }
        Ok(cmd)
    }
}

fn scalar(value: toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// Every key a file may hold: the long flags of the root and of every subcommand.
pub fn known_keys(cmd: &Command) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for a in cmd.get_arguments() {
        if let Some(long) = a.get_long() {
            if !NOT_KEYS.contains(&a.get_id().as_str()) {
                keys.insert(key_of(long));
            }
        }
    }
    for sub in cmd.get_subcommands() {
        keys.extend(known_keys(sub));
    }
    keys
}

/// The known key nearest to a misspelt one (edit distance ≤ 3), for the error message.
fn closest<'a>(key: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    known
        .iter()
        .map(|k| (distance(key, k), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k.as_str())
}

/// The command line definition with the configuration file (if any) applied.
pub fn command_with_file(cmd: Command, args: &[OsString]) -> Result<Command, ConfigError> {
    match config_path(args) {
        Some(path) => ConfigFile::load(&path)?.apply(cmd),
        None => Ok(cmd),
    }
}

/// Parses the command line of `C` with the configuration file applied. clap errors (an invalid
/// command line, or an invalid value from the environment or the file) print and exit with 2, as
/// clap does; an unreadable or invalid file is returned.
pub fn parse<C: clap::CommandFactory + clap::FromArgMatches>(
    args: &[OsString],
) -> Result<C, ConfigError> {
    let mut cmd = command_with_file(C::command(), args)?;
    let matches = cmd
        .try_get_matches_from_mut(args)
        .unwrap_or_else(|e| e.exit());
    Ok(C::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit()))
}

/// Where one effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Flag,
    Env,
    File,
    Default,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Flag => "flag",
            Origin::Env => "env",
            Origin::File => "file",
            Origin::Default => "default",
        }
    }
}

/// One effective setting of a subcommand.
#[derive(Debug, Clone)]
pub struct Setting {
    pub key: String,
    /// The environment variable that sets it, if any.
    pub env: Option<String>,
    pub values: Vec<String>,
    pub multiple: bool,
    pub origin: Origin,
}

/// Every flag of `sub` (a built subcommand) that has a value in `matches`, with its origin.
pub fn settings(sub: &Command, matches: &ArgMatches, file: Option<&ConfigFile>) -> Vec<Setting> {
    let mut out = Vec::new();
    for a in sub.get_arguments() {
        let id = a.get_id().as_str();
        let Some(long) = a.get_long() else { continue };
        if NOT_KEYS.contains(&id) {
            continue;
        }
        let key = key_of(long);
        let Ok(Some(raw)) = matches.try_get_raw(id) else {
            continue;
        };
        let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
        let origin = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => Origin::Flag,
            Some(ValueSource::EnvVariable) => Origin::Env,
            _ if file.is_some_and(|f| f.values.contains_key(&key)) => Origin::File,
            _ => Origin::Default,
        };
        out.push(Setting {
            key,
            env: a.get_env().map(|e| e.to_string_lossy().into_owned()),
            values,
            multiple: matches!(a.get_action(), ArgAction::Append),
            origin,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

    #[derive(Debug, Parser)]
    struct Cli {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, Subcommand)]
    enum Sub {
        Run {
            #[arg(long, env = "TS_CONFIG_TEST_URL", required = true)]
            url: Option<String>,
            #[arg(long = "group", env = "TS_CONFIG_TEST_GROUPS", value_delimiter = ',')]
            groups: Vec<String>,
            #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10))]
            batch: u64,
            #[arg(long)]
            once: bool,
        },
        Other {
            #[arg(long, default_value = "x")]
            prefix: String,
        },
    }

    fn file(text: &str) -> ConfigFile {
        ConfigFile::parse(Path::new("test.toml"), text).unwrap()
    }

    fn run(text: &str, args: &[&str]) -> Result<Sub, String> {
        let cmd = file(text)
            .apply(Cli::command())
            .map_err(|e| e.to_string())?;
        let m = cmd.try_get_matches_from(args).map_err(|e| e.to_string())?;
        Ok(Cli::from_arg_matches(&m).unwrap().command)
    }

    #[test]
    fn file_values_are_defaults_under_flags() {
        let text = "url = \"http://file\"\ngroup = [\"a\", \"b\"]\nbatch = 7\nonce = true\n";
        let Sub::Run {
            url,
            groups,
            batch,
            once,
        } = run(text, &["t", "run"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(url.as_deref(), Some("http://file"));
        assert_eq!(groups, ["a", "b"]);
        assert_eq!((batch, once), (7, true));
        let Sub::Run { url, groups, .. } =
            run(text, &["t", "run", "--url", "http://flag", "--group", "c"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(url.as_deref(), Some("http://flag"));
        assert_eq!(groups, ["c"]);
    }

    #[test]
    fn file_values_are_checked_by_the_flag_parser() {
        let e = run("url = \"u\"\nbatch = 99\n", &["t", "run"]).unwrap_err();
        assert!(e.contains("--batch") && e.contains("99"), "{e}");
    }

    #[test]
    fn unknown_and_secret_keys_are_errors_naming_the_key() {
        let e = run("url = \"u\"\nbatchh = 3\n", &["t", "run"]).unwrap_err();
        assert!(
            e.contains("`batchh`") && e.contains("did you mean `batch`"),
            "{e}"
        );
        let e = ConfigFile::parse(Path::new("t.toml"), "opensearch_password = \"hunter2\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("opensearch_password") && !e.contains("hunter2"),
            "{e}"
        );
        let e = run("url = [\"a\", \"b\"]\n", &["t", "run"]).unwrap_err();
        assert!(e.contains("`url` takes one value"), "{e}");
        let e = ConfigFile::parse(Path::new("t.toml"), "[run]\nurl = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`run`") && e.contains("tables"), "{e}");
    }

    #[test]
    fn keys_of_other_subcommands_are_accepted() {
        let Sub::Other { prefix } = run("url = \"u\"\nprefix = \"p-\"\n", &["t", "other"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(prefix, "p-");
    }

    #[test]
    fn settings_report_where_each_value_came_from() {
        let f = file("url = \"http://file\"\nbatch = 7\n");
        let mut cmd = f.apply(Cli::command()).unwrap();
        let m = cmd
            .try_get_matches_from_mut(["t", "run", "--group", "g"])
            .unwrap();
        cmd.build();
        let sub = cmd.find_subcommand("run").unwrap();
        let s = settings(sub, m.subcommand_matches("run").unwrap(), Some(&f));
        let origin = |k: &str| s.iter().find(|s| s.key == k).map(|s| s.origin);
        assert_eq!(origin("url"), Some(Origin::File));
        assert_eq!(origin("group"), Some(Origin::Flag));
        assert_eq!(origin("batch"), Some(Origin::File));
        assert_eq!(origin("once"), Some(Origin::Default));
    }

    #[test]
    fn the_config_path_comes_from_the_flag_or_the_environment() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path(&args(&["t", "run", "--config", "a.toml"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            config_path(&args(&["t", "--config=b.toml", "run"])),
            Some(PathBuf::from("b.toml"))
        );
    }
}

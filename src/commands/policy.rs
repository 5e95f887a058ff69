//! `trailscope policy set|show|remove|list`: what an identity was granted, registered once so
//! that the findings of `forward`, `ingest` and `lambda` tell the actions outside it
//! (`not_granted`) and `audit` compares with it without `--policy`.

use super::{OpenSearchArgs, PoliciesArgs};
use crate::audit::policy::PolicyDocument;
use crate::exit::UsageError;
use crate::findings::registry::{self, Holder, Registration, StoredDocument};
use crate::sink::opensearch::Client;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Register the IAM policy documents an identity was granted (replacing any registered
    /// before); checked with audit's parser before anything is written.
    Set(SetArgs),
    /// Print the registration of an identity (JSON: the documents verbatim, when and by whom).
    Show(IdentityArgs),
    /// Remove the registration of an identity.
    Remove(IdentityArgs),
    /// One line per registered identity.
    List(ListArgs),
}

/// Whose policy: an access key or a principal ARN, as CloudTrail writes them.
#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("identity").required(true).multiple(false))]
pub struct Who {
    /// An access key ID (userIdentity.accessKeyId); its temporary keys from GetSessionToken
    /// and GetFederationToken are held to the same policy.
    #[arg(long, group = "identity")]
    pub access_key: Option<String>,
    /// An IAM user or role ARN (a role's policy holds for all its sessions).
    #[arg(long, group = "identity")]
    pub principal_arn: Option<String>,
}

impl Who {
    /// The identity, checked: a mistyped one would never match an event.
    fn identity(&self) -> Result<(Holder, &str), UsageError> {
        match (&self.access_key, &self.principal_arn) {
            (Some(key), _) => {
                let valid = (16..=128).contains(&key.len())
                    && key.starts_with('A')
                    && key.chars().all(|c| c.is_ascii_alphanumeric());
                if !valid {
                    return Err(UsageError(format!(
                        "--access-key {key:?} is not an access key ID (16 to 128 letters and \
                         digits, such as AKIAIOSFODNN7EXAMPLE)"
                    )));
                }
                Ok((Holder::AccessKey, key))
            }
            (_, Some(arn)) => {
                if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
                    return Err(UsageError(format!(
                        "--principal-arn {arn:?} is not an ARN (such as \
                         arn:aws:iam::111122223333:role/ci)"
                    )));
                }
                Ok((Holder::PrincipalArn, arn))
            }
            // clap's required group guarantees one of them.
            _ => unreachable!("clap requires one identity flag"),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub who: Who,
    /// IAM policy documents (JSON), evaluated together like policies attached to one identity.
    #[arg(required = true, value_name = "FILE.json")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub opensearch: OpenSearchArgs,
    #[command(flatten)]
    pub policies: PoliciesArgs,
}

#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    #[command(flatten)]
    pub who: Who,
    #[command(flatten)]
    pub opensearch: OpenSearchArgs,
    #[command(flatten)]
    pub policies: PoliciesArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub opensearch: OpenSearchArgs,
    #[command(flatten)]
    pub policies: PoliciesArgs,
}

/// Runs the subcommand and returns what it prints.
pub async fn run(args: PolicyArgs) -> Result<String> {
    match args.command {
        PolicyCommand::Set(a) => set(a).await,
        PolicyCommand::Show(a) => show(a).await,
        PolicyCommand::Remove(a) => remove(a).await,
        PolicyCommand::List(a) => list(a).await,
    }
}

async fn set(args: SetArgs) -> Result<String> {
    // Every check before the cluster is contacted: a mistake fails in a moment.
    let (holder, identity) = args.who.identity()?;
    let mut documents = Vec::with_capacity(args.files.len());
    for path in &args.files {
        // The same parser and sentences as `audit --policy`.
        PolicyDocument::load(path)?;
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // The file's name, not where it was on this machine.
        let name = path.file_name().unwrap_or(path.as_os_str());
        documents.push(StoredDocument {
            name: name.to_string_lossy().into_owned(),
            text,
        });
    }
    let options = args.opensearch.connect_options();
    let registered_by = options
        .username
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let client = Client::connect(&options)?;
    let index = &args.policies.policies_index;
    registry::ensure_index(&client, index).await?;
    let registration = Registration {
        identity: identity.to_owned(),
        identity_type: holder,
        registered_at: chrono::Utc::now(),
        registered_by,
        documents,
    };
    registry::put(&client, index, &registration).await?;
    let names: Vec<&str> = registration
        .documents
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    Ok(format!(
        "registered for {} {identity}: {} (in {index}). Findings of a running forward use it \
         within a minute; `audit` uses it when no --policy is given.\n",
        holder.label(),
        names.join(", ")
    ))
}

async fn show(args: IdentityArgs) -> Result<String> {
    let (holder, identity) = args.who.identity()?;
    let client = Client::connect(&args.opensearch.connect_options())?;
    let index = &args.policies.policies_index;
    match registry::get(&client, index, identity).await? {
        Some(r) => Ok(format!("{}\n", serde_json::to_string_pretty(&r)?)),
        None => bail!(
            "no policy is registered for {} {identity} in {index} (`trailscope policy list` \
             shows those that are)",
            holder.label()
        ),
    }
}

async fn remove(args: IdentityArgs) -> Result<String> {
    let (holder, identity) = args.who.identity()?;
    let client = Client::connect(&args.opensearch.connect_options())?;
    let index = &args.policies.policies_index;
    let label = holder.label();
    Ok(if registry::remove(&client, index, identity).await? {
        format!("removed the policy registered for {label} {identity}\n")
    } else {
        format!("no policy was registered for {label} {identity}: nothing to remove\n")
    })
}

async fn list(args: ListArgs) -> Result<String> {
    let client = Client::connect(&args.opensearch.connect_options())?;
    let (registrations, total) = registry::list(&client, &args.policies.policies_index).await?;
    let mut out = String::new();
    for r in &registrations {
        let names: Vec<&str> = r.documents.iter().map(|d| d.name.as_str()).collect();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            r.identity,
            r.identity_type.label(),
            names.join(","),
            r.registered_at.format("%Y-%m-%dT%H:%M:%SZ"),
            r.registered_by
        ));
    }
    if total as usize > registrations.len() {
        out.push_str(&format!(
            "... and {} more (the first {} by identity are listed)\n",
            total as usize - registrations.len(),
            registrations.len()
        ));
    }
    Ok(out)
}

//! `trailscope audit`: what one identity did in a period, from the events already in OpenSearch,
//! and how that compares with the IAM policies it was given.

use super::{OpenSearchArgs, PoliciesArgs};
use crate::audit::novelty::{self, MIN_BASELINE_DAYS};
use crate::audit::policy::{PolicyDocument, PolicySet};
use crate::audit::report::{self, Format};
use crate::audit::{self, AuditRequest, Identity, Period, TimeSpec};
use crate::findings::registry::{self, RegistryError};
use crate::sink::opensearch::Client;
use anyhow::{Context, Result};
use chrono::{DateTime, Timelike, Utc};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("identity").required(true).multiple(false))]
pub struct AuditArgs {
    /// The access key ID to audit (aws.cloudtrail.user_identity.access_key_id).
    #[arg(long, group = "identity")]
    pub access_key: Option<String>,
    /// An IAM user or role ARN, or an assumed-role session ARN; a role ARN also selects every
    /// session of that role.
    #[arg(long, group = "identity")]
    pub principal_arn: Option<String>,
    /// The session name of an assumed role or federated user
    /// (aws.cloudtrail.user_identity.session_name).
    #[arg(long, group = "identity")]
    pub role_session: Option<String>,
    /// Start of the period: RFC 3339, a date (UTC midnight) or an age such as 30d, 12h.
    #[arg(long, default_value = "30d")]
    pub since: TimeSpec,
    /// End of the period (excluded); now by default.
    #[arg(long)]
    pub until: Option<TimeSpec>,
    /// IAM policy document(s) the identity was given, to compare with what it used. Repeat the
    /// flag for several (they are evaluated together, like policies attached to one identity).
    /// Without it, the policy registered for --access-key or --principal-arn (`trailscope
    /// policy set`) is used when there is one; the report names it `registered:<file>`.
    #[arg(long = "policy", value_name = "FILE.json")]
    pub policies: Vec<PathBuf>,
    #[command(flatten)]
    pub registered: PoliciesArgs,
    /// Leave out the credentials the identity minted through STS (GetSessionToken, AssumeRole*,
    /// GetFederationToken) and the ones those minted: only its own events.
    #[arg(long)]
    pub no_derived: bool,
    #[command(flatten)]
    pub lineage: super::LineageArgs,
    /// How far before --since the baseline of "New in this period" reaches (an age such as 30d,
    /// 2w; at least 7d, the learning period).
    #[arg(long, default_value = "30d", value_parser = parse_baseline)]
    pub baseline: chrono::Duration,
    /// Authorization failures within one hour that make a "denied burst" when the baseline had
    /// none.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub denied_burst: u64,
    /// Leave out the "New in this period" section (and its two searches).
    #[arg(long)]
    pub no_baseline: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub opensearch: OpenSearchArgs,
    /// Indices searched: <prefix>*.
    #[arg(long, default_value = "cloudtrail-", env = "TRAILSCOPE_INDEX_PREFIX")]
    pub index_prefix: String,
}

impl AuditArgs {
    fn identity(&self) -> Identity {
        match (&self.access_key, &self.principal_arn, &self.role_session) {
            (Some(k), _, _) => Identity::AccessKey(k.clone()),
            (_, Some(a), _) => Identity::PrincipalArn(a.clone()),
            (_, _, Some(s)) => Identity::RoleSession(s.clone()),
            // clap's required group guarantees one of them.
            _ => unreachable!("clap requires one identity flag"),
        }
    }
}

/// `--baseline`: an age, not shorter than the learning period.
fn parse_baseline(s: &str) -> Result<chrono::Duration, String> {
    match s.parse::<TimeSpec>()? {
        TimeSpec::Ago(d) if d >= chrono::Duration::days(MIN_BASELINE_DAYS) => Ok(d),
        TimeSpec::Ago(_) => Err(format!(
            "a baseline shorter than {MIN_BASELINE_DAYS} days would call ordinary weekly habits \
             new: use {MIN_BASELINE_DAYS}d or more"
        )),
        TimeSpec::At(_) => Err("the baseline is a length, such as 30d or 2w, not a date".into()),
    }
}

/// `now` in whole seconds, for a period that reads as typed (`--since 30d` is not
/// `...T19:05:12.123456789Z`), rounded up so that [since, until) still holds the current second.
fn whole_second_up(now: DateTime<Utc>) -> DateTime<Utc> {
    let whole = now.with_nanosecond(0).unwrap_or(now);
    if whole == now {
        now
    } else {
        whole + chrono::Duration::seconds(1)
    }
}

/// The identity a policy can be registered for (`--role-session` names no identity of its own).
fn registered_identity(args: &AuditArgs) -> Option<&str> {
    args.access_key.as_deref().or(args.principal_arn.as_deref())
}

/// The documents registered for `identity`, none when there are none. A user who may not read
/// the registered policies gets the audit without them, told so.
async fn registered_policy(
    client: &Client,
    args: &AuditArgs,
    identity: &str,
) -> Result<Vec<PolicyDocument>> {
    let index = &args.registered.policies_index;
    match registry::get(client, index, identity).await {
        Ok(Some(r)) => {
            tracing::info!(
                identity,
                registered_at = %r.registered_at,
                registered_by = %r.registered_by,
                "no --policy: comparing with the policy registered for {identity}"
            );
            Ok(r.policy_set()?.documents)
        }
        Ok(None) => Ok(Vec::new()),
        Err(e @ RegistryError::Forbidden { .. }) => {
            tracing::warn!("the registered policies are not compared: {e}");
            Ok(Vec::new())
        }
        Err(e) => Err(e).context("reading the registered policy"),
    }
}

/// Runs the audit and returns the rendered report.
pub async fn run(args: AuditArgs) -> Result<String> {
    // Policies first: a typo in a file should not wait for a search.
    let documents = args
        .policies
        .iter()
        .map(|p| PolicyDocument::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let client = Client::connect(&args.opensearch.connect_options())?;
    let documents = match (documents.is_empty(), registered_identity(&args)) {
        (true, Some(identity)) => registered_policy(&client, &args, identity).await?,
        _ => documents,
    };
    let now = whole_second_up(chrono::Utc::now());
    let request = AuditRequest {
        identity: args.identity(),
        period: Period {
            since: args.since.resolve(now),
            until: args.until.map_or(now, |u| u.resolve(now)),
        },
        index_prefix: args.index_prefix.clone(),
        policies: PolicySet::new(documents),
        derived: !args.no_derived,
        novelty: (!args.no_baseline).then_some(novelty::Settings {
            baseline: args.baseline,
            denied_burst: args.denied_burst,
        }),
        lineage_index: args.lineage.index().map(str::to_owned),
    };
    let report = audit::audit(&client, &request)
        .await
        .with_context(|| format!("auditing {}", request.identity))?;
    let colour = args.format == Format::Table
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none();
    Ok(report::render(&report, args.format, colour))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_rounded_up_to_a_whole_second() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            whole_second_up(t("2026-12-03T19:05:12.123456789Z")),
            t("2026-12-03T19:05:13Z")
        );
        assert_eq!(
            whole_second_up(t("2026-12-03T23:59:59.5Z")),
            t("2026-12-04T00:00:00Z")
        );
        assert_eq!(
            whole_second_up(t("2026-12-03T19:05:12Z")),
            t("2026-12-03T19:05:12Z")
        );
    }
}

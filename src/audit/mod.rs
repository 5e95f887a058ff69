//! `trailscope audit`: what one identity (an access key, a principal ARN or a role session) did in
//! a period, from OpenSearch aggregations over the indexed CloudTrail events, optionally compared
//! with the IAM policies it was given.
//!
//! * [`query`] builds the one `size: 0` search and reads its aggregations;
//! * [`policy`] parses IAM policy documents and decides, statement by statement, what they allow
//!   ([`action_pattern`] matches actions as IAM does);
//! * [`lineage`] follows the credentials the identity minted through STS (and, for an access
//!   key, finds the event that minted it), so that the report covers them too;
//! * [`novelty`] compares the period with a baseline before it: what is new in the period;
//! * [`evidence`] says whether CloudTrail's management events can show an action's use at all;
//! * [`report`] renders a [`Report`] as a terminal table, JSON or Markdown.

pub mod action_pattern;
pub mod evidence;
pub mod lineage;
pub mod novelty;
pub mod policy;
pub mod query;
pub mod report;

use crate::sink::opensearch::{truncate, Client, ConnectError};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use opensearch::http::Method;
use policy::{Decision, NotEvaluated, PolicySet, UnusedGrant};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Whose calls to audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Identity {
    /// `aws.cloudtrail.user_identity.access_key_id`
    AccessKey(String),
    /// `aws.cloudtrail.user_identity.arn`, or a role's ARN as the session issuer.
    PrincipalArn(String),
    /// The session name of an assumed-role or federated session
    /// (`aws.cloudtrail.user_identity.session_name`).
    RoleSession(String),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::AccessKey(k) => write!(f, "access key {k}"),
            Identity::PrincipalArn(a) => write!(f, "principal {a}"),
            Identity::RoleSession(s) => write!(f, "role session {s}"),
        }
    }
}

/// `[since, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Period", 2)?;
        st.serialize_field("since", &rfc3339(self.since))?;
        st.serialize_field("until", &rfc3339(self.until))?;
        st.end()
    }
}

/// A point in time on the command line: RFC 3339 (`2026-01-01T00:00:00Z`), a date
/// (`2026-01-01`, midnight UTC), or an age (`30d`, `12h`, `45m`, `2w`) before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    At(DateTime<Utc>),
    Ago(chrono::Duration),
}

impl std::str::FromStr for TimeSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(TimeSpec::At(t.with_timezone(&Utc)));
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(TimeSpec::At(d.and_hms_opt(0, 0, 0).unwrap().and_utc()));
        }
        let unit_at = s.len().saturating_sub(1);
        if let (Ok(n), Some(unit)) = (s[..unit_at].parse::<i64>(), s.get(unit_at..)) {
            let d = match unit {
                "w" => chrono::Duration::try_weeks(n),
                "d" => chrono::Duration::try_days(n),
                "h" => chrono::Duration::try_hours(n),
                "m" => chrono::Duration::try_minutes(n),
                _ => None,
            };
            if let Some(d) = d.filter(|_| n >= 0) {
                return Ok(TimeSpec::Ago(d));
            }
        }
        Err(format!(
            "{s:?} is not a time: use RFC 3339 (2026-01-31T12:00:00Z), a date (2026-01-31) or an \
             age such as 30d, 12h, 45m, 2w"
        ))
    }
}

impl TimeSpec {
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            TimeSpec::At(t) => t,
            TimeSpec::Ago(d) => now - d,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    #[error(transparent)]
    Lineage(#[from] crate::lineage::LineageError),
    #[error("the period is empty: --since {since} is not before --until {until}")]
    EmptyPeriod { since: String, until: String },
    #[error(
        "no index matches {pattern} in OpenSearch at {url}: check --index-prefix (trailscope \
         forward writes <prefix>YYYY.MM.DD)"
    )]
    IndexMissing { pattern: String, url: String },
    #[error(
        "no events for {identity} from {since} to {until}: searched {pattern} ({searched}); check \
         the identity and the period"
    )]
    NoEvents {
        identity: String,
        since: String,
        until: String,
        pattern: String,
        /// Which indices were searched, in words.
        searched: String,
    },
    #[error("OpenSearch at {url} answered the search with HTTP {status}: {body}")]
    Search {
        url: String,
        status: u16,
        body: String,
    },
    #[error(
        "{failed} of {total} shards failed to answer the search, so the report would be \
         incomplete: {reason}"
    )]
    ShardFailures {
        failed: u64,
        total: u64,
        reason: String,
    },
    #[error("unexpected answer from OpenSearch: {message}")]
    Unreadable { message: String },
}

/// A name and how many events have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionStat {
    pub action: String,
    pub count: u64,
    #[serde(serialize_with = "ser_time")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_time")]
    pub last_seen: Option<DateTime<Utc>>,
    /// CloudTrail's readOnly: `None` when mixed or absent.
    pub read_only: Option<bool>,
    pub regions: Vec<Count>,
    pub errors: u64,
    pub error_codes: Vec<Count>,
    pub authorization_failures: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserAgentStat {
    /// As sent (empty when the events had none).
    pub original: String,
    pub kind: Option<String>,
    pub sdk: Option<String>,
    pub sdk_version: Option<String>,
    pub language: Option<String>,
    pub language_version: Option<String>,
    pub platform: Option<String>,
    pub tool: Option<String>,
    pub tool_version: Option<String>,
    /// The IaC tool's provider or plugin (`terraform-provider-aws`): with `tool`, which IaC
    /// tool and version made the calls.
    pub iac_provider: Option<String>,
    pub iac_provider_version: Option<String>,
    pub count: u64,
    #[serde(serialize_with = "ser_time")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_time")]
    pub last_seen: Option<DateTime<Utc>>,
    pub actions: Vec<Count>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceStat {
    /// `source.address`: an IP address or an AWS service name (empty when absent).
    pub address: String,
    pub count: u64,
    #[serde(serialize_with = "ser_time")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_time")]
    pub last_seen: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationFailure {
    pub action: String,
    pub error_code: String,
    /// `resources.arn` of the events, else the resource named in the denial message.
    pub resource: Option<String>,
    pub count: u64,
    #[serde(serialize_with = "ser_time")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_time")]
    pub last_seen: Option<DateTime<Utc>>,
    /// The latest error message.
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub events: u64,
    #[serde(serialize_with = "ser_time")]
    pub first_seen: Option<DateTime<Utc>>,
    #[serde(serialize_with = "ser_time")]
    pub last_seen: Option<DateTime<Utc>>,
    pub errors: u64,
    pub read_only: u64,
    pub mutating: u64,
    /// Events without CloudTrail's readOnly flag.
    pub read_only_unknown: u64,
    pub principals: Vec<Count>,
    pub access_keys: Vec<Count>,
}

/// A used action the policies do not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsedNotGranted {
    pub action: String,
    pub count: u64,
    /// `not granted` or `denied`.
    pub decision: &'static str,
    /// The Deny statements (`document#statement`), when denied.
    pub denied_by: Vec<String>,
}

/// How the policies decided one used action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Allowed,
    /// Allowed, but a Deny whose Resource/Condition was not evaluated may apply.
    AllowedUnlessDenied,
    Denied,
    NotGranted,
}

/// The policies' decision for one used action, and the statements that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionDecision {
    pub action: String,
    pub decision: DecisionKind,
    /// The statements that decided (`document#statement`, with what of them was not evaluated):
    /// the Allows, or the Denies when denied; empty when no statement allows it.
    pub by: Vec<String>,
    /// Deny statements that cover the action but whose Resource/Condition was not evaluated.
    pub unless: Vec<String>,
}

impl ActionDecision {
    fn new(action: &str, decision: Decision) -> ActionDecision {
        let names = |v: Vec<policy::StatementRef>| v.iter().map(ToString::to_string).collect();
        let (decision, by, unless) = match decision {
            Decision::Allowed { by } => (DecisionKind::Allowed, names(by), Vec::new()),
            Decision::AllowedUnlessDenied { by, unless } => {
                (DecisionKind::AllowedUnlessDenied, names(by), names(unless))
            }
            Decision::Denied { by } => (DecisionKind::Denied, names(by), Vec::new()),
            Decision::NotGranted => (DecisionKind::NotGranted, Vec::new(), Vec::new()),
        };
        ActionDecision {
            action: action.to_owned(),
            decision,
            by,
            unless,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyComparison {
    pub documents: Vec<String>,
    pub granted_unused: Vec<UnusedGrant>,
    pub used_not_granted: Vec<UsedNotGranted>,
    /// Every used action that needs a permission, with the statements that decided it.
    pub decisions: Vec<ActionDecision>,
    /// Statement elements that were not evaluated (treated as matching).
    pub not_evaluated: Vec<NotEvaluated>,
}

/// An action left out of the suggested policy, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub action: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IamPolicy {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statement: Vec<IamStatement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IamStatement {
    #[serde(rename = "Sid")]
    pub sid: String,
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    #[serde(rename = "Action")]
    pub action: Vec<String>,
    #[serde(rename = "Resource")]
    pub resource: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub identity: Identity,
    pub period: Period,
    pub summary: Summary,
    pub actions: Vec<ActionStat>,
    pub user_agents: Vec<UserAgentStat>,
    pub source_addresses: Vec<SourceStat>,
    /// `source.geo.country_iso_code` (empty until GeoIP enrichment exists).
    pub countries: Vec<Count>,
    /// `source.as.organization.name` (empty until ASN enrichment exists).
    pub networks: Vec<Count>,
    pub authorization_failures: Vec<AuthorizationFailure>,
    pub policy: Option<PolicyComparison>,
    /// The credentials derived from the identity (included in every count above), unless
    /// `--no-derived`.
    pub lineage: Option<lineage::Lineage>,
    /// What the identity did in the period that it never did in the baseline before it.
    pub novelty: Option<novelty::Novelty>,
    pub suggested_policy: IamPolicy,
    pub suggested_policy_left_out: Vec<LeftOut>,
    /// Sections with more entries than the report holds.
    pub truncated: Vec<String>,
}

/// Whether CloudTrail records this action although it needs no IAM permission (the iam-dataset's
/// permissionless calls, e.g. `sts:GetCallerIdentity`): never "used but not granted", never in a
/// suggested policy.
pub fn needs_no_permission(action: &str) -> bool {
    crate::event::iam_map::is_permissionless(action)
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(crate) fn ser_time<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// What to audit.
#[derive(Debug, Clone)]
pub struct AuditRequest {
    pub identity: Identity,
    pub period: Period,
    pub index_prefix: String,
    pub policies: PolicySet,
    /// Follow and include the credentials derived from the identity.
    pub derived: bool,
    /// Compare the period with a baseline before it ("new in this period"), unless `None`.
    pub novelty: Option<novelty::Settings>,
    /// The lineage index, read for an audited key's parent and root (`None`: `--no-lineage`).
    pub lineage_index: Option<String>,
}

async fn get_json(
    client: &Client,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<(u16, Value), AuditError> {
    Ok(client.json(method, path, query, body).await?)
}

/// One `_search` over `pattern`; an answer with failed shards is an error, since a report (or a
/// lineage) built from part of the shards would be silently incomplete.
async fn search(client: &Client, pattern: &str, body: &Value) -> Result<Value, AuditError> {
    let (status, response) = get_json(
        client,
        Method::Post,
        &format!("/{pattern}/_search"),
        &[("ignore_unavailable", "true"), ("allow_no_indices", "true")],
        Some(body),
    )
    .await?;
    if status != 200 {
        return Err(AuditError::Search {
            url: client.url.to_string(),
            status,
            body: truncate(&response.to_string(), 1000),
        });
    }
    let failed = response["_shards"]["failed"].as_u64().unwrap_or(0);
    if failed > 0 {
        return Err(AuditError::ShardFailures {
            failed,
            total: response["_shards"]["total"].as_u64().unwrap_or(0),
            reason: truncate(&response["_shards"]["failures"].to_string(), 500),
        });
    }
    Ok(response)
}

/// The indices of `<prefix>*`, sorted.
async fn indices(client: &Client, pattern: &str) -> Result<Vec<String>, AuditError> {
    let (status, body) = get_json(
        client,
        Method::Get,
        &format!("/_cat/indices/{pattern}"),
        &[("format", "json"), ("h", "index")],
        None,
    )
    .await?;
    match status {
        200 => {}
        404 => return Ok(Vec::new()),
        401 | 403 => {
            return Err(ConnectError::Auth {
                url: client.url.to_string(),
                status,
            }
            .into())
        }
        _ => {
            return Err(AuditError::Search {
                url: client.url.to_string(),
                status,
                body: truncate(&body.to_string(), 500),
            })
        }
    }
    let mut names: Vec<String> = body
        .as_array()
        .ok_or_else(|| AuditError::Unreadable {
            message: format!("_cat/indices answered {}", truncate(&body.to_string(), 300)),
        })?
        .iter()
        .filter_map(|i| i["index"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// The indices whose day (`<prefix>YYYY.MM.DD`) overlaps the period, or whose name has no day.
pub fn indices_in_period<'a>(names: &'a [String], prefix: &str, period: &Period) -> Vec<&'a str> {
    let (first, last) = (period.since.date_naive(), period.until.date_naive());
    names
        .iter()
        .filter(|n| {
            match n
                .strip_prefix(prefix)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y.%m.%d").ok())
            {
                Some(day) => day >= first && day <= last,
                None => true,
            }
        })
        .map(String::as_str)
        .collect()
}

fn describe_searched(all: &[String], in_period: &[&str]) -> String {
    let total = format!(
        "{} {} in all",
        all.len(),
        if all.len() == 1 { "index" } else { "indices" }
    );
    match in_period {
        [] => format!("{total}, none of them dated in the period"),
        [one] => format!("{total}, 1 dated in the period: {one}"),
        [first, .., last] => format!(
            "{total}, {} dated in the period: {first} … {last}",
            in_period.len()
        ),
    }
}

/// Runs the audit: one search, then the policy comparison.
pub async fn audit(client: &Client, request: &AuditRequest) -> Result<Report, AuditError> {
    let period = request.period;
    if period.since >= period.until {
        return Err(AuditError::EmptyPeriod {
            since: rfc3339(period.since),
            until: rfc3339(period.until),
        });
    }
    let pattern = format!("{}*", request.index_prefix);
    let all = indices(client, &pattern).await?;
    if all.is_empty() {
        return Err(AuditError::IndexMissing {
            pattern,
            url: client.url.to_string(),
        });
    }
    let lineage = if request.derived {
        let index = request.lineage_index.as_deref();
        Some(lineage::discover(client, &pattern, index, &request.identity, &period).await?)
    } else {
        None
    };
    let derived_keys = lineage.as_ref().map(|l| l.keys()).unwrap_or_default();
    let body = query::search_body(&query::selection(&request.identity, &derived_keys), &period);
    let response = search(client, &pattern, &body).await?;
    let agg = query::parse(&response)?;
    if agg.total == 0 {
        let in_period = indices_in_period(&all, &request.index_prefix, &period);
        return Err(AuditError::NoEvents {
            identity: request.identity.to_string(),
            since: rfc3339(period.since),
            until: rfc3339(period.until),
            pattern,
            searched: describe_searched(&all, &in_period),
        });
    }
    let mut report = build_report(request, agg);
    if let Some(settings) = &request.novelty {
        let baseline = Period {
            since: period.since - settings.baseline,
            until: period.since,
        };
        // The baseline's own derived credentials count as the identity's history too.
        let mut keys = derived_keys.clone();
        if request.derived {
            keys.extend(
                lineage::discover(client, &pattern, None, &request.identity, &baseline)
                    .await?
                    .keys(),
            );
            keys.sort();
            keys.dedup();
        }
        let not_granted: Vec<String> = report
            .policy
            .iter()
            .flat_map(|p| p.used_not_granted.iter().map(|u| u.action.clone()))
            .collect();
        report.novelty = Some(
            novelty::compare(
                client,
                &pattern,
                &query::selection(&request.identity, &keys),
                &period,
                settings,
                &not_granted,
            )
            .await?,
        );
    }
    report.lineage = lineage;
    Ok(report)
}

/// Turns the aggregations into the report and compares them with the policies.
pub fn build_report(request: &AuditRequest, agg: query::Aggregated) -> Report {
    let used: Vec<&str> = agg
        .actions
        .iter()
        .map(|a| a.action.as_str())
        .filter(|a| !needs_no_permission(a))
        .collect();
    let policy = (!request.policies.documents.is_empty()).then(|| {
        let p = &request.policies;
        let decisions: Vec<ActionDecision> = agg
            .actions
            .iter()
            .filter(|a| !needs_no_permission(&a.action))
            .map(|a| ActionDecision::new(&a.action, p.decide(&a.action)))
            .collect();
        // `decisions` is in the order of the actions that need a permission.
        let used_not_granted = agg
            .actions
            .iter()
            .filter(|a| !needs_no_permission(&a.action))
            .zip(&decisions)
            .filter_map(|(a, d)| {
                let decision = match d.decision {
                    DecisionKind::Allowed | DecisionKind::AllowedUnlessDenied => return None,
                    DecisionKind::NotGranted => "not granted",
                    DecisionKind::Denied => "denied",
                };
                Some(UsedNotGranted {
                    action: a.action.clone(),
                    count: a.count,
                    decision,
                    denied_by: d.by.clone(),
                })
            })
            .collect();
        PolicyComparison {
            documents: p.documents.iter().map(|d| d.source.clone()).collect(),
            granted_unused: p.unused_grants(&used),
            used_not_granted,
            decisions,
            not_evaluated: p.not_evaluated(),
        }
    });
    let (suggested_policy, suggested_policy_left_out) = suggest_policy(&agg.actions);
    Report {
        identity: request.identity.clone(),
        period: request.period,
        summary: Summary {
            events: agg.total,
            first_seen: agg.first,
            last_seen: agg.last,
            errors: agg.errors,
            read_only: agg.read_only,
            mutating: agg.mutating,
            read_only_unknown: agg.read_only_unknown,
            principals: agg.principals,
            access_keys: agg.access_keys,
        },
        actions: agg.actions,
        user_agents: agg.user_agents,
        source_addresses: agg.sources,
        countries: agg.countries,
        networks: agg.networks,
        authorization_failures: agg.authorization_failures,
        policy,
        lineage: None,
        novelty: None,
        suggested_policy,
        suggested_policy_left_out,
        truncated: agg.truncated,
    }
}

/// The least-privilege policy for what was used: one Allow statement per service, with the
/// actions that succeeded at least once (an action every call of which was refused was never
/// needed to do the work that got done).
pub fn suggest_policy(actions: &[ActionStat]) -> (IamPolicy, Vec<LeftOut>) {
    let mut by_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut left_out = Vec::new();
    for a in actions {
        let reason = if needs_no_permission(&a.action) {
            Some("needs no permission")
        } else if a.authorization_failures >= a.count {
            Some("every call was refused")
        } else if !a.action.contains(':') {
            Some("no IAM action known for these events")
        } else {
            None
        };
        if let Some(reason) = reason {
            left_out.push(LeftOut {
                action: a.action.clone(),
                reason,
            });
            continue;
        }
        let service = a.action.split(':').next().unwrap_or_default();
        by_service
            .entry(service.to_ascii_lowercase())
            .or_default()
            .push(a.action.clone());
    }
    left_out.sort_by(|a, b| a.action.cmp(&b.action));
    let statement = by_service
        .into_iter()
        .map(|(service, mut action)| {
            action.sort_by_key(|a| a.to_ascii_lowercase());
            action.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
            IamStatement {
                sid: sid_for(&service),
                effect: "Allow",
                action,
                resource: "*",
            }
        })
        .collect();
    (
        IamPolicy {
            version: "2012-10-17",
            statement,
        },
        left_out,
    )
}

/// `ec2` → `Ec2`, `resource-groups` → `ResourceGroups` (Sids are alphanumeric).
fn sid_for(service: &str) -> String {
    service
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn time_specs() {
        let now = t("2026-03-01T12:00:00Z");
        let r = |s: &str| s.parse::<TimeSpec>().unwrap().resolve(now);
        assert_eq!(r("30d"), t("2026-01-30T12:00:00Z"));
        assert_eq!(r("2w"), t("2026-02-15T12:00:00Z"));
        assert_eq!(r("12h"), t("2026-03-01T00:00:00Z"));
        assert_eq!(r("90m"), t("2026-03-01T10:30:00Z"));
        assert_eq!(r("2026-01-05"), t("2026-01-05T00:00:00Z"));
        assert_eq!(r("2026-01-05T10:00:00+02:00"), t("2026-01-05T08:00:00Z"));
        for bad in ["", "d", "30", "30y", "-3d", "yesterday", "2026-13-01"] {
            assert!(bad.parse::<TimeSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn indices_of_the_period() {
        let names: Vec<String> = [
            "ct-2025.12.31",
            "ct-2026.01.01",
            "ct-2026.01.15",
            "ct-2026.02.01",
            "ct-2026.02.02",
            "ct-restored",
        ]
        .map(String::from)
        .to_vec();
        let period = Period {
            since: t("2026-01-01T00:00:00Z"),
            until: t("2026-02-01T00:00:00Z"),
        };
        assert_eq!(
            indices_in_period(&names, "ct-", &period),
            vec![
                "ct-2026.01.01",
                "ct-2026.01.15",
                "ct-2026.02.01",
                "ct-restored"
            ]
        );
        assert_eq!(
            describe_searched(&names, &indices_in_period(&names, "ct-", &period)),
            "6 indices in all, 4 dated in the period: ct-2026.01.01 … ct-restored"
        );
        assert_eq!(
            describe_searched(&names[..1], &[]),
            "1 index in all, none of them dated in the period"
        );
    }

    fn stat(action: &str, count: u64, denied: u64) -> ActionStat {
        ActionStat {
            action: action.into(),
            count,
            first_seen: None,
            last_seen: None,
            read_only: None,
            regions: vec![],
            errors: denied,
            error_codes: vec![],
            authorization_failures: denied,
        }
    }

    #[test]
    fn suggested_policy_groups_by_service_and_leaves_out_refused_actions() {
        let (p, left_out) = suggest_policy(&[
            stat("ssm:SendCommand", 3, 1),
            stat("ec2:DescribeInstances", 5, 0),
            stat("iam:ListUsers", 2, 2),
            stat("ec2:DescribeRegions", 1, 0),
            stat("sts:GetCallerIdentity", 1, 0),
            stat("resource-groups:GetGroup", 1, 0),
        ]);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Ec2","Effect":"Allow","Action":["ec2:DescribeInstances","ec2:DescribeRegions"],"Resource":"*"},{"Sid":"ResourceGroups","Effect":"Allow","Action":["resource-groups:GetGroup"],"Resource":"*"},{"Sid":"Ssm","Effect":"Allow","Action":["ssm:SendCommand"],"Resource":"*"}]}"#
        );
        assert_eq!(
            left_out,
            vec![
                LeftOut {
                    action: "iam:ListUsers".into(),
                    reason: "every call was refused"
                },
                LeftOut {
                    action: "sts:GetCallerIdentity".into(),
                    reason: "needs no permission"
                }
            ]
        );
    }
}

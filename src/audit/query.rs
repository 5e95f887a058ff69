//! The one OpenSearch request behind `audit` (a `size: 0` search with aggregations: no event is
//! downloaded) and the reading of its answer into the report's parts.

use super::{
    ActionStat, AuditError, AuthorizationFailure, Count, Identity, Period, SourceStat,
    UserAgentStat,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// How many buckets each aggregation returns at most. When an identity has more, the report says
/// which sections were cut (`truncated`).
pub const MAX_ACTIONS: usize = 1000;
pub const MAX_USER_AGENTS: usize = 200;
pub const MAX_SOURCES: usize = 200;
pub const MAX_FAILURES: usize = 500;
const MAX_REGIONS: usize = 40;
const MAX_CODES: usize = 20;

pub use crate::event::facts::{
    authorization_failure_query, is_authorization_error, AUTHORIZATION_ERRORS,
};

const ACCESS_KEY: &str = "aws.cloudtrail.user_identity.access_key_id";
const ARN: &str = "aws.cloudtrail.user_identity.arn";
const ISSUER_ARN: &str = "aws.cloudtrail.user_identity.session_context.session_issuer.arn";
const IDENTITY_TYPE: &str = "aws.cloudtrail.user_identity.type";
/// `user.name` of a role session is its role (as Elastic gives it); the session name is here.
const SESSION_NAME: &str = "aws.cloudtrail.user_identity.session_name";
const IAM_ACTION: &str = "aws.cloudtrail.iam_action";
const ERROR_CODE: &str = "aws.cloudtrail.error_code";
const READ_ONLY: &str = "aws.cloudtrail.read_only";

/// The query that selects one identity's events.
pub fn identity_query(identity: &Identity) -> Value {
    match identity {
        Identity::AccessKey(id) => json!({"term": {ACCESS_KEY: id}}),
        // A role ARN also selects every session of that role (their issuer).
        Identity::PrincipalArn(arn) => json!({"bool": {
            "should": [{"term": {ARN: arn}}, {"term": {ISSUER_ARN: arn}}],
            "minimum_should_match": 1
        }}),
        Identity::RoleSession(name) => json!({"bool": {"filter": [
            {"term": {SESSION_NAME: name}},
            {"terms": {IDENTITY_TYPE: ["AssumedRole", "FederatedUser"]}}
        ]}}),
    }
}

fn first_last() -> Value {
    json!({
        "first": {"min": {"field": "@timestamp"}},
        "last": {"max": {"field": "@timestamp"}}
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// The events of the identity and of the credentials derived from it (their access keys).
pub fn selection(identity: &Identity, derived_keys: &[String]) -> Value {
    if derived_keys.is_empty() {
        return identity_query(identity);
    }
    json!({"bool": {
        "should": [identity_query(identity), {"terms": {ACCESS_KEY: derived_keys}}],
        "minimum_should_match": 1
    }})
}

/// `[since, until)` on `@timestamp`.
pub fn period_filter(period: &Period) -> Value {
    json!({"range": {"@timestamp": {
        "gte": period.since.to_rfc3339(),
        "lt": period.until.to_rfc3339(),
        "format": "strict_date_optional_time"
    }}})
}

/// The `_search` body: the selected events in the period, and every aggregation of the report.
pub fn search_body(selection: &Value, period: &Period) -> Value {
    let terms = |field: &str, size: usize| json!({"terms": {"field": field, "size": size}});
    json!({
        "size": 0,
        "track_total_hits": true,
        "query": {"bool": {"filter": [selection, period_filter(period)]}},
        "aggs": with(first_last(), json!({
            "errors": {"filter": {"exists": {"field": ERROR_CODE}}},
            "access": {"filters": {"filters": {
                "read_only": {"term": {READ_ONLY: true}},
                "mutating": {"term": {READ_ONLY: false}},
                "unknown": {"bool": {"must_not": {"exists": {"field": READ_ONLY}}}}
            }}},
            "principals": terms(ARN, 20),
            "access_keys": terms(ACCESS_KEY, 50),
            "actions": {
                "terms": {"field": IAM_ACTION, "size": MAX_ACTIONS, "missing": ""},
                "aggs": with(first_last(), json!({
                    "regions": terms("cloud.region", MAX_REGIONS),
                    "read_only": terms(READ_ONLY, 2),
                    "errors": {
                        "filter": {"exists": {"field": ERROR_CODE}},
                        "aggs": {"codes": terms(ERROR_CODE, MAX_CODES)}
                    },
                    "authorization_failures": {"filter": authorization_failure_query()}
                }))
            },
            "user_agents": {
                "terms": {"field": "user_agent.original", "size": MAX_USER_AGENTS, "missing": ""},
                "aggs": with(first_last(), json!({
                    "parsed": {"top_hits": {"size": 1, "_source": {"includes": ["aws.user_agent"]}}},
                    "actions": terms(IAM_ACTION, 50)
                }))
            },
            "sources": {
                "terms": {"field": "source.address", "size": MAX_SOURCES, "missing": ""},
                "aggs": first_last()
            },
            "countries": terms("source.geo.country_iso_code", 50),
            "networks": terms("source.as.organization.name", 50),
            "authorization_failures": {
                "filter": authorization_failure_query(),
                "aggs": {"actions": {
                    "terms": {"field": IAM_ACTION, "size": MAX_FAILURES, "missing": ""},
                    "aggs": {"codes": {
                        "terms": {"field": ERROR_CODE, "size": MAX_CODES},
                        "aggs": {"resources": {
                            "terms": {"field": "aws.cloudtrail.resources.arn", "size": 20, "missing": ""},
                            "aggs": with(first_last(), json!({
                                "latest": {"top_hits": {
                                    "size": 1,
                                    "sort": [{"@timestamp": {"order": "desc"}}],
                                    "_source": {"includes": ["aws.cloudtrail.error_message"]}
                                }}
                            }))
                        }}
                    }}
                }}
            }
        }))
    })
}

/// Everything the search answered, in report order (OpenSearch's: most calls first, then by
/// name).
#[derive(Debug, Clone)]
pub struct Aggregated {
    pub total: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub errors: u64,
    pub read_only: u64,
    pub mutating: u64,
    pub read_only_unknown: u64,
    pub principals: Vec<Count>,
    pub access_keys: Vec<Count>,
    pub actions: Vec<ActionStat>,
    pub user_agents: Vec<UserAgentStat>,
    pub sources: Vec<SourceStat>,
    pub countries: Vec<Count>,
    pub networks: Vec<Count>,
    pub authorization_failures: Vec<AuthorizationFailure>,
    /// Sections that had more buckets than were returned.
    pub truncated: Vec<String>,
}

fn unreadable(what: &str, v: &Value) -> AuditError {
    AuditError::Unreadable {
        message: format!(
            "{what} missing in {}",
            crate::sink::opensearch::truncate(&v.to_string(), 300)
        ),
    }
}

fn buckets<'a>(agg: &'a Value, name: &str) -> Result<&'a Vec<Value>, AuditError> {
    agg["buckets"]
        .as_array()
        .ok_or_else(|| unreadable(&format!("buckets of {name}"), agg))
}

fn doc_count(v: &Value) -> u64 {
    v["doc_count"].as_u64().unwrap_or(0)
}

fn key(b: &Value) -> String {
    match &b["key_as_string"] {
        Value::String(s) => s.clone(),
        _ => match &b["key"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v["value"]
        .as_f64()
        .and_then(|ms| DateTime::from_timestamp_millis(ms as i64))
}

fn counts(agg: &Value, name: &str) -> Result<Vec<Count>, AuditError> {
    Ok(buckets(agg, name)?
        .iter()
        .map(|b| Count {
            name: key(b),
            count: doc_count(b),
        })
        .collect())
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Reads the aggregations of a search answer.
pub fn parse(response: &Value) -> Result<Aggregated, AuditError> {
    let aggs = &response["aggregations"];
    if !aggs.is_object() {
        return Err(unreadable("aggregations", response));
    }
    let total = response["hits"]["total"]["value"]
        .as_u64()
        .ok_or_else(|| unreadable("hits.total.value", response))?;
    let mut truncated = Vec::new();
    let mut note_cut = |name: &str, agg: &Value| {
        if agg["sum_other_doc_count"].as_u64().unwrap_or(0) > 0 {
            truncated.push(name.to_owned());
        }
    };
    for name in [
        "actions",
        "user_agents",
        "sources",
        "principals",
        "access_keys",
    ] {
        note_cut(name, &aggs[name]);
    }
    note_cut(
        "authorization_failures",
        &aggs["authorization_failures"]["actions"],
    );

    let mut actions = Vec::new();
    for b in buckets(&aggs["actions"], "actions")? {
        let ro = buckets(&b["read_only"], "read_only")?;
        let has = |k: &str| ro.iter().any(|r| key(r) == k);
        let read_only = match (has("true"), has("false")) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        };
        actions.push(ActionStat {
            action: non_empty(key(b)).unwrap_or_else(|| "(unknown)".into()),
            count: doc_count(b),
            first_seen: time(&b["first"]),
            last_seen: time(&b["last"]),
            read_only,
            regions: counts(&b["regions"], "regions")?,
            errors: doc_count(&b["errors"]),
            error_codes: counts(&b["errors"]["codes"], "codes")?,
            authorization_failures: doc_count(&b["authorization_failures"]),
        });
    }

    let mut user_agents = Vec::new();
    for b in buckets(&aggs["user_agents"], "user_agents")? {
        let parsed = &b["parsed"]["hits"]["hits"][0]["_source"]["aws"]["user_agent"];
        let field = |name: &str| parsed[name].as_str().map(str::to_owned);
        user_agents.push(UserAgentStat {
            original: key(b),
            kind: field("kind"),
            sdk: field("sdk"),
            sdk_version: field("sdk_version"),
            language: field("language"),
            language_version: field("language_version"),
            platform: field("platform"),
            tool: field("tool"),
            tool_version: field("tool_version"),
            iac_provider: field("iac_provider"),
            iac_provider_version: field("iac_provider_version"),
            count: doc_count(b),
            first_seen: time(&b["first"]),
            last_seen: time(&b["last"]),
            actions: counts(&b["actions"], "actions")?,
        });
    }

    let sources = buckets(&aggs["sources"], "sources")?
        .iter()
        .map(|b| SourceStat {
            address: key(b),
            count: doc_count(b),
            first_seen: time(&b["first"]),
            last_seen: time(&b["last"]),
        })
        .collect();

    let mut authorization_failures = Vec::new();
    for a in buckets(&aggs["authorization_failures"]["actions"], "failures")? {
        for c in buckets(&a["codes"], "codes")? {
            for r in buckets(&c["resources"], "resources")? {
                let message = r["latest"]["hits"]["hits"][0]["_source"]["aws"]["cloudtrail"]
                    ["error_message"]
                    .as_str()
                    .map(str::to_owned);
                let resource =
                    non_empty(key(r)).or_else(|| message.as_deref().and_then(resource_in_message));
                authorization_failures.push(AuthorizationFailure {
                    action: non_empty(key(a)).unwrap_or_else(|| "(unknown)".into()),
                    error_code: key(c),
                    resource,
                    count: doc_count(r),
                    first_seen: time(&r["first"]),
                    last_seen: time(&r["last"]),
                    message,
                });
            }
        }
    }

    let access = &aggs["access"]["buckets"];
    Ok(Aggregated {
        total,
        first: time(&aggs["first"]),
        last: time(&aggs["last"]),
        errors: doc_count(&aggs["errors"]),
        read_only: doc_count(&access["read_only"]),
        mutating: doc_count(&access["mutating"]),
        read_only_unknown: doc_count(&access["unknown"]),
        principals: counts(&aggs["principals"], "principals")?,
        access_keys: counts(&aggs["access_keys"], "access_keys")?,
        actions,
        user_agents,
        sources,
        countries: counts(&aggs["countries"], "countries")?,
        networks: counts(&aggs["networks"], "networks")?,
        authorization_failures,
        truncated,
    })
}

/// The resource named in AWS's standard denial message: "User: X is not authorized to perform:
/// iam:ListUsers on resource: arn:aws:iam::111122223333:user/ because ...".
pub fn resource_in_message(message: &str) -> Option<String> {
    let rest = &message[message.find("on resource: ")? + "on resource: ".len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ',')
        .unwrap_or(rest.len());
    let resource = rest[..end].trim_end_matches('.');
    (!resource.is_empty()).then(|| resource.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_errors() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "Client.UnauthorizedOperation",
            "UnauthorizedOperation",
            "AuthFailure",
            "NotAuthorizedException",
        ] {
            assert!(is_authorization_error(code), "{code}");
        }
        for code in ["ThrottlingException", "ValidationException", "NoSuchEntity"] {
            assert!(!is_authorization_error(code), "{code}");
        }
    }

    #[test]
    fn resource_from_denial_message() {
        assert_eq!(
            resource_in_message(
                "User: arn:aws:iam::111122223333:user/vendor is not authorized to perform: \
                 iam:ListUsers on resource: arn:aws:iam::111122223333:user/ because no \
                 identity-based policy allows the iam:ListUsers action"
            )
            .as_deref(),
            Some("arn:aws:iam::111122223333:user/")
        );
        assert_eq!(
            resource_in_message("... on resource: arn:aws:s3:::bucket/key.").as_deref(),
            Some("arn:aws:s3:::bucket/key")
        );
        assert_eq!(
            resource_in_message("You are not authorized to perform this operation."),
            None
        );
    }
}

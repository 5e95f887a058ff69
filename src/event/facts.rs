//! What first-seen findings need of one event, taken from the record and its enrichment while the
//! encoder has them parsed: the findings stage reads these small typed values, never the JSON.
//! The value definitions (network of an address, user-agent fingerprint, authorization failure)
//! are shared with `audit`'s "new in this period", so both call the same thing new.

use super::cloudtrail::CloudTrailRecord;
use crate::enrich::user_agent::AwsUserAgent;
use crate::enrich::Enrichment;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::net::IpAddr;

pub use super::minting::{is_temporary, MINTING_EVENTS};

/// Error codes that mean "not authorised", matched as case-insensitive substrings of
/// `aws.cloudtrail.error_code`: `AccessDenied`, `AccessDeniedException`, EC2's
/// `Client.UnauthorizedOperation` and `AuthFailure`, `UnauthorizedException`,
/// `NotAuthorizedException`, `AuthorizationErrorException` (SNS), `Forbidden`.
pub const AUTHORIZATION_ERRORS: [&str; 6] = [
    "AccessDenied",
    "Unauthorized",
    "NotAuthorized",
    "AuthorizationError",
    "AuthFailure",
    "Forbidden",
];

/// Whether an error code is an authorization failure (see [`AUTHORIZATION_ERRORS`]).
pub fn is_authorization_error(code: &str) -> bool {
    let code = code.to_ascii_lowercase();
    AUTHORIZATION_ERRORS
        .iter()
        .any(|p| code.contains(&p.to_ascii_lowercase()))
}

/// The query that selects authorization failures among indexed events.
pub fn authorization_failure_query() -> Value {
    let should: Vec<Value> = AUTHORIZATION_ERRORS
        .iter()
        .map(|p| json!({"wildcard": {"aws.cloudtrail.error_code": {"value": format!("*{p}*"), "case_insensitive": true}}}))
        .collect();
    json!({"bool": {"should": should, "minimum_should_match": 1}})
}

/// The network an address belongs to for comparison: its /24 (IPv4) or /48 (IPv6).
pub fn network_of(ip: &str) -> Option<String> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

/// A user agent's fingerprint: the tool (or else the SDK) and its major version, as the parser
/// wrote them under `aws.user_agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `tool` or `sdk`.
    field: &'static str,
    version_field: &'static str,
    family: Box<str>,
    /// Empty when the parser found no version.
    major: Box<str>,
}

impl Fingerprint {
    /// From the parser's `tool`/`tool_version` and `sdk`/`sdk_version`; `None` when it
    /// recognised neither.
    pub fn of(
        tool: Option<&str>,
        tool_version: Option<&str>,
        sdk: Option<&str>,
        sdk_version: Option<&str>,
    ) -> Option<Self> {
        let major = |v: Option<&str>| -> Box<str> {
            v.unwrap_or_default().split('.').next().unwrap_or("").into()
        };
        if let Some(family) = tool {
            return Some(Fingerprint {
                field: "tool",
                version_field: "tool_version",
                family: family.into(),
                major: major(tool_version),
            });
        }
        sdk.map(|family| Fingerprint {
            field: "sdk",
            version_field: "sdk_version",
            family: family.into(),
            major: major(sdk_version),
        })
    }

    /// `aws-cli/2`, or the family alone without a version.
    pub fn value(&self) -> String {
        if self.major.is_empty() {
            self.family.to_string()
        } else {
            format!("{}/{}", self.family, self.major)
        }
    }

    /// The query that selects indexed events with the same fingerprint: exact, no script.
    pub fn filter(&self) -> Value {
        let version = format!("aws.user_agent.{}", self.version_field);
        let family_q = json!({"term": {format!("aws.user_agent.{}", self.field): &*self.family}});
        let version_q = if self.major.is_empty() {
            json!({"bool": {"must_not": {"exists": {"field": version}}}})
        } else {
            json!({"bool": {"should": [
                {"term": {version.clone(): &*self.major}},
                {"prefix": {version: format!("{}.", self.major)}}
            ], "minimum_should_match": 1}})
        };
        json!({"bool": {"filter": [family_q, version_q]}})
    }
}

/// Who an event is evaluated for: one identity per event, the one whose habits it shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A long-term access key (not `ASIA…`): what a vendor or a CI system holds.
    AccessKey(Box<str>),
    /// The role behind a role session (sessions come and go; the role's habits stay).
    RoleIssuer(Box<str>),
    /// A principal ARN: an IAM user signed in or using a temporary key of its own, root, a
    /// federated user.
    Principal(Box<str>),
}

impl Identity {
    pub fn as_str(&self) -> &str {
        match self {
            Identity::AccessKey(s) | Identity::RoleIssuer(s) | Identity::Principal(s) => s,
        }
    }

    /// The indexed field that holds it.
    pub fn field(&self) -> &'static str {
        match self {
            Identity::AccessKey(_) => "aws.cloudtrail.user_identity.access_key_id",
            Identity::RoleIssuer(_) => {
                "aws.cloudtrail.user_identity.session_context.session_issuer.arn"
            }
            Identity::Principal(_) => "aws.cloudtrail.user_identity.arn",
        }
    }

    pub fn query(&self) -> Value {
        json!({"term": {self.field(): self.as_str()}})
    }
}

/// What findings need of one event.
#[derive(Debug, Clone)]
pub struct Facts {
    pub time: DateTime<Utc>,
    pub identity: Identity,
    /// The access key the call was made with, when any (the lineage starts from it).
    pub access_key: Option<Box<str>>,
    /// `aws.cloudtrail.iam_action`.
    pub action: Option<Box<str>>,
    /// `event.provider`.
    pub service: Option<Box<str>>,
    pub region: Option<Box<str>>,
    /// `AS<number>` when the ASN is known, else the address's /24 or /48.
    pub network: Option<Box<str>>,
    pub country: Option<Box<str>>,
    /// The user-agent fingerprint, when the parser recognised a tool or SDK.
    pub user_agent: Option<Fingerprint>,
    /// The call was refused for lack of permission.
    pub denied: bool,
    /// The access key this call minted (STS), when it did.
    pub minted_key: Option<Box<str>>,
}

impl Facts {
    /// `None` for an event without any identity to follow (no ARN, no access key).
    pub fn of(
        record: &CloudTrailRecord<'_>,
        time: DateTime<Utc>,
        enrichment: &Enrichment,
    ) -> Option<Facts> {
        let who = record.user_identity.as_ref()?;
        let non_empty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(Box::<str>::from);
        let access_key = non_empty(who.access_key_id.as_deref());
        let issuer = who
            .session_context
            .as_ref()
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| non_empty(i.arn.as_deref()));
        let role_session = who.identity_type.as_deref() == Some("AssumedRole");
        let identity = match (&access_key, issuer, non_empty(who.arn.as_deref())) {
            (Some(key), _, _) if !is_temporary(key) => Identity::AccessKey(key.clone()),
            (_, Some(issuer), _) if role_session => Identity::RoleIssuer(issuer),
            (_, _, Some(arn)) => Identity::Principal(arn),
            (Some(key), _, _) => Identity::AccessKey(key.clone()),
            _ => return None,
        };
        let address = record.source_ip_address.as_deref();
        let network = match enrichment
            .autonomous_system
            .as_deref()
            .and_then(|a| a.number)
        {
            Some(n) => Some(format!("AS{n}")),
            None => address.and_then(network_of),
        };
        let user_agent = enrichment.user_agent.as_deref().and_then(|ua| {
            let aws: &AwsUserAgent = ua.aws();
            Fingerprint::of(
                aws.tool.as_deref(),
                aws.tool_version.as_deref(),
                aws.sdk.as_deref(),
                aws.sdk_version.as_deref(),
            )
        });
        let minted_key = super::minting::minted_key(record);
        Some(Facts {
            time,
            identity,
            access_key,
            action: enrichment.iam.as_ref().map(|i| Box::from(&*i.primary)),
            service: non_empty(record.event_source.as_deref()),
            region: non_empty(record.aws_region.as_deref()),
            network: network.map(String::into_boxed_str),
            country: enrichment
                .geo
                .as_deref()
                .and_then(|g| non_empty(g.country_iso_code.as_deref())),
            user_agent,
            denied: record
                .error_code
                .as_deref()
                .is_some_and(is_authorization_error),
            minted_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::Enricher;

    fn facts(json: &str) -> Option<Facts> {
        let record = CloudTrailRecord::parse(json).unwrap();
        let enrichment = Enricher::default().enrich(&record);
        Facts::of(&record, record.event_time.unwrap(), &enrichment)
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(
            network_of("203.0.113.77").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            network_of("2001:db8:abcd:12::1").as_deref(),
            Some("2001:db8:abcd::/48")
        );
        assert_eq!(network_of("ec2.amazonaws.com"), None);
    }

    #[test]
    fn a_long_term_key_is_its_own_identity_and_a_session_is_its_role() {
        let vendor = facts(
            r#"{"eventTime":"2026-02-01T10:00:00Z","eventSource":"sts.amazonaws.com",
            "eventName":"GetSessionToken","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7",
            "userAgent":"Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux lang/python#3.11",
            "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/v","accessKeyId":"AKIAV"},
            "responseElements":{"credentials":{"accessKeyId":"ASIAMINTED000001","expiration":"x"}}}"#,
        )
        .unwrap();
        assert_eq!(vendor.identity, Identity::AccessKey("AKIAV".into()));
        assert_eq!(vendor.minted_key.as_deref(), Some("ASIAMINTED000001"));
        assert_eq!(vendor.action.as_deref(), Some("sts:GetSessionToken"));
        assert_eq!(vendor.network.as_deref(), Some("198.51.100.0/24"));
        assert_eq!(vendor.user_agent.unwrap().value(), "Boto3/1");
        assert!(!vendor.denied);

        let session = facts(
            r#"{"eventTime":"2026-02-01T10:00:00Z","eventSource":"s3.amazonaws.com",
            "eventName":"ListBuckets","errorCode":"AccessDenied",
            "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::2:assumed-role/R/s",
            "accessKeyId":"ASIAX","sessionContext":{"sessionIssuer":{"type":"Role",
            "arn":"arn:aws:iam::2:role/R"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            session.identity,
            Identity::RoleIssuer("arn:aws:iam::2:role/R".into())
        );
        assert!(session.denied);
        assert_eq!(session.minted_key, None);

        let own_session = facts(
            r#"{"eventTime":"2026-02-01T10:00:00Z","eventName":"ListUsers",
            "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/v","accessKeyId":"ASIAY"}}"#,
        )
        .unwrap();
        assert_eq!(
            own_session.identity,
            Identity::Principal("arn:aws:iam::1:user/v".into())
        );
        assert!(facts(r#"{"eventTime":"2026-02-01T10:00:00Z","eventName":"X"}"#).is_none());
    }

    #[test]
    fn user_agent_fingerprint_is_family_and_major_version() {
        let f = Fingerprint::of(None, None, Some("Boto3"), Some("1.34.1")).unwrap();
        assert_eq!(f.value(), "Boto3/1");
        let f = Fingerprint::of(
            Some("aws-cli"),
            Some("2.15.0"),
            Some("Botocore"),
            Some("1.3"),
        );
        assert_eq!(f.unwrap().value(), "aws-cli/2");
        assert_eq!(
            Fingerprint::of(None, None, Some("x"), None)
                .unwrap()
                .value(),
            "x"
        );
        assert!(Fingerprint::of(None, None, None, None).is_none());
    }
}

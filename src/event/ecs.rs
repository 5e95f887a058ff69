//! The ECS answers derived from a CloudTrail record where ECS and Elastic's CloudTrail integration
//! have a rule: the outcome, the classification, who acted and on whom, TLS. Users port queries and
//! detection rules from that integration, so each rule here gives the value it gives, except where
//! `mappings/README.md` says why not.
//!
//! Everything here borrows from the record: the transform writes these values without allocating.

use super::cloudtrail::{CloudTrailRecord, TlsDetails, UserIdentity};
use super::fields::{members, Stop};
use super::json_scan::RawJson;
use std::borrow::Cow;
use std::sync::LazyLock;

/// ECS `event.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    fn parse(text: &str) -> Option<Outcome> {
        if text.eq_ignore_ascii_case("success") {
            Some(Outcome::Success)
        } else if text.eq_ignore_ascii_case("failure") {
            Some(Outcome::Failure)
        } else {
            None
        }
    }
}

/// Where the result of a call is written: sign-in events (`ConsoleLogin`, `CheckMfa`,
/// `SwitchRole`, `UserAuthentication`, ...) have no `errorCode` when they fail; they report
/// `"Success"` / `"Failure"` under their own name in `responseElements` (or, for IAM Identity
/// Center sign-ins, `serviceEventDetails`). Anything else failed when CloudTrail wrote an error
/// code or an error message (a sign-in failure has only `errorMessage: "Failed authentication"`).
pub fn outcome(record: &CloudTrailRecord<'_>) -> Outcome {
    if record.event_source.as_deref() == Some("signin.amazonaws.com") {
        let reported = [record.response_elements, record.service_event_details]
            .into_iter()
            .find_map(|payload| string_member(payload, &record.event_name))
            .and_then(Outcome::parse);
        if let Some(outcome) = reported {
            return outcome;
        }
    }
    if record.error_code.is_some() || record.error_message.is_some() {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

/// ECS `event.category` and `event.type` of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub category: &'static [&'static str],
    pub event_type: &'static [&'static str],
}

/// A call the table does not know: no category, type `info` (Elastic's default).
const UNCLASSIFIED: Classification = Classification {
    category: &[],
    event_type: &["info"],
};

struct Row {
    source: &'static str,
    name: &'static str,
    class: Classification,
}

/// The table, read once from `ecs_classification.tsv` (how it was made is written at its top),
/// sorted by (eventSource, eventName) for a binary search per event.
static TABLE: LazyLock<Vec<Row>> = LazyLock::new(|| {
    let mut rows: Vec<Row> = include_str!("ecs_classification.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&'static str> = line.split('\t').collect();
            assert!(cols.len() == 5, "ecs_classification.tsv: bad line {line:?}");
            let list = |text: &'static str| -> &'static [&'static str] {
                if text == "-" {
                    &[]
                } else {
                    // Leaked once per row at first use: the table lives as long as the process.
                    Box::leak(text.split(',').collect::<Vec<_>>().into_boxed_slice())
                }
            };
            Row {
                source: cols[0],
                name: cols[1],
                class: Classification {
                    category: list(cols[2]),
                    event_type: list(cols[3]),
                },
            }
        })
        .collect();
    rows.sort_by(|a, b| (a.source, a.name).cmp(&(b.source, b.name)));
    rows
});

/// The classification of `eventName` from `eventSource` (table-driven, see
/// `ecs_classification.tsv`).
pub fn classify(source: &str, name: &str) -> Classification {
    // Lambda's API versions are part of its event names (`ListFunctions20150331`,
    // `GetFunction20150331v2`): the call is the same whatever the version.
    let name = if source == "lambda.amazonaws.com" {
        undated(name)
    } else {
        name
    };
    TABLE
        .binary_search_by(|row| (row.source, row.name).cmp(&(source, name)))
        .map(|i| TABLE[i].class)
        .unwrap_or(UNCLASSIFIED)
}

/// `ListFunctions20150331` → `ListFunctions`, `GetFunction20150331v2` → `GetFunction`.
fn undated(name: &str) -> &str {
    let trimmed = name.trim_end_matches(|c: char| c == 'v' || c.is_ascii_digit());
    let digits = name[trimmed.len()..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits >= 8 {
        trimmed
    } else {
        name
    }
}

/// Who made the call, as ECS `user.*` names it.
#[derive(Debug, Default, PartialEq)]
pub struct Actor<'a> {
    /// `user.name`: the IAM user's name; for a role session the role's name (the session
    /// issuer), as Elastic gives it; for an IAM Identity Center sign-in the user name it reports.
    pub name: Option<&'a str>,
    /// `user.id`: `userIdentity.principalId`.
    pub id: Option<&'a str>,
    /// `user.email`: `user.name` when it is an e-mail address (IAM user names may be).
    pub email: Option<&'a str>,
    /// The session name of an assumed role or federated user (the last part of its ARN), which
    /// often names the person: kept in `aws.cloudtrail.user_identity.session_name`.
    pub session_name: Option<&'a str>,
}

pub fn actor<'a>(record: &'a CloudTrailRecord<'a>) -> Actor<'a> {
    let identity = record.user_identity.as_ref();
    let issuer = identity
        .and_then(|i| i.session_context.as_ref())
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|i| given(i.user_name.as_deref()));
    let name = issuer
        .or_else(|| identity.and_then(|i| given(i.user_name.as_deref())))
        .or_else(|| {
            // IAM Identity Center sign-ins (UserAuthentication, CredentialVerification, ...)
            // name the user only there; Elastic reads it for UserAuthentication alone.
            (record.event_source.as_deref() == Some("signin.amazonaws.com"))
                .then(|| given(string_member(record.additional_event_data, "UserName")))
                .flatten()
        });
    Actor {
        name,
        id: identity.and_then(|i| given(i.principal_id.as_deref())),
        email: name.filter(|n| n.find('@').is_some_and(|at| at > 0)),
        session_name: identity.and_then(session_name),
    }
}

/// CloudTrail writes `""` for what it does not know (`"arn": ""` of an Identity Center user):
/// no value, not an empty name.
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

fn session_name<'a>(identity: &'a UserIdentity<'a>) -> Option<&'a str> {
    match identity.identity_type.as_deref() {
        Some("AssumedRole") | Some("FederatedUser") => identity
            .arn
            .as_deref()?
            .rsplit_once('/')
            .and_then(|(_, s)| given(Some(s))),
        _ => None,
    }
}

/// The user and group an IAM call acts on (`user.target.*`, `user.changes.name`, `group.*`).
#[derive(Debug, Default, PartialEq)]
pub struct IamTarget<'a> {
    /// `requestParameters.userName`
    pub user_name: Option<&'a str>,
    /// `responseElements.user.userId` (CreateUser)
    pub user_id: Option<&'a str>,
    /// `requestParameters.newUserName` (UpdateUser)
    pub new_user_name: Option<&'a str>,
    /// `requestParameters.groupName`
    pub group_name: Option<&'a str>,
    /// `responseElements.group.groupId` (CreateGroup)
    pub group_id: Option<&'a str>,
}

/// Only IAM's own calls: Elastic reads these members from every service, and so calls an EC2
/// security group (`requestParameters.groupName` of CreateSecurityGroup) an ECS `group`, which
/// is a group of users.
pub fn iam_target<'a>(record: &'a CloudTrailRecord<'a>) -> IamTarget<'a> {
    if record.event_source.as_deref() != Some("iam.amazonaws.com") {
        return IamTarget::default();
    }
    let [user_name, new_user_name, group_name] = string_members(
        record.request_parameters,
        ["userName", "newUserName", "groupName"],
    )
    .map(given);
    let [user, group] = raw_members(record.response_elements, ["user", "group"]);
    IamTarget {
        user_name,
        user_id: given(string_member(user, "userId")),
        new_user_name,
        group_name,
        group_id: given(string_member(group, "groupId")),
    }
}

/// ECS `tls.*` from `tlsDetails`.
#[derive(Debug, PartialEq)]
pub struct Tls<'a> {
    /// `tls` of `TLSv1.2`
    pub version_protocol: Option<Cow<'a, str>>,
    /// `1.2` of `TLSv1.2`; the whole value when it has no `v`.
    pub version: Option<&'a str>,
    pub cipher: Option<&'a str>,
    /// `clientProvidedHostHeader`: the endpoint name the client asked for.
    pub server_name: Option<&'a str>,
}

pub fn tls<'a>(details: &'a TlsDetails<'a>) -> Option<Tls<'a>> {
    let version = details.tls_version.as_deref();
    // Some records carry the member names as their values (`"tlsVersion": "tlsVersion"`):
    // nothing is known about the connection then.
    if version == Some("tlsVersion") {
        return None;
    }
    let (version_protocol, version) = match version.map(|v| v.split_once('v')) {
        Some(Some((protocol, number))) => (Some(lowercase(protocol)), Some(number)),
        Some(None) => (None, version),
        None => (None, None),
    };
    let tls = Tls {
        version_protocol,
        version,
        cipher: details.cipher_suite.as_deref(),
        server_name: details.client_provided_host_header.as_deref(),
    };
    (tls.version.is_some() || tls.cipher.is_some() || tls.server_name.is_some()).then_some(tls)
}

/// `TLS` → `tls` without allocating for the values CloudTrail writes.
fn lowercase(text: &str) -> Cow<'_, str> {
    if text.eq_ignore_ascii_case("tls") {
        Cow::Borrowed("tls")
    } else if !text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_ascii_lowercase())
    }
}

/// `related.user`: the users named by the call (`requestParameters.userName`, `newUserName`,
/// the created user's id) and the caller (`user.id`, `user.name`), once each, in Elastic's order.
pub fn related_users<'a>(target: &IamTarget<'a>, actor: &Actor<'a>) -> Vec<&'a str> {
    let mut users: Vec<&'a str> = Vec::new();
    for user in [
        target.user_name,
        target.new_user_name,
        target.user_id,
        actor.id,
        actor.name,
    ]
    .into_iter()
    .flatten()
    {
        if !users.contains(&user) {
            users.push(user);
        }
    }
    users
}

/// The string member `key` of the JSON object `payload`; `None` when it is absent, not a plain
/// string (IAM names and ids never need JSON escapes), or the payload is not an object.
fn string_member<'a>(payload: Option<RawJson<'a>>, key: &str) -> Option<&'a str> {
    let [value] = string_members(payload, [key]);
    value
}

fn string_members<'a, const N: usize>(
    payload: Option<RawJson<'a>>,
    keys: [&str; N],
) -> [Option<&'a str>; N] {
    raw_members(payload, keys).map(|raw| raw.and_then(RawJson::plain_str))
}

/// The members `keys` of the JSON object `payload`, in one pass that stops once all are found.
fn raw_members<'a, const N: usize>(
    payload: Option<RawJson<'a>>,
    keys: [&str; N],
) -> [Option<RawJson<'a>>; N] {
    let mut found = [None; N];
    let Some(payload) = payload.filter(|p| p.get().starts_with('{')) else {
        return found;
    };
    let mut missing = N;
    // A payload that is not well-formed JSON gives what was found before the fault.
    let _: Result<(), Stop<()>> = members(payload.get(), |key, value| {
        if let Some(i) = keys.iter().position(|k| *k == key) {
            if found[i].is_none() {
                found[i] = Some(value);
                missing -= 1;
            }
        }
        if missing == 0 {
            Err(())
        } else {
            Ok(())
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> CloudTrailRecord<'_> {
        CloudTrailRecord::parse(json).unwrap()
    }

    /// Every row names ECS values only, once; every (source, name) once.
    #[test]
    fn the_table_holds_ecs_values_once_per_call() {
        const CATEGORIES: [&str; 20] = [
            "api",
            "authentication",
            "configuration",
            "database",
            "driver",
            "email",
            "file",
            "host",
            "iam",
            "intrusion_detection",
            "library",
            "malware",
            "network",
            "package",
            "process",
            "registry",
            "session",
            "threat",
            "vulnerability",
            "web",
        ];
        const TYPES: [&str; 18] = [
            "access",
            "admin",
            "allowed",
            "change",
            "connection",
            "creation",
            "deletion",
            "denied",
            "device",
            "end",
            "error",
            "group",
            "indicator",
            "info",
            "installation",
            "protocol",
            "start",
            "user",
        ];
        assert!(TABLE.len() > 100);
        for pair in TABLE.windows(2) {
            assert!(
                (pair[0].source, pair[0].name) < (pair[1].source, pair[1].name),
                "{} {} twice",
                pair[1].source,
                pair[1].name
            );
        }
        for row in TABLE.iter() {
            assert!(row.source.ends_with(".amazonaws.com"), "{}", row.source);
            assert!(row.class.category.iter().all(|c| CATEGORIES.contains(c)));
            assert!(row.class.event_type.iter().all(|t| TYPES.contains(t)));
        }
        let basis = include_str!("ecs_classification.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split('\t').nth(4));
        for b in basis {
            assert!(["elastic", "ecs", "trailscope"].contains(&b), "{b}");
        }
    }

    #[test]
    fn calls_are_classified_by_source_and_name() {
        let c = classify("iam.amazonaws.com", "CreateUser");
        assert_eq!(c.category, ["iam"]);
        assert_eq!(c.event_type, ["user", "creation"]);
        let c = classify("signin.amazonaws.com", "ConsoleLogin");
        assert_eq!(
            (c.category, c.event_type),
            (&["authentication"][..], &["info"][..])
        );
        // The same name from another service is another call.
        assert_eq!(classify("glue.amazonaws.com", "CreateUser"), UNCLASSIFIED);
        assert_eq!(classify("ec2.amazonaws.com", "DeleteVpc"), UNCLASSIFIED);
        // A call that has no type in ECS terms has none.
        assert!(classify("sns.amazonaws.com", "Publish")
            .event_type
            .is_empty());
        assert_eq!(
            classify("lambda.amazonaws.com", "ListFunctions20150331").category,
            ["package"]
        );
        assert_eq!(undated("GetFunction20150331v2"), "GetFunction");
        assert_eq!(undated("ListFunctions"), "ListFunctions");
        assert_eq!(undated("DescribeV2"), "DescribeV2");
    }

    /// AWS documentation, "CloudTrail log file examples for sign-in events": a failed sign-in has
    /// no errorCode.
    #[test]
    fn a_failed_sign_in_is_a_failure_whatever_the_event() {
        let failed = r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
            "errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"}}"#;
        assert_eq!(outcome(&record(failed)), Outcome::Failure);
        let ok = r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",
            "responseElements":{"ConsoleLogin":"Success"}}"#;
        assert_eq!(outcome(&record(ok)), Outcome::Success);
        for name in ["CheckMfa", "SwitchRole", "ExitRole", "RenewRole"] {
            let json = format!(
                r#"{{"eventSource":"signin.amazonaws.com","eventName":"{name}","responseElements":{{"{name}":"Failure"}}}}"#
            );
            assert_eq!(outcome(&record(&json)), Outcome::Failure, "{name}");
        }
        let identity_center = r#"{"eventSource":"signin.amazonaws.com","eventName":"CredentialVerification",
            "serviceEventDetails":{"CredentialType":"PASSWORD","CredentialVerification":"Failure"}}"#;
        assert_eq!(outcome(&record(identity_center)), Outcome::Failure);
        // An error message alone is a failure too, as is an error code.
        let message =
            r#"{"eventSource":"s3.amazonaws.com","eventName":"GetBucketAcl","errorMessage":"x"}"#;
        assert_eq!(outcome(&record(message)), Outcome::Failure);
        let code = r#"{"eventSource":"s3.amazonaws.com","eventName":"GetBucketAcl","errorCode":"AccessDenied"}"#;
        assert_eq!(outcome(&record(code)), Outcome::Failure);
        // Another service's member of the same name says nothing.
        let other = r#"{"eventSource":"x.amazonaws.com","eventName":"Y","responseElements":{"Y":"Failure"}}"#;
        assert_eq!(outcome(&record(other)), Outcome::Success);
    }

    #[test]
    fn a_role_session_is_named_by_its_role_and_keeps_its_session_name() {
        let json = r#"{"eventName":"X","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice@example.com",
            "arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com","accountId":"111122223333",
            "sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE",
            "arn":"arn:aws:iam::111122223333:role/Admin","accountId":"111122223333","userName":"Admin"}}}}"#;
        let r = record(json);
        let a = actor(&r);
        assert_eq!(a.name, Some("Admin"));
        assert_eq!(a.id, Some("AROAEXAMPLE:alice@example.com"));
        assert_eq!(a.email, None);
        assert_eq!(a.session_name, Some("alice@example.com"));
        let user = r#"{"eventName":"X","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE",
            "arn":"arn:aws:iam::111122223333:user/bob@example.com","userName":"bob@example.com"}}"#;
        let r = record(user);
        let a = actor(&r);
        assert_eq!(a.name, Some("bob@example.com"));
        assert_eq!(a.email, Some("bob@example.com"));
        assert_eq!(a.session_name, None);
        // An Identity Center user: no principal, empty ARN; the name is in the event data.
        let sso = r#"{"eventSource":"signin.amazonaws.com","eventName":"UserAuthentication",
            "userIdentity":{"type":"IdentityCenterUser","arn":"","accessKeyId":"","userName":""},
            "additionalEventData":{"UserName":"carol","CredentialType":"PASSWORD"}}"#;
        let r = record(sso);
        let a = actor(&r);
        assert_eq!((a.name, a.id, a.session_name), (Some("carol"), None, None));
    }

    /// AWS IAM documentation examples of CreateUser / AddUserToGroup / UpdateUser records.
    #[test]
    fn iam_changes_name_their_user_and_group() {
        let create = r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateUser",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAADMIN","userName":"admin"},
            "requestParameters":{"userName":"Bob","path":"/"},
            "responseElements":{"user":{"path":"/","userName":"Bob","userId":"AIDABOB","arn":"arn:aws:iam::1:user/Bob"}}}"#;
        let r = record(create);
        let t = iam_target(&r);
        assert_eq!((t.user_name, t.user_id), (Some("Bob"), Some("AIDABOB")));
        assert_eq!((t.group_name, t.group_id), (None, None));
        assert_eq!(
            related_users(&t, &actor(&r)),
            ["Bob", "AIDABOB", "AIDAADMIN", "admin"]
        );
        let add = r#"{"eventSource":"iam.amazonaws.com","eventName":"AddUserToGroup",
            "requestParameters":{"groupName":"Admins","userName":"Bob"}}"#;
        let r = record(add);
        let t = iam_target(&r);
        assert_eq!((t.group_name, t.user_name), (Some("Admins"), Some("Bob")));
        let rename = r#"{"eventSource":"iam.amazonaws.com","eventName":"UpdateUser",
            "requestParameters":{"userName":"Bob","newUserName":"Robert"}}"#;
        assert_eq!(iam_target(&record(rename)).new_user_name, Some("Robert"));
        // An EC2 security group is not a group of users.
        let sg = r#"{"eventSource":"ec2.amazonaws.com","eventName":"CreateSecurityGroup",
            "requestParameters":{"groupName":"web"}}"#;
        assert_eq!(iam_target(&record(sg)), IamTarget::default());
    }

    #[test]
    fn tls_details_split_into_protocol_and_version() {
        let r = record(
            r#"{"eventName":"X","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader":"logs.us-east-1.amazonaws.com"}}"#,
        );
        let t = tls(r.tls_details.as_ref().unwrap()).unwrap();
        assert_eq!(t.version_protocol.as_deref(), Some("tls"));
        assert_eq!(t.version, Some("1.3"));
        assert_eq!(t.cipher, Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(t.server_name, Some("logs.us-east-1.amazonaws.com"));
        assert!(matches!(t.version_protocol, Some(Cow::Borrowed(_))));
        let r = record(r#"{"eventName":"X","tlsDetails":{"tlsVersion":"1.2"}}"#);
        let t = tls(r.tls_details.as_ref().unwrap()).unwrap();
        assert_eq!((t.version_protocol, t.version), (None, Some("1.2")));
        let r = record(
            r#"{"eventName":"X","tlsDetails":{"tlsVersion":"tlsVersion","cipherSuite":"cipherSuite"}}"#,
        );
        assert_eq!(tls(r.tls_details.as_ref().unwrap()), None);
    }

    #[test]
    fn members_are_found_in_one_pass_and_bad_payloads_give_nothing() {
        let raw = RawJson::parse(r#"{"a":"1","b":{"c":"2"},"d":"e\"scaped","a":"3"}"#).unwrap();
        assert_eq!(
            string_members(Some(raw), ["a", "d", "z"]),
            [Some("1"), None, None]
        );
        let [b] = raw_members(Some(raw), ["b"]);
        assert_eq!(string_member(b, "c"), Some("2"));
        assert_eq!(string_member(RawJson::parse("[1]").ok(), "a"), None);
        assert_eq!(string_member(RawJson::parse(r#""text""#).ok(), "a"), None);
        assert_eq!(string_member(None, "a"), None);
    }
}

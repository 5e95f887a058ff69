//! What a minting event (an STS call that answered with credentials) shows of the credential it
//! minted: the lineage index's document, read by the encoder while the record is parsed. Only the
//! five minting calls have their small `responseElements` parsed again (a few in a million
//! events), so the cost does not show beside the rest of the transform.
//!
//! Nothing is inferred: every field is what the event holds, and a field the event lacks is
//! absent.

use super::cloudtrail::{CloudTrailRecord, UserIdentity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The STS calls that answer with new credentials (`responseElements.credentials.accessKeyId`).
pub const MINTING_EVENTS: [&str; 5] = [
    "GetSessionToken",
    "AssumeRole",
    "AssumeRoleWithWebIdentity",
    "AssumeRoleWithSAML",
    "GetFederationToken",
];

/// Whether an access key is temporary (STS-issued): AWS prefixes those `ASIA`.
pub fn is_temporary(key: &str) -> bool {
    key.starts_with("ASIA")
}

/// One minted credential, as its minting event shows it (the lineage index's document; its `_id`
/// is `access_key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minted {
    /// `responseElements.credentials.accessKeyId`.
    pub access_key: String,
    /// Who called STS: its access key, else its ARN, else its principal id, else the service that
    /// called on its behalf (`invokedBy`, e.g. an instance profile's `ec2.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The caller's `userIdentity.type` (`IAMUser`, `AssumedRole`, `AWSService`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_type: Option<String>,
    /// The caller's ARN, also when `parent` is its access key (what `--principal-arn` selects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_arn: Option<String>,
    /// The STS call (`AssumeRole`, `GetSessionToken`, ...).
    pub minted_by: String,
    /// The minting event's time.
    pub minted_at: DateTime<Utc>,
    /// `event.id` (the CloudTrail `eventID`) of the minting event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minting_event: Option<String>,
    /// The role session (`assumedRoleUser.arn`) or federated user (`federatedUser.arn`); none for
    /// GetSessionToken (the same user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_arn: Option<String>,
    /// The account the credential acts in: the session's (from its ARN), else the caller's
    /// (GetSessionToken: the same user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `responseElements.sourceIdentity`, else `requestParameters.sourceIdentity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// `responseElements.credentials.expiration` as CloudTrail wrote it (`Jan 10, 2026, 12:00:00
    /// PM`, not RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// The same, as a date, when it reads as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The parts of `responseElements` a minting call answers with.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    credentials: Option<Credentials<'a>>,
    #[serde(rename = "assumedRoleUser", borrow)]
    assumed_role_user: Option<Arn<'a>>,
    #[serde(rename = "federatedUser", borrow)]
    federated_user: Option<Arn<'a>>,
    #[serde(rename = "sourceIdentity", borrow)]
    source_identity: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Credentials<'a> {
    #[serde(rename = "accessKeyId", borrow)]
    access_key_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    expiration: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Arn<'a> {
    #[serde(borrow)]
    arn: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(rename = "sourceIdentity", borrow)]
    source_identity: Option<Cow<'a, str>>,
}

fn non_empty(s: Option<Cow<'_, str>>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(Cow::into_owned)
}

fn is_minting(record: &CloudTrailRecord<'_>) -> bool {
    MINTING_EVENTS.contains(&&*record.event_name)
}

fn answer<'r>(record: &'r CloudTrailRecord<'_>) -> Option<Answer<'r>> {
    serde_json::from_str(record.response_elements.as_ref()?.get()).ok()
}

/// The access key a minting call answered with; `None` for any other event.
pub fn minted_key(record: &CloudTrailRecord<'_>) -> Option<Box<str>> {
    if !is_minting(record) {
        return None;
    }
    non_empty(answer(record)?.credentials?.access_key_id)
        .filter(|k| is_access_key(k))
        .map(String::into_boxed_str)
}

/// What AWS gives as an access key id: 16 to 128 word characters. Anything else in a record is
/// not taken as one: it would become a document id (at most 512 bytes) that a hostile record
/// could make fail the batch again at every delivery.
fn is_access_key(key: &str) -> bool {
    (16..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `arn:aws:sts::222233334444:assumed-role/X/s` → `222233334444`.
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// CloudTrail writes `expiration` as `Jan 10, 2026, 12:00:00 PM` (UTC); RFC 3339 is read too.
fn expiration_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%b %e, %Y, %l:%M:%S %p")
        .ok()
        .map(|t| t.and_utc())
}

impl Minted {
    /// The credential `record` minted, when it is a minting call that answered with one; `time`
    /// is the event's time as indexed.
    pub fn of(record: &CloudTrailRecord<'_>, time: DateTime<Utc>) -> Option<Minted> {
        if !is_minting(record) {
            return None;
        }
        let answer = answer(record)?;
        let credentials = answer.credentials?;
        let access_key = non_empty(credentials.access_key_id).filter(|k| is_access_key(k))?;
        let expiration = non_empty(credentials.expiration);
        let who = record.user_identity.as_ref();
        let field = |f: for<'x, 'y> fn(&'x UserIdentity<'y>) -> &'x Option<Cow<'y, str>>| {
            who.map(f)
                .and_then(|v| v.as_deref())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let parent_arn = field(|w| &w.arn);
        let parent = field(|w| &w.access_key_id)
            .or_else(|| parent_arn.clone())
            .or_else(|| field(|w| &w.principal_id))
            .or_else(|| field(|w| &w.invoked_by));
        let session_arn = non_empty(answer.assumed_role_user.and_then(|u| u.arn))
            .or_else(|| non_empty(answer.federated_user.and_then(|u| u.arn)));
        let account = session_arn
            .as_deref()
            .and_then(account_of)
            .map(str::to_owned)
            .or_else(|| field(|w| &w.account_id));
        let source_identity = non_empty(answer.source_identity).or_else(|| {
            let request = record.request_parameters.as_ref()?.get();
            non_empty(
                serde_json::from_str::<Request<'_>>(request)
                    .ok()?
                    .source_identity,
            )
        });
        Some(Minted {
            access_key,
            parent,
            parent_type: field(|w| &w.identity_type),
            parent_arn,
            minted_by: record.event_name.to_string(),
            minted_at: time,
            minting_event: non_empty(record.event_id.clone()),
            account,
            session_arn,
            source_identity,
            expires_at: expiration.as_deref().and_then(expiration_time),
            expiration,
        })
    }

    /// Whether following `parent` may lead further up: a temporary key has a minting event of
    /// its own (indexed or not).
    pub fn parent_is_temporary(&self) -> bool {
        self.parent.as_deref().is_some_and(is_temporary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn minted(json: &str) -> Option<Minted> {
        let record = CloudTrailRecord::parse(json).unwrap();
        Minted::of(&record, record.event_time.unwrap())
    }

    #[test]
    fn an_assume_role_shows_its_session_account_and_parent_key() {
        let m = minted(
            r#"{"eventTime":"2026-01-10T08:03:00Z","eventName":"AssumeRole","eventID":"e4",
            "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/v",
              "accountId":"111122223333","accessKeyId":"ASIASESSION00001"},
            "requestParameters":{"roleArn":"arn:aws:iam::222233334444:role/x","sourceIdentity":"alice"},
            "responseElements":{"credentials":{"accessKeyId":"ASIACROSS0000001","sessionToken":"t",
              "expiration":"Jan 10, 2026, 12:00:00 PM"},
              "assumedRoleUser":{"assumedRoleId":"AROA:s","arn":"arn:aws:sts::222233334444:assumed-role/x/s"}}}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            Minted {
                access_key: "ASIACROSS0000001".into(),
                parent: Some("ASIASESSION00001".into()),
                parent_type: Some("IAMUser".into()),
                parent_arn: Some("arn:aws:iam::111122223333:user/v".into()),
                minted_by: "AssumeRole".into(),
                minted_at: Utc.with_ymd_and_hms(2026, 1, 10, 8, 3, 0).unwrap(),
                minting_event: Some("e4".into()),
                session_arn: Some("arn:aws:sts::222233334444:assumed-role/x/s".into()),
                account: Some("222233334444".into()),
                source_identity: Some("alice".into()),
                expiration: Some("Jan 10, 2026, 12:00:00 PM".into()),
                expires_at: Some(Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap()),
            }
        );
        assert!(m.parent_is_temporary());
    }

    #[test]
    fn a_session_token_is_the_callers_account_and_a_service_call_names_the_service() {
        let m = minted(
            r#"{"eventTime":"2026-01-10T08:01:00Z","eventName":"GetSessionToken",
            "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/v","accountId":"1",
              "accessKeyId":"AKIAV"},
            "responseElements":{"credentials":{"accessKeyId":"ASIASESSION00002","expiration":"2026-01-11T08:01:00Z"}}}"#,
        )
        .unwrap();
        assert_eq!(m.parent.as_deref(), Some("AKIAV"));
        assert_eq!(m.account.as_deref(), Some("1"));
        assert_eq!(m.session_arn, None);
        assert_eq!(m.source_identity, None);
        assert!(m.expires_at.is_some());
        assert!(!m.parent_is_temporary());

        let service = minted(
            r#"{"eventTime":"2026-01-10T08:01:00Z","eventName":"AssumeRole",
            "userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"},
            "responseElements":{"credentials":{"accessKeyId":"ASIAEC2000000001"},
              "assumedRoleUser":{"arn":"arn:aws:sts::3:assumed-role/r/i-0"}}}"#,
        )
        .unwrap();
        assert_eq!(service.parent.as_deref(), Some("ec2.amazonaws.com"));
        assert_eq!(service.parent_type.as_deref(), Some("AWSService"));
        assert_eq!(service.expiration, None);
    }

    #[test]
    fn only_minting_calls_that_answered_with_a_key_mint() {
        // Refused: no credentials in the answer.
        assert!(minted(
            r#"{"eventTime":"2026-01-10T08:01:00Z","eventName":"AssumeRole","errorCode":"AccessDenied",
            "userIdentity":{"type":"IAMUser","accessKeyId":"AKIAV"},"responseElements":null}"#
        )
        .is_none());
        // Not an access key id: too long, or not word characters.
        let long = "A".repeat(600);
        assert!(minted(&format!(
            r#"{{"eventTime":"2026-01-10T08:01:00Z","eventName":"GetSessionToken",
            "responseElements":{{"credentials":{{"accessKeyId":"{long}"}}}}}}"#
        ))
        .is_none());
        assert!(minted(
            r#"{"eventTime":"2026-01-10T08:01:00Z","eventName":"GetSessionToken",
            "responseElements":{"credentials":{"accessKeyId":"ASIA/../../_doc/x"}}}"#
        )
        .is_none());
        // Another call with the same shape of answer is not a minting call.
        assert!(minted(
            r#"{"eventTime":"2026-01-10T08:01:00Z","eventName":"CreateAccessKey",
            "responseElements":{"credentials":{"accessKeyId":"AKIANEW"}}}"#
        )
        .is_none());
    }
}

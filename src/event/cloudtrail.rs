//! The CloudTrail record: every documented field typed, every other field kept as it came.
//!
//! Strings borrow from the input where they can; free-form service payloads (requestParameters,
//! responseElements, ...) stay raw JSON, so decoding never fails on what a service put in them.

use super::fields::{BorrowedKey, Fields};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Why a message is not a CloudTrail record we can index.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("required field `{0}` is missing")]
    Missing(&'static str),
    #[error("field `{field}` has the wrong type: {reason}")]
    WrongType { field: &'static str, reason: String },
    #[error("field `eventTime` is not an RFC 3339 time: {0:?}")]
    BadTime(String),
}

type Str<'a> = Cow<'a, str>;
type Raw<'a> = &'a RawValue;
/// Members that the model does not know, by their dotted path (`userIdentity.newThing`), kept
/// as they came.
pub type Unknown<'a> = Vec<(Str<'a>, Raw<'a>)>;

fn push_unknown<'a>(unknown: &mut Unknown<'a>, parent: &str, key: Str<'a>, raw: Raw<'a>) {
    unknown.push((Cow::Owned(format!("{parent}.{key}")), raw));
}

#[derive(Debug, Default)]
pub struct CloudTrailRecord<'a> {
    pub event_version: Option<Str<'a>>,
    /// The original `eventTime` text and its parsed value. Real CloudTrail records always have
    /// one; hand-made ones may not, and then the position's timestamp stands in (see
    /// `encode.rs`).
    pub event_time_text: Option<Str<'a>>,
    pub event_time: Option<DateTime<Utc>>,
    pub event_source: Option<Str<'a>>,
    pub event_name: Str<'a>,
    pub aws_region: Option<Str<'a>>,
    pub source_ip_address: Option<Str<'a>>,
    pub user_agent: Option<Str<'a>>,
    pub user_identity: Option<UserIdentity<'a>>,
    pub error_code: Option<Str<'a>>,
    pub error_message: Option<Str<'a>>,
    pub request_parameters: Option<Raw<'a>>,
    pub response_elements: Option<Raw<'a>>,
    pub additional_event_data: Option<Raw<'a>>,
    pub service_event_details: Option<Raw<'a>>,
    pub request_id: Option<Str<'a>>,
    pub event_id: Option<Str<'a>>,
    pub read_only: Option<bool>,
    pub resources: Vec<Resource<'a>>,
    pub event_type: Option<Str<'a>>,
    pub api_version: Option<Str<'a>>,
    pub management_event: Option<bool>,
    pub recipient_account_id: Option<Str<'a>>,
    pub shared_event_id: Option<Str<'a>>,
    pub vpc_endpoint_id: Option<Str<'a>>,
    pub vpc_endpoint_account_id: Option<Str<'a>>,
    pub event_category: Option<Str<'a>>,
    pub addendum: Option<Raw<'a>>,
    pub edge_device_details: Option<Raw<'a>>,
    pub tls_details: Option<TlsDetails<'a>>,
    pub session_credential_from_console: Option<bool>,
    pub insight_details: Option<Raw<'a>>,
    pub unknown: Unknown<'a>,
}

#[derive(Debug, Default)]
pub struct UserIdentity<'a> {
    pub identity_type: Option<Str<'a>>,
    pub principal_id: Option<Str<'a>>,
    pub arn: Option<Str<'a>>,
    pub account_id: Option<Str<'a>>,
    pub access_key_id: Option<Str<'a>>,
    pub user_name: Option<Str<'a>>,
    pub invoked_by: Option<Str<'a>>,
    pub identity_provider: Option<Str<'a>>,
    pub credential_id: Option<Str<'a>>,
    pub on_behalf_of: Option<Raw<'a>>,
    pub session_context: Option<SessionContext<'a>>,
}

#[derive(Debug, Default)]
pub struct SessionContext<'a> {
    pub mfa_authenticated: Option<bool>,
    pub creation_date: Option<Str<'a>>,
    pub session_issuer: Option<SessionIssuer<'a>>,
    pub web_id_federation_data: Option<WebIdFederationData<'a>>,
    pub source_identity: Option<Str<'a>>,
    pub ec2_role_delivery: Option<Str<'a>>,
    pub assumed_root: Option<Str<'a>>,
}

#[derive(Debug, Default)]
pub struct SessionIssuer<'a> {
    pub issuer_type: Option<Str<'a>>,
    pub principal_id: Option<Str<'a>>,
    pub arn: Option<Str<'a>>,
    pub account_id: Option<Str<'a>>,
    pub user_name: Option<Str<'a>>,
}

#[derive(Debug, Default)]
pub struct WebIdFederationData<'a> {
    pub federated_provider: Option<Str<'a>>,
    pub attributes: Option<Raw<'a>>,
}

#[derive(Debug, Default)]
pub struct Resource<'a> {
    pub arn: Option<Str<'a>>,
    pub account_id: Option<Str<'a>>,
    pub resource_type: Option<Str<'a>>,
}

#[derive(Debug, Default)]
pub struct TlsDetails<'a> {
    pub tls_version: Option<Str<'a>>,
    pub cipher_suite: Option<Str<'a>>,
    pub client_provided_host_header: Option<Str<'a>>,
}

impl<'a> CloudTrailRecord<'a> {
    /// Decodes one CloudTrail record (one JSON object) borrowing from `json`.
    pub fn parse(json: &'a str) -> Result<Self, DecodeError> {
        let fields = object(json, "record")?;
        let mut r = CloudTrailRecord::default();
        let mut event_time = None;
        let mut event_time_raw = None;
        let mut event_source = None;
        let mut event_name = None;
        for (key, raw) in fields.0 {
            let parsed = match key.as_ref() {
                "eventVersion" => string(raw, "eventVersion").map(|v| r.event_version = v),
                "eventTime" => {
                    event_time_raw = Some(raw);
                    string(raw, "eventTime").map(|v| event_time = v)
                }
                "eventSource" => string(raw, "eventSource").map(|v| event_source = v),
                "eventName" => string(raw, "eventName").map(|v| event_name = v),
                "awsRegion" => string(raw, "awsRegion").map(|v| r.aws_region = v),
                "sourceIPAddress" => {
                    string(raw, "sourceIPAddress").map(|v| r.source_ip_address = v)
                }
                "userAgent" => string(raw, "userAgent").map(|v| r.user_agent = v),
                "userIdentity" => user_identity(raw, &mut r.unknown).map(|v| r.user_identity = v),
                "errorCode" => string(raw, "errorCode").map(|v| r.error_code = v),
                "errorMessage" => string(raw, "errorMessage").map(|v| r.error_message = v),
                "requestParameters" => {
                    r.request_parameters = non_null(raw);
                    Ok(())
                }
                "responseElements" => {
                    r.response_elements = non_null(raw);
                    Ok(())
                }
                "additionalEventData" => {
                    r.additional_event_data = non_null(raw);
                    Ok(())
                }
                "serviceEventDetails" => {
                    r.service_event_details = non_null(raw);
                    Ok(())
                }
                "requestID" => string(raw, "requestID").map(|v| r.request_id = v),
                "eventID" => string(raw, "eventID").map(|v| r.event_id = v),
                "readOnly" => boolean(raw, "readOnly").map(|v| r.read_only = v),
                "resources" => resources(raw, &mut r.unknown).map(|v| r.resources = v),
                "eventType" => string(raw, "eventType").map(|v| r.event_type = v),
                "apiVersion" => string(raw, "apiVersion").map(|v| r.api_version = v),
                "managementEvent" => {
                    boolean(raw, "managementEvent").map(|v| r.management_event = v)
                }
                "recipientAccountId" => {
                    string(raw, "recipientAccountId").map(|v| r.recipient_account_id = v)
                }
                "sharedEventID" => string(raw, "sharedEventID").map(|v| r.shared_event_id = v),
                "vpcEndpointId" => string(raw, "vpcEndpointId").map(|v| r.vpc_endpoint_id = v),
                "vpcEndpointAccountId" => {
                    string(raw, "vpcEndpointAccountId").map(|v| r.vpc_endpoint_account_id = v)
                }
                "eventCategory" => string(raw, "eventCategory").map(|v| r.event_category = v),
                "addendum" => {
                    r.addendum = non_null(raw);
                    Ok(())
                }
                "edgeDeviceDetails" => {
                    r.edge_device_details = non_null(raw);
                    Ok(())
                }
                "tlsDetails" => tls_details(raw, &mut r.unknown).map(|v| r.tls_details = v),
                "sessionCredentialFromConsole" => boolean(raw, "sessionCredentialFromConsole")
                    .map(|v| r.session_credential_from_console = v),
                "insightDetails" => {
                    r.insight_details = non_null(raw);
                    Ok(())
                }
                _ => {
                    r.unknown.push((key, raw));
                    continue;
                }
            };
            // A field of an unexpected type is kept as it came rather than costing the event;
            // only the fields that make it a record of a call in time must be right.
            if let Err(e) = parsed {
                match key.as_ref() {
                    "eventName" | "eventTime" => return Err(e),
                    _ => r.unknown.push((key, raw)),
                }
            }
        }
        if let Some(text) = event_time {
            r.event_time = parse_time(&text);
            if r.event_time.is_none() {
                // Kept as it came; where the event is indexed is decided by the encoder.
                if let Some(raw) = event_time_raw {
                    r.unknown.push((Cow::Borrowed("eventTime"), raw));
                }
            }
            r.event_time_text = Some(text);
        }
        r.event_source = event_source;
        // Without an eventName it is not a record of an API call at all.
        r.event_name = event_name.ok_or(DecodeError::Missing("eventName"))?;
        Ok(r)
    }
}

/// CloudTrail writes RFC 3339 (`2024-01-02T03:04:05Z`); exports and other tools write
/// `2024-01-02 03:04:05.000000000` (UTC, no zone): accept both.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

fn object<'a>(json: &'a str, what: &'static str) -> Result<Fields<'a>, DecodeError> {
    serde_json::from_str(json).map_err(|e| match what {
        "record" => DecodeError::NotJson(e.to_string()),
        field => DecodeError::WrongType {
            field,
            reason: e.to_string(),
        },
    })
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

fn non_null(raw: &RawValue) -> Option<&RawValue> {
    (!is_null(raw)).then_some(raw)
}

fn string<'a>(raw: &'a RawValue, field: &'static str) -> Result<Option<Str<'a>>, DecodeError> {
    if is_null(raw) {
        return Ok(None);
    }
    // Fast path (nearly every value): `raw` is already validated JSON, so a value in quotes with
    // no backslash is a complete string whose text is exactly what lies between the quotes
    // (JSON forbids raw control characters in strings): borrow it without parsing it again.
    let text = raw.get();
    if text.len() >= 2 && text.starts_with('"') && !text.contains('\\') {
        return Ok(Some(Cow::Borrowed(&text[1..text.len() - 1])));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    BorrowedKey::deserialize(&mut de)
        .map(|s| Some(s.0))
        .map_err(|e| DecodeError::WrongType {
            field,
            reason: e.to_string(),
        })
}

/// CloudTrail writes some booleans as strings (`"mfaAuthenticated": "true"`,
/// `"sessionCredentialFromConsole": "true"`): accept both.
fn boolean(raw: &RawValue, field: &'static str) -> Result<Option<bool>, DecodeError> {
    match raw.get() {
        "null" => Ok(None),
        "true" | "\"true\"" | "\"TRUE\"" | "\"True\"" => Ok(Some(true)),
        "false" | "\"false\"" | "\"FALSE\"" | "\"False\"" => Ok(Some(false)),
        other => Err(DecodeError::WrongType {
            field,
            reason: format!("expected a boolean, found {other}"),
        }),
    }
}

fn user_identity<'a>(
    raw: &'a RawValue,
    unknown: &mut Unknown<'a>,
) -> Result<Option<UserIdentity<'a>>, DecodeError> {
    if is_null(raw) {
        return Ok(None);
    }
    let mut u = UserIdentity::default();
    for (key, raw) in object(raw.get(), "userIdentity")?.0 {
        match key.as_ref() {
            "type" => u.identity_type = string(raw, "userIdentity.type")?,
            "principalId" => u.principal_id = string(raw, "userIdentity.principalId")?,
            "arn" => u.arn = string(raw, "userIdentity.arn")?,
            "accountId" => u.account_id = string(raw, "userIdentity.accountId")?,
            "accessKeyId" => u.access_key_id = string(raw, "userIdentity.accessKeyId")?,
            "userName" => u.user_name = string(raw, "userIdentity.userName")?,
            "invokedBy" => u.invoked_by = string(raw, "userIdentity.invokedBy")?,
            "identityProvider" => {
                u.identity_provider = string(raw, "userIdentity.identityProvider")?
            }
            "credentialId" => u.credential_id = string(raw, "userIdentity.credentialId")?,
            "onBehalfOf" => u.on_behalf_of = non_null(raw),
            "sessionContext" => u.session_context = session_context(raw, unknown)?,
            _ => push_unknown(unknown, "userIdentity", key, raw),
        }
    }
    Ok(Some(u))
}

fn session_context<'a>(
    raw: &'a RawValue,
    unknown: &mut Unknown<'a>,
) -> Result<Option<SessionContext<'a>>, DecodeError> {
    if is_null(raw) {
        return Ok(None);
    }
    let mut c = SessionContext::default();
    for (key, raw) in object(raw.get(), "userIdentity.sessionContext")?.0 {
        match key.as_ref() {
            "attributes" if !is_null(raw) => {
                for (k, v) in object(raw.get(), "sessionContext.attributes")?.0 {
                    match k.as_ref() {
                        "mfaAuthenticated" => {
                            c.mfa_authenticated = boolean(v, "attributes.mfaAuthenticated")?
                        }
                        "creationDate" => c.creation_date = string(v, "attributes.creationDate")?,
                        _ => push_unknown(unknown, "userIdentity.sessionContext.attributes", k, v),
                    }
                }
            }
            "sessionIssuer" if !is_null(raw) => {
                let mut i = SessionIssuer::default();
                for (k, v) in object(raw.get(), "sessionContext.sessionIssuer")?.0 {
                    match k.as_ref() {
                        "type" => i.issuer_type = string(v, "sessionIssuer.type")?,
                        "principalId" => i.principal_id = string(v, "sessionIssuer.principalId")?,
                        "arn" => i.arn = string(v, "sessionIssuer.arn")?,
                        "accountId" => i.account_id = string(v, "sessionIssuer.accountId")?,
                        "userName" => i.user_name = string(v, "sessionIssuer.userName")?,
                        _ => {
                            push_unknown(unknown, "userIdentity.sessionContext.sessionIssuer", k, v)
                        }
                    }
                }
                c.session_issuer = Some(i);
            }
            "webIdFederationData" if !is_null(raw) => {
                let mut w = WebIdFederationData::default();
                for (k, v) in object(raw.get(), "sessionContext.webIdFederationData")?.0 {
                    match k.as_ref() {
                        "federatedProvider" => {
                            w.federated_provider =
                                string(v, "webIdFederationData.federatedProvider")?
                        }
                        "attributes" => w.attributes = non_null(v),
                        _ => push_unknown(
                            unknown,
                            "userIdentity.sessionContext.webIdFederationData",
                            k,
                            v,
                        ),
                    }
                }
                c.web_id_federation_data = Some(w);
            }
            "sourceIdentity" => c.source_identity = string(raw, "sessionContext.sourceIdentity")?,
            "ec2RoleDelivery" => {
                c.ec2_role_delivery = string(raw, "sessionContext.ec2RoleDelivery")?
            }
            "assumedRoot" => c.assumed_root = string(raw, "sessionContext.assumedRoot")?,
            _ => push_unknown(unknown, "userIdentity.sessionContext", key, raw),
        }
    }
    Ok(Some(c))
}

fn resources<'a>(
    raw: &'a RawValue,
    unknown: &mut Unknown<'a>,
) -> Result<Vec<Resource<'a>>, DecodeError> {
    if is_null(raw) {
        return Ok(Vec::new());
    }
    let items: Vec<&RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| DecodeError::WrongType {
            field: "resources",
            reason: e.to_string(),
        })?;
    let mut out = Vec::with_capacity(items.len());
    for raw in items.into_iter().filter(|raw| !is_null(raw)) {
        if !raw.get().starts_with('{') {
            unknown.push((Cow::Borrowed("resources[]"), raw));
            continue;
        }
        {
            let mut res = Resource::default();
            for (k, v) in object(raw.get(), "resources[]")?.0 {
                match k.as_ref() {
                    "ARN" | "arn" => res.arn = string(v, "resources[].ARN")?,
                    "accountId" => res.account_id = string(v, "resources[].accountId")?,
                    "type" => res.resource_type = string(v, "resources[].type")?,
                    _ => push_unknown(unknown, "resources[]", k, v),
                }
            }
            out.push(res);
        }
    }
    Ok(out)
}

fn tls_details<'a>(
    raw: &'a RawValue,
    unknown: &mut Unknown<'a>,
) -> Result<Option<TlsDetails<'a>>, DecodeError> {
    if is_null(raw) {
        return Ok(None);
    }
    let mut t = TlsDetails::default();
    for (k, v) in object(raw.get(), "tlsDetails")?.0 {
        match k.as_ref() {
            "tlsVersion" => t.tls_version = string(v, "tlsDetails.tlsVersion")?,
            "cipherSuite" => t.cipher_suite = string(v, "tlsDetails.cipherSuite")?,
            "clientProvidedHostHeader" => {
                t.client_provided_host_header = string(v, "tlsDetails.clientProvidedHostHeader")?
            }
            _ => push_unknown(unknown, "tlsDetails", k, v),
        }
    }
    Ok(Some(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_documented_field_and_keeps_unknown_ones() {
        let text = r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA:s",
          "arn":"arn:aws:sts::1:assumed-role/R/s","accountId":"1","accessKeyId":"ASIA",
          "sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/R","userName":"R"},
          "attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"true"},
          "sourceIdentity":"me","newCtx":1},"newIdentityField":{"a":1}},
          "eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject",
          "awsRegion":"eu-west-1","sourceIPAddress":"1.2.3.4","userAgent":"ua","errorCode":"AccessDenied",
          "requestParameters":{"bucketName":"b"},"responseElements":null,"readOnly":true,
          "resources":[{"ARN":"arn:aws:s3:::b","accountId":"1","type":"AWS::S3::Bucket","extra":2}],
          "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"1","eventID":"e",
          "tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"c","clientProvidedHostHeader":"h"},
          "sessionCredentialFromConsole":"true","brandNew":[1,2]}"#;
        let r = CloudTrailRecord::parse(text).unwrap();
        assert_eq!(r.event_source.as_deref(), Some("s3.amazonaws.com"));
        assert_eq!(r.event_time_text.as_deref(), Some("2024-01-02T03:04:05Z"));
        let id = r.user_identity.as_ref().unwrap();
        let ctx = id.session_context.as_ref().unwrap();
        assert_eq!(ctx.mfa_authenticated, Some(true));
        assert_eq!(ctx.source_identity.as_deref(), Some("me"));
        assert_eq!(
            ctx.session_issuer.as_ref().unwrap().user_name.as_deref(),
            Some("R")
        );
        assert_eq!(r.read_only, Some(true));
        assert_eq!(r.session_credential_from_console, Some(true));
        assert!(r.response_elements.is_none());
        assert_eq!(r.resources[0].arn.as_deref(), Some("arn:aws:s3:::b"));
        let unknown: Vec<(&str, &str)> = r
            .unknown
            .iter()
            .map(|(k, v)| (k.as_ref(), v.get()))
            .collect();
        assert!(unknown.contains(&("brandNew", "[1,2]")));
        assert!(unknown.contains(&("userIdentity.newIdentityField", "{\"a\":1}")));
        assert!(unknown.contains(&("userIdentity.sessionContext.newCtx", "1")));
        assert!(unknown.contains(&("resources[].extra", "2")));
    }

    #[test]
    fn clear_errors_for_what_is_not_a_record() {
        assert!(matches!(
            CloudTrailRecord::parse("nope"),
            Err(DecodeError::NotJson(_))
        ));
        assert!(matches!(
            CloudTrailRecord::parse("[1]"),
            Err(DecodeError::NotJson(_))
        ));
        assert_eq!(
            CloudTrailRecord::parse(r#"{"eventTime":"2024-01-01T00:00:00Z"}"#).unwrap_err(),
            DecodeError::Missing("eventName")
        );
        assert!(matches!(
            CloudTrailRecord::parse(r#"{"eventName":7}"#),
            Err(DecodeError::WrongType {
                field: "eventName",
                ..
            })
        ));
        // An optional field of the wrong type is kept aside, not fatal.
        let r = CloudTrailRecord::parse(r#"{"eventName":"X","awsRegion":5,"resources":["a"]}"#)
            .unwrap();
        assert_eq!(r.aws_region, None);
        let unknown: Vec<(&str, &str)> = r
            .unknown
            .iter()
            .map(|(k, v)| (k.as_ref(), v.get()))
            .collect();
        assert_eq!(unknown, [("awsRegion", "5"), ("resources[]", "\"a\"")]);
        let r = CloudTrailRecord::parse(r#"{"eventName":"X","eventTime":"yesterday"}"#).unwrap();
        assert_eq!(
            (r.event_time, r.event_time_text.as_deref()),
            (None, Some("yesterday"))
        );
        assert_eq!(r.unknown[0].0, "eventTime");
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let r =
            CloudTrailRecord::parse(r#"{"eventName":"A\u0042","errorMessage":"a \"b\""}"#).unwrap();
        assert_eq!(r.event_name, "AB");
        assert_eq!(r.error_message.as_deref(), Some("a \"b\""));
    }

    #[test]
    fn times_in_both_formats() {
        let a = parse_time("2025-01-21T17:49:47Z").unwrap();
        assert_eq!(parse_time("2025-01-21 17:49:47.000000000"), Some(a));
        assert_eq!(parse_time("2025-01-21T17:49:47.000+00:00"), Some(a));
        assert_eq!(parse_time("21/01/2025"), None);
    }
}

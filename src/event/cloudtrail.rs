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
    /// The original `eventTime` text (indexed as is) and its parsed value.
    pub event_time_text: Str<'a>,
    pub event_time: DateTime<Utc>,
    pub event_source: Str<'a>,
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
        let mut event_source = None;
        let mut event_name = None;
        for (key, raw) in fields.0 {
            match key.as_ref() {
                "eventVersion" => r.event_version = string(raw, "eventVersion")?,
                "eventTime" => event_time = string(raw, "eventTime")?,
                "eventSource" => event_source = string(raw, "eventSource")?,
                "eventName" => event_name = string(raw, "eventName")?,
                "awsRegion" => r.aws_region = string(raw, "awsRegion")?,
                "sourceIPAddress" => r.source_ip_address = string(raw, "sourceIPAddress")?,
                "userAgent" => r.user_agent = string(raw, "userAgent")?,
                "userIdentity" => r.user_identity = user_identity(raw, &mut r.unknown)?,
                "errorCode" => r.error_code = string(raw, "errorCode")?,
                "errorMessage" => r.error_message = string(raw, "errorMessage")?,
                "requestParameters" => r.request_parameters = non_null(raw),
                "responseElements" => r.response_elements = non_null(raw),
                "additionalEventData" => r.additional_event_data = non_null(raw),
                "serviceEventDetails" => r.service_event_details = non_null(raw),
                "requestID" => r.request_id = string(raw, "requestID")?,
                "eventID" => r.event_id = string(raw, "eventID")?,
                "readOnly" => r.read_only = boolean(raw, "readOnly")?,
                "resources" => r.resources = resources(raw, &mut r.unknown)?,
                "eventType" => r.event_type = string(raw, "eventType")?,
                "apiVersion" => r.api_version = string(raw, "apiVersion")?,
                "managementEvent" => r.management_event = boolean(raw, "managementEvent")?,
                "recipientAccountId" => r.recipient_account_id = string(raw, "recipientAccountId")?,
                "sharedEventID" => r.shared_event_id = string(raw, "sharedEventID")?,
                "vpcEndpointId" => r.vpc_endpoint_id = string(raw, "vpcEndpointId")?,
                "vpcEndpointAccountId" => {
                    r.vpc_endpoint_account_id = string(raw, "vpcEndpointAccountId")?
                }
                "eventCategory" => r.event_category = string(raw, "eventCategory")?,
                "addendum" => r.addendum = non_null(raw),
                "edgeDeviceDetails" => r.edge_device_details = non_null(raw),
                "tlsDetails" => r.tls_details = tls_details(raw, &mut r.unknown)?,
                "sessionCredentialFromConsole" => {
                    r.session_credential_from_console =
                        boolean(raw, "sessionCredentialFromConsole")?
                }
                "insightDetails" => r.insight_details = non_null(raw),
                _ => r.unknown.push((key, raw)),
            }
        }
        let time_text = event_time.ok_or(DecodeError::Missing("eventTime"))?;
        r.event_time = DateTime::parse_from_rfc3339(&time_text)
            .map_err(|_| DecodeError::BadTime(time_text.to_string()))?
            .with_timezone(&Utc);
        r.event_time_text = time_text;
        r.event_source = event_source.ok_or(DecodeError::Missing("eventSource"))?;
        r.event_name = event_name.ok_or(DecodeError::Missing("eventName"))?;
        Ok(r)
    }
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
    let mut de = serde_json::Deserializer::from_str(raw.get());
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

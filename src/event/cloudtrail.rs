//! The CloudTrail record: every documented field typed, every other field kept as it came.
//!
//! Strings borrow from the input where they can; free-form service payloads (requestParameters,
//! responseElements, ...) stay raw JSON, so decoding never fails on what a service put in them.

use super::fields::{elements, members, BorrowedKey, Stop};
use chrono::{DateTime, Utc};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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
    /// `event_time_text` is RFC 3339 (what CloudTrail writes), so it can be indexed as it came.
    pub event_time_is_rfc3339: bool,
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
        // First with the identity read in place, in the one pass over the record; anything
        // unusual (not JSON, a member of the wrong type in the identity) and the record is read
        // again member by member, each taken raw first, which says what was wrong and keeps
        // what cannot be read aside.
        match Self::read(json, true) {
            Ok(decoded) => decoded,
            Err(_) => {
                Self::read(json, false).unwrap_or_else(|e| Err(DecodeError::NotJson(e.to_string())))
            }
        }
    }

    fn read(json: &'a str, in_place: bool) -> Result<Result<Self, DecodeError>, serde_json::Error> {
        let mut r = CloudTrailRecord::default();
        let mut event_time = None;
        let mut event_time_raw = None;
        let mut event_source = None;
        let mut event_name = None;
        // The first error that costs the event; reading goes on, so that a message that is not
        // JSON at all is still told as such.
        let mut fatal = None;
        let f = |key: Str<'a>, raw: Raw<'a>, unknown: &mut Unknown<'a>| {
            if fatal.is_some() {
                return;
            }
            // What a nested object set aside before it turned out to be of a wrong type is
            // dropped with it: the whole object is kept instead, once.
            let set_aside = unknown.len();
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
                "userIdentity" => user_identity(raw, unknown).map(|v| r.user_identity = v),
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
                "resources" => resources(raw, unknown).map(|v| r.resources = v),
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
                "tlsDetails" => tls_details(raw, unknown).map(|v| r.tls_details = v),
                "sessionCredentialFromConsole" => boolean(raw, "sessionCredentialFromConsole")
                    .map(|v| r.session_credential_from_console = v),
                "insightDetails" => {
                    r.insight_details = non_null(raw);
                    Ok(())
                }
                _ => {
                    unknown.push((key, raw));
                    return;
                }
            };
            // A field of an unexpected type is kept as it came rather than costing the event;
            // only the fields that make it a record of a call in time must be right.
            if let Err(e) = parsed {
                match key.as_ref() {
                    "eventName" | "eventTime" => fatal = Some(e),
                    _ => {
                        unknown.truncate(set_aside);
                        unknown.push((key, raw));
                    }
                }
            }
        };
        let mut visitor = RecordMembers {
            f,
            unknown: Vec::new(),
            in_place,
            identity: None,
            resources: None,
            tls_details: None,
        };
        let mut de = serde_json::Deserializer::from_str(json);
        de.deserialize_map(&mut visitor)?;
        de.end()?;
        let RecordMembers {
            unknown,
            identity,
            resources,
            tls_details,
            ..
        } = visitor;
        r.unknown = unknown;
        if let Some(identity) = identity {
            r.user_identity = identity;
        }
        if let Some(resources) = resources {
            r.resources = resources;
        }
        if let Some(tls_details) = tls_details {
            r.tls_details = tls_details;
        }
        if let Some(e) = fatal {
            return Ok(Err(e));
        }
        if let Some(text) = event_time {
            (r.event_time, r.event_time_is_rfc3339) = match parse_time_as(&text) {
                Some((t, rfc3339)) => (Some(t), rfc3339),
                None => (None, false),
            };
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
        Ok(match event_name {
            Some(name) => {
                r.event_name = name;
                Ok(r)
            }
            None => Err(DecodeError::Missing("eventName")),
        })
    }
}

/// The members of a record: `f` gets each one raw, except the nested ones that are read in place
/// when `in_place` (`userIdentity`, `resources`, `tlsDetails`: what was read, if they came).
struct RecordMembers<'a, F> {
    f: F,
    unknown: Unknown<'a>,
    in_place: bool,
    identity: Option<Option<UserIdentity<'a>>>,
    resources: Option<Vec<Resource<'a>>>,
    tls_details: Option<Option<TlsDetails<'a>>>,
}

/// `resources` read in place: `null` elements are skipped; an element that is neither `null` nor
/// an object is an error here (the careful reading keeps it aside).
struct Resources<'u, 'a> {
    unknown: &'u mut Unknown<'a>,
}

impl<'a> DeserializeSeed<'a> for Resources<'_, 'a> {
    type Value = Vec<Resource<'a>>;
    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'a> Visitor<'a> for Resources<'_, 'a> {
    type Value = Vec<Resource<'a>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of objects")
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'a>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
    fn visit_seq<S: SeqAccess<'a>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut out = Vec::new();
        loop {
            let mut res = Resource::default();
            match seq.next_element_seed(Nested {
                target: &mut res,
                unknown: &mut *self.unknown,
            })? {
                None => return Ok(out),
                Some(true) => out.push(res),
                Some(false) => {}
            }
        }
    }
}

impl<'a> Members<'a> for Resource<'a> {
    fn member<M: MapAccess<'a>>(
        &mut self,
        k: Str<'a>,
        map: &mut M,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), M::Error> {
        let v: Raw<'a> = map.next_value()?;
        match k.as_ref() {
            "ARN" | "arn" => self.arn = string(v, "resources[].ARN").map_err(refused)?,
            "accountId" => self.account_id = string(v, "resources[].accountId").map_err(refused)?,
            "type" => self.resource_type = string(v, "resources[].type").map_err(refused)?,
            _ => push_unknown(unknown, "resources[]", k, v),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for TlsDetails<'a> {
    fn member<M: MapAccess<'a>>(
        &mut self,
        k: Str<'a>,
        map: &mut M,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), M::Error> {
        let v: Raw<'a> = map.next_value()?;
        match k.as_ref() {
            "tlsVersion" => {
                self.tls_version = string(v, "tlsDetails.tlsVersion").map_err(refused)?
            }
            "cipherSuite" => {
                self.cipher_suite = string(v, "tlsDetails.cipherSuite").map_err(refused)?
            }
            "clientProvidedHostHeader" => {
                self.client_provided_host_header =
                    string(v, "tlsDetails.clientProvidedHostHeader").map_err(refused)?
            }
            _ => push_unknown(unknown, "tlsDetails", k, v),
        }
        Ok(())
    }
}

impl<'a, F: FnMut(Str<'a>, Raw<'a>, &mut Unknown<'a>)> Visitor<'a> for &mut RecordMembers<'a, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<BorrowedKey<'a>>()? {
            if self.in_place {
                let unknown = &mut self.unknown;
                match key.0.as_ref() {
                    "userIdentity" => {
                        let mut u = UserIdentity::default();
                        let read = map.next_value_seed(Nested {
                            target: &mut u,
                            unknown,
                        })?;
                        self.identity = Some(read.then_some(u));
                        continue;
                    }
                    "resources" => {
                        self.resources = Some(map.next_value_seed(Resources { unknown })?);
                        continue;
                    }
                    "tlsDetails" => {
                        let mut t = TlsDetails::default();
                        let read = map.next_value_seed(Nested {
                            target: &mut t,
                            unknown,
                        })?;
                        self.tls_details = Some(read.then_some(t));
                        continue;
                    }
                    _ => {}
                }
            }
            let raw: Raw<'a> = map.next_value()?;
            (self.f)(key.0, raw, &mut self.unknown);
        }
        Ok(())
    }
}

/// CloudTrail writes RFC 3339 (`2024-01-02T03:04:05Z`); exports and other tools write
/// `2024-01-02 03:04:05.000000000` (UTC, no zone): accept both.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    parse_time_as(text).map(|(t, _)| t)
}

/// [`parse_time`], and whether `text` is RFC 3339.
fn parse_time_as(text: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Some(t) = parse_cloudtrail_time(text) {
        return Some((t, true));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some((t.with_timezone(&Utc), true));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| (t.and_utc(), false))
}

/// The one shape CloudTrail writes, `2024-01-02T03:04:05Z`, without chrono's general parser (a
/// few hundred instructions per event). Anything else, a leap second included, is left to it.
fn parse_cloudtrail_time(text: &str) -> Option<DateTime<Utc>> {
    let b: &[u8; 20] = text.as_bytes().try_into().ok()?;
    if (b[4], b[7], b[10], b[13], b[16], b[19]) != (b'-', b'-', b'T', b':', b':', b'Z') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(time.and_utc())
}

/// Each member of the JSON object `raw` (`what` in errors), read as it comes.
fn object<'a>(
    raw: &'a RawValue,
    what: &'static str,
    f: impl FnMut(Str<'a>, Raw<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    members(raw.get(), f).map_err(|stop| match stop {
        Stop::Json(e) => DecodeError::WrongType {
            field: what,
            reason: e.to_string(),
        },
        Stop::Refused(e) => e,
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
    // One pass over the identity, its session context and the objects in that read in place:
    // taking each level raw and reading it again read the deepest parts four times.
    let mut u = UserIdentity::default();
    let mut de = serde_json::Deserializer::from_str(raw.get());
    Nested {
        target: &mut u,
        unknown,
    }
    .deserialize(&mut de)
    .map_err(|e| DecodeError::WrongType {
        field: "userIdentity",
        reason: e.to_string(),
    })?;
    Ok(Some(u))
}

/// The members of one JSON object, read into `Self` as they come.
trait Members<'a> {
    fn member<M: MapAccess<'a>>(
        &mut self,
        key: Str<'a>,
        map: &mut M,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), M::Error>;
}

/// Reads the object at hand into `target` member by member: `true`, or `false` for `null`;
/// anything else is an error.
struct Nested<'t, 'u, 'a, T> {
    target: &'t mut T,
    unknown: &'u mut Unknown<'a>,
}

impl<'a, T: Members<'a>> DeserializeSeed<'a> for Nested<'_, '_, 'a, T> {
    type Value = bool;
    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'a, T: Members<'a>> Visitor<'a> for Nested<'_, '_, 'a, T> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_none<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'a>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_map(self)
    }
    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<bool, M::Error> {
        while let Some(key) = map.next_key::<BorrowedKey<'a>>()? {
            self.target.member(key.0, &mut map, self.unknown)?;
        }
        Ok(true)
    }
}

fn refused<E: serde::de::Error>(e: DecodeError) -> E {
    E::custom(e)
}

/// A `null` member kept among the unknown ones (as the model always kept those).
fn null() -> Raw<'static> {
    serde_json::from_str("null").expect("null is JSON")
}

impl<'a> Members<'a> for UserIdentity<'a> {
    fn member<M: MapAccess<'a>>(
        &mut self,
        key: Str<'a>,
        map: &mut M,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), M::Error> {
        let u = self;
        if key == "sessionContext" {
            let mut c = SessionContext::default();
            let read = map.next_value_seed(Nested {
                target: &mut c,
                unknown,
            })?;
            u.session_context = read.then_some(c);
            return Ok(());
        }
        let raw: Raw<'a> = map.next_value()?;
        match key.as_ref() {
            "type" => u.identity_type = string(raw, "userIdentity.type").map_err(refused)?,
            "principalId" => {
                u.principal_id = string(raw, "userIdentity.principalId").map_err(refused)?
            }
            "arn" => u.arn = string(raw, "userIdentity.arn").map_err(refused)?,
            "accountId" => u.account_id = string(raw, "userIdentity.accountId").map_err(refused)?,
            "accessKeyId" => {
                u.access_key_id = string(raw, "userIdentity.accessKeyId").map_err(refused)?
            }
            "userName" => u.user_name = string(raw, "userIdentity.userName").map_err(refused)?,
            "invokedBy" => u.invoked_by = string(raw, "userIdentity.invokedBy").map_err(refused)?,
            "identityProvider" => {
                u.identity_provider =
                    string(raw, "userIdentity.identityProvider").map_err(refused)?
            }
            "credentialId" => {
                u.credential_id = string(raw, "userIdentity.credentialId").map_err(refused)?
            }
            "onBehalfOf" => u.on_behalf_of = non_null(raw),
            _ => push_unknown(unknown, "userIdentity", key, raw),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for SessionContext<'a> {
    fn member<M: MapAccess<'a>>(
        &mut self,
        key: Str<'a>,
        map: &mut M,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), M::Error> {
        const PARENT: &str = "userIdentity.sessionContext";
        let c = self;
        let read = match key.as_ref() {
            "attributes" => map.next_value_seed(Nested {
                target: &mut Attributes(c),
                unknown,
            })?,
            "sessionIssuer" => {
                let mut i = SessionIssuer::default();
                let read = map.next_value_seed(Nested {
                    target: &mut i,
                    unknown,
                })?;
                if read {
                    c.session_issuer = Some(i);
                }
                read
            }
            "webIdFederationData" => {
                let mut w = WebIdFederationData::default();
                let read = map.next_value_seed(Nested {
                    target: &mut w,
                    unknown,
                })?;
                if read {
                    c.web_id_federation_data = Some(w);
                }
                read
            }
            _ => {
                let raw: Raw<'a> = map.next_value()?;
                match key.as_ref() {
                    "sourceIdentity" => {
                        c.source_identity =
                            string(raw, "sessionContext.sourceIdentity").map_err(refused)?
                    }
                    "ec2RoleDelivery" => {
                        c.ec2_role_delivery =
                            string(raw, "sessionContext.ec2RoleDelivery").map_err(refused)?
                    }
                    "assumedRoot" => {
                        c.assumed_root =
                            string(raw, "sessionContext.assumedRoot").map_err(refused)?
                    }
                    _ => push_unknown(unknown, PARENT, key, raw),
                }
                return Ok(());
            }
        };
        if !read {
            // `"attributes": null` and the like were always kept as unknown members.
            push_unknown(unknown, PARENT, key, null());
        }
        Ok(())
    }
}

/// `sessionContext.attributes`, read into the session context itself.
struct Attributes<'c, 'a>(&'c mut SessionContext<'a>);

impl<'a> Members<'a> for Attributes<'_, 'a> {
    fn member<M: MapAccess<'a>>(
        &mut self,
        k: Str<'a>,
        map: &mut M,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), M::Error> {
        let v: Raw<'a> = map.next_value()?;
        match k.as_ref() {
            "mfaAuthenticated" => {
                self.0.mfa_authenticated =
                    boolean(v, "attributes.mfaAuthenticated").map_err(refused)?
            }
            "creationDate" => {
                self.0.creation_date = string(v, "attributes.creationDate").map_err(refused)?
            }
            _ => push_unknown(unknown, "userIdentity.sessionContext.attributes", k, v),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for SessionIssuer<'a> {
    fn member<M: MapAccess<'a>>(
        &mut self,
        k: Str<'a>,
        map: &mut M,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), M::Error> {
        let v: Raw<'a> = map.next_value()?;
        let i = self;
        match k.as_ref() {
            "type" => i.issuer_type = string(v, "sessionIssuer.type").map_err(refused)?,
            "principalId" => {
                i.principal_id = string(v, "sessionIssuer.principalId").map_err(refused)?
            }
            "arn" => i.arn = string(v, "sessionIssuer.arn").map_err(refused)?,
            "accountId" => i.account_id = string(v, "sessionIssuer.accountId").map_err(refused)?,
            "userName" => i.user_name = string(v, "sessionIssuer.userName").map_err(refused)?,
            _ => push_unknown(unknown, "userIdentity.sessionContext.sessionIssuer", k, v),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for WebIdFederationData<'a> {
    fn member<M: MapAccess<'a>>(
        &mut self,
        k: Str<'a>,
        map: &mut M,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), M::Error> {
        let v: Raw<'a> = map.next_value()?;
        match k.as_ref() {
            "federatedProvider" => {
                self.federated_provider =
                    string(v, "webIdFederationData.federatedProvider").map_err(refused)?
            }
            "attributes" => self.attributes = non_null(v),
            _ => push_unknown(
                unknown,
                "userIdentity.sessionContext.webIdFederationData",
                k,
                v,
            ),
        }
        Ok(())
    }
}

fn resources<'a>(
    raw: &'a RawValue,
    unknown: &mut Unknown<'a>,
) -> Result<Vec<Resource<'a>>, DecodeError> {
    if is_null(raw) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let read = elements(raw.get(), |raw| {
        if is_null(raw) {
            return Ok(());
        }
        if !raw.get().starts_with('{') {
            unknown.push((Cow::Borrowed("resources[]"), raw));
            return Ok(());
        }
        {
            let mut res = Resource::default();
            object(raw, "resources[]", |k, v| {
                match k.as_ref() {
                    "ARN" | "arn" => res.arn = string(v, "resources[].ARN")?,
                    "accountId" => res.account_id = string(v, "resources[].accountId")?,
                    "type" => res.resource_type = string(v, "resources[].type")?,
                    _ => push_unknown(unknown, "resources[]", k, v),
                }
                Ok(())
            })?;
            out.push(res);
        }
        Ok(())
    });
    match read {
        Ok(()) => Ok(out),
        Err(Stop::Json(e)) => Err(DecodeError::WrongType {
            field: "resources",
            reason: e.to_string(),
        }),
        Err(Stop::Refused(e)) => Err(e),
    }
}

fn tls_details<'a>(
    raw: &'a RawValue,
    unknown: &mut Unknown<'a>,
) -> Result<Option<TlsDetails<'a>>, DecodeError> {
    if is_null(raw) {
        return Ok(None);
    }
    let mut t = TlsDetails::default();
    object(raw, "tlsDetails", |k, v| {
        match k.as_ref() {
            "tlsVersion" => t.tls_version = string(v, "tlsDetails.tlsVersion")?,
            "cipherSuite" => t.cipher_suite = string(v, "tlsDetails.cipherSuite")?,
            "clientProvidedHostHeader" => {
                t.client_provided_host_header = string(v, "tlsDetails.clientProvidedHostHeader")?
            }
            _ => push_unknown(unknown, "tlsDetails", k, v),
        }
        Ok(())
    })?;
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
    fn nested_identity_is_read_in_one_pass_as_it_was_level_by_level() {
        let r = CloudTrailRecord::parse(
            r#"{"eventName":"X","userIdentity":{"type":"AssumedRole","sessionContext":{
              "attributes":{"mfaAuthenticated":"false","creationDate":"c"},"attributes":{"q":2},
              "sessionIssuer":{"type":"Role"},"sessionIssuer":{"arn":"a"},"webIdFederationData":null,
              "x":1},"userName":"u"}}"#,
        )
        .unwrap();
        let ctx = r.user_identity.as_ref().unwrap().session_context.as_ref();
        let ctx = ctx.unwrap();
        assert_eq!(
            (ctx.mfa_authenticated, ctx.creation_date.as_deref()),
            (Some(false), Some("c"))
        );
        let issuer = ctx.session_issuer.as_ref().unwrap();
        assert_eq!(
            (issuer.issuer_type.as_deref(), issuer.arn.as_deref()),
            (None, Some("a"))
        );
        let unknown: Vec<(&str, &str)> = r
            .unknown
            .iter()
            .map(|(k, v)| (k.as_ref(), v.get()))
            .collect();
        assert_eq!(
            unknown,
            [
                ("userIdentity.sessionContext.attributes.q", "2"),
                ("userIdentity.sessionContext.webIdFederationData", "null"),
                ("userIdentity.sessionContext.x", "1"),
            ]
        );
        // A wrong type anywhere inside keeps the whole identity aside, once (not also the
        // members set aside before the error was found).
        let r = CloudTrailRecord::parse(
            r#"{"eventName":"X","userIdentity":{"a":1,"sessionContext":{"attributes":{"mfaAuthenticated":"maybe"}}}}"#,
        )
        .unwrap();
        assert!(r.user_identity.is_none());
        let unknown: Vec<&str> = r.unknown.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(unknown, ["userIdentity"]);
        let r = CloudTrailRecord::parse(
            r#"{"eventName":"X","userIdentity":{"sessionContext":[1]},"resources":[null,{"ARN":"a"},"b"]}"#,
        )
        .unwrap();
        assert!(r.user_identity.is_none());
        assert_eq!(r.resources.len(), 1);
        let unknown: Vec<&str> = r.unknown.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(unknown, ["userIdentity", "resources[]"]);
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let r =
            CloudTrailRecord::parse(r#"{"eventName":"A\u0042","errorMessage":"a \"b\""}"#).unwrap();
        assert_eq!(r.event_name, "AB");
        assert_eq!(r.error_message.as_deref(), Some("a \"b\""));
    }

    #[test]
    fn cloudtrail_times_parse_as_chrono_parses_them() {
        for text in [
            "2025-01-21T17:49:47Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2024-02-29T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-01-32T00:00:00Z",
            "2025-01-21T24:00:00Z",
            "2025-01-21T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2025-01-21t17:49:47Z",
            "2025-01-21T17:49:47z",
            "2025-01-21 17:49:47Z",
            "2025-01-21T17:49:4xZ",
            "+025-01-21T17:49:47Z",
            "2025-01-21T17:49:47.5Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc));
            if let Some(fast) = parse_cloudtrail_time(text) {
                assert_eq!(Some(fast), chrono, "{text}");
            }
            assert_eq!(
                parse_time_as(text).filter(|t| t.1).map(|t| t.0),
                chrono,
                "{text}"
            );
        }
        assert!(parse_cloudtrail_time("2025-01-21T17:49:47Z").is_some());
    }

    #[test]
    fn times_in_both_formats() {
        let a = parse_time("2025-01-21T17:49:47Z").unwrap();
        assert_eq!(parse_time("2025-01-21 17:49:47.000000000"), Some(a));
        assert_eq!(parse_time("2025-01-21T17:49:47.000+00:00"), Some(a));
        assert_eq!(parse_time("21/01/2025"), None);
    }
}

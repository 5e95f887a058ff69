//! The CloudTrail record: every documented field typed, every other field kept as it came.
//!
//! Strings borrow from the input where they can; free-form service payloads (requestParameters,
//! responseElements, ...) stay raw JSON, so decoding never fails on what a service put in them.

use super::bound::{self, Fit, Fits, Payload};
use super::fields::{elements, members, BorrowedKey, Stop};
use super::json_scan::{Cursor, RawJson};
use chrono::{DateTime, Utc};
use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde::Deserialize;
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
/// The eventType of a CloudTrail Insights event.
pub const INSIGHT: &str = "AwsCloudTrailInsight";
type Raw<'a> = RawJson<'a>;
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
    /// `event_time_text` is RFC 3339 as OpenSearch reads it (what CloudTrail writes), so it can
    /// be indexed as it came; otherwise `event_time` is written again, and the text as it came
    /// is kept in `unknown` as `eventTime`.
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
    /// Whether each payload that is an object can go into its `flat_object` field, found in
    /// the walk that read it (not in a second one).
    pub payload_fits: Fits,
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
    /// One of the payloads.
    pub fn payload(&self, which: Payload) -> Option<Raw<'a>> {
        match which {
            Payload::RequestParameters => self.request_parameters,
            Payload::ResponseElements => self.response_elements,
            Payload::AdditionalEventData => self.additional_event_data,
            Payload::ServiceEventDetails => self.service_event_details,
        }
    }

    /// Decodes one CloudTrail record (one JSON object) borrowing from `json`.
    pub fn parse(json: &'a str) -> Result<Self, DecodeError> {
        // First with the scanner, the identity read in place, in the one pass over the record;
        // anything unusual (not JSON, a member of the wrong type in the identity) and the record
        // is read again by serde_json member by member, each taken raw first, which says what was
        // wrong and keeps what cannot be read aside.
        match Self::read_in_place(json) {
            Ok(decoded) => decoded,
            Err(_) => Self::read_carefully(json)
                .unwrap_or_else(|e| Err(DecodeError::NotJson(e.to_string()))),
        }
    }

    fn read_in_place(json: &'a str) -> Result<Result<Self, DecodeError>, Stop<DecodeError>> {
        let mut reader = Reader::default();
        let mut cur = Cursor::new(json);
        cur.object(|key, value| reader.member_in_place(key, value))?;
        cur.end()?;
        Ok(reader.finish())
    }

    fn read_carefully(json: &'a str) -> Result<Result<Self, DecodeError>, serde_json::Error> {
        let mut reader = Reader::default();
        let mut de = serde_json::Deserializer::from_str(json);
        de.deserialize_map(RecordMembers(&mut reader))?;
        de.end()?;
        Ok(reader.finish())
    }
}

/// A record as its members come, by either reading.
#[derive(Default)]
struct Reader<'a> {
    r: CloudTrailRecord<'a>,
    event_time: Option<Str<'a>>,
    event_time_raw: Option<Raw<'a>>,
    event_name: Option<Str<'a>>,
    /// The checks of the payloads, made while the scanner reads them.
    fit: Fit<'a>,
    /// The first error that costs the event; reading goes on, so that a message that is not
    /// JSON at all is still told as such.
    fatal: Option<DecodeError>,
}

impl<'a> Reader<'a> {
    /// The nested members that can be read in place (`userIdentity`, `resources`,
    /// `tlsDetails`) are, without taking them raw first; any error in them stops the reading.
    fn member_in_place(
        &mut self,
        key: Str<'a>,
        value: &mut Cursor<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        let r = &mut self.r;
        match key.as_ref() {
            "userIdentity" => {
                let mut u = UserIdentity::default();
                r.user_identity = nested(value, &mut u, &mut r.unknown)?.then_some(u);
            }
            "resources" => r.resources = resources_in_place(value, &mut r.unknown)?,
            "tlsDetails" => {
                let mut t = TlsDetails::default();
                r.tls_details = nested(value, &mut t, &mut r.unknown)?.then_some(t);
            }
            "requestParameters" => self.payload(Payload::RequestParameters, key, value)?,
            "responseElements" => self.payload(Payload::ResponseElements, key, value)?,
            "additionalEventData" => self.payload(Payload::AdditionalEventData, key, value)?,
            "serviceEventDetails" => self.payload(Payload::ServiceEventDetails, key, value)?,
            _ => self.member(key, value.value()?),
        }
        Ok(())
    }

    /// A payload, checked for its `flat_object` field as the scanner skips it.
    fn payload(
        &mut self,
        which: Payload,
        key: Str<'a>,
        value: &mut Cursor<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        self.fit.start(which.path().len());
        let raw = value.value_watched(&mut self.fit)?;
        let verdict = raw.get().starts_with('{').then(|| self.fit.verdict());
        self.r.payload_fits.set(which, verdict);
        self.member(key, raw);
        Ok(())
    }

    fn member(&mut self, key: Str<'a>, raw: Raw<'a>) {
        if self.fatal.is_some() {
            return;
        }
        // What a nested object set aside before it turned out to be of a wrong type is dropped
        // with it: the whole object is kept instead, once.
        let set_aside = self.r.unknown.len();
        match self.known(&key, raw) {
            Ok(true) => {}
            Ok(false) => self.r.unknown.push((key, raw)),
            // A field of an unexpected type is kept as it came rather than costing the event;
            // only the fields that make it a record of a call in time must be right.
            Err(e) => match key.as_ref() {
                "eventName" | "eventTime" => self.fatal = Some(e),
                _ => {
                    self.r.unknown.truncate(set_aside);
                    self.r.unknown.push((key, raw));
                }
            },
        }
    }

    /// Reads a documented member into the record: `false` if `key` is not one.
    fn known(&mut self, key: &str, raw: Raw<'a>) -> Result<bool, DecodeError> {
        let r = &mut self.r;
        match key {
            "eventVersion" => r.event_version = string(raw, "eventVersion")?,
            "eventTime" => {
                self.event_time_raw = Some(raw);
                self.event_time = string(raw, "eventTime")?;
            }
            "eventSource" => r.event_source = string(raw, "eventSource")?,
            "eventName" => self.event_name = string(raw, "eventName")?,
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
                r.session_credential_from_console = boolean(raw, "sessionCredentialFromConsole")?
            }
            "insightDetails" => r.insight_details = non_null(raw),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn finish(self) -> Result<CloudTrailRecord<'a>, DecodeError> {
        let mut r = self.r;
        if let Some(e) = self.fatal {
            return Err(e);
        }
        if let Some(text) = self.event_time {
            (r.event_time, r.event_time_is_rfc3339) = match parse_time_as(&text) {
                Some((t, rfc3339)) => (Some(t), rfc3339),
                None => (None, false),
            };
            if !r.event_time_is_rfc3339 {
                // Kept as it came, when it cannot be indexed as it came; where the event is
                // indexed is decided by the encoder.
                if let Some(raw) = self.event_time_raw {
                    r.unknown.push((Cow::Borrowed("eventTime"), raw));
                }
            }
            r.event_time_text = Some(text);
        }
        // The careful reading does not walk the payloads with the checks: a walk of their own.
        for which in Payload::ALL {
            if r.payload_fits.get(which).is_none() {
                let object = r.payload(which).filter(|raw| raw.get().starts_with('{'));
                let verdict = object.map(|raw| bound::check(raw, which.path().len()));
                r.payload_fits.set(which, verdict);
            }
        }
        r.event_name = match self.event_name {
            Some(name) => name,
            // An Insights event has no eventName of its own: the API call it is about is in
            // `insightDetails` (AWS's example in the CloudTrail log event reference). Its action is
            // its type, so that it is never counted as a call of that API.
            None if r.event_type.as_deref() == Some(INSIGHT) && r.insight_details.is_some() => {
                Cow::Borrowed(INSIGHT)
            }
            // Otherwise it is not a record of an API call at all.
            None => return Err(DecodeError::Missing("eventName")),
        };
        Ok(r)
    }
}

/// The members of a record for the careful reading: each one raw, through serde_json.
struct RecordMembers<'r, 'a>(&'r mut Reader<'a>);

impl<'a> Visitor<'a> for RecordMembers<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<BorrowedKey<'a>>()? {
            let raw: Raw<'a> = map.next_value()?;
            self.0.member(key.0, raw);
        }
        Ok(())
    }
}

/// CloudTrail writes RFC 3339 (`2024-01-02T03:04:05Z`); exports and other tools write
/// `2024-01-02 03:04:05.000000000` (UTC, no zone): accept both.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    parse_time_as(text).map(|(t, _)| t)
}

/// Whether `text` is a time OpenSearch's `date` field takes as it is.
pub fn indexable_time(text: &str) -> bool {
    parse_time_as(text).is_some_and(|(_, as_is)| as_is)
}

/// [`parse_time`], and whether `text` can be indexed as it came: RFC 3339 as OpenSearch's date
/// parser reads it. It refuses what RFC 3339 allows besides (a lower-case `t` or `z`, a leap
/// second `23:59:60`, more than nine digits of fraction): such a time is written again.
fn parse_time_as(text: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Some(t) = parse_cloudtrail_time(text) {
        return Some((t, true));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        let (t, leap) = without_leap_second(t.with_timezone(&Utc));
        let fraction = text
            .split_once('.')
            .map_or(0, |(_, f)| f.bytes().take_while(u8::is_ascii_digit).count());
        let as_is = !leap
            && text.as_bytes().get(10) == Some(&b'T')
            && !text.ends_with('z')
            && fraction <= 9;
        return Some((t, as_is));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| (without_leap_second(t.and_utc()).0, false))
}

/// A leap second (`23:59:60`, which chrono keeps as a nanosecond count past one second) as the
/// last nanosecond before it: OpenSearch has no leap seconds, and the order of events holds.
fn without_leap_second(t: DateTime<Utc>) -> (DateTime<Utc>, bool) {
    use chrono::Timelike;
    if t.nanosecond() < 1_000_000_000 {
        return (t, false);
    }
    (t.with_nanosecond(999_999_999).unwrap_or(t), true)
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
    raw: Raw<'a>,
    what: &'static str,
    f: impl FnMut(Str<'a>, Raw<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    members(raw.get(), f).map_err(|stop| wrong_type(what, stop))
}

/// A nested reading's error as the member's own: what in it was wrong.
fn wrong_type(field: &'static str, stop: Stop<DecodeError>) -> DecodeError {
    match stop {
        Stop::Json(e) => DecodeError::WrongType {
            field,
            reason: e.to_string(),
        },
        Stop::Refused(e) => e,
    }
}

fn is_null(raw: Raw<'_>) -> bool {
    raw.get() == "null"
}

fn non_null(raw: Raw<'_>) -> Option<Raw<'_>> {
    (!is_null(raw)).then_some(raw)
}

#[inline]
fn string<'a>(raw: Raw<'a>, field: &'static str) -> Result<Option<Str<'a>>, DecodeError> {
    // Nearly every value: a string without escapes, borrowed as it is.
    match raw.plain_str() {
        Some(text) => Ok(Some(Cow::Borrowed(text))),
        None => unusual_string(raw, field),
    }
}

/// `null`, a string with escapes, or not a string.
#[inline(never)]
fn unusual_string<'a>(raw: Raw<'a>, field: &'static str) -> Result<Option<Str<'a>>, DecodeError> {
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
fn boolean(raw: Raw<'_>, field: &'static str) -> Result<Option<bool>, DecodeError> {
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
    raw: Raw<'a>,
    unknown: &mut Unknown<'a>,
) -> Result<Option<UserIdentity<'a>>, DecodeError> {
    // One pass over the identity, its session context and the objects in that read in place:
    // taking each level raw and reading it again read the deepest parts four times.
    let mut u = UserIdentity::default();
    let read = nested(&mut Cursor::new(raw.get()), &mut u, unknown)
        .map_err(|stop| wrong_type("userIdentity", stop))?;
    Ok(read.then_some(u))
}

/// The members of one JSON object, read into `Self` as they come.
trait Members<'a> {
    /// Reads the member `key`, whose value is at `value`.
    fn member(
        &mut self,
        key: Str<'a>,
        value: &mut Cursor<'a>,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), Stop<DecodeError>>;
}

/// Reads the object at `value` into `target` member by member: `true`, or `false` for `null`;
/// anything else is an error.
fn nested<'a, T: Members<'a>>(
    value: &mut Cursor<'a>,
    target: &mut T,
    unknown: &mut Unknown<'a>,
) -> Result<bool, Stop<DecodeError>> {
    if value.null()? {
        return Ok(false);
    }
    value.object(|key, value| target.member(key, value, unknown))?;
    Ok(true)
}

/// `resources` read in place: `null` elements are skipped; an element that is neither `null` nor
/// an object is an error here (the careful reading keeps it aside).
fn resources_in_place<'a>(
    value: &mut Cursor<'a>,
    unknown: &mut Unknown<'a>,
) -> Result<Vec<Resource<'a>>, Stop<DecodeError>> {
    let mut out = Vec::new();
    if value.null()? {
        return Ok(out);
    }
    value.array(|element| {
        let mut res = Resource::default();
        if nested(element, &mut res, unknown)? {
            out.push(res);
        }
        Ok(())
    })?;
    Ok(out)
}

impl<'a> Members<'a> for Resource<'a> {
    fn member(
        &mut self,
        k: Str<'a>,
        value: &mut Cursor<'a>,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        let v = value.value()?;
        match k.as_ref() {
            "ARN" | "arn" => self.arn = string(v, "resources[].ARN").map_err(Stop::Refused)?,
            "accountId" => {
                self.account_id = string(v, "resources[].accountId").map_err(Stop::Refused)?
            }
            "type" => self.resource_type = string(v, "resources[].type").map_err(Stop::Refused)?,
            _ => push_unknown(unknown, "resources[]", k, v),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for TlsDetails<'a> {
    fn member(
        &mut self,
        k: Str<'a>,
        value: &mut Cursor<'a>,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        let v = value.value()?;
        let field = |name| string(v, name).map_err(Stop::Refused);
        match k.as_ref() {
            "tlsVersion" => self.tls_version = field("tlsDetails.tlsVersion")?,
            "cipherSuite" => self.cipher_suite = field("tlsDetails.cipherSuite")?,
            "clientProvidedHostHeader" => {
                self.client_provided_host_header = field("tlsDetails.clientProvidedHostHeader")?
            }
            _ => push_unknown(unknown, "tlsDetails", k, v),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for UserIdentity<'a> {
    fn member(
        &mut self,
        key: Str<'a>,
        value: &mut Cursor<'a>,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        let u = self;
        if key == "sessionContext" {
            let mut c = SessionContext::default();
            u.session_context = nested(value, &mut c, unknown)?.then_some(c);
            return Ok(());
        }
        let raw = value.value()?;
        let field = |name| string(raw, name).map_err(Stop::Refused);
        match key.as_ref() {
            "type" => u.identity_type = field("userIdentity.type")?,
            "principalId" => u.principal_id = field("userIdentity.principalId")?,
            "arn" => u.arn = field("userIdentity.arn")?,
            "accountId" => u.account_id = field("userIdentity.accountId")?,
            "accessKeyId" => u.access_key_id = field("userIdentity.accessKeyId")?,
            "userName" => u.user_name = field("userIdentity.userName")?,
            "invokedBy" => u.invoked_by = field("userIdentity.invokedBy")?,
            "identityProvider" => u.identity_provider = field("userIdentity.identityProvider")?,
            "credentialId" => u.credential_id = field("userIdentity.credentialId")?,
            "onBehalfOf" => u.on_behalf_of = non_null(raw),
            _ => push_unknown(unknown, "userIdentity", key, raw),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for SessionContext<'a> {
    fn member(
        &mut self,
        key: Str<'a>,
        value: &mut Cursor<'a>,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        const PARENT: &str = "userIdentity.sessionContext";
        let c = self;
        let read = match key.as_ref() {
            "attributes" => nested(value, &mut Attributes(c), unknown)?,
            "sessionIssuer" => {
                let mut i = SessionIssuer::default();
                let read = nested(value, &mut i, unknown)?;
                if read {
                    c.session_issuer = Some(i);
                }
                read
            }
            "webIdFederationData" => {
                let mut w = WebIdFederationData::default();
                let read = nested(value, &mut w, unknown)?;
                if read {
                    c.web_id_federation_data = Some(w);
                }
                read
            }
            _ => {
                let raw = value.value()?;
                let field = |name| string(raw, name).map_err(Stop::Refused);
                match key.as_ref() {
                    "sourceIdentity" => c.source_identity = field("sessionContext.sourceIdentity")?,
                    "ec2RoleDelivery" => {
                        c.ec2_role_delivery = field("sessionContext.ec2RoleDelivery")?
                    }
                    "assumedRoot" => c.assumed_root = field("sessionContext.assumedRoot")?,
                    _ => push_unknown(unknown, PARENT, key, raw),
                }
                return Ok(());
            }
        };
        if !read {
            // `"attributes": null` and the like were always kept as unknown members.
            push_unknown(unknown, PARENT, key, RawJson::NULL);
        }
        Ok(())
    }
}

/// `sessionContext.attributes`, read into the session context itself.
struct Attributes<'c, 'a>(&'c mut SessionContext<'a>);

impl<'a> Members<'a> for Attributes<'_, 'a> {
    fn member(
        &mut self,
        k: Str<'a>,
        value: &mut Cursor<'a>,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        let v = value.value()?;
        match k.as_ref() {
            "mfaAuthenticated" => {
                self.0.mfa_authenticated =
                    boolean(v, "attributes.mfaAuthenticated").map_err(Stop::Refused)?
            }
            "creationDate" => {
                self.0.creation_date =
                    string(v, "attributes.creationDate").map_err(Stop::Refused)?
            }
            _ => push_unknown(unknown, "userIdentity.sessionContext.attributes", k, v),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for SessionIssuer<'a> {
    fn member(
        &mut self,
        k: Str<'a>,
        value: &mut Cursor<'a>,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        let v = value.value()?;
        let field = |name| string(v, name).map_err(Stop::Refused);
        let i = self;
        match k.as_ref() {
            "type" => i.issuer_type = field("sessionIssuer.type")?,
            "principalId" => i.principal_id = field("sessionIssuer.principalId")?,
            "arn" => i.arn = field("sessionIssuer.arn")?,
            "accountId" => i.account_id = field("sessionIssuer.accountId")?,
            "userName" => i.user_name = field("sessionIssuer.userName")?,
            _ => push_unknown(unknown, "userIdentity.sessionContext.sessionIssuer", k, v),
        }
        Ok(())
    }
}

impl<'a> Members<'a> for WebIdFederationData<'a> {
    fn member(
        &mut self,
        k: Str<'a>,
        value: &mut Cursor<'a>,
        unknown: &mut Unknown<'a>,
    ) -> Result<(), Stop<DecodeError>> {
        let v = value.value()?;
        match k.as_ref() {
            "federatedProvider" => {
                self.federated_provider =
                    string(v, "webIdFederationData.federatedProvider").map_err(Stop::Refused)?
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
    raw: Raw<'a>,
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
        Ok(())
    });
    read.map(|()| out)
        .map_err(|stop| wrong_type("resources", stop))
}

fn tls_details<'a>(
    raw: Raw<'a>,
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

    /// AWS's Insights record (CloudTrail log event reference) has no eventName: it is one
    /// all the same, named by its type; another record without one is still refused.
    #[test]
    fn an_insights_event_is_named_by_its_type() {
        let text = r#"{"eventVersion":"1.07","eventTime":"2019-10-17T10:05:00Z","awsRegion":"us-east-1",
          "eventID":"aab985f2-3a56-48cc-a8a5-e0af77606f5f","eventType":"AwsCloudTrailInsight",
          "recipientAccountId":"123456789012","sharedEventID":"12edc982-3348-4794-83d3-a3db26525049",
          "insightDetails":{"state":"Start","eventSource":"ssm.amazonaws.com",
            "eventName":"UpdateInstanceAssociationStatus","insightType":"ApiCallRateInsight",
            "insightContext":{"statistics":{"baseline":{"average":1.7561507937},"insight":{"average":50.1}}}},
          "eventCategory":"Insight"}"#;
        let r = CloudTrailRecord::parse(text).unwrap();
        assert_eq!(r.event_name, INSIGHT);
        assert!(r.user_identity.is_none() && r.event_source.is_none());
        assert!(r
            .insight_details
            .unwrap()
            .get()
            .contains("ApiCallRateInsight"));
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let without_details = r#"{"eventType":"AwsCloudTrailInsight","eventID":"x"}"#;
        assert_eq!(
            CloudTrailRecord::parse(without_details).unwrap_err(),
            DecodeError::Missing("eventName")
        );
    }

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
                parse_time_as(text).map(|t| t.0),
                chrono.map(|t| without_leap_second(t).0),
                "{text}"
            );
        }
        assert!(parse_cloudtrail_time("2025-01-21T17:49:47Z").is_some());
    }

    /// What OpenSearch's date parser refuses (checked on a 2.19.1 node) is written again; the
    /// text as it came is kept among the unknown fields.
    #[test]
    fn times_opensearch_refuses_are_written_again() {
        let leap = parse_time_as("2016-12-31T23:59:60Z").unwrap();
        assert_eq!(
            leap.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "2016-12-31T23:59:59.999999999Z"
        );
        assert!(!leap.1);
        let plain = parse_time("2025-01-21T17:49:47Z").unwrap();
        for text in [
            "2025-01-21t17:49:47Z",
            "2025-01-21T17:49:47z",
            "2025-01-21t17:49:47z",
            "2025-01-21T17:49:47.0000000000Z",
            "2025-01-21 17:49:47Z",
        ] {
            assert_eq!(parse_time_as(text), Some((plain, false)), "{text}");
        }
        for text in ["2025-01-21T17:49:47.123Z", "2025-01-21T18:49:47+01:00"] {
            assert!(parse_time_as(text).unwrap().1, "{text}");
        }
        let r = CloudTrailRecord::parse(r#"{"eventName":"X","eventTime":"2025-01-21t17:49:47z"}"#)
            .unwrap();
        assert_eq!(r.event_time, Some(plain));
        assert_eq!(r.unknown.len(), 1);
        assert_eq!(r.unknown[0].0, "eventTime");
        assert_eq!(r.unknown[0].1.get(), "\"2025-01-21t17:49:47z\"");
    }

    #[test]
    fn times_in_both_formats() {
        let a = parse_time("2025-01-21T17:49:47Z").unwrap();
        assert_eq!(parse_time("2025-01-21 17:49:47.000000000"), Some(a));
        assert_eq!(parse_time("2025-01-21T17:49:47.000+00:00"), Some(a));
        assert_eq!(parse_time("21/01/2025"), None);
    }

    /// Names the decoder gives a meaning to, at any level, and one it does not.
    const NAMES: &[&str] = &[
        "eventVersion",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "userIdentity",
        "errorCode",
        "errorMessage",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "serviceEventDetails",
        "requestID",
        "eventID",
        "readOnly",
        "resources",
        "eventType",
        "apiVersion",
        "managementEvent",
        "recipientAccountId",
        "sharedEventID",
        "vpcEndpointId",
        "vpcEndpointAccountId",
        "eventCategory",
        "addendum",
        "edgeDeviceDetails",
        "tlsDetails",
        "sessionCredentialFromConsole",
        "insightDetails",
        "type",
        "principalId",
        "arn",
        "accountId",
        "accessKeyId",
        "userName",
        "invokedBy",
        "identityProvider",
        "credentialId",
        "onBehalfOf",
        "sessionContext",
        "attributes",
        "sessionIssuer",
        "webIdFederationData",
        "sourceIdentity",
        "ec2RoleDelivery",
        "assumedRoot",
        "mfaAuthenticated",
        "creationDate",
        "federatedProvider",
        "ARN",
        "tlsVersion",
        "cipherSuite",
        "clientProvidedHostHeader",
        "event\\u004eame",
        "other",
    ];

    /// A record-shaped object: documented names at every level, with values of the right
    /// type or not, `null`s, duplicates, whitespace.
    fn record() -> impl proptest::strategy::Strategy<Value = String> {
        use crate::event::json_scan::tests::{value, ws};
        use proptest::prelude::*;
        let scalar = prop_oneof![
            Just("\"2024-01-02T03:04:05Z\"".to_owned()),
            prop::sample::select(vec!["\"true\"", "\"False\"", "true", "null", "\"a\\\"b\""])
                .prop_map(String::from),
            value(),
        ];
        let tree = scalar.prop_recursive(4, 48, 6, |inner| {
            let member = (ws(), prop::sample::select(NAMES), ws(), inner.clone())
                .prop_map(|(a, k, b, v)| format!("{a}\"{k}\":{b}{v}"));
            prop_oneof![
                prop::collection::vec(member, 0..6).prop_map(|m| format!("{{{}}}", m.join(","))),
                prop::collection::vec(inner, 0..4).prop_map(|e| format!("[{}]", e.join(","))),
            ]
        });
        let member = (prop::sample::select(NAMES), tree).prop_map(|(k, v)| format!("\"{k}\":{v}"));
        (prop::collection::vec(member, 0..12), any::<bool>()).prop_map(|(mut m, named)| {
            if named {
                m.push("\"eventName\":\"X\"".to_owned());
            }
            format!("{{{}}}", m.join(","))
        })
    }

    /// The scanner's reading is an optimisation of the careful one: whatever the input, the
    /// outcome is the same.
    fn assert_read_as_carefully(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let careful = CloudTrailRecord::read_carefully(text)
            .unwrap_or_else(|e| Err(DecodeError::NotJson(e.to_string())));
        proptest::prop_assert_eq!(
            format!("{:?}", CloudTrailRecord::parse(text)),
            format!("{careful:?}"),
            "{}",
            text
        );
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(crate::event::json_scan::tests::config(500))]

        #[test]
        fn records_read_in_place_as_they_read_carefully(
            text in record(),
            mutations in proptest::collection::vec(crate::event::json_scan::tests::mutation(), 0..3),
        ) {
            assert_read_as_carefully(&text)?;
            assert_read_as_carefully(&crate::event::json_scan::tests::mutate(&text, &mutations))?;
        }
    }
}

//! The document indexed for one CloudTrail record: ECS fields where ECS has a name for the thing,
//! CloudTrail's own fields under `aws.cloudtrail.*`, trailscope's enrichment beside them.
//! `mappings/README.md` lists every field; `mappings/index-template.json` maps them.

use super::cloudtrail::{CloudTrailRecord, Resource, SessionContext, TlsDetails, UserIdentity};
use crate::enrich::Enrichment;
use crate::source::Origin;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::net::IpAddr;

type Str<'a> = &'a str;

#[derive(Serialize)]
pub struct Document<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Cow<'a, str>,
    event: Event<'a>,
    cloud: Cloud<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<Source<'a>>,
    #[serde(skip_serializing_if = "User::is_empty")]
    user: User<'a>,
    #[serde(skip_serializing_if = "Related::is_empty")]
    related: Related<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<UserAgentField<'a>>,
    aws: Aws<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloudwatch: Option<CloudWatch<'a>>,
}

#[derive(Serialize)]
struct Event<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Str<'a>>,
    action: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<Str<'a>>,
    outcome: &'static str,
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    event_type: [&'static str; 1],
}

#[derive(Serialize)]
struct Cloud<'a> {
    provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Account<'a>>,
}

#[derive(Serialize)]
struct Account<'a> {
    id: Str<'a>,
}

#[derive(Serialize)]
struct Source<'a> {
    address: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geo: Option<&'a crate::enrich::geoip::Geo>,
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    autonomous_system: Option<&'a crate::enrich::geoip::AutonomousSystem>,
}

#[derive(Serialize, Default)]
struct User<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Str<'a>>,
}

impl User<'_> {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.id.is_none()
    }
}

#[derive(Serialize, Default)]
struct Related<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user: Vec<Str<'a>>,
}

impl Related<'_> {
    fn is_empty(&self) -> bool {
        self.user.is_empty()
    }
}

#[derive(Serialize)]
struct UserAgentField<'a> {
    original: Str<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    parsed: Option<&'a crate::enrich::user_agent::EcsUserAgent>,
}

#[derive(Serialize)]
struct Aws<'a> {
    cloudtrail: CloudTrail<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a crate::enrich::user_agent::AwsUserAgent>,
}

#[derive(Serialize)]
struct CloudTrail<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_version: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_category: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iam_action: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    management_event: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shared_event_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_account_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpc_endpoint_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpc_endpoint_account_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_credential_from_console: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_identity: Option<Identity<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    resources: Vec<ResourceField<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_details: Option<TlsField<'a>>,
    // Free-form payloads: the JSON text for display (stored, not indexed) ...
    #[serde(skip_serializing_if = "Option::is_none")]
    request_parameters: Option<JsonText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_elements: Option<JsonText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<JsonText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_event_details: Option<JsonText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addendum: Option<JsonText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    edge_device_details: Option<JsonText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    insight_details: Option<JsonText<'a>>,
    // ... and the same objects as `flat_object`, searchable by dotted path without ever causing
    // a mapping conflict between services.
    #[serde(skip_serializing_if = "Flattened::is_empty")]
    flattened: Flattened<'a>,
    /// Fields CloudTrail added that this model does not know yet, by dotted path.
    #[serde(
        skip_serializing_if = "<[_]>::is_empty",
        serialize_with = "serialize_unknown"
    )]
    unknown_fields: &'a [(Cow<'a, str>, &'a RawValue)],
}

#[derive(Serialize)]
struct Identity<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    identity_type: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoked_by: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_provider: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_behalf_of: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<Session<'a>>,
}

#[derive(Serialize)]
struct Session<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_authenticated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creation_date: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_identity: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ec2_role_delivery: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assumed_root: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_issuer: Option<Issuer<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_id_federation_data: Option<WebId<'a>>,
}

#[derive(Serialize)]
struct Issuer<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    issuer_type: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<Str<'a>>,
}

#[derive(Serialize)]
struct WebId<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    federated_provider: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct ResourceField<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<Str<'a>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    resource_type: Option<Str<'a>>,
}

#[derive(Serialize)]
struct TlsField<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_version: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cipher_suite: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_provided_host_header: Option<Str<'a>>,
}

#[derive(Serialize, Default)]
struct Flattened<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_parameters: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_elements: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_event_details: Option<&'a RawValue>,
}

impl Flattened<'_> {
    fn is_empty(&self) -> bool {
        self.request_parameters.is_none()
            && self.response_elements.is_none()
            && self.additional_event_data.is_none()
            && self.service_event_details.is_none()
    }
}

#[derive(Serialize)]
struct CloudWatch<'a> {
    log_group: Str<'a>,
    log_stream: Str<'a>,
    event_id: Str<'a>,
    // No `ingestion_time`: a subscription payload does not carry it, and a document must not
    // depend on which path delivered it (poller, subscription, file): the same event gives the
    // same `_source` everywhere. The ingestion time stays in the origin of dead letters.
}

/// A raw JSON value written as a JSON string holding its text.
struct JsonText<'a>(&'a RawValue);

impl Serialize for JsonText<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.get())
    }
}

fn serialize_unknown<S: Serializer>(
    fields: &&[(Cow<'_, str>, &RawValue)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(fields.len()))?;
    for (k, v) in fields.iter() {
        map.serialize_entry(k.as_ref(), v)?;
    }
    map.end()
}

/// Lucene refuses a term over 32,766 bytes, and a `flat_object` indexes every string value as
/// a term: one long string (a CloudFormation template body, a policy document) would get the
/// whole event rejected. Payloads above this size are kept as text only.
const MAX_FLATTENED_BYTES: usize = 32 * 1024;

/// Only JSON objects can go into a `flat_object` field; anything else, or anything too large to
/// index safely, is kept as text only.
fn object_only(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get().starts_with('{') && r.get().len() <= MAX_FLATTENED_BYTES)
}

fn text(raw: Option<&RawValue>) -> Option<JsonText<'_>> {
    raw.map(JsonText)
}

impl<'a> Document<'a> {
    /// `timestamp` is the record's own time as indexed (see [`crate::event::encode`]).
    pub fn new(
        record: &'a CloudTrailRecord<'a>,
        timestamp: Cow<'a, str>,
        origin: &'a Origin,
        enrichment: &'a Enrichment,
    ) -> Document<'a> {
        let identity = record.user_identity.as_ref();
        let read_only = record.read_only;
        let user_name = identity.and_then(user_name);
        let mut related = Related::default();
        if let Some(name) = user_name {
            related.user.push(name);
        }
        if let Some(issuer) = identity
            .and_then(|i| i.session_context.as_ref())
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| i.user_name.as_deref())
        {
            if Some(issuer) != user_name {
                related.user.push(issuer);
            }
        }
        Document {
            timestamp,
            event: Event {
                id: record.event_id.as_deref(),
                action: &record.event_name,
                provider: record.event_source.as_deref(),
                outcome: if record.error_code.is_some() {
                    "failure"
                } else {
                    "success"
                },
                kind: "event",
                category: [category(
                    record.event_source.as_deref().unwrap_or_default(),
                    &record.event_name,
                )],
                event_type: [event_type(&record.event_name, read_only)],
            },
            cloud: Cloud {
                provider: "aws",
                region: record.aws_region.as_deref(),
                account: identity
                    .and_then(|i| i.account_id.as_deref())
                    .or(record.recipient_account_id.as_deref())
                    .map(|id| Account { id }),
            },
            source: record.source_ip_address.as_deref().map(|address| Source {
                address,
                ip: address.parse().ok(),
                geo: enrichment.geo.as_deref(),
                autonomous_system: enrichment.autonomous_system.as_deref(),
            }),
            user: User {
                name: user_name,
                id: identity.and_then(|i| i.principal_id.as_deref()),
            },
            related,
            user_agent: record.user_agent.as_deref().map(|original| UserAgentField {
                original,
                parsed: enrichment.user_agent.as_deref().map(|p| &p.ecs),
            }),
            aws: Aws {
                cloudtrail: CloudTrail {
                    event_version: record.event_version.as_deref(),
                    event_type: record.event_type.as_deref(),
                    event_category: record.event_category.as_deref(),
                    iam_action: enrichment.iam_action.as_deref(),
                    read_only,
                    management_event: record.management_event,
                    error_code: record.error_code.as_deref(),
                    error_message: record.error_message.as_deref(),
                    request_id: record.request_id.as_deref(),
                    shared_event_id: record.shared_event_id.as_deref(),
                    api_version: record.api_version.as_deref(),
                    recipient_account_id: record.recipient_account_id.as_deref(),
                    vpc_endpoint_id: record.vpc_endpoint_id.as_deref(),
                    vpc_endpoint_account_id: record.vpc_endpoint_account_id.as_deref(),
                    session_credential_from_console: record.session_credential_from_console,
                    user_identity: identity.map(identity_field),
                    resources: record.resources.iter().map(resource_field).collect(),
                    tls_details: record.tls_details.as_ref().map(tls_field),
                    request_parameters: text(record.request_parameters),
                    response_elements: text(record.response_elements),
                    additional_event_data: text(record.additional_event_data),
                    service_event_details: text(record.service_event_details),
                    addendum: text(record.addendum),
                    edge_device_details: text(record.edge_device_details),
                    insight_details: text(record.insight_details),
                    flattened: Flattened {
                        request_parameters: object_only(record.request_parameters),
                        response_elements: object_only(record.response_elements),
                        additional_event_data: object_only(record.additional_event_data),
                        service_event_details: object_only(record.service_event_details),
                    },
                    unknown_fields: &record.unknown,
                },
                user_agent: enrichment.user_agent.as_deref().map(|p| &p.aws),
            },
            cloudwatch: match origin {
                Origin::CloudWatch(p) => Some(CloudWatch {
                    log_group: &p.log_group,
                    log_stream: &p.log_stream,
                    event_id: &p.event_id,
                }),
                Origin::File { .. } => None,
            },
        }
    }
}

/// `user.name`: the IAM user name, or for a role session the session name (the last part of
/// `arn:aws:sts::111122223333:assumed-role/RoleName/SessionName`), which is what people search by.
fn user_name<'a>(identity: &'a UserIdentity<'a>) -> Option<&'a str> {
    if let Some(name) = identity.user_name.as_deref() {
        return Some(name);
    }
    let arn = identity.arn.as_deref()?;
    match identity.identity_type.as_deref() {
        Some("AssumedRole") | Some("FederatedUser") => arn.rsplit('/').next(),
        _ => None,
    }
}

fn identity_field<'a>(i: &'a UserIdentity<'a>) -> Identity<'a> {
    Identity {
        identity_type: i.identity_type.as_deref(),
        arn: i.arn.as_deref(),
        access_key_id: i.access_key_id.as_deref(),
        invoked_by: i.invoked_by.as_deref(),
        identity_provider: i.identity_provider.as_deref(),
        credential_id: i.credential_id.as_deref(),
        on_behalf_of: i.on_behalf_of.filter(|r| r.get().starts_with('{')),
        session_context: i.session_context.as_ref().map(session_field),
    }
}

fn session_field<'a>(c: &'a SessionContext<'a>) -> Session<'a> {
    Session {
        mfa_authenticated: c.mfa_authenticated,
        creation_date: c.creation_date.as_deref(),
        source_identity: c.source_identity.as_deref(),
        ec2_role_delivery: c.ec2_role_delivery.as_deref(),
        assumed_root: c.assumed_root.as_deref(),
        session_issuer: c.session_issuer.as_ref().map(|s| Issuer {
            issuer_type: s.issuer_type.as_deref(),
            principal_id: s.principal_id.as_deref(),
            arn: s.arn.as_deref(),
            account_id: s.account_id.as_deref(),
            user_name: s.user_name.as_deref(),
        }),
        web_id_federation_data: c.web_id_federation_data.as_ref().map(|w| WebId {
            federated_provider: w.federated_provider.as_deref(),
            attributes: w.attributes.filter(|r| r.get().starts_with('{')),
        }),
    }
}

fn resource_field<'a>(r: &'a Resource<'a>) -> ResourceField<'a> {
    ResourceField {
        arn: r.arn.as_deref(),
        account_id: r.account_id.as_deref(),
        resource_type: r.resource_type.as_deref(),
    }
}

fn tls_field<'a>(t: &'a TlsDetails<'a>) -> TlsField<'a> {
    TlsField {
        tls_version: t.tls_version.as_deref(),
        cipher_suite: t.cipher_suite.as_deref(),
        client_provided_host_header: t.client_provided_host_header.as_deref(),
    }
}

/// ECS `event.category`: what kind of activity, coarsely.
fn category(source: &str, name: &str) -> &'static str {
    match source {
        "signin.amazonaws.com" => "authentication",
        "sts.amazonaws.com" if name.starts_with("AssumeRole") || name == "GetFederationToken" => {
            "authentication"
        }
        "iam.amazonaws.com" | "sso.amazonaws.com" | "identitystore.amazonaws.com" => "iam",
        _ => "configuration",
    }
}

/// ECS `event.type`: `info` for reads, `creation` / `deletion` by verb, `change` otherwise.
fn event_type(name: &str, read_only: Option<bool>) -> &'static str {
    if read_only == Some(true) {
        return "info";
    }
    const CREATE: [&str; 4] = ["Create", "Put", "Run", "Register"];
    const DELETE: [&str; 4] = ["Delete", "Remove", "Terminate", "Deregister"];
    if CREATE.iter().any(|p| name.starts_with(p)) {
        "creation"
    } else if DELETE.iter().any(|p| name.starts_with(p)) {
        "deletion"
    } else if read_only.is_none()
        && ["Describe", "Get", "List", "Head", "Lookup"]
            .iter()
            .any(|p| name.starts_with(p))
    {
        "info"
    } else {
        "change"
    }
}

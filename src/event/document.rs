//! The document indexed for one CloudTrail record: ECS fields where ECS has a name for the thing,
//! CloudTrail's own fields under `aws.cloudtrail.*`, trailscope's enrichment beside them.
//! `mappings/README.md` lists every field; `mappings/index-template.json` maps them.

use super::bound::{self, Payload, SetAside, Unsafe};
use super::cloudtrail::{
    indexable_time, CloudTrailRecord, Resource, SessionContext, TlsDetails, UserIdentity,
};
use super::ecs::{self, Actor, IamTarget};
use super::json_escape;
use super::json_scan::RawJson;
use crate::enrich::user_agent::CachedUserAgent;
use crate::enrich::Enrichment;
use crate::source::Origin;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
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
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<Tls<'a>>,
    #[serde(skip_serializing_if = "Group::is_empty")]
    group: Group<'a>,
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
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    category: &'static [&'static str],
    #[serde(rename = "type", skip_serializing_if = "<[_]>::is_empty")]
    event_type: &'static [&'static str],
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
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<Str<'a>>,
    /// The user an IAM call acts on.
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<TargetUser<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changes: Option<ChangedUser<'a>>,
}

impl User<'_> {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.id.is_none()
            && self.email.is_none()
            && self.target.is_none()
            && self.changes.is_none()
    }
}

#[derive(Serialize)]
struct TargetUser<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Str<'a>>,
}

#[derive(Serialize)]
struct ChangedUser<'a> {
    name: Str<'a>,
}

/// The IAM group an IAM call acts on.
#[derive(Serialize, Default)]
struct Group<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Str<'a>>,
}

impl Group<'_> {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.id.is_none()
    }
}

#[derive(Serialize, Default)]
struct Related<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user: Vec<Str<'a>>,
    /// `source.ip` (ECS: every IP seen on the event).
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<[IpAddr; 1]>,
}

impl Related<'_> {
    fn is_empty(&self) -> bool {
        self.user.is_empty() && self.ip.is_none()
    }
}

#[derive(Serialize)]
struct Tls<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    version_protocol: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cipher: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<TlsClient<'a>>,
}

#[derive(Serialize)]
struct TlsClient<'a> {
    server_name: Str<'a>,
}

#[derive(Serialize)]
struct UserAgentField<'a> {
    original: Str<'a>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    parsed: Option<&'a crate::enrich::user_agent::EcsUserAgent>,
    /// The same parse, its JSON written once per user agent (for `write_json`).
    #[serde(skip)]
    cached: Option<&'a CachedUserAgent>,
}

#[derive(Serialize)]
struct Aws<'a> {
    cloudtrail: CloudTrail<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a crate::enrich::user_agent::AwsUserAgent>,
    /// `user_agent` as JSON, written once per user agent (for `write_json`).
    #[serde(skip)]
    user_agent_json: Option<&'a str>,
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
    iam_actions: Option<&'static [&'static str]>,
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
    unknown_fields: Cow<'a, [(Cow<'a, str>, RawJson<'a>)]>,
    /// What could not go into a `flat_object` field safely (see [`bound`]): the JSON text of an
    /// object of those values by dotted path, stored, not indexed.
    #[serde(skip_serializing_if = "Option::is_none")]
    unindexed_fields: Option<String>,
    /// Why each value there, or a payload left out of `flattened`, is not searchable by its
    /// path: `<dotted path>: <reason>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unindexed_reasons: Vec<String>,
}

#[derive(Serialize)]
struct Identity<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    identity_type: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<Str<'a>>,
    /// The session name of a role session or federated user (trailscope's; see `ecs::Actor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    session_name: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoked_by: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_provider: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_id: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_behalf_of: Option<RawJson<'a>>,
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
    attributes: Option<RawJson<'a>>,
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
    request_parameters: Option<RawJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_elements: Option<RawJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<RawJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_event_details: Option<RawJson<'a>>,
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
struct JsonText<'a>(RawJson<'a>);

impl Serialize for JsonText<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.get())
    }
}

fn serialize_unknown<S: Serializer>(
    fields: &[(Cow<'_, str>, RawJson<'_>)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(fields.len()))?;
    for (k, v) in fields.iter() {
        map.serialize_entry(k.as_ref(), v)?;
    }
    map.end()
}

fn text(raw: Option<RawJson<'_>>) -> Option<JsonText<'_>> {
    raw.map(JsonText)
}

/// Members of one JSON object written straight into the output, in the order and with the
/// bytes serde_json gives the derived `Serialize` above (the tests compare the two). Keys are
/// plain names with nothing to escape; string values go through the fast escaper.
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Writes `"key":` and returns the output for the value.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        debug_assert!(!key.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        json_escape::write_str(self.key(key), value);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(value) = value {
            let literal: &[u8] = if value { b"true" } else { b"false" };
            self.key(key).extend_from_slice(literal);
        }
    }

    /// A raw JSON value, as it came.
    fn opt_raw(&mut self, key: &str, value: Option<RawJson<'_>>) {
        if let Some(value) = value {
            self.key(key).extend_from_slice(value.get().as_bytes());
        }
    }

    /// A raw JSON value as a JSON string holding its text ([`JsonText`]).
    fn opt_text(&mut self, key: &str, value: Option<&JsonText<'_>>) {
        if let Some(value) = value {
            json_escape::write_str(self.key(key), value.0.get());
        }
    }

    /// Members already written as JSON (`"a":1,"b":2`; nothing when empty).
    fn members(&mut self, members: &str) {
        if members.is_empty() {
            return;
        }
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.extend_from_slice(members.as_bytes());
    }

    /// An array of strings.
    fn str_array(&mut self, key: &str, values: &[&str]) {
        let out = self.key(key);
        out.push(b'[');
        for (n, v) in values.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            json_escape::write_str(out, v);
        }
        out.push(b']');
    }

    /// Anything else, through serde_json.
    fn value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> serde_json::Result<()> {
        serde_json::to_writer(self.key(key), value)
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

impl Document<'_> {
    /// Appends the document as compact JSON: the same bytes as `serde_json::to_writer(out, self)`
    /// in about half the instructions (the JSON text copies of the payloads are most of a
    /// document, and serde_json escapes them byte by byte).
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let mut o = Obj::open(out);
        o.str("@timestamp", &self.timestamp);
        self.event.write(o.key("event"));
        self.cloud.write(o.key("cloud"));
        if let Some(source) = &self.source {
            let mut s = Obj::open(o.key("source"));
            s.str("address", source.address);
            if let Some(ip) = source.ip {
                write_ip(s.key("ip"), ip, Some(source.address))?;
            }
            if let Some(geo) = source.geo {
                s.value("geo", geo)?;
            }
            if let Some(autonomous_system) = source.autonomous_system {
                s.value("as", autonomous_system)?;
            }
            s.close();
        }
        if !self.user.is_empty() {
            let mut u = Obj::open(o.key("user"));
            u.opt_str("name", self.user.name);
            u.opt_str("id", self.user.id);
            u.opt_str("email", self.user.email);
            if let Some(t) = &self.user.target {
                let mut t_ = Obj::open(u.key("target"));
                t_.opt_str("name", t.name);
                t_.opt_str("id", t.id);
                t_.close();
            }
            if let Some(c) = &self.user.changes {
                let mut c_ = Obj::open(u.key("changes"));
                c_.str("name", c.name);
                c_.close();
            }
            u.close();
        }
        if !self.related.is_empty() {
            let mut r = Obj::open(o.key("related"));
            if !self.related.user.is_empty() {
                r.str_array("user", &self.related.user);
            }
            if let Some([ip]) = self.related.ip {
                let out = r.key("ip");
                out.push(b'[');
                write_ip(out, ip, self.source.as_ref().map(|s| s.address))?;
                out.push(b']');
            }
            r.close();
        }
        if let Some(user_agent) = &self.user_agent {
            let mut u = Obj::open(o.key("user_agent"));
            u.str("original", user_agent.original);
            if let Some(cached) = user_agent.cached {
                u.members(cached.ecs_members_json());
            }
            u.close();
        }
        if let Some(tls) = &self.tls {
            let mut t = Obj::open(o.key("tls"));
            t.opt_str("version_protocol", tls.version_protocol.as_deref());
            t.opt_str("version", tls.version);
            t.opt_str("cipher", tls.cipher);
            if let Some(client) = &tls.client {
                let mut c = Obj::open(t.key("client"));
                c.str("server_name", client.server_name);
                c.close();
            }
            t.close();
        }
        if !self.group.is_empty() {
            let mut g = Obj::open(o.key("group"));
            g.opt_str("name", self.group.name);
            g.opt_str("id", self.group.id);
            g.close();
        }
        {
            let mut aws = Obj::open(o.key("aws"));
            self.aws.cloudtrail.write(aws.key("cloudtrail"))?;
            if let Some(user_agent) = self.aws.user_agent_json {
                aws.key("user_agent")
                    .extend_from_slice(user_agent.as_bytes());
            }
            aws.close();
        }
        if let Some(c) = &self.cloudwatch {
            let mut w = Obj::open(o.key("cloudwatch"));
            w.str("log_group", c.log_group);
            w.str("log_stream", c.log_stream);
            w.str("event_id", c.event_id);
            w.close();
        }
        o.close();
        Ok(())
    }
}

impl Event<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let mut o = Obj::open(out);
        o.opt_str("id", self.id);
        o.str("action", self.action);
        o.opt_str("provider", self.provider);
        o.str("outcome", self.outcome);
        o.str("kind", self.kind);
        if !self.category.is_empty() {
            o.str_array("category", self.category);
        }
        if !self.event_type.is_empty() {
            o.str_array("type", self.event_type);
        }
        o.close();
    }
}

impl Cloud<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let mut o = Obj::open(out);
        o.str("provider", self.provider);
        o.opt_str("region", self.region);
        if let Some(account) = &self.account {
            let mut a = Obj::open(o.key("account"));
            a.str("id", account.id);
            a.close();
        }
        o.close();
    }
}

impl CloudTrail<'_> {
    fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let mut o = Obj::open(out);
        o.opt_str("event_version", self.event_version);
        o.opt_str("event_type", self.event_type);
        o.opt_str("event_category", self.event_category);
        o.opt_str("iam_action", self.iam_action);
        if let Some(actions) = self.iam_actions {
            o.str_array("iam_actions", actions);
        }
        o.opt_bool("read_only", self.read_only);
        o.opt_bool("management_event", self.management_event);
        o.opt_str("error_code", self.error_code);
        o.opt_str("error_message", self.error_message);
        o.opt_str("request_id", self.request_id);
        o.opt_str("shared_event_id", self.shared_event_id);
        o.opt_str("api_version", self.api_version);
        o.opt_str("recipient_account_id", self.recipient_account_id);
        o.opt_str("vpc_endpoint_id", self.vpc_endpoint_id);
        o.opt_str("vpc_endpoint_account_id", self.vpc_endpoint_account_id);
        o.opt_bool(
            "session_credential_from_console",
            self.session_credential_from_console,
        );
        if let Some(identity) = &self.user_identity {
            identity.write(o.key("user_identity"));
        }
        if !self.resources.is_empty() {
            let out = o.key("resources");
            out.push(b'[');
            for (n, r) in self.resources.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                let mut o = Obj::open(out);
                o.opt_str("arn", r.arn);
                o.opt_str("account_id", r.account_id);
                o.opt_str("type", r.resource_type);
                o.close();
            }
            out.push(b']');
        }
        if let Some(t) = &self.tls_details {
            let mut o = Obj::open(o.key("tls_details"));
            o.opt_str("tls_version", t.tls_version);
            o.opt_str("cipher_suite", t.cipher_suite);
            o.opt_str("client_provided_host_header", t.client_provided_host_header);
            o.close();
        }
        o.opt_text("request_parameters", self.request_parameters.as_ref());
        o.opt_text("response_elements", self.response_elements.as_ref());
        o.opt_text("additional_event_data", self.additional_event_data.as_ref());
        o.opt_text("service_event_details", self.service_event_details.as_ref());
        o.opt_text("addendum", self.addendum.as_ref());
        o.opt_text("edge_device_details", self.edge_device_details.as_ref());
        o.opt_text("insight_details", self.insight_details.as_ref());
        if !self.flattened.is_empty() {
            let f = &self.flattened;
            let mut o = Obj::open(o.key("flattened"));
            o.opt_raw("request_parameters", f.request_parameters);
            o.opt_raw("response_elements", f.response_elements);
            o.opt_raw("additional_event_data", f.additional_event_data);
            o.opt_raw("service_event_details", f.service_event_details);
            o.close();
        }
        if !self.unknown_fields.is_empty() {
            let out = o.key("unknown_fields");
            out.push(b'{');
            for (n, (k, v)) in self.unknown_fields.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                json_escape::write_str(out, k);
                out.push(b':');
                out.extend_from_slice(v.get().as_bytes());
            }
            out.push(b'}');
        }
        if let Some(text) = &self.unindexed_fields {
            o.str("unindexed_fields", text);
        }
        if !self.unindexed_reasons.is_empty() {
            let reasons: Vec<&str> = self.unindexed_reasons.iter().map(String::as_str).collect();
            o.str_array("unindexed_reasons", &reasons);
        }
        o.close();
        Ok(())
    }
}

impl Identity<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let mut o = Obj::open(out);
        o.opt_str("type", self.identity_type);
        o.opt_str("arn", self.arn);
        o.opt_str("session_name", self.session_name);
        o.opt_str("access_key_id", self.access_key_id);
        o.opt_str("invoked_by", self.invoked_by);
        o.opt_str("identity_provider", self.identity_provider);
        o.opt_str("credential_id", self.credential_id);
        o.opt_raw("on_behalf_of", self.on_behalf_of);
        if let Some(c) = &self.session_context {
            let mut s = Obj::open(o.key("session_context"));
            s.opt_bool("mfa_authenticated", c.mfa_authenticated);
            s.opt_str("creation_date", c.creation_date);
            s.opt_str("source_identity", c.source_identity);
            s.opt_str("ec2_role_delivery", c.ec2_role_delivery);
            s.opt_str("assumed_root", c.assumed_root);
            if let Some(i) = &c.session_issuer {
                let mut o = Obj::open(s.key("session_issuer"));
                o.opt_str("type", i.issuer_type);
                o.opt_str("principal_id", i.principal_id);
                o.opt_str("arn", i.arn);
                o.opt_str("account_id", i.account_id);
                o.opt_str("user_name", i.user_name);
                o.close();
            }
            if let Some(w) = &c.web_id_federation_data {
                let mut o = Obj::open(s.key("web_id_federation_data"));
                o.opt_str("federated_provider", w.federated_provider);
                o.opt_raw("attributes", w.attributes);
                o.close();
            }
            s.close();
        }
        o.close();
    }
}

impl<'a> Document<'a> {
    /// Drops the text copy of each payload whose `flat_object` copy took it: that one keeps the
    /// same content in `_source` and is the searchable one, while the text copy (stored, never
    /// indexed) cost OpenSearch 12-20% more CPU per document (scripts/doc-cost.sh). The default;
    /// `--payloads both` keeps the text as Elastic's integration writes it. A payload the
    /// flat_object did not take keeps its text, so nothing becomes unreadable.
    pub fn without_duplicate_payload_text(mut self) -> Self {
        let c = &mut self.aws.cloudtrail;
        let f = &c.flattened;
        for (text, flat) in [
            (&mut c.request_parameters, f.request_parameters.is_some()),
            (&mut c.response_elements, f.response_elements.is_some()),
            (
                &mut c.additional_event_data,
                f.additional_event_data.is_some(),
            ),
            (
                &mut c.service_event_details,
                f.service_event_details.is_some(),
            ),
        ] {
            if flat {
                *text = None;
            }
        }
        self
    }

    /// `timestamp` is the record's own time as indexed (see [`crate::event::encode`]).
    pub fn new(
        record: &'a CloudTrailRecord<'a>,
        timestamp: Cow<'a, str>,
        origin: &'a Origin,
        enrichment: &'a Enrichment,
    ) -> Document<'a> {
        let identity = record.user_identity.as_ref();
        let mut aside = SetAside::default();
        let unknown_fields =
            bound::split_members(&record.unknown, UNKNOWN_FIELDS.len(), &mut aside);
        let actor = ecs::actor(record);
        let user_identity = identity.map(|i| identity_field(i, &actor, &mut aside));
        let mut flat = |p: Payload| {
            bound::payload(record.payload(p), record.payload_fits.get(p), p, &mut aside)
        };
        let flattened = Flattened {
            request_parameters: flat(Payload::RequestParameters),
            response_elements: flat(Payload::ResponseElements),
            additional_event_data: flat(Payload::AdditionalEventData),
            service_event_details: flat(Payload::ServiceEventDetails),
        };
        let (unindexed_fields, unindexed_reasons) = aside.into_parts();
        let read_only = record.read_only;
        let target = ecs::iam_target(record);
        let class = ecs::classify(
            record.event_source.as_deref().unwrap_or_default(),
            &record.event_name,
        );
        let source_ip: Option<IpAddr> = record
            .source_ip_address
            .as_deref()
            .and_then(|a| a.parse().ok());
        let related = Related {
            user: ecs::related_users(&target, &actor),
            ip: source_ip.map(|ip| [ip]),
        };
        Document {
            timestamp,
            event: Event {
                id: record.event_id.as_deref(),
                action: &record.event_name,
                provider: record.event_source.as_deref(),
                outcome: ecs::outcome(record).as_str(),
                kind: "event",
                category: class.category,
                event_type: class.event_type,
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
                ip: source_ip,
                geo: enrichment.geo.as_deref(),
                autonomous_system: enrichment.autonomous_system.as_deref(),
            }),
            user: user(&actor, &target),
            related,
            user_agent: record.user_agent.as_deref().map(|original| UserAgentField {
                original,
                parsed: enrichment.user_agent.as_deref().map(|p| &p.ecs),
                cached: enrichment.user_agent.as_deref(),
            }),
            tls: record.tls_details.as_ref().and_then(ecs::tls).map(|t| Tls {
                version_protocol: t.version_protocol,
                version: t.version,
                cipher: t.cipher,
                client: t.server_name.map(|server_name| TlsClient { server_name }),
            }),
            group: Group {
                name: target.group_name,
                id: target.group_id,
            },
            aws: Aws {
                cloudtrail: CloudTrail {
                    event_version: record.event_version.as_deref(),
                    event_type: record.event_type.as_deref(),
                    event_category: record.event_category.as_deref(),
                    iam_action: enrichment.iam.as_ref().map(|a| &*a.primary),
                    iam_actions: enrichment.iam.as_ref().and_then(|a| a.several()),
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
                    user_identity,
                    resources: record.resources.iter().map(resource_field).collect(),
                    tls_details: record.tls_details.as_ref().map(tls_field),
                    request_parameters: text(record.request_parameters),
                    response_elements: text(record.response_elements),
                    additional_event_data: text(record.additional_event_data),
                    service_event_details: text(record.service_event_details),
                    addendum: text(record.addendum),
                    edge_device_details: text(record.edge_device_details),
                    insight_details: text(record.insight_details),
                    flattened,
                    unknown_fields,
                    unindexed_fields,
                    unindexed_reasons,
                },
                user_agent: enrichment.user_agent.as_deref().map(|p| &p.aws),
                user_agent_json: enrichment.user_agent.as_deref().map(|p| p.aws_json()),
            },
            cloudwatch: match origin {
                Origin::CloudWatch(p) => Some(CloudWatch {
                    log_group: &p.log_group,
                    log_stream: &p.log_stream,
                    event_id: &p.event_id,
                }),
                Origin::File { .. } | Origin::Sqs { .. } => None,
            },
        }
    }
}

/// ECS `user.*`: who called ([`ecs::actor`]) and, for IAM calls, on whom ([`ecs::iam_target`]).
fn user<'a>(actor: &Actor<'a>, target: &IamTarget<'a>) -> User<'a> {
    User {
        name: actor.name,
        id: actor.id,
        email: actor.email,
        target: (target.user_name.is_some() || target.user_id.is_some()).then_some(TargetUser {
            name: target.user_name,
            id: target.user_id,
        }),
        changes: target.new_user_name.map(|name| ChangedUser { name }),
    }
}

/// Writes an IP address as serde_json writes it. Rust reads an IPv4 address only in the
/// dotted-decimal form it prints (no leading zeros, no spaces): the address as it came is the
/// printed IP, without the formatting machinery.
fn write_ip(out: &mut Vec<u8>, ip: IpAddr, text: Option<&str>) -> serde_json::Result<()> {
    match (ip, text) {
        (IpAddr::V4(_), Some(text)) => json_escape::write_str(out, text),
        _ => serde_json::to_writer(out, &ip)?,
    }
    Ok(())
}

/// The dotted path of the `flat_object` field of unknown fields.
const UNKNOWN_FIELDS: &str = "aws.cloudtrail.unknown_fields";

fn identity_field<'a>(
    i: &'a UserIdentity<'a>,
    actor: &Actor<'a>,
    aside: &mut SetAside,
) -> Identity<'a> {
    Identity {
        identity_type: i.identity_type.as_deref(),
        arn: i.arn.as_deref(),
        session_name: actor.session_name,
        access_key_id: i.access_key_id.as_deref(),
        invoked_by: i.invoked_by.as_deref(),
        identity_provider: i.identity_provider.as_deref(),
        credential_id: i.credential_id.as_deref(),
        on_behalf_of: aside.object_or_aside(
            "userIdentity.onBehalfOf",
            "aws.cloudtrail.user_identity.on_behalf_of",
            i.on_behalf_of,
        ),
        session_context: i.session_context.as_ref().map(|c| session_field(c, aside)),
    }
}

fn session_field<'a>(c: &'a SessionContext<'a>, aside: &mut SetAside) -> Session<'a> {
    Session {
        mfa_authenticated: c.mfa_authenticated,
        // A `date` field: a text OpenSearch cannot read would cost the event.
        creation_date: c.creation_date.as_deref().filter(|t| {
            indexable_time(t) || {
                aside.push_str(
                    "userIdentity.sessionContext.attributes.creationDate",
                    t,
                    Unsafe::NotTime,
                );
                false
            }
        }),
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
            attributes: aside.object_or_aside(
                "userIdentity.sessionContext.webIdFederationData.attributes",
                "aws.cloudtrail.user_identity.session_context.web_id_federation_data.attributes",
                w.attributes,
            ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::Enricher;
    use crate::event::encode::event_time;
    use crate::source::CloudWatchPosition;
    use std::sync::Arc;

    fn origin() -> Origin {
        Origin::CloudWatch(CloudWatchPosition {
            log_group: Arc::from("group \"g\""),
            log_stream: Arc::from("stream\\1"),
            event_id: "0001".into(),
            timestamp: 1_700_000_000_000,
            ingestion_time: None,
        })
    }

    /// `write_json` must give exactly the bytes of the derived `Serialize`.
    fn assert_same_bytes(message: &str, origin: &Origin) {
        let record = CloudTrailRecord::parse(message).unwrap();
        let Ok((_, timestamp)) = event_time(&record, origin) else {
            return;
        };
        let enrichment = Enricher::default().enrich(&record);
        let doc = Document::new(&record, timestamp, origin, &enrichment);
        let mut ours = b"[1,".to_vec();
        doc.write_json(&mut ours).unwrap();
        let serde = serde_json::to_vec(&doc).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours[3..]),
            String::from_utf8_lossy(&serde),
            "{message}"
        );
    }

    #[test]
    fn written_document_is_what_serde_writes() {
        let full = r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA:s",
          "arn":"arn:aws:sts::1:assumed-role/R/s\u00e9","accountId":"1","accessKeyId":"ASIA","invokedBy":"x",
          "identityProvider":"p","credentialId":"c","onBehalfOf":{"userId":"u"},
          "sessionContext":{"sessionIssuer":{"type":"Role","principalId":"P","arn":"arn:aws:iam::1:role/R","accountId":"1","userName":"R"},
          "webIdFederationData":{"federatedProvider":"f","attributes":{"a":"b"}},
          "attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"true"},
          "sourceIdentity":"me","ec2RoleDelivery":"2.0","assumedRoot":"true","newCtx":1},"newIdentityField":{"a":1}},
          "eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject",
          "awsRegion":"eu-west-1","sourceIPAddress":"1.2.3.4","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
          "errorCode":"AccessDenied","errorMessage":"a \"quoted\"\n\u0001 message \\ é",
          "requestParameters":{"bucketName":"b","key":"a \"k\" \\ \u0007 €", "n": [1, 2.5e3, null, true]},
          "responseElements":{"x":{"y":"z"}},"additionalEventData":{"SignatureVersion":"SigV4"},
          "serviceEventDetails":"just text","addendum":{"reason":"r"},"edgeDeviceDetails":[1],"insightDetails":{"i":1},
          "readOnly":true,"requestID":"r","eventID":"e","sharedEventID":"s","apiVersion":"v","vpcEndpointId":"vpce",
          "vpcEndpointAccountId":"2","eventCategory":"Management",
          "resources":[{"ARN":"arn:aws:s3:::b","accountId":"1","type":"AWS::S3::Bucket","extra":2},{"type":"t"}],
          "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"1",
          "tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"c","clientProvidedHostHeader":"h"},
          "sessionCredentialFromConsole":"true","brandNew":[1,2],"we\"ird\u0000key":{}}"#;
        for origin in [
            origin(),
            Origin::File {
                path: Arc::from("f"),
                record: 1,
            },
        ] {
            assert_same_bytes(full, &origin);
            assert_same_bytes(r#"{"eventName":"X"}"#, &origin);
            // The ECS fields of IAM calls, sign-ins and an IPv6 caller (tls, group, user.target,
            // user.changes, user.email, related.ip, no event.type).
            assert_same_bytes(
                r#"{"eventName":"UpdateUser","eventSource":"iam.amazonaws.com","eventTime":"2024-01-02T03:04:05Z",
                "userIdentity":{"type":"IAMUser","principalId":"AIDA","userName":"a@example.com"},
                "sourceIPAddress":"2001:db8::1","requestParameters":{"userName":"Bob","newUserName":"Rob","groupName":"G"},
                "responseElements":{"user":{"userId":"AIDABOB"},"group":{"groupId":"AGPA"}},
                "tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"c","clientProvidedHostHeader":"iam.amazonaws.com"}}"#,
                &origin,
            );
            assert_same_bytes(
                r#"{"eventName":"Publish","eventSource":"sns.amazonaws.com","eventTime":"2024-01-02T03:04:05Z",
                "sourceIPAddress":"sns.amazonaws.com","tlsDetails":{"tlsVersion":"1.3"}}"#,
                &origin,
            );
            assert_same_bytes(
                r#"{"eventName":"CheckMfa","eventSource":"signin.amazonaws.com","eventTime":"2024-01-02T03:04:05Z",
                "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","sessionContext":{"sessionIssuer":{"userName":"R"}}},
                "responseElements":{"CheckMfa":"Failure"},"sourceIPAddress":"192.0.2.1"}"#,
                &origin,
            );
            // What cannot go into a flat_object is kept as text (`bound`), in both writers.
            let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
            assert_same_bytes(
                &format!(
                    r#"{{"eventName":"X","new":1,"new":{deep},"requestParameters":{{"a":{deep}}},
                    "userIdentity":{{"onBehalfOf":{{"a":1,"a":2}}}}}}"#
                ),
                &origin,
            );
            assert_same_bytes(
                r#"{"eventName":"X","eventTime":"2024-01-02 03:04:05","userIdentity":{"type":"IAMUser","userName":"u"},"requestParameters":null}"#,
                &origin,
            );
        }
    }

    #[test]
    fn an_ipv4_address_that_parses_prints_as_it_came() {
        for text in [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3",
            "256.1.1.1",
            "::ffff:1.2.3.4",
            "AWS Internal",
        ] {
            if let Ok(IpAddr::V4(ip)) = text.parse() {
                assert_eq!(ip.to_string(), text);
            }
        }
        for n in (0..u32::MAX).step_by(65_537) {
            let text = std::net::Ipv4Addr::from(n).to_string();
            assert_eq!(text.parse::<IpAddr>().unwrap().to_string(), text);
        }
    }

    /// Every record of the shared corpus (or the sample when it is absent).
    #[test]
    fn written_corpus_documents_are_what_serde_writes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let corpus = root.join(
            "../shared/corpus/cloudtrail/panther-labs__panther-analysis/rule-test-events.ndjson",
        );
        let path = if corpus.exists() {
            corpus
        } else {
            root.join("examples/cloudtrail-sample.ndjson")
        };
        let text = std::fs::read_to_string(path).unwrap();
        let origin = origin();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            assert_same_bytes(line, &origin);
        }
    }
}

//! The OpenSearch Dashboards saved objects (`dashboards/trailscope.ndjson`), proven without a
//! Dashboards server: every object parses (with the JSON inside `visState`, `searchSourceJSON`,
//! `panelsJSON`), every reference resolves to a shipped object, every field exists in the index
//! template with a type that allows its use, and every visualization's aggregations, translated
//! into an OpenSearch search request, return buckets on the sample events indexed in the real
//! local OpenSearch. A visualization type or aggregation this verifier cannot translate fails the
//! test: nothing is skipped.
//!
//! The index pattern's field list is compared with what Dashboards would read from `_field_caps`
//! on an index the template made in the real node.
//!
//! And `setup --dashboards-url`: no Dashboards server can run here, so the import goes to a small
//! fake that checks the request as OpenSearch Dashboards' `_import` does and answers its success,
//! and the client's errors are checked too (server unreachable, a URL that is OpenSearch).

mod common;

use common::*;
use opensearch::http::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use trailscope::audit::query::{is_authorization_error, AUTHORIZATION_ERRORS};
use trailscope::findings::finding::Finding;
use trailscope::findings::kind::{Kind, Severity};
use trailscope::findings::store;
use trailscope::sink::opensearch::{Client, ConnectOptions};

const NDJSON: &str = include_str!("../dashboards/trailscope.ndjson");
const TEMPLATE: &str = include_str!("../mappings/index-template.json");
const SAMPLE: &str = include_str!("../examples/cloudtrail-sample.ndjson");

/// What the index template says about one field.
#[derive(Debug, Clone)]
struct Field {
    ty: String,
    indexed: bool,
    doc_values: bool,
}

impl Field {
    /// terms, cardinality and list controls need doc values of an exact-value type.
    fn aggregatable(&self) -> bool {
        const TYPES: &[&str] = &[
            "keyword",
            "long",
            "integer",
            "short",
            "byte",
            "double",
            "float",
            "half_float",
            "scaled_float",
            "unsigned_long",
            "ip",
            "boolean",
            "date",
        ];
        self.doc_values && TYPES.contains(&self.ty.as_str())
    }
}

/// Every leaf field of a mapping's `properties` by its dotted path (multi-fields as `path.sub`).
fn mapping_fields(properties: &Value) -> BTreeMap<String, Field> {
    fn walk(props: &Value, prefix: &str, out: &mut BTreeMap<String, Field>) {
        for (name, def) in props.as_object().expect("properties is an object") {
            let path = format!("{prefix}{name}");
            if let Some(children) = def.get("properties") {
                walk(children, &format!("{path}."), out);
                continue;
            }
            if matches!(def["type"].as_str(), Some("object" | "nested")) {
                // No leaf: an object without properties (e.g. `enabled: false`) holds no field.
                continue;
            }
            let ty = def["type"].as_str().expect("a leaf has a type").to_owned();
            let doc_values_default = !matches!(
                ty.as_str(),
                "text" | "match_only_text" | "flat_object" | "geo_shape"
            );
            out.insert(
                path.clone(),
                Field {
                    ty,
                    indexed: def["index"].as_bool().unwrap_or(true),
                    doc_values: def["doc_values"].as_bool().unwrap_or(doc_values_default),
                },
            );
            if let Some(subs) = def.get("fields") {
                walk(subs, &format!("{path}."), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(properties, "", &mut out);
    out
}

/// The fields of the CloudTrail index template.
fn template_fields() -> BTreeMap<String, Field> {
    let template: Value = serde_json::from_str(TEMPLATE).unwrap();
    mapping_fields(&template["template"]["mappings"]["properties"])
}

/// The id of the findings index pattern, and its title: the default of `--findings-index`.
const FINDINGS_PATTERN: &str = "trailscope-findings";
const FINDINGS_INDEX: &str = "trailscope-findings";

/// The fields of the findings index, from the mapping trailscope creates it with.
fn findings_fields() -> BTreeMap<String, Field> {
    mapping_fields(&store::mapping()["mappings"]["properties"])
}

/// The fields an object may use: those of the index pattern it searches (visualizations and
/// searches reference exactly one; the findings pattern's objects are checked against the
/// findings mapping, every other against the template).
fn fields_for<'a>(
    o: &Object,
    template: &'a BTreeMap<String, Field>,
    findings: &'a BTreeMap<String, Field>,
) -> &'a BTreeMap<String, Field> {
    let patterns: HashSet<&str> = o.raw["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "index-pattern")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let own = o.ty == "index-pattern" && o.id == FINDINGS_PATTERN;
    if own || patterns.contains(FINDINGS_PATTERN) {
        assert!(
            own || patterns.len() == 1,
            "{}: findings objects search the findings pattern only",
            o.what()
        );
        findings
    } else {
        template
    }
}

/// Asserts that `field` exists and allows `usage` ("terms", "cardinality", "date_histogram",
/// "column", "sort", "query"); `what` names the object for the message.
fn check_field(fields: &BTreeMap<String, Field>, field: &str, usage: &str, what: &str) {
    let f = fields
        .get(field)
        .unwrap_or_else(|| panic!("{what}: field {field} is not in the index template"));
    let ok = match usage {
        "terms" | "cardinality" | "sort" => f.aggregatable(),
        "max" => f.aggregatable() && f.ty != "keyword" && f.ty != "ip" && f.ty != "boolean",
        "date_histogram" => f.ty == "date" && f.doc_values,
        "query" => f.indexed,
        "column" => true,
        _ => panic!("{what}: unknown field use {usage}"),
    };
    assert!(
        ok,
        "{what}: {usage} on {field} needs another type, the template maps it as {f:?}"
    );
}

/// The metadata fields OpenSearch Dashboards lists in an index pattern (its `metaFields` setting).
const META_FIELDS: [&str; 5] = ["_id", "_index", "_score", "_source", "_type"];

/// The OpenSearch Dashboards field type of a mapping type (OSD's osd_field_types).
fn osd_type(es_type: &str) -> &'static str {
    match es_type {
        "keyword" | "text" | "match_only_text" => "string",
        // OSD 2.x has no flat_object type (3.5 added it as a string).
        "flat_object" => "unknown",
        "long" | "integer" | "short" | "byte" | "double" | "float" | "half_float"
        | "scaled_float" | "unsigned_long" => "number",
        "date" | "date_nanos" => "date",
        "ip" => "ip",
        "boolean" => "boolean",
        "geo_point" => "geo_point",
        other => panic!("mapping type {other} has no OpenSearch Dashboards type here"),
    }
}

/// The index pattern's `fields` (a JSON string of an array) by name.
fn pattern_fields(o: &Object) -> BTreeMap<String, Value> {
    let list = o.json_attr("fields");
    let mut out = BTreeMap::new();
    for f in list.as_array().expect("fields is an array") {
        let name = f["name"].as_str().expect("a field has a name").to_owned();
        assert!(
            out.insert(name.clone(), f.clone()).is_none(),
            "field {name} twice"
        );
    }
    out
}

/// A shipped saved object, with the JSON inside its string attributes parsed.
struct Object {
    ty: String,
    id: String,
    raw: Value,
}

impl Object {
    fn attr(&self, name: &str) -> &Value {
        &self.raw["attributes"][name]
    }
    /// Parses a JSON-in-a-string attribute such as `visState`.
    fn json_attr(&self, name: &str) -> Value {
        let text = self
            .attr(name)
            .as_str()
            .unwrap_or_else(|| panic!("{} {}: {name} is not a string", self.ty, self.id));
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{} {}: {name} is not JSON: {e}", self.ty, self.id))
    }
    fn search_source(&self) -> Value {
        let text = self.attr("kibanaSavedObjectMeta")["searchSourceJSON"]
            .as_str()
            .unwrap_or_else(|| panic!("{} {}: no searchSourceJSON", self.ty, self.id));
        serde_json::from_str(text).unwrap_or_else(|e| {
            panic!("{} {}: searchSourceJSON is not JSON: {e}", self.ty, self.id)
        })
    }
    /// The reference named `name` (as used by indexRefName, panelRefName, ...).
    fn reference(&self, name: &str) -> &Value {
        self.raw["references"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{} {}: no reference named {name}", self.ty, self.id))
    }
    fn what(&self) -> String {
        format!("{} {} ({})", self.ty, self.id, self.attr("title"))
    }
}

fn objects() -> Vec<Object> {
    NDJSON
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let raw: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {} is not JSON: {e}", n + 1));
            Object {
                ty: raw["type"].as_str().expect("type").to_owned(),
                id: raw["id"].as_str().expect("id").to_owned(),
                raw,
            }
        })
        .collect()
}

/// The OpenSearch query of a search source: only what translates exactly (an empty query, a
/// Lucene query string); anything else fails. Checks the fields the query names.
fn query_of(source: &Value, fields: &BTreeMap<String, Field>, what: &str) -> Value {
    assert_eq!(
        source["filter"],
        json!([]),
        "{what}: saved filters are not translated by this verifier"
    );
    let text = source["query"]["query"].as_str().unwrap_or("");
    if text.trim().is_empty() {
        return json!({"match_all": {}});
    }
    assert_eq!(
        source["query"]["language"], "lucene",
        "{what}: only Lucene query strings translate exactly into an OpenSearch query"
    );
    for token in text.split_whitespace() {
        if let Some((field, _)) = token.trim_start_matches(['(', '-', '+']).split_once(':') {
            check_field(fields, field, "query", what);
        }
    }
    json!({"query_string": {"query": text}})
}

/// One bucket level of a visualization: its agg id.
struct Translation {
    body: Value,
    bucket_ids: Vec<String>,
    metric_ids: Vec<String>,
    described: String,
}

/// Translates a visualization's aggregations into a search request, as Dashboards nests them:
/// bucket aggregations in their order, metrics inside the innermost bucket.
fn translate(
    vis: &Value,
    query: Value,
    fields: &BTreeMap<String, Field>,
    what: &str,
) -> Translation {
    let aggs = vis["aggs"].as_array().expect("aggs is an array");
    let enabled: Vec<&Value> = aggs.iter().filter(|a| a["enabled"] != false).collect();
    let count_ids: HashSet<&str> = enabled
        .iter()
        .filter(|a| a["type"] == "count")
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let mut metrics = serde_json::Map::new();
    let mut metric_ids = Vec::new();
    let mut buckets: Vec<(String, Value)> = Vec::new();
    let mut described = Vec::new();
    for agg in &enabled {
        let id = agg["id"].as_str().expect("agg id").to_owned();
        let params = &agg["params"];
        let field = params["field"].as_str().unwrap_or("");
        match (
            agg["type"].as_str().unwrap(),
            agg["schema"].as_str().unwrap(),
        ) {
            ("count", "metric") => described.push("count".to_owned()),
            ("max", "metric") => {
                check_field(fields, field, "max", what);
                metrics.insert(id.clone(), json!({"max": {"field": field}}));
                metric_ids.push(id);
                described.push(format!("max({field})"));
            }
            ("cardinality", "metric") => {
                check_field(fields, field, "cardinality", what);
                metrics.insert(id.clone(), json!({"cardinality": {"field": field}}));
                metric_ids.push(id);
                described.push(format!("cardinality({field})"));
            }
            ("terms", "segment" | "group" | "bucket" | "split") => {
                check_field(fields, field, "terms", what);
                // A terms split on a boolean shows a reader `true` / `false`.
                assert_ne!(
                    fields[field].ty, "boolean",
                    "{what}: terms on {field} shows true/false; label what they mean with a \
                     filters aggregation"
                );
                assert!(
                    params["otherBucket"] != true && params["missingBucket"] != true,
                    "{what}: other/missing buckets are not translated by this verifier"
                );
                let order_by = params["orderBy"].as_str().unwrap_or("");
                // Ordered by a metric, Dashboards puts that metric inside the terms aggregation
                // too (its terms orderAgg), whatever level the terms is at.
                let mut order_agg = None;
                let key = if count_ids.contains(order_by) {
                    "_count"
                } else if order_by == "_key" {
                    "_key"
                } else if let Some(metric) = metrics.get(order_by) {
                    order_agg = Some(json!({ order_by: metric }));
                    order_by
                } else {
                    panic!("{what}: terms ordered by {order_by} is not translated by this verifier")
                };
                let size = params["size"].as_u64().expect("terms size");
                let mut terms = json!({"terms": {"field": field, "size": size,
                                 "order": {key: params["order"].as_str().unwrap_or("desc")}}});
                if let Some(order_agg) = order_agg {
                    terms["aggs"] = order_agg;
                }
                buckets.push((id, terms));
                described.push(format!("terms({field}, size {size})"));
            }
            ("filters", "segment" | "group" | "bucket" | "split") => {
                let mut named = serde_json::Map::new();
                for f in params["filters"].as_array().expect("filters list") {
                    let label = f["label"].as_str().expect("every filter has a label");
                    assert!(!label.is_empty(), "{what}: a filter without a label");
                    let source = json!({"query": f["input"], "filter": []});
                    named.insert(label.to_owned(), query_of(&source, fields, what));
                }
                described.push(format!(
                    "filters({})",
                    named.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                buckets.push((id, json!({"filters": {"filters": named}})));
            }
            ("date_histogram", "segment" | "group" | "bucket" | "split") => {
                check_field(fields, field, "date_histogram", what);
                // "auto" depends on the time picker: one hour fits a day of sample events.
                let interval = match params["interval"].as_str().unwrap_or("auto") {
                    "auto" => json!({"fixed_interval": "1h"}),
                    i if i.ends_with(['w', 'M', 'q', 'y']) => json!({"calendar_interval": i}),
                    i => json!({"fixed_interval": i}),
                };
                let mut dh = json!({"field": field,
                                    "min_doc_count": params["min_doc_count"].as_u64().unwrap_or(1)});
                dh.as_object_mut()
                    .unwrap()
                    .extend(interval.as_object().unwrap().clone());
                buckets.push((id, json!({ "date_histogram": dh })));
                described.push(format!("date_histogram({field})"));
            }
            (ty, schema) => panic!(
                "{what}: aggregation {ty} (schema {schema}) is not translated by this verifier"
            ),
        }
    }
    let mut inner = Value::Object(metrics);
    for (id, mut agg) in buckets.iter().rev().cloned() {
        if let Some(children) = inner.as_object().filter(|m| !m.is_empty()) {
            let mut merged = agg["aggs"].as_object().cloned().unwrap_or_default();
            merged.extend(children.clone());
            agg["aggs"] = Value::Object(merged);
        }
        inner = json!({ id: agg });
    }
    Translation {
        body: json!({"size": 0, "track_total_hits": true, "query": query, "aggs": inner}),
        bucket_ids: buckets.into_iter().map(|(id, _)| id).collect(),
        metric_ids,
        described: described.join(" > "),
    }
}

/// Asserts every bucket level has buckets and every cardinality metric counted something;
/// returns the top level's keys.
fn check_response(t: &Translation, response: &Value, what: &str) -> Vec<String> {
    assert!(
        response["hits"]["total"]["value"].as_u64().unwrap_or(0) > 0,
        "{what}: the query matched no sample event: {response}"
    );
    /// A bucket aggregation's non-empty buckets by key: terms and date_histogram answer a list,
    /// filters an object keyed by label (with a bucket per label even when nothing matched).
    fn buckets(agg: &Value) -> Vec<(String, &Value)> {
        match &agg["buckets"] {
            Value::Array(list) => list
                .iter()
                .map(|b| {
                    let key = b["key_as_string"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| b["key"].to_string().trim_matches('"').to_owned());
                    (key, b)
                })
                .collect(),
            Value::Object(keyed) => keyed
                .iter()
                .filter(|(_, b)| b["doc_count"].as_u64().unwrap_or(0) > 0)
                .map(|(k, b)| (k.clone(), b))
                .collect(),
            _ => Vec::new(),
        }
    }
    let mut level: Vec<&Value> = vec![&response["aggregations"]];
    let mut top_keys = Vec::new();
    for (depth, id) in t.bucket_ids.iter().enumerate() {
        let next: Vec<(String, &Value)> = level
            .iter()
            .flat_map(|parent| buckets(&parent[id]))
            .collect();
        assert!(
            !next.is_empty(),
            "{what}: aggregation {id} (level {depth}) returned no buckets: {response}"
        );
        if depth == 0 {
            top_keys = next.iter().map(|(k, _)| k.clone()).collect();
        }
        level = next.into_iter().map(|(_, b)| b).collect();
    }
    for id in &t.metric_ids {
        assert!(
            level
                .iter()
                .any(|b| b[id]["value"].as_f64().unwrap_or(0.0) > 0.0),
            "{what}: metric {id} counted nothing: {response}"
        );
    }
    top_keys
}

async fn search(stack: &Stack, prefix: &str, body: Value) -> Value {
    let (status, response) = stack
        .request(
            Method::Post,
            &format!("/{prefix}*/_search"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200, "request {body} failed: {response}");
    response
}

/// Puts the sample events into a new log group (timestamps now: CloudWatch Logs refuses events
/// older than 14 days; documents keep their January 2026 eventTime) and forwards them.
async fn index_sample(stack: &Stack, prefix: &str) {
    let group = format!("/test/{}", unique("dashboards"));
    let lines: Vec<&str> = SAMPLE.lines().filter(|l| !l.trim().is_empty()).collect();
    let now = chrono::Utc::now().timestamp_millis();
    let n = lines.len() as i64;
    let events: Vec<(i64, String)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (now - n + i as i64, (*l).to_owned()))
        .collect();
    stack.put_events(&group, 1, &events).await;
    setup(prefix);
    let dir = tempfile::tempdir().unwrap();
    // With the GeoIP test databases (the npm country database, a small ASN database written by
    // the test), so that the country and network visualizations are checked on real buckets.
    let country = common::geoip::country_db();
    let asn = common::geoip::asn_db(dir.path());
    let summary = forward_once(
        &group,
        prefix,
        &dir.path().join("dead.ndjson"),
        &[
            "--geoip-db",
            country.to_str().unwrap(),
            "--asn-db",
            asn.to_str().unwrap(),
        ],
    );
    assert_eq!(summary["indexed"], lines.len(), "{summary}");
    assert_eq!(stack.count(prefix).await, lines.len() as u64);
}

/// Writes a few findings into `<prefix>findings` with trailscope's own findings writer (index
/// created as the pipeline creates it, documents serialized and id'd as it writes them). Times
/// are fixed (noon of a fixed day, then hours later): no dependence on the time of day.
async fn index_findings(stack: &Stack, prefix: &str) {
    let index = format!("{prefix}findings");
    let client = Client::connect(&ConnectOptions {
        url: opensearch_url().parse().unwrap(),
        username: None,
        password: None,
        password_file: None,
        request_timeout: std::time::Duration::from_secs(30),
        tls: Default::default(),
        sigv4: None,
    })
    .unwrap();
    // As forward, ingest and lambda create it: with the mapping of mappings/findings-index.json.
    store::ensure_index(&client, &index).await.unwrap();
    let noon = chrono::DateTime::parse_from_rfc3339("2026-02-10T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let finding = |hours: i64, identity: &str, kind: Kind, value: &str, severity: Severity| {
        let at = noon + chrono::Duration::hours(hours);
        Finding {
            identity: identity.into(),
            identity_type: if identity.starts_with("arn:") {
                "role"
            } else {
                "access_key"
            },
            lineage_root: "AKIAVENDOR0000000001".into(),
            lineage_root_known: true,
            access_key: identity.starts_with("A").then(|| identity.to_owned()),
            kind,
            value: value.into(),
            first_event_id: format!("event-{hours}"),
            timestamp: at,
            detected_at: at + chrono::Duration::seconds(3),
            severity,
            reason: format!("{} {value}, not seen in 30 days", kind.label()),
        }
    };
    let role = "arn:aws:iam::222233334444:role/vendor-audit";
    let written = [
        finding(
            0,
            "AKIAVENDOR0000000001",
            Kind::NewRegion,
            "eu-west-3",
            Severity::Medium,
        ),
        finding(
            1,
            "ASIAVENDORSESSION001",
            Kind::NewAction,
            "iam:CreateAccessKey",
            Severity::High,
        ),
        finding(
            1,
            "ASIAVENDORSESSION001",
            Kind::NewNetwork,
            "AS64500",
            Severity::Medium,
        ),
        finding(2, role, Kind::NewService, "iam", Severity::High),
        finding(3, role, Kind::DeniedBurst, "s3:GetObject", Severity::Medium),
        finding(3, role, Kind::NotGranted, "kms:Decrypt", Severity::High),
    ];
    let created = store::create(&client, &index, &written).await.unwrap();
    assert_eq!(created, vec![true; written.len()]);
    assert_eq!(stack.count(prefix).await, written.len() as u64);
}

#[test]
fn every_object_parses_and_every_reference_resolves() {
    let objects = objects();
    let (template, findings) = (template_fields(), findings_fields());
    let mut ids = HashSet::new();
    for o in &objects {
        assert!(
            ids.insert((o.ty.clone(), o.id.clone())),
            "duplicate {} {}",
            o.ty,
            o.id
        );
        assert!(
            o.id.starts_with("trailscope-"),
            "{}: ids are stable and ours",
            o.what()
        );
        assert!(
            o.attr("title").as_str().is_some_and(|t| !t.is_empty()),
            "{}",
            o.what()
        );
    }
    let types: HashSet<&str> = objects.iter().map(|o| o.ty.as_str()).collect();
    for o in &objects {
        let what = o.what();
        let fields = fields_for(o, &template, &findings);
        // Every reference points at a shipped object, and every reference is used.
        let mut used: HashSet<String> = HashSet::new();
        for r in o.raw["references"].as_array().expect("references array") {
            let key = (
                r["type"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            );
            assert!(ids.contains(&key), "{what}: reference {r} is not shipped");
        }
        match o.ty.as_str() {
            "index-pattern" => {
                let title = if o.id == FINDINGS_PATTERN {
                    json!(FINDINGS_INDEX)
                } else {
                    let template: Value = serde_json::from_str(TEMPLATE).unwrap();
                    template["index_patterns"][0].clone()
                };
                assert_eq!(o.attr("title"), &title, "{what}");
                let time = o.attr("timeFieldName").as_str().expect("a time field");
                assert_eq!(time, "@timestamp");
                check_field(fields, time, "date_histogram", &what);
                // The field list is shipped (a browser without it refreshes and saves it), and it
                // is its mapping's: every leaf and multi-field, plus the metadata fields.
                let shipped = pattern_fields(o);
                let names: Vec<&str> = shipped.keys().map(String::as_str).collect();
                let mut expected: Vec<&str> = fields.keys().map(String::as_str).collect();
                expected.extend(META_FIELDS);
                expected.sort_unstable();
                assert_eq!(names, expected, "{what}: fields differ from its mapping");
                for (name, f) in &shipped {
                    for key in [
                        "searchable",
                        "aggregatable",
                        "readFromDocValues",
                        "scripted",
                    ] {
                        assert!(f[key].is_boolean(), "{what}: {name} has no {key}: {f}");
                    }
                    assert_eq!(f["count"], 0, "{what}: {name}");
                    let Some(t) = fields.get(name) else { continue };
                    assert_eq!(f["opensearchTypes"], json!([t.ty]), "{what}: {name}");
                    assert_eq!(f["type"], osd_type(&t.ty), "{what}: {name}");
                }
                if o.id != FINDINGS_PATTERN {
                    // user_agent.original.text is a multi-field of user_agent.original, as OSD
                    // says.
                    assert_eq!(
                        shipped["user_agent.original.text"]["subType"],
                        json!({"multi": {"parent": "user_agent.original"}})
                    );
                }
            }
            "visualization" => {
                let vis = o.json_attr("visState");
                assert_eq!(&vis["title"], o.attr("title"), "{what}: visState title");
                o.json_attr("uiStateJSON");
                let source = o.search_source();
                if vis["type"] == "region_map" {
                    // The World Countries layer is joined on iso2: the buckets must be alpha-2
                    // country codes, which source.geo.country_iso_code holds.
                    assert_eq!(vis["params"]["selectedJoinField"]["name"], "iso2", "{what}");
                    let segments: Vec<&Value> = vis["aggs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|a| a["schema"] == "segment")
                        .collect();
                    assert_eq!(segments.len(), 1, "{what}: one region bucket");
                    assert_eq!(segments[0]["type"], "terms", "{what}");
                    assert_eq!(
                        segments[0]["params"]["field"], "source.geo.country_iso_code",
                        "{what}"
                    );
                }
                if vis["type"] == "input_control_vis" {
                    for c in vis["params"]["controls"].as_array().expect("controls") {
                        let name = c["indexPatternRefName"].as_str().expect("control ref");
                        assert_eq!(o.reference(name)["type"], "index-pattern", "{what}");
                        used.insert(name.to_owned());
                    }
                } else {
                    let name = source["indexRefName"].as_str().expect("indexRefName");
                    assert_eq!(o.reference(name)["type"], "index-pattern", "{what}");
                    used.insert(name.to_owned());
                }
            }
            "search" => {
                let source = o.search_source();
                let name = source["indexRefName"].as_str().expect("indexRefName");
                assert_eq!(o.reference(name)["type"], "index-pattern", "{what}");
                used.insert(name.to_owned());
                for c in o.attr("columns").as_array().expect("columns") {
                    check_field(fields, c.as_str().unwrap(), "column", &what);
                }
                for s in o.attr("sort").as_array().expect("sort") {
                    check_field(fields, s[0].as_str().unwrap(), "sort", &what);
                    assert!(s[1] == "desc" || s[1] == "asc", "{what}: sort {s}");
                }
            }
            "dashboard" => {
                o.search_source();
                o.json_attr("optionsJSON");
                let panels = o.json_attr("panelsJSON");
                let panels = panels.as_array().expect("panels array");
                assert!(!panels.is_empty(), "{what}: no panels");
                let mut indexes = HashSet::new();
                for p in panels {
                    let name = p["panelRefName"].as_str().expect("panelRefName");
                    let r = o.reference(name);
                    assert!(
                        r["type"] == "visualization" || r["type"] == "search",
                        "{what}: panel {name} is a {}",
                        r["type"]
                    );
                    used.insert(name.to_owned());
                    assert!(
                        indexes.insert(p["panelIndex"].to_string()),
                        "{what}: panelIndex"
                    );
                    let g = &p["gridData"];
                    let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
                    assert!(
                        x + w <= 48 && g["h"].as_u64().unwrap() > 0,
                        "{what}: grid {g}"
                    );
                    assert_eq!(g["i"], p["panelIndex"], "{what}");
                }
            }
            other => panic!("{what}: unexpected saved object type {other}"),
        }
        if o.id == "trailscope-refused-calls" {
            // The saved search matches the error codes audit counts as "not authorised".
            let query = o.search_source()["query"]["query"]
                .as_str()
                .unwrap()
                .to_owned();
            let alternatives: Vec<String> = AUTHORIZATION_ERRORS
                .iter()
                .map(|c| format!("*{c}*"))
                .collect();
            assert_eq!(
                query,
                format!("aws.cloudtrail.error_code:({})", alternatives.join(" OR ")),
                "{what}"
            );
        }
        for r in o.raw["references"].as_array().unwrap() {
            assert!(
                used.contains(r["name"].as_str().unwrap()),
                "{what}: reference {r} is never used"
            );
        }
    }
    for ty in ["index-pattern", "visualization", "search", "dashboard"] {
        assert!(types.contains(ty), "no {ty} shipped");
    }
    // The two dashboards of the issue, and what the identity one must offer.
    let dashboard = |title: &str| {
        objects
            .iter()
            .find(|o| o.ty == "dashboard" && o.attr("title") == title)
            .unwrap_or_else(|| panic!("no dashboard titled {title}"))
    };
    // Each dashboard opens on the range it is read over: the overview on the last day, an
    // identity's activity over the default retention (90 days).
    for (title, from) in [
        ("CloudTrail overview", "now-24h"),
        ("Identity activity", "now-90d"),
        ("Findings", "now-30d"),
    ] {
        let d = dashboard(title);
        assert_eq!(
            d.attr("timeRestore"),
            true,
            "{title} restores its time range"
        );
        assert_eq!(d.attr("timeFrom"), from, "{title}");
        assert_eq!(d.attr("timeTo"), "now", "{title}");
    }
    // The Findings dashboard shows findings only: each panel searches the findings pattern, and
    // the high-severity search is among them.
    let findings_dashboard = dashboard("Findings");
    let panels: Vec<&Object> = findings_dashboard.raw["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            objects
                .iter()
                .find(|o| o.id == r["id"] && o.ty == r["type"])
                .unwrap()
        })
        .collect();
    for p in &panels {
        assert_eq!(
            p.raw["references"][0]["id"],
            FINDINGS_PATTERN,
            "Findings: panel {}",
            p.what()
        );
    }
    assert!(
        panels.iter().any(|p| p.id == "trailscope-findings-high"),
        "Findings has the high-severity search"
    );
    assert!(
        panels
            .iter()
            .any(|p| p.id == "trailscope-findings-not-granted"),
        "Findings has the not_granted search"
    );
    // A map of where calls come from, next to (same row as) the ASN table.
    for title in ["CloudTrail overview", "Identity activity"] {
        let d = dashboard(title);
        let panels = d.json_attr("panelsJSON");
        let grid_of = |id: &str| {
            let panel = panels
                .as_array()
                .unwrap()
                .iter()
                .find(|p| d.reference(p["panelRefName"].as_str().unwrap())["id"] == id)
                .unwrap_or_else(|| panic!("{title} has no panel {id}"));
            panel["gridData"].clone()
        };
        let (map, asn) = (
            grid_of("trailscope-calls-map"),
            grid_of("trailscope-calls-by-network"),
        );
        assert_eq!(
            map["y"], asn["y"],
            "{title}: the map is next to the ASN table"
        );
    }
    let identity = dashboard("Identity activity");
    let controls: Vec<String> = identity.raw["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            objects
                .iter()
                .find(|o| o.id == r["id"] && o.ty == r["type"])
        })
        .filter(|o| o.ty == "visualization")
        .map(|o| o.json_attr("visState"))
        .filter(|v| v["type"] == "input_control_vis")
        .flat_map(|v| {
            v["params"]["controls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["fieldName"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for field in [
        "aws.cloudtrail.user_identity.access_key_id",
        "aws.cloudtrail.user_identity.arn",
    ] {
        assert!(
            controls.iter().any(|c| c == field),
            "Identity activity has no control on {field}: {controls:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_visualization_returns_buckets_on_the_sample_events() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-dash"));
    index_sample(&stack, &prefix).await;
    let findings_prefix = format!("{}-", unique("t-dash-findings"));
    index_findings(&stack, &findings_prefix).await;
    let (template, findings) = (template_fields(), findings_fields());
    let objects = objects();
    let mut report = Vec::new();
    let mut checked: HashMap<&str, usize> = HashMap::new();
    for o in &objects {
        let what = o.what();
        let fields = fields_for(o, &template, &findings);
        let target = if std::ptr::eq(fields, &findings) {
            &findings_prefix
        } else {
            &prefix
        };
        match o.ty.as_str() {
            "visualization" => {
                let vis = o.json_attr("visState");
                let vis_type = vis["type"].as_str().unwrap();
                let query = query_of(&o.search_source(), fields, &what);
                match vis_type {
                    "histogram" | "horizontal_bar" | "line" | "area" | "pie" | "table"
                    | "metric" | "region_map" => {
                        let t = translate(&vis, query, fields, &what);
                        if vis_type != "metric" {
                            assert!(!t.bucket_ids.is_empty(), "{what}: a {vis_type} has buckets");
                        }
                        let response = search(&stack, target, t.body.clone()).await;
                        let keys = check_response(&t, &response, &what);
                        if o.id == "trailscope-findings-table" {
                            // Newest first: the identities by their latest finding (the role's
                            // are 2 and 3 hours after noon, the session's 1, the key's 0).
                            assert_eq!(
                                keys,
                                [
                                    "arn:aws:iam::222233334444:role/vendor-audit",
                                    "ASIAVENDORSESSION001",
                                    "AKIAVENDOR0000000001"
                                ],
                                "{what}"
                            );
                        }
                        if vis_type == "region_map" {
                            assert!(
                                keys.iter()
                                    .all(|k| k.len() == 2
                                        && k.chars().all(|c| c.is_ascii_uppercase())),
                                "{what}: the map joins on ISO alpha-2 codes, got {keys:?}"
                            );
                        }
                        report.push(format!(
                            "{} [{vis_type}] query {} aggs {} -> top buckets {:?}",
                            o.id,
                            t.body["query"],
                            t.described,
                            keys.iter().take(4).collect::<Vec<_>>()
                        ));
                    }
                    "input_control_vis" => {
                        for c in vis["params"]["controls"].as_array().unwrap() {
                            assert_eq!(
                                c["type"], "list",
                                "{what}: control type {} is not translated by this verifier",
                                c["type"]
                            );
                            let field = c["fieldName"].as_str().unwrap();
                            check_field(fields, field, "terms", &what);
                            let size = c["options"]["size"].as_u64().expect("control size");
                            let body = json!({"size": 0, "track_total_hits": true,
                                "query": query.clone(),
                                "aggs": {"options": {"terms": {"field": field, "size": size,
                                                               "order": {"_count": "desc"}}}}});
                            let t = Translation {
                                body,
                                bucket_ids: vec!["options".into()],
                                metric_ids: vec![],
                                described: format!("terms({field}, size {size})"),
                            };
                            let response = search(&stack, target, t.body.clone()).await;
                            let keys = check_response(&t, &response, &what);
                            report.push(format!(
                                "{} [input_control_vis list \"{}\"] aggs {} -> options {:?}",
                                o.id,
                                c["label"].as_str().unwrap_or(""),
                                t.described,
                                keys.iter().take(3).collect::<Vec<_>>()
                            ));
                        }
                    }
                    other => panic!("{what}: visualization type {other} is not supported"),
                }
                *checked.entry("visualization").or_default() += 1;
            }
            "search" => {
                let query = query_of(&o.search_source(), fields, &what);
                let sort: Vec<Value> = o
                    .attr("sort")
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| json!({ s[0].as_str().unwrap(): s[1] }))
                    .collect();
                let body = json!({"size": 10000, "query": query, "sort": sort});
                let response = search(&stack, target, body.clone()).await;
                let hits = response["hits"]["hits"].as_array().unwrap();
                assert!(!hits.is_empty(), "{what}: no hits");
                if o.id == "trailscope-findings-high" {
                    // The three high-severity findings index_findings writes, only them.
                    let values: Vec<&Value> = hits.iter().map(|h| &h["_source"]["value"]).collect();
                    assert_eq!(
                        values,
                        [
                            &json!("kms:Decrypt"),
                            &json!("iam"),
                            &json!("iam:CreateAccessKey")
                        ],
                        "{what}"
                    );
                }
                if o.id == "trailscope-findings-not-granted" {
                    let values: Vec<&Value> = hits.iter().map(|h| &h["_source"]["value"]).collect();
                    assert_eq!(values, [&json!("kms:Decrypt")], "{what}");
                }
                if o.id == "trailscope-refused-calls" {
                    // Exactly the events audit counts as authorization failures.
                    let refused = |doc: &Value| {
                        doc["aws"]["cloudtrail"]["error_code"]
                            .as_str()
                            .is_some_and(is_authorization_error)
                    };
                    assert!(hits.iter().all(|h| refused(&h["_source"])), "{what}");
                    let all = stack.all_docs(&prefix).await;
                    let expected = all.iter().filter(|d| refused(d)).count();
                    assert_eq!(
                        hits.len(),
                        expected,
                        "{what}: every refused call, only them"
                    );
                }
                // Every column is filled in at least one sample event.
                for c in o.attr("columns").as_array().unwrap() {
                    let path = c.as_str().unwrap();
                    let filled = hits.iter().any(|h| {
                        let v = path.split('.').fold(&h["_source"], |v, part| &v[part]);
                        !v.is_null()
                    });
                    assert!(
                        filled,
                        "{what}: column {path} is empty in every sample event"
                    );
                }
                report.push(format!(
                    "{} [search] query {} sort {} -> {} hits, every column filled",
                    o.id,
                    body["query"],
                    body["sort"],
                    hits.len()
                ));
                *checked.entry("search").or_default() += 1;
            }
            _ => {}
        }
    }
    println!("{}", report.join("\n"));
    let visualizations = objects.iter().filter(|o| o.ty == "visualization").count();
    assert_eq!(checked.get("visualization"), Some(&visualizations));
    assert!(
        visualizations >= 10,
        "the issue asks for at least ten visualizations"
    );
    let searches = objects.iter().filter(|o| o.ty == "search").count();
    assert_eq!(checked.get("search"), Some(&searches));
    stack.cleanup(&prefix).await;
    stack.cleanup(&findings_prefix).await;
}

/// The shipped field list against what Dashboards itself would read: `_field_caps` on an index
/// the installed template made, in the real node, turned into fields as OSD's
/// readFieldCapsResponse does (object parents dropped, underscore fields only from `metaFields`).
#[tokio::test(flavor = "multi_thread")]
async fn the_index_pattern_fields_are_what_dashboards_reads_from_field_caps() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-dash-fields"));
    setup(&prefix);
    let index = format!("{prefix}fields");
    let (status, body) = stack.request(Method::Put, &format!("/{index}"), None).await;
    assert_eq!(status, 200, "{body}");
    compare_with_field_caps(&stack, &index, "trailscope-cloudtrail").await;
    stack.cleanup(&prefix).await;
    // The findings pattern against an index made with the findings mapping.
    let prefix = format!("{}-", unique("t-dash-findings-fields"));
    let index = format!("{prefix}findings");
    let (status, body) = stack
        .request(Method::Put, &format!("/{index}"), Some(store::mapping()))
        .await;
    assert_eq!(status, 200, "{body}");
    compare_with_field_caps(&stack, &index, FINDINGS_PATTERN).await;
    stack.cleanup(&prefix).await;
}

/// Asserts that the shipped index pattern `pattern_id` lists what OSD would read from
/// `_field_caps` of `index`.
async fn compare_with_field_caps(stack: &Stack, index: &str, pattern_id: &str) {
    let (status, caps) = stack
        .request(Method::Get, &format!("/{index}/_field_caps?fields=*"), None)
        .await;
    assert_eq!(status, 200, "{caps}");
    let pattern = objects()
        .into_iter()
        .find(|o| o.ty == "index-pattern" && o.id == pattern_id)
        .unwrap_or_else(|| panic!("no index pattern {pattern_id}"));
    let shipped = pattern_fields(&pattern);
    let mut from_node = BTreeMap::new();
    for (name, by_type) in caps["fields"].as_object().unwrap() {
        let (es_type, cap) = by_type.as_object().unwrap().iter().next().unwrap();
        // flat_object answers an extra "<field>." entry: an artifact with no name to show, left out.
        let listed = if name.starts_with('_') {
            META_FIELDS.contains(&name.as_str())
        } else {
            !matches!(es_type.as_str(), "object" | "nested") && !name.ends_with('.')
        };
        if listed {
            from_node.insert(name.clone(), (es_type.clone(), cap.clone()));
        }
    }
    let mut checked = 0;
    for (name, f) in &shipped {
        let Some((es_type, cap)) = from_node.get(name) else {
            // Not in field_caps: OSD lists it with its defaults (not searchable, not aggregatable).
            assert!(
                META_FIELDS.contains(&name.as_str()),
                "{name} is not in the index: {f}"
            );
            assert_eq!(f["searchable"], false, "{name}");
            assert_eq!(f["aggregatable"], false, "{name}");
            continue;
        };
        assert_eq!(f["searchable"], cap["searchable"], "{name}: searchable");
        assert_eq!(
            f["aggregatable"], cap["aggregatable"],
            "{name}: aggregatable"
        );
        assert_eq!(
            f["opensearchTypes"],
            json!([es_type]),
            "{name}: opensearchTypes"
        );
        let docs = cap["aggregatable"] == true
            && !matches!(es_type.as_str(), "text" | "geo_shape")
            && !es_type.starts_with('_');
        assert_eq!(f["readFromDocValues"], docs, "{name}: readFromDocValues");
        checked += 1;
    }
    let missing: Vec<&String> = from_node
        .keys()
        .filter(|n| !shipped.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "fields the node has and the pattern lacks: {missing:?}"
    );
    println!(
        "{pattern_id}: {checked} shipped fields match _field_caps of {index}; {} fields shipped",
        shipped.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_says_when_dashboards_is_unreachable_after_installing_the_template() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-dash-down"));
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dashboards = format!("http://127.0.0.1:{port}");
    let out = trailscope(&[
        "setup",
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        &prefix,
        "--dashboards-url",
        &dashboards,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "setup succeeded without Dashboards");
    assert!(
        stderr.contains(&format!(
            "OpenSearch Dashboards at {dashboards}/ is unreachable"
        )),
        "{stderr}"
    );
    let name = format!("trailscope-{}", prefix.trim_end_matches('-'));
    let (status, _) = stack
        .request(Method::Get, &format!("/_index_template/{name}"), None)
        .await;
    assert_eq!(status, 200, "the template is installed before the import");
    stack.cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_says_when_the_dashboards_url_is_opensearch() {
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-dash-os"));
    let out = trailscope(&[
        "setup",
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        &prefix,
        "--dashboards-url",
        &opensearch_url(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "importing into OpenSearch succeeded");
    assert!(stderr.contains("has no saved objects API"), "{stderr}");
    assert!(
        stderr.contains("is it OpenSearch Dashboards rather than OpenSearch?"),
        "{stderr}"
    );
    stack.cleanup(&prefix).await;
}

/// What the fake Dashboards saw of one request: the checks it failed (empty when the request is
/// one OpenSearch Dashboards would import) and the objects it read.
#[derive(Default)]
struct ImportSeen {
    problems: Vec<String>,
    objects: Vec<Value>,
}

/// Reads one HTTP/1.1 request (head and a Content-Length body).
async fn read_request(
    stream: &mut tokio::net::TcpStream,
) -> (String, HashMap<String, String>, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside the request head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    (request_line, headers, body)
}

/// Checks an import request as OpenSearch Dashboards' `POST /api/saved_objects/_import` does:
/// the route and its `overwrite` query, the `osd-xsrf` header it demands of API calls, a
/// multipart form whose `file` part is an `.ndjson` file, and in it one saved object a line
/// (type among the importable ones, id, attributes) whose references resolve within the file
/// (the fake has no saved objects of its own, so a reference outside the file would be missing).
fn check_import(
    request_line: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
    seen: &mut ImportSeen,
) {
    let mut problem = |p: String| seen.problems.push(p);
    if request_line != "POST /api/saved_objects/_import?overwrite=true HTTP/1.1" {
        problem(format!("request line {request_line}"));
    }
    if !headers.contains_key("osd-xsrf") {
        problem(
            "no osd-xsrf header: Dashboards answers 400 Request must contain a osd-xsrf header"
                .into(),
        );
    }
    let Some(boundary) = headers
        .get("content-type")
        .and_then(|ct| ct.strip_prefix("multipart/form-data; boundary="))
    else {
        problem(format!("content-type {:?}", headers.get("content-type")));
        return;
    };
    let body = String::from_utf8_lossy(body);
    let Some(part) = body
        .strip_prefix(&format!("--{boundary}\r\n"))
        .and_then(|b| b.strip_suffix(&format!("\r\n--{boundary}--\r\n")))
    else {
        problem("the body is not one part between the boundaries".into());
        return;
    };
    let Some((part_head, content)) = part.split_once("\r\n\r\n") else {
        problem("the part has no head".into());
        return;
    };
    let disposition = part_head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Content-Disposition: "))
        .unwrap_or("");
    if !disposition.starts_with("form-data; name=\"file\"; filename=\"")
        || !disposition.ends_with(".ndjson\"")
    {
        problem(format!(
            "Content-Disposition {disposition}: Dashboards wants a file field with an .ndjson name"
        ));
    }
    const IMPORTABLE: [&str; 4] = ["index-pattern", "visualization", "search", "dashboard"];
    for (n, line) in content.lines().enumerate() {
        match serde_json::from_str::<Value>(line) {
            Ok(o)
                if IMPORTABLE.contains(&o["type"].as_str().unwrap_or(""))
                    && o["id"].as_str().is_some_and(|id| !id.is_empty())
                    && o["attributes"].is_object()
                    && o["references"].is_array() =>
            {
                seen.objects.push(o)
            }
            _ => problem(format!("line {} is not a saved object: {line:.200}", n + 1)),
        }
    }
    let ids: HashSet<(String, String)> = seen
        .objects
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().into(),
                o["id"].as_str().unwrap().into(),
            )
        })
        .collect();
    for o in &seen.objects {
        for r in o["references"].as_array().unwrap() {
            let key = (
                r["type"].as_str().unwrap_or("").to_owned(),
                r["id"].as_str().unwrap_or("").to_owned(),
            );
            if r["name"].as_str().is_none() || !ids.contains(&key) {
                seen.problems
                    .push(format!("{} {}: missing reference {r}", o["type"], o["id"]));
            }
        }
    }
}

/// `setup --dashboards-url` against a fake OpenSearch Dashboards that checks the import request
/// as the real one does and answers as it does on success: setup reports the count it was told.
#[tokio::test(flavor = "multi_thread")]
async fn setup_imports_the_saved_objects_into_dashboards() {
    use std::sync::{Arc, Mutex};
    use tokio::io::AsyncWriteExt;
    let stack = Stack::connect().await;
    let prefix = format!("{}-", unique("t-dash-import"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dashboards = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::<ImportSeen>::new()));
    let server = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let (request_line, headers, body) = read_request(&mut stream).await;
                let mut one = ImportSeen::default();
                check_import(&request_line, &headers, &body, &mut one);
                let (status, answer) = if one.problems.is_empty() {
                    let results: Vec<Value> = one
                        .objects
                        .iter()
                        .map(|o| json!({"type": o["type"], "id": o["id"], "meta": {"title": o["attributes"]["title"]}}))
                        .collect();
                    (
                        "200 OK",
                        json!({"success": true, "successCount": one.objects.len(),
                               "successResults": results}),
                    )
                } else {
                    (
                        "400 Bad Request",
                        json!({"statusCode": 400, "error": "Bad Request",
                               "message": one.problems.join("; ")}),
                    )
                };
                let answer = answer.to_string();
                let _ = stream
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json; charset=utf-8\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{answer}",
                            answer.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                seen.lock().unwrap().push(one);
            }
        })
    };
    let args = [
        "setup",
        "--opensearch-url",
        &opensearch_url(),
        "--index-prefix",
        &prefix,
        "--dashboards-url",
        &dashboards,
    ]
    .map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        trailscope(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    server.abort();
    let stdout = ok(out);
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len(), 1, "one import request");
    assert!(seen[0].problems.is_empty(), "{:?}", seen[0].problems);
    let shipped = NDJSON.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(
        seen[0].objects.len(),
        shipped,
        "every shipped object was sent"
    );
    let pattern = seen[0]
        .objects
        .iter()
        .find(|o| o["type"] == "index-pattern")
        .unwrap();
    assert_eq!(pattern["attributes"]["title"], format!("{prefix}*"));
    assert!(
        pattern["attributes"]["fields"].is_string(),
        "the field list travels with the index pattern"
    );
    assert!(
        stdout.contains(&format!(
            "OpenSearch Dashboards {dashboards}/: {shipped} saved objects imported"
        )),
        "{stdout}"
    );
    stack.cleanup(&prefix).await;
}

/// The fake's checks are not a formality: each request Dashboards would refuse is refused.
#[test]
fn the_fake_dashboards_refuses_what_dashboards_refuses() {
    let line = |refs: Value| {
        json!({"type": "visualization", "id": "v", "attributes": {"title": "v"}, "references": refs})
            .to_string()
    };
    let body = |filename: &str, content: &str| {
        format!(
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: application/ndjson\r\n\r\n{content}\r\n--B--\r\n"
        )
        .into_bytes()
    };
    let good_headers: HashMap<String, String> = [
        ("osd-xsrf", "true"),
        ("content-type", "multipart/form-data; boundary=B"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into_iter()
    .collect();
    let route = "POST /api/saved_objects/_import?overwrite=true HTTP/1.1";
    let problems = |request_line: &str, headers: &HashMap<String, String>, body: &[u8]| {
        let mut seen = ImportSeen::default();
        check_import(request_line, headers, body, &mut seen);
        seen.problems
    };
    let good = body("t.ndjson", &line(json!([])));
    assert!(problems(route, &good_headers, &good).is_empty());
    let mut no_xsrf = good_headers.clone();
    no_xsrf.remove("osd-xsrf");
    for (case, found) in [
        ("no osd-xsrf", problems(route, &no_xsrf, &good)),
        (
            "no overwrite",
            problems(
                "POST /api/saved_objects/_import HTTP/1.1",
                &good_headers,
                &good,
            ),
        ),
        (
            "not .ndjson",
            problems(route, &good_headers, &body("t.json", &line(json!([])))),
        ),
        (
            "a dangling reference",
            problems(
                route,
                &good_headers,
                &body(
                    "t.ndjson",
                    &line(json!([{"name": "r", "type": "index-pattern", "id": "absent"}])),
                ),
            ),
        ),
        (
            "not a saved object",
            problems(route, &good_headers, &body("t.ndjson", "{\"id\":\"x\"}")),
        ),
    ] {
        assert!(!found.is_empty(), "{case} was accepted");
    }
}

#!/usr/bin/env python3
"""Writes dashboards/trailscope.ndjson, the OpenSearch Dashboards saved objects of trailscope.

Saved objects hold JSON inside JSON strings (visState, searchSourceJSON, panelsJSON): edit this
file, not the NDJSON, then run `python3 dashboards/generate.py` and `cargo test --test dashboards`
(which checks every object against the index template and runs each visualization's aggregations
against real documents). Ids are stable: a re-import overwrites instead of duplicating.
Standard library only.
"""

import json
import os

INDEX_PATTERN_ID = "trailscope-cloudtrail"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
DASHBOARDS_VERSION = "2.19.1"

# Migration versions as exported by OpenSearch Dashboards 2.x, so that no older migration runs.
MIGRATION = {
    "index-pattern": {"index-pattern": "7.6.0"},
    "visualization": {"visualization": "7.10.0"},
    "search": {"search": "7.9.3"},
    "dashboard": {"dashboard": "7.9.3"},
}

FAILURES = "event.outcome:failure"
# The error codes that mean "not authorised", as `audit` counts them: the same substrings as
# AUTHORIZATION_ERRORS in src/audit/query.rs (tests/dashboards.rs keeps the two equal). AWS spells
# them in one case, so a case-sensitive wildcard on the keyword matches what audit matches.
AUTHORIZATION_ERRORS = [
    "AccessDenied",
    "Unauthorized",
    "NotAuthorized",
    "AuthorizationError",
    "AuthFailure",
    "Forbidden",
]
REFUSED = "aws.cloudtrail.error_code:(" + " OR ".join(f"*{c}*" for c in AUTHORIZATION_ERRORS) + ")"
MAPPINGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mappings")
TEMPLATE = os.path.join(MAPPINGS, "index-template.json")
# The findings index's settings and mapping, the same file src/findings/store.rs creates it with.
FINDINGS_INDEX = os.path.join(MAPPINGS, "findings-index.json")
FINDINGS_PATTERN_ID = "trailscope-findings"
# The default of --findings-index: the index pattern's title.
FINDINGS_INDEX_NAME = "trailscope-findings"

# OpenSearch mapping type -> OpenSearch Dashboards field type, as OSD's osd_field_types casts them
# (src/plugins/data/common/osd_field_types) in the 2.x line these objects are for (docker-compose
# runs 2.19): there flat_object is `unknown`; OSD 3.5 calls it `string` (its PR #11085), which
# changes the icon and the filter editor, not the searches. A type missing here fails generation
# rather than guessing.
OSD_TYPES = {
    "keyword": "string",
    "text": "string",
    "match_only_text": "string",
    "flat_object": "unknown",
    "long": "number",
    "integer": "number",
    "short": "number",
    "byte": "number",
    "double": "number",
    "float": "number",
    "half_float": "number",
    "scaled_float": "number",
    "unsigned_long": "number",
    "date": "date",
    "date_nanos": "date",
    "ip": "ip",
    "boolean": "boolean",
    "geo_point": "geo_point",
    "geo_shape": "geo_shape",
}
# Types OpenSearch keeps no doc values for by default, so field_caps calls them not aggregatable.
NO_DOC_VALUES = {"text", "match_only_text", "flat_object", "geo_shape"}
# The metadata fields OSD lists (its `metaFields` setting) with what it says about them: _id and
# _index from field_caps, _source/_type/_score from its built-in defaults and overrides.
META_FIELDS = [
    {"name": "_id", "type": "string", "opensearchTypes": ["_id"], "searchable": True, "aggregatable": True},
    {"name": "_index", "type": "string", "opensearchTypes": ["_index"], "searchable": True, "aggregatable": True},
    {"name": "_score", "type": "number", "searchable": False, "aggregatable": False},
    {"name": "_source", "type": "_source", "opensearchTypes": ["_source"], "searchable": False, "aggregatable": False},
    {"name": "_type", "type": "string", "searchable": False, "aggregatable": False},
]


def dumps(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


def count(agg_id="1"):
    return {"id": agg_id, "enabled": True, "type": "count", "schema": "metric", "params": {}}


def cardinality(agg_id, field, label):
    return {
        "id": agg_id,
        "enabled": True,
        "type": "cardinality",
        "schema": "metric",
        "params": {"field": field, "customLabel": label},
    }


def terms(agg_id, schema, field, size, label, order_by="1"):
    """order_by: the id of the metric the buckets are ranked by (count: "1")."""
    return {
        "id": agg_id,
        "enabled": True,
        "type": "terms",
        "schema": schema,
        "params": {
            "field": field,
            "orderBy": order_by,
            "order": "desc",
            "size": size,
            "otherBucket": False,
            "otherBucketLabel": "Other",
            "missingBucket": False,
            "missingBucketLabel": "Missing",
            "customLabel": label,
        },
    }


def max_metric(agg_id, field, label):
    return {
        "id": agg_id,
        "enabled": True,
        "type": "max",
        "schema": "metric",
        "params": {"field": field, "customLabel": label},
    }


def filters(agg_id, schema, labelled_queries):
    """A bucket per (label, Lucene query): names what a value means where a terms bucket would show
    a raw `true`/`false`."""
    return {
        "id": agg_id,
        "enabled": True,
        "type": "filters",
        "schema": schema,
        "params": {
            "filters": [
                {"input": {"query": query, "language": "lucene"}, "label": label}
                for label, query in labelled_queries
            ]
        },
    }


READ_ONLY_OR_MUTATING = [
    ("read-only calls", "aws.cloudtrail.read_only:true"),
    ("mutating calls", "aws.cloudtrail.read_only:false"),
]


def date_histogram(agg_id="2", field="@timestamp"):
    return {
        "id": agg_id,
        "enabled": True,
        "type": "date_histogram",
        "schema": "segment",
        "params": {
            "field": field,
            "useNormalizedOpenSearchInterval": True,
            "scaleMetricValues": False,
            "interval": "auto",
            "drop_partials": False,
            "min_doc_count": 1,
            "extended_bounds": {},
        },
    }


def bar_params(horizontal=False, x_title="", y_title="Events"):
    category_position, value_position = ("left", "bottom") if horizontal else ("bottom", "left")
    return {
        "type": "histogram",
        "grid": {"categoryLines": False},
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": category_position,
                "show": True,
                "style": {},
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": not horizontal, "truncate": 200, "rotate": 0},
                "title": {"text": x_title},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": value_position,
                "show": True,
                "style": {},
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": y_title},
            }
        ],
        "seriesParams": [
            {
                "show": True,
                "type": "histogram",
                "mode": "stacked",
                "data": {"label": y_title, "id": "1"},
                "valueAxis": "ValueAxis-1",
                "drawLinesBetweenPoints": True,
                "lineWidth": 2,
                "showCircles": True,
            }
        ],
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "times": [],
        "addTimeMarker": False,
        "labels": {"show": False},
        "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
    }


def pie_params():
    return {
        "type": "pie",
        "addTooltip": True,
        "addLegend": True,
        "legendPosition": "right",
        "isDonut": True,
        "labels": {"show": False, "values": True, "last_level": True, "truncate": 100},
    }


def table_params(per_page=10):
    return {
        "perPage": per_page,
        "showPartialRows": False,
        "showMetricsAtAllLevels": False,
        "showTotal": False,
        "totalFunc": "sum",
        "percentageCol": "",
    }


def metric_params():
    return {
        "addTooltip": True,
        "addLegend": False,
        "type": "metric",
        "metric": {
            "percentageMode": False,
            "useRanges": False,
            "colorSchema": "Green to Red",
            "metricColorMode": "None",
            "colorsRange": [{"from": 0, "to": 10000}],
            "labels": {"show": True},
            "invertColors": False,
            "style": {"bgFill": "#000", "bgColor": False, "labelColor": False, "subText": "", "fontSize": 36},
        },
    }


def region_map_params():
    """A country choropleth on the World Countries layer of the OpenSearch maps service, joined on
    its ISO 3166-1 alpha-2 code: source.geo.country_iso_code is what every GeoIP database trailscope
    reads fills (a country-only database has no coordinates for a coordinate map). The layer
    shape is the one OSD's own sample data saves."""
    iso2 = {"description": "ISO 3166-1 alpha-2 Code", "name": "iso2", "type": "id"}
    return {
        "addTooltip": True,
        "colorSchema": "Yellow to Red",
        "emsHotLink": "?locale=en#file/world_countries",
        "isDisplayWarning": True,
        "layerChosenByUser": "default",
        "legendPosition": "bottomright",
        "mapCenter": [20, 0],
        "mapZoom": 1,
        "outlineWeight": 1,
        "selectedCustomJoinField": None,
        "selectedJoinField": iso2,
        "selectedLayer": {
            "attribution": '<a rel="noreferrer noopener" href="http://www.naturalearthdata.com/about/terms-of-use">'
            "Made with NaturalEarth</a>",
            "created_at": "2017-04-26T17:12:15.978370",
            "fields": [
                iso2,
                {"description": "ISO 3166-1 alpha-3 Code", "name": "iso3", "type": "id"},
                {"description": "Name", "name": "name", "type": "name"},
            ],
            "format": {"type": "geojson"},
            "id": "world_countries",
            "isEMS": True,
            "layerId": "elastic_maps_service.World Countries",
            "name": "World Countries",
            "origin": "elastic_maps_service",
        },
        "showAllShapes": True,
        "wms": {"enabled": False, "options": {"format": "image/png", "transparent": True}},
    }


def saved_search(search_id, title, description, columns, query="", pattern=INDEX_PATTERN_ID):
    return {
        "id": search_id,
        "type": "search",
        "attributes": {
            "title": title,
            "description": description,
            "hits": 0,
            "version": 1,
            "columns": columns,
            "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": dumps(search_source(query))},
        },
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": pattern}],
        "migrationVersion": MIGRATION["search"],
    }


def search_source(query=""):
    return {
        "query": {"query": query, "language": "lucene"},
        "filter": [],
        "indexRefName": INDEX_REF,
    }


def visualization(vis_id, title, description, vis_type, params, aggs, query="", pattern=INDEX_PATTERN_ID):
    vis_state = {"title": title, "type": vis_type, "aggs": aggs, "params": params}
    return {
        "id": vis_id,
        "type": "visualization",
        "attributes": {
            "title": title,
            "description": description,
            "version": 1,
            "uiStateJSON": "{}",
            "visState": dumps(vis_state),
            "kibanaSavedObjectMeta": {"searchSourceJSON": dumps(search_source(query))},
        },
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": pattern}],
        "migrationVersion": MIGRATION["visualization"],
    }


def controls(vis_id, title, description, fields):
    control_list = []
    references = []
    for i, (field, label) in enumerate(fields):
        ref = f"control_{i}_index_pattern"
        control_list.append(
            {
                "id": f"control_{i}",
                "type": "list",
                "label": label,
                "fieldName": field,
                "indexPatternRefName": ref,
                "parent": "",
                "options": {
                    "type": "terms",
                    "multiselect": True,
                    "dynamicOptions": True,
                    "size": 20,
                    "order": "desc",
                },
            }
        )
        references.append({"name": ref, "type": "index-pattern", "id": INDEX_PATTERN_ID})
    vis_state = {
        "title": title,
        "type": "input_control_vis",
        "aggs": [],
        "params": {
            "controls": control_list,
            "updateFiltersOnChange": False,
            "useTimeFilter": True,
            "pinFilters": False,
        },
    }
    return {
        "id": vis_id,
        "type": "visualization",
        "attributes": {
            "title": title,
            "description": description,
            "version": 1,
            "uiStateJSON": "{}",
            "visState": dumps(vis_state),
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": dumps({"query": {"query": "", "language": "lucene"}, "filter": []})
            },
        },
        "references": references,
        "migrationVersion": MIGRATION["visualization"],
    }


def dashboard(dash_id, title, description, panels, time_from):
    """panels: (object type, id, x, y, w, h) tuples on Dashboards' 48-column grid."""
    panel_list = []
    references = []
    for i, (obj_type, obj_id, x, y, w, h) in enumerate(panels):
        panel_list.append(
            {
                "version": DASHBOARDS_VERSION,
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(i + 1)},
                "panelIndex": str(i + 1),
                "embeddableConfig": {},
                "panelRefName": f"panel_{i}",
            }
        )
        references.append({"name": f"panel_{i}", "type": obj_type, "id": obj_id})
    attributes = {
        "title": title,
        "description": description,
        "hits": 0,
        "version": 1,
        "panelsJSON": dumps(panel_list),
        "optionsJSON": dumps({"hidePanelTitles": False, "useMargins": True}),
        # The dashboard opens on its own time range, whatever the picker showed before.
        "timeRestore": True,
        "timeFrom": time_from,
        "timeTo": "now",
        "refreshInterval": {"pause": True, "value": 0},
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": dumps({"query": {"query": "", "language": "kuery"}, "filter": []})
        },
    }
    return {
        "id": dash_id,
        "type": "dashboard",
        "attributes": attributes,
        "references": references,
        "migrationVersion": MIGRATION["dashboard"],
    }


def index_pattern_fields(properties):
    """The index pattern's `fields`, as OSD would compute them from `_field_caps` on an index made
    with the mapping `properties` (the template's, or the findings index's): shipped so that the browser has nothing to refresh and save on first load (which
    it did, with 409 Conflict answers). Read from the template at generation time, so a field added
    there is one `python3 dashboards/generate.py` away. Each entry is what OSD's
    IndexPatternField.toSpec saves; the mapping types are `opensearchTypes` there (Kibana's
    `esTypes`, renamed in the fork)."""
    fields = []

    def spec(name, mapping, parent=None, nested=None):
        es_type = mapping["type"]
        if es_type not in OSD_TYPES:
            raise SystemExit(f"{name}: mapping type {es_type} has no OSD field type in OSD_TYPES")
        searchable = mapping.get("index", True)
        aggregatable = mapping.get("doc_values", es_type not in NO_DOC_VALUES)
        field = {
            "count": 0,
            "name": name,
            "type": OSD_TYPES[es_type],
            "opensearchTypes": [es_type],
            "scripted": False,
            "searchable": searchable,
            "aggregatable": aggregatable,
            # OSD reads doc values for every aggregatable field but text and geo_shape.
            "readFromDocValues": aggregatable and es_type not in ("text", "geo_shape"),
        }
        sub_type = {}
        if parent is not None:
            sub_type["multi"] = {"parent": parent}
        if nested is not None:
            sub_type["nested"] = {"path": nested}
        if sub_type:
            field["subType"] = sub_type
        return field

    def walk(props, prefix, nested):
        for name, mapping in props.items():
            path = prefix + name
            if mapping.get("type") == "nested":
                nested_here = path
            else:
                nested_here = nested
            if "properties" in mapping or mapping.get("type") in ("object", "nested"):
                # OSD lists no object or nested field itself, only the leaves under it.
                walk(mapping.get("properties", {}), path + ".", nested_here)
                continue
            fields.append(spec(path, mapping, nested=nested))
            for sub, sub_mapping in mapping.get("fields", {}).items():
                fields.append(spec(f"{path}.{sub}", sub_mapping, parent=path, nested=nested))

    walk(properties, "", None)
    for meta in META_FIELDS:
        fields.append({"count": 0, "scripted": False, "readFromDocValues": False, **meta})
    return sorted(fields, key=lambda f: f["name"])


def index_pattern(pattern_id, title, properties):
    return {
        "id": pattern_id,
        "type": "index-pattern",
        "attributes": {
            "title": title,
            "timeFieldName": "@timestamp",
            "fields": dumps(index_pattern_fields(properties)),
        },
        "references": [],
        "migrationVersion": MIGRATION["index-pattern"],
    }


def mapping_properties(path, *keys):
    with open(path, encoding="utf-8") as f:
        value = json.load(f)
    for key in keys:
        value = value[key]
    return value["properties"]


AK = "aws.cloudtrail.user_identity.access_key_id"
ARN = "aws.cloudtrail.user_identity.arn"
ROLE = "aws.cloudtrail.user_identity.session_context.session_issuer.arn"

objects = [
    index_pattern(INDEX_PATTERN_ID, "cloudtrail-*", mapping_properties(TEMPLATE, "template", "mappings")),
    index_pattern(FINDINGS_PATTERN_ID, FINDINGS_INDEX_NAME, mapping_properties(FINDINGS_INDEX, "mappings")),
    visualization(
        "trailscope-summary",
        "CloudTrail: summary",
        "Events, distinct access keys, principals and IAM actions in the time range.",
        "metric",
        metric_params(),
        [
            count(),
            cardinality("2", AK, "Access keys"),
            cardinality("3", ARN, "Principals"),
            cardinality("4", "aws.cloudtrail.iam_action", "IAM actions"),
        ],
    ),
    visualization(
        "trailscope-events-over-time",
        "CloudTrail: events over time by outcome",
        "API calls per interval, stacked by outcome (success / failure).",
        "histogram",
        bar_params(y_title="Events"),
        [count(), date_histogram(), terms("3", "group", "event.outcome", 3, "Outcome")],
    ),
    visualization(
        "trailscope-top-iam-actions",
        "CloudTrail: top IAM actions",
        "The IAM actions (service:Action) called most often.",
        "table",
        table_params(),
        [count(), terms("2", "bucket", "aws.cloudtrail.iam_action", 25, "IAM action")],
    ),
    visualization(
        "trailscope-top-principals",
        "CloudTrail: top principals and access keys",
        "Which principal (ARN) called, with which access key, how often and how many distinct actions.",
        "table",
        table_params(),
        [
            count(),
            terms("2", "bucket", ARN, 20, "Principal ARN"),
            terms("3", "bucket", AK, 5, "Access key id"),
            cardinality("4", "aws.cloudtrail.iam_action", "Distinct IAM actions"),
        ],
    ),
    visualization(
        "trailscope-user-agent-kind",
        "CloudTrail: user agents by kind",
        "SDK, CLI, console, IaC tool, AWS service, browser...",
        "pie",
        pie_params(),
        [count(), terms("2", "segment", "aws.user_agent.kind", 10, "User agent kind")],
    ),
    visualization(
        "trailscope-user-agent-sdk",
        "CloudTrail: user agents by SDK",
        "The AWS SDKs the calls were made with, one bar per SDK; their versions are in the "
        "software table.",
        "horizontal_bar",
        bar_params(horizontal=True, y_title="Events"),
        [count(), terms("2", "segment", "aws.user_agent.sdk", 10, "SDK")],
    ),
    visualization(
        "trailscope-user-agent-language",
        "CloudTrail: user agents by language",
        "The programming language of the SDK that made the call.",
        "pie",
        pie_params(),
        [count(), terms("2", "segment", "aws.user_agent.language", 10, "Language")],
    ),
    visualization(
        "trailscope-calls-per-region",
        "CloudTrail: calls per region",
        "API calls per AWS region.",
        "histogram",
        bar_params(x_title="Region", y_title="Events"),
        [count(), terms("2", "segment", "cloud.region", 20, "Region")],
    ),
    visualization(
        "trailscope-top-source-addresses",
        "CloudTrail: top source addresses",
        "Where the calls came from: IP addresses, or the AWS service that made them.",
        "table",
        table_params(),
        [
            count(),
            terms("2", "bucket", "source.address", 25, "Source address"),
            cardinality("3", AK, "Access keys"),
        ],
    ),
    visualization(
        "trailscope-errors-over-time",
        "CloudTrail: errors over time by error code",
        "Failed calls per interval, stacked by error code (AccessDenied, UnauthorizedOperation, "
        "ThrottlingException, ...).",
        "histogram",
        bar_params(y_title="Errors"),
        [count(), date_histogram(), terms("3", "group", "aws.cloudtrail.error_code", 10, "Error code")],
        query=FAILURES,
    ),
    visualization(
        "trailscope-top-error-codes",
        "CloudTrail: top error codes",
        "Error codes and the IAM actions that got them.",
        "table",
        table_params(),
        [
            count(),
            terms("2", "bucket", "aws.cloudtrail.error_code", 10, "Error code"),
            terms("3", "bucket", "aws.cloudtrail.iam_action", 10, "IAM action"),
        ],
        query=FAILURES,
    ),
    visualization(
        "trailscope-read-only",
        "CloudTrail: read-only vs mutating calls",
        "Calls that only read (aws.cloudtrail.read_only:true) against calls that change something.",
        "pie",
        pie_params(),
        [count(), filters("2", "segment", READ_ONLY_OR_MUTATING)],
    ),
    visualization(
        "trailscope-calls-by-country",
        "CloudTrail: calls by country",
        "Where the calls came from, by the country of the public source address (source.geo.*, "
        "filled when trailscope runs with --geoip-db), with how many keys and addresses: the "
        "numbers behind the map, and the view that works where no map service is reachable.",
        "table",
        table_params(),
        [
            count(),
            terms("2", "bucket", "source.geo.country_iso_code", 50, "Country"),
            cardinality("3", AK, "Access keys"),
            cardinality("4", "source.address", "Source addresses"),
        ],
    ),
    visualization(
        "trailscope-calls-map",
        "CloudTrail: where calls come from (map)",
        "Calls per country of the public source address (source.geo.country_iso_code, filled when "
        "trailscope runs with --geoip-db). Drawn on the OpenSearch maps service; where it is not "
        "reachable the map is blank and the country table has the same numbers.",
        "region_map",
        region_map_params(),
        [count(), terms("2", "segment", "source.geo.country_iso_code", 200, "Country")],
    ),
    visualization(
        "trailscope-calls-by-network",
        "CloudTrail: calls by network (ASN)",
        "Which networks the calls came from: the autonomous system of the public source address "
        "(source.as.*, filled when trailscope runs with --asn-db). A cloud provider, a corporate "
        "network or a residential ISP.",
        "table",
        table_params(),
        [
            count(),
            terms("2", "bucket", "source.as.organization.name", 25, "Network (AS organization)"),
            terms("3", "bucket", "source.as.number", 3, "AS number"),
            cardinality("4", AK, "Access keys"),
        ],
    ),
    controls(
        "trailscope-identity-controls",
        "CloudTrail: identity filter",
        "Pick an access key id, a principal ARN or a role; the dashboard's time picker sets the time.",
        [
            (AK, "Access key id"),
            (ARN, "Principal ARN"),
            (ROLE, "Role (session issuer ARN)"),
        ],
    ),
    visualization(
        "trailscope-identity-calls-over-time",
        "CloudTrail: identity calls over time",
        "Calls per interval, stacked by IAM action.",
        "histogram",
        bar_params(y_title="Events"),
        [count(), date_histogram(), terms("3", "group", "aws.cloudtrail.iam_action", 10, "IAM action")],
    ),
    visualization(
        "trailscope-identity-calls",
        "CloudTrail: identity calls",
        "Every IAM action called, read-only or mutating, with its outcome.",
        "table",
        table_params(20),
        [
            count(),
            terms("2", "bucket", "aws.cloudtrail.iam_action", 200, "IAM action"),
            filters("3", "bucket", READ_ONLY_OR_MUTATING),
            terms("4", "bucket", "event.outcome", 2, "Outcome"),
        ],
    ),
    visualization(
        "trailscope-identity-software",
        "CloudTrail: software (SDK, version, language, platform)",
        "The software that made the calls: SDK name first, then its versions, language and platform.",
        "table",
        table_params(),
        [
            count(),
            terms("2", "bucket", "aws.user_agent.sdk", 20, "SDK"),
            terms("3", "bucket", "aws.user_agent.sdk_version", 10, "SDK version"),
            terms("4", "bucket", "aws.user_agent.language", 5, "Language"),
            terms("5", "bucket", "aws.user_agent.platform", 5, "Platform"),
        ],
    ),
    visualization(
        "trailscope-identity-tools",
        "CloudTrail: identity tools and user agents",
        "The tool (CLI, Terraform, console...) and the raw user agent string.",
        "table",
        table_params(),
        [
            count(),
            terms("2", "bucket", "aws.user_agent.kind", 10, "Kind"),
            terms("3", "bucket", "user_agent.original", 20, "User agent"),
        ],
    ),
    saved_search(
        "trailscope-raw-events",
        "CloudTrail: raw events",
        "Every event, newest first, with the columns that say who did what from where.",
        # Short values only, so that a row stays one line: no principal ARN and no raw user
        # agent (hundreds of characters; both are in the document view and in the tables).
        # A saved search stores no column widths, so the columns are chosen to fit instead.
        [
            "aws.cloudtrail.iam_action",
            "event.outcome",
            "aws.cloudtrail.error_code",
            "user.name",
            AK,
            "source.address",
            "source.geo.country_iso_code",
            "cloud.region",
            "aws.user_agent.kind",
        ],
    ),
    # The audit's "used but not granted" compares the calls with a policy document given to
    # `audit --policy`; no event says what a policy grants, so no query can list it. What the events
    # do say is what AWS itself refused for lack of permission: the other half of that question.
    saved_search(
        "trailscope-refused-calls",
        "CloudTrail: calls refused for lack of permission",
        "Calls AWS answered with an authorization error (AccessDenied, UnauthorizedOperation, "
        "AuthFailure, ...): tried but not granted. For calls that succeeded but that a vendor's "
        "policy does not grant, run trailscope audit --policy.",
        [
            "aws.cloudtrail.iam_action",
            "aws.cloudtrail.error_code",
            "user.name",
            AK,
            "source.address",
            "aws.user_agent.kind",
        ],
        query=REFUSED,
    ),
    # Findings (src/findings): one document per identity × kind × value, written the first time
    # an identity does something its baseline has not seen. @timestamp is when that first event
    # happened, detected_at when trailscope saw it.
    visualization(
        "trailscope-findings-over-time",
        "Findings: over time by severity",
        "First-seen findings per interval (by the time of their first event), stacked by severity.",
        "histogram",
        bar_params(y_title="Findings"),
        [count(), date_histogram(), terms("3", "group", "severity", 3, "Severity")],
        pattern=FINDINGS_PATTERN_ID,
    ),
    visualization(
        "trailscope-findings-by-kind",
        "Findings: by kind",
        "new_action, new_service, new_region, new_network, new_country, new_user_agent, "
        "denied_burst, not_granted: what the README's Findings section says each means.",
        "horizontal_bar",
        bar_params(horizontal=True, y_title="Findings"),
        [count(), terms("2", "segment", "kind", 10, "Kind"), terms("3", "group", "severity", 3, "Severity")],
        pattern=FINDINGS_PATTERN_ID,
    ),
    visualization(
        "trailscope-findings-table",
        "Findings: identity, kind, value, severity",
        "Every finding, the identity with the newest first: who did what new, and how serious it is.",
        "table",
        table_params(20),
        [
            count(),
            max_metric("2", "@timestamp", "First event"),
            terms("3", "bucket", "identity", 50, "Identity", order_by="2"),
            terms("4", "bucket", "kind", 10, "Kind", order_by="2"),
            terms("5", "bucket", "value", 50, "Value", order_by="2"),
            terms("6", "bucket", "severity", 3, "Severity", order_by="2"),
        ],
        pattern=FINDINGS_PATTERN_ID,
    ),
    saved_search(
        "trailscope-findings-high",
        "Findings: high severity",
        "High-severity findings, newest first: sensitive actions (IAM changes, key creation, data "
        "access, logging changes) and actions outside a registered policy. The lineage root is the "
        "long-term credential the identity's credentials derive from; audit --access-key shows its "
        "tree.",
        [
            "kind",
            "value",
            "identity",
            "identity_type",
            "lineage_root",
            "access_key",
            "first_event_id",
            "reason",
        ],
        query="severity:high",
        pattern=FINDINGS_PATTERN_ID,
    ),
    saved_search(
        "trailscope-findings-not-granted",
        "Findings: not granted",
        "Actions outside the policy registered for the identity (trailscope policy set), newest "
        "first: permissions granted elsewhere, or a registration out of date. The reason names "
        "the policy and the statement that decided.",
        ["value", "identity", "lineage_root", "first_event_id", "reason"],
        query="kind:not_granted",
        pattern=FINDINGS_PATTERN_ID,
    ),
    # Tables that show ARNs, actions or user agents get a full row or half of it: narrower, their
    # values are cut. The map sits next to the ASN table: both answer "from where".
    dashboard(
        "trailscope-overview",
        "CloudTrail overview",
        "What happens in the accounts: calls, outcomes, identities, software, regions and errors. "
        "What identities do for the first time: the Findings dashboard.",
        [
            ("visualization", "trailscope-summary", 0, 0, 48, 7),
            ("visualization", "trailscope-events-over-time", 0, 7, 32, 14),
            ("visualization", "trailscope-read-only", 32, 7, 16, 14),
            ("visualization", "trailscope-top-principals", 0, 21, 48, 16),
            ("visualization", "trailscope-top-iam-actions", 0, 37, 24, 16),
            ("visualization", "trailscope-calls-per-region", 24, 37, 24, 16),
            ("visualization", "trailscope-user-agent-kind", 0, 53, 16, 14),
            ("visualization", "trailscope-user-agent-sdk", 16, 53, 16, 14),
            ("visualization", "trailscope-user-agent-language", 32, 53, 16, 14),
            ("visualization", "trailscope-identity-software", 0, 67, 48, 14),
            ("visualization", "trailscope-calls-map", 0, 81, 24, 18),
            ("visualization", "trailscope-calls-by-network", 24, 81, 24, 18),
            ("visualization", "trailscope-calls-by-country", 0, 99, 24, 14),
            ("visualization", "trailscope-top-source-addresses", 24, 99, 24, 14),
            ("visualization", "trailscope-errors-over-time", 0, 113, 24, 14),
            ("visualization", "trailscope-top-error-codes", 24, 113, 24, 14),
            ("search", "trailscope-raw-events", 0, 127, 48, 18),
        ],
        # A look at what happens now: the last day, where a burst or a new error stands out.
        time_from="now-24h",
    ),
    dashboard(
        "trailscope-identity-activity",
        "Identity activity",
        "What is this access key / role doing? Pick an access key id, a principal ARN or a role "
        "above and a time range in the time picker. What it did for the first time: the Findings "
        "dashboard.",
        [
            ("visualization", "trailscope-identity-controls", 0, 0, 48, 8),
            ("visualization", "trailscope-summary", 0, 8, 48, 7),
            ("visualization", "trailscope-identity-calls-over-time", 0, 15, 32, 14),
            ("visualization", "trailscope-calls-per-region", 32, 15, 16, 14),
            ("visualization", "trailscope-identity-calls", 0, 29, 48, 18),
            ("visualization", "trailscope-identity-software", 0, 47, 48, 14),
            ("visualization", "trailscope-identity-tools", 0, 61, 48, 14),
            ("visualization", "trailscope-calls-map", 0, 75, 24, 18),
            ("visualization", "trailscope-calls-by-network", 24, 75, 24, 18),
            ("visualization", "trailscope-calls-by-country", 0, 93, 24, 14),
            ("visualization", "trailscope-top-source-addresses", 24, 93, 24, 14),
            ("visualization", "trailscope-errors-over-time", 0, 107, 24, 14),
            ("visualization", "trailscope-top-error-codes", 24, 107, 24, 14),
            ("search", "trailscope-refused-calls", 0, 121, 48, 14),
            ("search", "trailscope-raw-events", 0, 135, 48, 18),
        ],
        # Investigating a key means its history: 90 days shows what it usually does (and fits the
        # default retention of the ISM policy) before the picker narrows it.
        time_from="now-90d",
    ),
    dashboard(
        "trailscope-findings",
        "Findings",
        "What identities did for the first time (first-seen findings, index trailscope-findings): "
        "when, what kind, who, how serious. Open the identity on the Identity activity dashboard "
        "or with trailscope audit --access-key.",
        [
            ("visualization", "trailscope-findings-over-time", 0, 0, 32, 14),
            ("visualization", "trailscope-findings-by-kind", 32, 0, 16, 14),
            ("visualization", "trailscope-findings-table", 0, 14, 48, 20),
            ("search", "trailscope-findings-high", 0, 34, 48, 18),
            ("search", "trailscope-findings-not-granted", 0, 52, 48, 14),
        ],
        # Findings are few and each one matters for a while: a month keeps the recent ones in view.
        time_from="now-30d",
    ),
]

if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trailscope.ndjson")
    with open(path, "w", encoding="utf-8") as out:
        for obj in objects:
            out.write(dumps(obj) + "\n")
    print(f"wrote {len(objects)} saved objects to {path}")

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


def terms(agg_id, schema, field, size, label):
    return {
        "id": agg_id,
        "enabled": True,
        "type": "terms",
        "schema": schema,
        "params": {
            "field": field,
            "orderBy": "1",
            "order": "desc",
            "size": size,
            "otherBucket": False,
            "otherBucketLabel": "Other",
            "missingBucket": False,
            "missingBucketLabel": "Missing",
            "customLabel": label,
        },
    }


def date_histogram(agg_id="2"):
    return {
        "id": agg_id,
        "enabled": True,
        "type": "date_histogram",
        "schema": "segment",
        "params": {
            "field": "@timestamp",
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


def search_source(query=""):
    return {
        "query": {"query": query, "language": "lucene"},
        "filter": [],
        "indexRefName": INDEX_REF,
    }


def visualization(vis_id, title, description, vis_type, params, aggs, query=""):
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
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}],
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


def dashboard(dash_id, title, description, panels, time_from=None):
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
        "timeRestore": time_from is not None,
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": dumps({"query": {"query": "", "language": "kuery"}, "filter": []})
        },
    }
    if time_from is not None:
        attributes["timeFrom"] = time_from
        attributes["timeTo"] = "now"
        attributes["refreshInterval"] = {"pause": True, "value": 0}
    return {
        "id": dash_id,
        "type": "dashboard",
        "attributes": attributes,
        "references": references,
        "migrationVersion": MIGRATION["dashboard"],
    }


AK = "aws.cloudtrail.user_identity.access_key_id"
ARN = "aws.cloudtrail.user_identity.arn"
ROLE = "aws.cloudtrail.user_identity.session_context.session_issuer.arn"

objects = [
    {
        "id": INDEX_PATTERN_ID,
        "type": "index-pattern",
        "attributes": {"title": "cloudtrail-*", "timeFieldName": "@timestamp"},
        "references": [],
        "migrationVersion": MIGRATION["index-pattern"],
    },
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
        "The AWS SDKs (and versions) the calls were made with.",
        "horizontal_bar",
        bar_params(horizontal=True, y_title="Events"),
        [
            count(),
            terms("2", "segment", "aws.user_agent.sdk", 10, "SDK"),
            terms("3", "group", "aws.user_agent.sdk_version", 5, "SDK version"),
        ],
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
        "aws.cloudtrail.read_only: true for reads, false for calls that change something.",
        "pie",
        pie_params(),
        [count(), terms("2", "segment", "aws.cloudtrail.read_only", 2, "Read-only")],
    ),
    visualization(
        "trailscope-calls-by-country",
        "CloudTrail: calls by country",
        "Where the calls came from, by the country of the public source address (source.geo.*, "
        "filled when trailscope runs with --geoip-db). A table rather than a region map: region "
        "maps need a map service that offline and private deployments do not have.",
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
            terms("3", "bucket", "aws.cloudtrail.read_only", 2, "Read-only"),
            terms("4", "bucket", "event.outcome", 2, "Outcome"),
        ],
    ),
    visualization(
        "trailscope-identity-software",
        "CloudTrail: identity software",
        "The software that made the calls: SDK, SDK version, language and platform.",
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
    {
        "id": "trailscope-raw-events",
        "type": "search",
        "attributes": {
            "title": "CloudTrail: raw events",
            "description": "Every event, newest first, with the columns that say who did what from where.",
            "hits": 0,
            "version": 1,
            "columns": [
                "aws.cloudtrail.iam_action",
                "event.outcome",
                "aws.cloudtrail.error_code",
                "user.name",
                AK,
                "source.address",
                "source.geo.country_iso_code",
                "cloud.region",
                "aws.user_agent.kind",
                "user_agent.original",
            ],
            "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": dumps(search_source())},
        },
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}],
        "migrationVersion": MIGRATION["search"],
    },
    dashboard(
        "trailscope-overview",
        "CloudTrail overview",
        "What happens in the accounts: calls, outcomes, identities, software, regions and errors.",
        [
            ("visualization", "trailscope-summary", 0, 0, 48, 7),
            ("visualization", "trailscope-events-over-time", 0, 7, 32, 14),
            ("visualization", "trailscope-read-only", 32, 7, 16, 14),
            ("visualization", "trailscope-top-iam-actions", 0, 21, 16, 16),
            ("visualization", "trailscope-top-principals", 16, 21, 32, 16),
            ("visualization", "trailscope-user-agent-kind", 0, 37, 16, 14),
            ("visualization", "trailscope-user-agent-sdk", 16, 37, 16, 14),
            ("visualization", "trailscope-user-agent-language", 32, 37, 16, 14),
            ("visualization", "trailscope-calls-per-region", 0, 51, 16, 14),
            ("visualization", "trailscope-top-source-addresses", 16, 51, 32, 14),
            ("visualization", "trailscope-calls-by-country", 0, 65, 24, 14),
            ("visualization", "trailscope-calls-by-network", 24, 65, 24, 14),
            ("visualization", "trailscope-errors-over-time", 0, 79, 32, 14),
            ("visualization", "trailscope-top-error-codes", 32, 79, 16, 14),
            ("search", "trailscope-raw-events", 0, 93, 48, 18),
        ],
    ),
    dashboard(
        "trailscope-identity-activity",
        "Identity activity",
        "What is this access key / role doing? Pick an access key id, a principal ARN or a role "
        "above and a time range in the time picker.",
        [
            ("visualization", "trailscope-identity-controls", 0, 0, 48, 8),
            ("visualization", "trailscope-summary", 0, 8, 48, 7),
            ("visualization", "trailscope-identity-calls-over-time", 0, 15, 32, 14),
            ("visualization", "trailscope-calls-per-region", 32, 15, 16, 14),
            ("visualization", "trailscope-identity-calls", 0, 29, 24, 18),
            ("visualization", "trailscope-identity-software", 24, 29, 24, 18),
            ("visualization", "trailscope-identity-tools", 0, 47, 24, 14),
            ("visualization", "trailscope-top-source-addresses", 24, 47, 24, 14),
            ("visualization", "trailscope-calls-by-country", 0, 61, 24, 14),
            ("visualization", "trailscope-calls-by-network", 24, 61, 24, 14),
            ("visualization", "trailscope-errors-over-time", 0, 75, 24, 14),
            ("visualization", "trailscope-top-error-codes", 24, 75, 24, 14),
            ("search", "trailscope-raw-events", 0, 89, 48, 18),
        ],
        time_from="now-7d",
    ),
]

if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trailscope.ndjson")
    with open(path, "w", encoding="utf-8") as out:
        for obj in objects:
            out.write(dumps(obj) + "\n")
    print(f"wrote {len(objects)} saved objects to {path}")

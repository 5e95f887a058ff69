#!/usr/bin/env python3
"""BASELINE, for comparison only: a CloudTrail forwarder written the way a typical user writes
one in Python. boto3 FilterLogEvents (paginator) -> json.loads -> ua-parser -> opensearch-py
helpers.bulk, one request at a time. Its dependencies live in their own venv
(.cache/bench-venv, installed by scripts/bench.sh from bench/requirements.txt).

Each event becomes the CloudTrail record with `@timestamp`, a parsed `user_agent` object, the
free-form service payloads as JSON text (so that dynamic mapping does not reject events when
two services use one field name differently), in `<prefix>YYYY.MM.DD`, `_id` = eventID, op
type `create`.

  forwarder.py --endpoint-url URL --log-group G --opensearch-url URL --index-prefix P
Prints one JSON line: read, indexed, errors, seconds.
"""
import argparse, json, sys, time

import boto3
from opensearchpy import OpenSearch, helpers
from ua_parser import parse as parse_ua

PAYLOADS = ("requestParameters", "responseElements", "additionalEventData", "serviceEventDetails")


def user_agent(ua):
    r = parse_ua(ua)
    out = {"original": ua}
    if r.user_agent:
        out["name"] = r.user_agent.family
        out["version"] = ".".join(v for v in (r.user_agent.major, r.user_agent.minor, r.user_agent.patch) if v)
    if r.os:
        out["os"] = {"name": r.os.family}
    if r.device:
        out["device"] = {"name": r.device.family}
    return out


def actions(logs, log_group, prefix, counts):
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=log_group, interleaved=True)
    for page in pages:
        for event in page["events"]:
            counts["read"] += 1
            try:
                record = json.loads(event["message"])
            except ValueError:
                counts["errors"] += 1
                continue
            time_text = record.get("eventTime") or time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(event["timestamp"] / 1000))
            record["@timestamp"] = time_text
            if record.get("userAgent"):
                record["user_agent"] = user_agent(record["userAgent"])
            for key in PAYLOADS:
                if key in record:
                    record[key] = json.dumps(record[key])
            yield {
                "_op_type": "create",
                "_index": prefix + time_text[:10].replace("-", "."),
                "_id": record.get("eventID") or event["eventId"],
                "_source": record,
            }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint-url", required=True)
    ap.add_argument("--log-group", required=True)
    ap.add_argument("--opensearch-url", required=True)
    ap.add_argument("--index-prefix", default="cloudtrail-py-")
    ap.add_argument("--chunk-size", type=int, default=5000)
    a = ap.parse_args()
    logs = boto3.client("logs", endpoint_url=a.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    client = OpenSearch(a.opensearch_url, http_compress=True, timeout=120)
    counts = {"read": 0, "errors": 0}
    t = time.monotonic()
    indexed, errors = helpers.bulk(client, actions(logs, a.log_group, a.index_prefix, counts),
                                   chunk_size=a.chunk_size, max_chunk_bytes=5 * 1024 * 1024,
                                   raise_on_error=False, max_retries=5)
    counts["indexed"] = indexed
    counts["errors"] += len(errors)
    counts["seconds"] = round(time.monotonic() - t, 3)
    print(json.dumps(counts))


main()

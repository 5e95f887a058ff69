#!/usr/bin/env python3
"""Prints what trailscope indexed: totals and the top values of the fields people ask about."""
import json, sys, urllib.request

url, pattern = sys.argv[1].rstrip("/"), sys.argv[2]

def post(path, body):
    req = urllib.request.Request(f"{url}/{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))

urllib.request.urlopen(urllib.request.Request(f"{url}/{pattern}/_refresh", method="POST")).read()
fields = [("IAM action", "aws.cloudtrail.iam_action"), ("access key", "aws.cloudtrail.user_identity.access_key_id"),
          ("principal", "aws.cloudtrail.user_identity.arn"), ("region", "cloud.region"),
          ("user agent kind", "aws.user_agent.kind"), ("SDK", "aws.user_agent.sdk"), ("language", "aws.user_agent.language"),
          ("tool", "aws.user_agent.tool"), ("error code", "aws.cloudtrail.error_code"), ("source address", "source.address")]
aggs = {name: {"terms": {"field": field, "size": 6}} for name, field in fields}
r = post(f"{pattern}/_search", {"size": 0, "track_total_hits": True, "aggs": aggs})
print(f"{r['hits']['total']['value']} CloudTrail events indexed in {pattern}")
for name, field in fields:
    buckets = r["aggregations"][name]["buckets"]
    if not buckets:
        continue
    print(f"\n  {name} ({field})")
    for b in buckets:
        print(f"    {b['doc_count']:>6}  {b['key']}")

#!/usr/bin/env python3
"""Loads an NDJSON file of CloudTrail records into a CloudWatch Logs log group (moto), one log
event per record, timestamp = eventTime (the record's position when it has none), in 4 streams.

  load_moto.py --endpoint-url URL --log-group G FILE
"""
import argparse, datetime, json, sys
import boto3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint-url", required=True)
    ap.add_argument("--log-group", required=True)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("file")
    a = ap.parse_args()
    logs = boto3.client("logs", endpoint_url=a.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        logs.delete_log_group(logGroupName=a.log_group)
    except logs.exceptions.ResourceNotFoundException:
        pass
    logs.create_log_group(logGroupName=a.log_group)
    streams = [[] for _ in range(a.streams)]
    last = 0
    for i, line in enumerate(open(a.file)):
        line = line.rstrip("\n")
        if not line:
            continue
        t = json.loads(line).get("eventTime")
        ms = int(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")
                 .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000) if t else last
        last = ms
        streams[i % a.streams].append({"timestamp": ms, "message": line})
    n = 0
    for s, events in enumerate(streams):
        name = f"111122223333_CloudTrail_us-east-1_{s}"
        logs.create_log_stream(logGroupName=a.log_group, logStreamName=name)
        events.sort(key=lambda e: e["timestamp"])
        for start in range(0, len(events), 5000):
            logs.put_log_events(logGroupName=a.log_group, logStreamName=name,
                                logEvents=events[start:start + 5000])
        n += len(events)
    print(f"loaded {n} events into {a.log_group}", file=sys.stderr)


main()

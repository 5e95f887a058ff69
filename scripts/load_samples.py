#!/usr/bin/env python3
"""Loads CloudTrail records (NDJSON) into a CloudWatch Logs log group, the way CloudTrail delivers
them: one record per log event, the log event's timestamp = the record's eventTime.

The sample file's times are moved by whole days to yesterday (same time of day), so they are
accepted by PutLogEvents (at most 14 days old) and a second run on the same day yields the same
records (same eventTime, same eventID: trailscope indexes them once)."""
import argparse, datetime, json, sys
import boto3

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint-url", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--log-group", required=True)
    ap.add_argument("--streams", type=int, default=3)
    ap.add_argument("--recreate", action="store_true", help="delete the log group first")
    ap.add_argument("file")
    a = ap.parse_args()
    logs = boto3.client("logs", endpoint_url=a.endpoint_url, region_name=a.region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    if a.recreate:
        try:
            logs.delete_log_group(logGroupName=a.log_group)
        except logs.exceptions.ResourceNotFoundException:
            pass
    try:
        logs.create_log_group(logGroupName=a.log_group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    records = [json.loads(l) for l in open(a.file) if l.strip()]
    parse = lambda t: datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    newest = max(parse(r["eventTime"]) for r in records)
    yesterday = datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)
    shift = datetime.timedelta(days=(yesterday - newest.date()).days)
    by_stream = {}
    for i, r in enumerate(records):
        t = parse(r["eventTime"]) + shift
        r["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        stream = f"{r.get('recipientAccountId', '000000000000')}_CloudTrail_{r.get('awsRegion', 'us-east-1')}_{i % a.streams}"
        by_stream.setdefault(stream, []).append({"timestamp": int(t.timestamp() * 1000), "message": json.dumps(r, separators=(",", ":"))})
    for stream, events in by_stream.items():
        try:
            logs.create_log_stream(logGroupName=a.log_group, logStreamName=stream)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        events.sort(key=lambda e: e["timestamp"])
        for start in range(0, len(events), 5000):
            logs.put_log_events(logGroupName=a.log_group, logStreamName=stream, logEvents=events[start:start + 5000])
    print(f"loaded {len(records)} CloudTrail records into {a.log_group} ({len(by_stream)} streams)", file=sys.stderr)

main()

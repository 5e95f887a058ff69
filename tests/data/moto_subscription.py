"""Has moto (as CloudWatch Logs) build real subscription payloads: creates a log group with a
subscription filter to a Kinesis data stream, puts the given events into it, and writes every
Kinesis record's data (the gzip payload exactly as delivered) to OUT_DIR/NNNN.gz.

usage: moto_subscription.py ENDPOINT LOG_GROUP EVENTS_NDJSON OUT_DIR
EVENTS_NDJSON: one [timestamp_ms, stream_name, message] per line, in the order to put them.
Prints a JSON summary on stdout.
"""
import json
import sys

import boto3

endpoint, group, events_path, out_dir = sys.argv[1:5]
kw = dict(region_name="us-east-1", endpoint_url=endpoint,
          aws_access_key_id="testing", aws_secret_access_key="testing")
logs = boto3.client("logs", **kw)
kinesis = boto3.client("kinesis", **kw)

stream_name = group.strip("/").replace("/", "-")
kinesis.create_stream(StreamName=stream_name, ShardCount=1)
arn = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]["StreamARN"]
logs.create_log_group(logGroupName=group)
logs.put_subscription_filter(logGroupName=group, filterName="trailscope", filterPattern="",
                             destinationArn=arn,
                             roleArn="arn:aws:iam::123456789012:role/cwl-to-kinesis")

by_stream = {}
with open(events_path) as f:
    for line in f:
        ts, stream, message = json.loads(line)
        by_stream.setdefault(stream, []).append({"timestamp": ts, "message": message})
puts = 0
for stream, events in by_stream.items():
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events.sort(key=lambda e: e["timestamp"])
    for i in range(0, len(events), 50):
        r = logs.put_log_events(logGroupName=group, logStreamName=stream,
                                logEvents=events[i:i + 50])
        assert "rejectedLogEventsInfo" not in r, r
        puts += 1

shard = kinesis.describe_stream(StreamName=stream_name)["StreamDescription"]["Shards"][0]["ShardId"]
it = kinesis.get_shard_iterator(StreamName=stream_name, ShardId=shard,
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
records = []
while it:
    r = kinesis.get_records(ShardIterator=it, Limit=1000)
    if not r["Records"]:
        break
    records.extend(r["Records"])
    it = r.get("NextShardIterator")
for n, rec in enumerate(records):
    with open(f"{out_dir}/{n:04}.gz", "wb") as f:
        f.write(rec["Data"])
kinesis.delete_stream(StreamName=stream_name)
print(json.dumps({"puts": puts, "records": len(records), "stream": stream_name}))

#!/usr/bin/env bash
# The same CloudTrail log files read two ways into OpenSearch, side by side: `forward
# --sqs-queue-url` (each file announced by an S3 event notification on an SQS queue) and
# `ingest s3://` (the layout listed), at --s3-concurrency 1 and the default, and the same files
# from local disk (`ingest FILE...`). Uses the running local stack (moto + OpenSearch), never
# starts one; prints events/s and peak RSS of each run.
#
#   bench/sqs_vs_s3.sh [BINARY]     OBJECTS=200 RECORDS=250 by default (50,000 events)
set -euo pipefail
BIN=${1:-target/debug/trailscope}
OS=${TRAILSCOPE_TEST_OPENSEARCH_URL:-http://127.0.0.1:19200}
MOTO=${TRAILSCOPE_TEST_CLOUDWATCH_URL:-http://127.0.0.1:15000}
PY=${TRAILSCOPE_TEST_VENV:-.cache/venv}/bin/python
OBJECTS=${OBJECTS:-200} RECORDS=${RECORDS:-250}
TAG=bench-sqs-$$
WORK=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "kept in $WORK" || trap 'rm -rf "$WORK"' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

mkdir "$WORK/files"
QUEUE=$("$PY" - "$MOTO" "$TAG" "$OBJECTS" "$RECORDS" "$WORK/files" <<'PY'
import boto3, gzip, json, sys
moto, tag, objects, records = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
files = sys.argv[5]
kw = dict(endpoint_url=moto, region_name="us-east-1", aws_access_key_id="testing",
          aws_secret_access_key="testing")
s3, sqs = boto3.client("s3", **kw), boto3.client("sqs", **kw)
q = sqs.create_queue(QueueName=tag)["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
s3.create_bucket(Bucket=tag)
s3.put_bucket_notification_configuration(Bucket=tag, NotificationConfiguration={
    "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
for o in range(objects):
    recs = [{"eventVersion": "1.09", "eventTime": "2026-03-01T%02d:%02d:%02dZ" % (o % 24, n // 60 % 60, n % 60),
             "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
             "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0 md/Botocore#1.34.0",
             "userIdentity": {"type": "IAMUser", "accountId": "111111111111",
                              "arn": "arn:aws:iam::111111111111:user/alice", "userName": "alice"},
             "requestParameters": {"bucketName": "b", "key": "k/%d" % n},
             "eventID": "%s-%d-%d" % (tag, o, n), "requestID": "r-%d-%d" % (o, n),
             "readOnly": True, "eventType": "AwsApiCall", "recipientAccountId": "111111111111"}
            for n in range(records)]
    key = "AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/01/%05d.json.gz" % o
    body = gzip.compress(json.dumps({"Records": recs}).encode())
    s3.put_object(Bucket=tag, Key=key, Body=body)
    with open("%s/%05d.json.gz" % (files, o), "wb") as f:
        f.write(body)
print(q)
PY
)

run() { # NAME PREFIX ARGS...
  local name=$1 prefix=$2; shift 2
  "$BIN" setup --opensearch-url "$OS" --index-prefix "$prefix" >/dev/null 2>&1
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -v "$BIN" "$@" --opensearch-url "$OS" --index-prefix "$prefix" \
    --dead-letter-file "$WORK/$name.dead" >"$WORK/$name.json" 2>"$WORK/$name.err"
  end=$(date +%s.%N)
  local indexed rss
  indexed=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["indexed"])' "$WORK/$name.json")
  rss=$(awk '/Maximum resident/ {print int($6/1024)}' "$WORK/$name.err")
  "$PY" -c 'import sys; n,s,e,r=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]),sys.argv[4]; print(f"{sys.argv[5]:<8} {n} events in {e-s:.1f} s: {n/(e-s):,.0f} events/s, peak RSS {r} MiB")' \
    "$indexed" "$start" "$end" "$rss" "$name"
  curl -s -XDELETE "$OS/${prefix}*" >/dev/null
  curl -s -XDELETE "$OS/_index_template/trailscope-${prefix%-}" >/dev/null
}
run sqs "$TAG-sqs-" forward --sqs-queue-url "$QUEUE" --endpoint-url "$MOTO" --sqs-wait 1s --idle-exit 2 ${SQS_FLAGS:-}
run s3 "$TAG-s3-" ingest "s3://$TAG" --endpoint-url "$MOTO"
run s3-c1 "$TAG-s3c1-" ingest "s3://$TAG" --endpoint-url "$MOTO" --s3-concurrency 1
run file "$TAG-file-" ingest "$WORK"/files/*.json.gz

#!/usr/bin/env bash
# The same CloudTrail log files read two ways into OpenSearch, side by side: `forward
# --sqs-queue-url` (each file announced by an S3 event notification on an SQS queue) and
# `ingest s3://` (the layout listed), at --s3-concurrency 1 and the default, and the same files
# from local disk (`ingest FILE...`). Uses the running local stack (moto + OpenSearch), never
# starts one; prints events/s and peak RSS of each run.
#
#   bench/sqs_vs_s3.sh [BINARY]     OBJECTS=200 RECORDS=250 by default (50,000 events)
#   BEFORE=OTHER_BINARY ...         also `ingest s3://` with OTHER_BINARY (e.g. a build of an
#                                   earlier commit), in the same run, for a before/after
#   ONLY="s3 file" ...              only these runs (sqs s3-before s3 s3-c1 file moto)
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

# Where the time goes: CPU seconds of trailscope (its own rusage), of moto and of OpenSearch (from
# /proc/PID/stat, utime + stime, before and after the run; both servers are shared, so other work
# on them during the run counts too), beside the wall time.
MOTO_PID=${MOTO_PID:-$(cat "${TRAILSCOPE_RUN_DIR:-.cache/run}/moto.pid" 2>/dev/null || true)}
OS_PID=${OS_PID:-$(cat "${TRAILSCOPE_RUN_DIR:-.cache/run}/opensearch.pid" 2>/dev/null || true)}
ticks() { # PID -> utime+stime in clock ticks (0 when unknown)
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0
}
HZ=$(getconf CLK_TCK)
printf '%-8s %7s %6s %10s  %-27s %-9s %s\n' run events wall events/s "cpu s: trailscope/moto/OS" "RSS MiB" "S3 requests (moto ms/request)"
run() { # NAME PREFIX ARGS...
  local name=$1 prefix=$2; shift 2
  "$BIN" setup --opensearch-url "$OS" --index-prefix "$prefix" >/dev/null 2>&1
  local start end moto0 moto1 os0 os1
  moto0=$(ticks "$MOTO_PID") os0=$(ticks "$OS_PID")
  start=$(date +%s.%N)
  /usr/bin/time -v "${RUN_BIN:-$BIN}" "$@" --opensearch-url "$OS" --index-prefix "$prefix" \
    --dead-letter-file "$WORK/$name.dead" >"$WORK/$name.json" 2>"$WORK/$name.err"
  end=$(date +%s.%N)
  moto1=$(ticks "$MOTO_PID") os1=$(ticks "$OS_PID")
  "$PY" - "$WORK/$name.json" "$WORK/$name.err" "$name" "$start" "$end" \
    "$(( moto1 - moto0 ))" "$(( os1 - os0 ))" "$HZ" <<'PY'
import json, re, sys
summary, err, name = json.load(open(sys.argv[1])), open(sys.argv[2]).read(), sys.argv[3]
wall = float(sys.argv[5]) - float(sys.argv[4])
moto, opensearch, hz = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
field = lambda label: float(re.search(label + r": *([0-9.]+)", err).group(1))
own = field("User time \\(seconds\\)") + field("System time \\(seconds\\)")
rss = int(field("Maximum resident set size \\(kbytes\\)")) // 1024
n = summary["indexed"]
# Requests to moto: S3 listing pages (the "listed" log line) and one GetObject per object read;
# for SQS, a receive and a delete a message besides.
lists = sum(int(m) for m in re.findall(r"list_requests[=:\"]+ *(\d+)", err))
gets = summary.get("files", summary.get("objects", 0))
requests = lists + gets + (2 * summary.get("messages", 0))
per = f"{1000 * moto / hz / requests:.1f}" if requests and name != "file" else "-"
print(f"{name:<8} {n:>7} {wall:5.1f}s {n / wall:>10,.0f}  {own:9.1f} {moto / hz:7.1f} {opensearch / hz:7.1f}   {rss:<9} {requests if name != 'file' else '-'} ({per})")
PY
  curl -s -XDELETE "$OS/${prefix}*" >/dev/null
  curl -s -XDELETE "$OS/_index_template/trailscope-${prefix%-}" >/dev/null
}
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
if want sqs; then
  run sqs "$TAG-sqs-" forward --sqs-queue-url "$QUEUE" --endpoint-url "$MOTO" --sqs-wait 1s --idle-exit 2 ${SQS_FLAGS:-}
fi
if [ -n "${BEFORE:-}" ] && want s3-before; then
  RUN_BIN=$BEFORE run s3-before "$TAG-s3b-" ingest "s3://$TAG" --endpoint-url "$MOTO"
fi
want s3 && run s3 "$TAG-s3-" ingest "s3://$TAG" --endpoint-url "$MOTO"
want s3-c1 && run s3-c1 "$TAG-s3c1-" ingest "s3://$TAG" --endpoint-url "$MOTO" --s3-concurrency 1
want file && run file "$TAG-file-" ingest "$WORK"/files/*.json.gz
# moto alone, with a client that costs nothing (curl, 8 connections): the most GetObjects a second
# it serves, whatever trailscope does.
if want moto; then
  find "$WORK/files" -name '*.json.gz' -printf "$MOTO/$TAG/AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/01/%f\n" \
    | sort >"$WORK/urls"
  split -n r/8 "$WORK/urls" "$WORK/urls."
  m0=$(ticks "$MOTO_PID") start=$(date +%s.%N)
  for part in "$WORK"/urls.*; do xargs curl -s -o /dev/null <"$part" & done; wait
  end=$(date +%s.%N) m1=$(ticks "$MOTO_PID")
  "$PY" -c 'import sys; n,s,e,c,hz=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4]),int(sys.argv[5]); print(f"moto alone: {n} GetObjects (curl, 8 at once) in {e-s:.1f} s: {n/(e-s):,.0f}/s, moto cpu {c/hz:.1f} s ({1000*c/hz/n:.1f} ms/request)")' \
    "$(wc -l <"$WORK/urls")" "$start" "$end" "$(( m1 - m0 ))" "$HZ"
fi

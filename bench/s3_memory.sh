#!/usr/bin/env bash
# Peak memory of `ingest s3://` under load: large log files fetched faster than OpenSearch takes
# their events, so the fetcher runs ahead of the reader until its bound (64 MiB of fetched
# objects waiting for the decoder) stops it. Uses the running local stack (moto + OpenSearch),
# never starts one; prints the peak RSS beside that of the same run over small objects (the
# process's own baseline) and the bytes read.
#
#   bench/s3_memory.sh [BINARY]     OBJECTS=150 MB=3 RECORDS=250 CONCURRENCY=32 by default
#
# Each object is `{"Records":[RECORDS events]}` followed by MB MiB of blanks, gzipped without
# compression (stored blocks): as big in S3 as a busy account's log file, while OpenSearch gets
# only RECORDS small events per object (the reader skips blanks between documents). With 32
# requests at once, what is fetched and not yet decoded would reach ~64 × MB MiB without the
# bound. The bucket is emptied and deleted at the end (moto keeps objects in memory).
set -euo pipefail
BIN=${1:-target/debug/trailscope}
OS=${TRAILSCOPE_TEST_OPENSEARCH_URL:-http://127.0.0.1:19200}
MOTO=${TRAILSCOPE_TEST_CLOUDWATCH_URL:-http://127.0.0.1:15000}
PY=${TRAILSCOPE_TEST_VENV:-.cache/venv}/bin/python
OBJECTS=${OBJECTS:-150} MB=${MB:-3} RECORDS=${RECORDS:-250} CONCURRENCY=${CONCURRENCY:-32}
TAG=bench-s3mem-$$
WORK=$(mktemp -d)
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

bucket() { # put|delete NAME OBJECTS MB
  "$PY" - "$MOTO" "$@" "$RECORDS" <<'PY'
import boto3, gzip, json, sys
moto, what, bucket, objects, mb, records = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
if what == "delete":
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])
    s3.delete_bucket(Bucket=bucket)
    sys.exit()
s3.create_bucket(Bucket=bucket)
pad = " " * int(mb * (1 << 20))
for o in range(objects):
    recs = [{"eventVersion": "1.09", "eventTime": "2026-03-01T%02d:%02d:%02dZ" % (o % 24, n // 60 % 60, n % 60),
             "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
             "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
             "userIdentity": {"type": "IAMUser", "accountId": "111111111111",
                              "arn": "arn:aws:iam::111111111111:user/alice", "userName": "alice"},
             "eventID": "%s-%d-%d" % (bucket, o, n), "readOnly": True, "eventType": "AwsApiCall",
             "recipientAccountId": "111111111111"} for n in range(records)]
    body = (json.dumps({"Records": recs}) + "\n" + pad + "\n").encode()
    key = "AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/01/%05d.json.gz" % o
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body, compresslevel=0))
PY
}

run() { # NAME BUCKET
  local name=$1 prefix="$TAG-$1-"
  "$BIN" setup --opensearch-url "$OS" --index-prefix "$prefix" >/dev/null 2>&1
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -v "$BIN" ingest "s3://$2" --endpoint-url "$MOTO" --s3-concurrency "$CONCURRENCY" \
    --opensearch-url "$OS" --index-prefix "$prefix" --dead-letter-file "$WORK/$name.dead" \
    >"$WORK/$name.json" 2>"$WORK/$name.err" || { tail -5 "$WORK/$name.err"; exit 1; }
  end=$(date +%s.%N)
  "$PY" - "$WORK/$name.json" "$WORK/$name.err" "$name" "$start" "$end" <<'PY'
import json, re, sys
s, err = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) / 1024
wall = float(sys.argv[5]) - float(sys.argv[4])
print(f"{sys.argv[3]:<6} {s['files']} objects, {s['bytes'] / (1 << 20):,.0f} MiB read, {s['indexed']} events "
      f"in {wall:.1f} s: peak RSS {rss:.0f} MiB")
PY
  curl -s -XDELETE "$OS/${prefix}*" >/dev/null
  curl -s -XDELETE "$OS/_index_template/trailscope-${prefix%-}" >/dev/null
}

trap 'bucket delete "$TAG-small" 0 0 || true; bucket delete "$TAG-large" 0 0 || true; rm -rf "$WORK"' EXIT
bucket put "$TAG-small" "$OBJECTS" 0
bucket put "$TAG-large" "$OBJECTS" "$MB"
run small "$TAG-small"
run large "$TAG-large"

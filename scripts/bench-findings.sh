#!/usr/bin/env bash
# Findings on vs off, side by side in one run: `trailscope ingest` of the same generated CloudTrail
# file into fresh indices of a running OpenSearch, rounds interleaved (off, on, off, on, ...).
# Printed per round: wall seconds, events/s, CPU seconds of trailscope (user+sys), peak RSS, and
# the findings written. The data: BENCH_EVENTS events (default 20,000) of BENCH_IDENTITIES access
# keys (default 500) over 2026-11-01 … 2026-11-20, each key with a routine of 5 actions, one
# network and one SDK, and 1 event in 200 something new (an action, a network or a tool); findings
# are judged from 2026-11-10 (7-day learning period), so half the events are judged.
#
#   OPENSEARCH_URL=http://127.0.0.1:19200 scripts/bench-findings.sh
#   BENCH_BIN=target/release/trailscope BENCH_ROUNDS=3 scripts/bench-findings.sh
#
# Uses index prefixes bench-findings-<round>- and deletes them (and their findings index) after.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
URL=${OPENSEARCH_URL:-http://127.0.0.1:19200}
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/trailscope}
N=${BENCH_EVENTS:-20000}
IDS=${BENCH_IDENTITIES:-500}
ROUNDS=${BENCH_ROUNDS:-2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 - "$N" "$IDS" "$WORK/trail.json" <<'EOF'
import json, random, sys
n, ids, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rnd = random.Random(7)
routine = [("ec2.amazonaws.com", "DescribeInstances"), ("s3.amazonaws.com", "ListBuckets"),
           ("s3.amazonaws.com", "GetObject"), ("sts.amazonaws.com", "GetCallerIdentity"),
           ("ec2.amazonaws.com", "DescribeVolumes")]
rare = [("iam.amazonaws.com", "ListUsers"), ("kms.amazonaws.com", "Decrypt"),
        ("iam.amazonaws.com", "CreateAccessKey"), ("lambda.amazonaws.com", "ListFunctions")]
boto = "Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#6.5.0 lang/python#3.11.6"
cli = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0"
records = []
for i in range(n):
    k = i % ids
    t = 1793534400 + int(i / n * 19 * 86400) + rnd.randrange(3600)  # 2026-11-01T12:00Z ...
    src, name = routine[rnd.randrange(len(routine))]
    ip, ua = f"198.51.{k % 250}.{1 + k % 200}", boto
    if rnd.randrange(200) == 0:
        what = rnd.randrange(3)
        if what == 0: src, name = rare[rnd.randrange(len(rare))]
        elif what == 1: ip = f"203.0.{rnd.randrange(250)}.9"
        else: ua = cli
    import datetime
    when = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    records.append({"eventVersion": "1.09", "eventTime": when, "eventSource": src, "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": ua,
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/u{k}",
                         "accountId": "111122223333", "accessKeyId": f"AKIABENCH{k:011d}"},
        "eventID": f"be0c0000-0000-4000-8000-{i:012x}", "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333"})
json.dump({"Records": records}, open(out, "w"))
EOF

printf '%-6s %-5s %8s %9s %8s %9s %9s\n' round mode wall_s events/s cpu_s rss_MiB findings
for round in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    prefix="bench-findings-$round-$mode-"
    findings="findings-$prefix"
    "$BIN" setup --opensearch-url "$URL" --index-prefix "$prefix" >/dev/null
    flags=(--no-findings)
    [ "$mode" = on ] && flags=(--findings-index "$findings" --findings-from 2026-11-10T00:00:00Z)
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" \
      "$BIN" ingest --opensearch-url "$URL" --index-prefix "$prefix" \
      --dead-letter-file "$WORK/dead.ndjson" "${flags[@]}" "$WORK/trail.json" >/dev/null 2>"$WORK/err" \
      || { cat "$WORK/err"; exit 1; }
    read -r wall user sys rss <"$WORK/time"
    count=0
    if [ "$mode" = on ]; then
      curl -s -XPOST "$URL/$findings/_refresh" >/dev/null
      count=$(curl -s "$URL/$findings/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    fi
    python3 -c "import sys; w,u,s,r=map(float,sys.argv[1:5]); print(f'{sys.argv[5]:<6} {sys.argv[6]:<5} {w:8.2f} {int(sys.argv[7])/w:9.0f} {u+s:8.2f} {r/1024:9.1f} {sys.argv[8]:>9}')" \
      "$wall" "$user" "$sys" "$rss" "$round" "$mode" "$N" "$count"
    curl -s -XDELETE "$URL/$prefix*" >/dev/null
    curl -s -XDELETE "$URL/$findings?ignore_unavailable=true" >/dev/null
    curl -s -XDELETE "$URL/_index_template/trailscope-${prefix%-}" >/dev/null
  done
done

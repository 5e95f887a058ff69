#!/usr/bin/env bash
# The lineage index, measured on a running OpenSearch: (1) `trailscope ingest` of the same
# generated file with --no-lineage and with the lineage index, rounds interleaved (off, on, ...):
# wall seconds, events/s, CPU seconds of trailscope, peak RSS, lineage documents written; (2) the
# roots of BENCH_CHAINS sessions two hops deep (AKIA → GetSessionToken → ASIA → AssumeRole → ASIA),
# found level by level as the findings find them: by id in the lineage index (`_mget`) against the
# search of the events' flat_object copy (`_msearch`, one term search per key), median of 7.
# The data: BENCH_EVENTS events (default 50,000) of which BENCH_CHAINS chains (default 500: 1,000
# minting events) and their sessions' calls; 2026-11-01 … 2026-11-20.
#
#   OPENSEARCH_URL=http://127.0.0.1:19200 scripts/bench-lineage.sh
#   BENCH_BIN=target/release/trailscope BENCH_ROUNDS=3 scripts/bench-lineage.sh
#
# Uses index prefixes bench-lineage-<round>-<mode>- and lineage indices bench-lineage-<round>,
# and deletes them after.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
URL=${OPENSEARCH_URL:-http://127.0.0.1:19200}
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/trailscope}
N=${BENCH_EVENTS:-50000}
CHAINS=${BENCH_CHAINS:-500}
ROUNDS=${BENCH_ROUNDS:-2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python3 - "$N" "$CHAINS" "$WORK/trail.json" <<'EOF'
import datetime, json, random, sys
n, chains, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rnd = random.Random(11)
def when(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
def user(c, key):
    return {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/u{c}",
            "accountId": "111122223333", "accessKeyId": key}
def role(c, key):
    return {"type": "AssumedRole", "arn": f"arn:aws:sts::222233334444:assumed-role/r/s{c}",
            "accountId": "222233334444", "accessKeyId": key,
            "sessionContext": {"sessionIssuer": {"type": "Role",
                                                 "arn": "arn:aws:iam::222233334444:role/r"}}}
def record(i, t, who, src, name, response=None):
    return {"eventVersion": "1.09", "eventTime": when(t), "eventSource": src, "eventName": name,
            "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0", "userIdentity": who,
            "responseElements": response, "eventID": f"be1c0000-0000-4000-8000-{i:012x}",
            "eventType": "AwsApiCall", "recipientAccountId": "111122223333"}
def creds(key):
    return {"credentials": {"accessKeyId": key, "expiration": "Nov 21, 2026, 12:00:00 PM"}}
records = []
start = 1793534400  # 2026-11-01T12:00:00Z
for c in range(chains):
    t = start + c * 3000
    akia, asia1, asia2 = f"AKIABENCH{c:011d}", f"ASIABENCH1{c:010d}", f"ASIABENCH2{c:010d}"
    records.append(record(len(records), t, user(c, akia), "sts.amazonaws.com", "GetSessionToken", creds(asia1)))
    r = creds(asia2)
    r["assumedRoleUser"] = {"arn": f"arn:aws:sts::222233334444:assumed-role/r/s{c}"}
    records.append(record(len(records), t + 60, user(c, asia1), "sts.amazonaws.com", "AssumeRole", r))
while len(records) < n:
    c = rnd.randrange(chains)
    t = start + c * 3000 + 120 + rnd.randrange(2000)
    who = role(c, f"ASIABENCH2{c:010d}") if rnd.randrange(2) else user(c, f"AKIABENCH{c:011d}")
    records.append(record(len(records), t, who, "ec2.amazonaws.com", "DescribeInstances"))
json.dump({"Records": records}, open(out, "w"))
EOF

printf '%-6s %-5s %8s %9s %8s %9s %9s\n' round mode wall_s events/s cpu_s rss_MiB lineage
for round in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    prefix="bench-lineage-$round-$mode-"
    lineage="bench-lineage-$round"
    "$BIN" setup --opensearch-url "$URL" --index-prefix "$prefix" >/dev/null
    flags=(--no-lineage)
    [ "$mode" = on ] && flags=(--lineage-index "$lineage")
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" \
      "$BIN" ingest --opensearch-url "$URL" --index-prefix "$prefix" --no-findings \
      --dead-letter-file "$WORK/dead.ndjson" "${flags[@]}" "$WORK/trail.json" >/dev/null 2>"$WORK/err" \
      || { cat "$WORK/err"; exit 1; }
    read -r wall user sys rss <"$WORK/time"
    count=0
    if [ "$mode" = on ]; then
      curl -s -XPOST "$URL/$lineage/_refresh" >/dev/null
      count=$(curl -s "$URL/$lineage/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    fi
    python3 -c "import sys; w,u,s,r=map(float,sys.argv[1:5]); print(f'{sys.argv[5]:<6} {sys.argv[6]:<5} {w:8.2f} {int(sys.argv[7])/w:9.0f} {u+s:8.2f} {r/1024:9.1f} {sys.argv[8]:>9}')" \
      "$wall" "$user" "$sys" "$rss" "$round" "$mode" "$N" "$count"
  done
done

# Roots of the ASIA2 sessions, level by level, as the findings' resolve_lineage asks.
python3 - "$URL" "bench-lineage-1-on-*" "bench-lineage-1" "$CHAINS" <<'EOF'
import json, statistics, sys, time, urllib.request
url, events, lineage, chains = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def post(path, body, ndjson=False):
    req = urllib.request.Request(url + path, data=body.encode(), method="POST",
        headers={"Content-Type": "application/x-ndjson" if ndjson else "application/json"})
    return json.load(urllib.request.urlopen(req))
post(f"/{events}/_refresh", "")
MINTED = "aws.cloudtrail.flattened.response_elements.credentials.accessKeyId"
def by_id(keys):
    docs = post(f"/{lineage}/_mget", json.dumps({"ids": keys}))["docs"]
    return {d["_id"]: d["_source"]["parent"] for d in docs if d.get("found")}
def by_search(keys):
    body = ""
    for k in keys:
        body += json.dumps({"index": events}) + "\n"
        body += json.dumps({"size": 1, "_source": ["aws.cloudtrail.user_identity.access_key_id"],
            "query": {"bool": {"filter": [{"terms": {"event.action": ["GetSessionToken", "AssumeRole",
                "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML", "GetFederationToken"]}},
                {"term": {MINTED: k}}]}}}) + "\n"
    out = {}
    for k, r in zip(keys, post("/_msearch", body, ndjson=True)["responses"]):
        hits = r["hits"]["hits"]
        if hits:
            out[k] = hits[0]["_source"]["aws"]["cloudtrail"]["user_identity"]["access_key_id"]
    return out
def roots(lookup):
    keys = [f"ASIABENCH2{c:010d}" for c in range(chains)]
    started, levels = time.perf_counter(), 0
    parents = {}
    while keys:
        found = lookup(keys)
        levels += 1
        parents.update(found)
        keys = [p for p in found.values() if p.startswith("ASIA")]
    known = sum(1 for c in range(chains) if parents.get(parents.get(f"ASIABENCH2{c:010d}", ""), "").startswith("AKIA"))
    return (time.perf_counter() - started) * 1000, levels, known
for name, lookup in [("lineage index (_mget)", by_id), ("events' flat_object (_msearch)", by_search)]:
    runs = [roots(lookup) for _ in range(7)]
    ms = statistics.median(r[0] for r in runs)
    print(f"roots of {chains} sessions via {name}: {ms:.1f} ms median of 7, "
          f"{runs[0][1]} requests, {runs[0][2]} roots known")
EOF

for round in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    prefix="bench-lineage-$round-$mode-"
    curl -s -XDELETE "$URL/$prefix*" >/dev/null
    curl -s -XDELETE "$URL/_index_template/trailscope-${prefix%-}" >/dev/null
  done
  curl -s -XDELETE "$URL/bench-lineage-$round?ignore_unavailable=true" >/dev/null
done

#!/usr/bin/env bash
# What the Lambda function costs per 1,000 CloudTrail events, against the AWS LogsToElasticsearch
# blueprint (Node), side by side in one run, under the same local Lambda Runtime API emulator
# (bench/lambda_rie.py): cold start (init) ms, billed ms per 1,000-event invocation (median and
# p90 of the warm ones), CPU ms per invocation, peak MB, and what that makes per million events
# on a 128 MB and a 256 MB function at AWS's published price. See README "Benchmarks".
#
# Both forwarders post to the emulator's fake `_bulk` endpoint, which answers at once (so the
# figures are the forwarder's alone) and counts the documents: the blueprint sends `_type`, which
# OpenSearch 2.x refuses, so it could not be measured into a real node anyway. Any failed
# invocation, or fewer documents indexed than sent, fails the run.
#
#   bench/lambda_bench.sh                 3 rounds of 50 invocations x 1,000 events, interleaved
#   LAMBDA_ROUNDS=5 LAMBDA_INVOCATIONS=100 LAMBDA_EVENTS=1000 bench/lambda_bench.sh
#   BENCH_SKIP=blueprint ...              trailscope alone
#   LAMBDA_OPENSEARCH_URL=http://127.0.0.1:19200 ...
#                                         also trailscope into that real node, findings off and on
#                                         (their baseline searches need one), in the same rounds
#   LAMBDA_MEMORY_MB=128,256,512 ...      the function sizes to price
#   BENCH_NO_BUILD=1 BENCH_BIN=PATH ...   a release binary built before
#   BENCH_BLUEPRINT=PATH/index.js ...     the blueprint's code (default: the copy in
#                                         .cache/blueprint/LogsToElasticsearch-v1.1.2/)
#
# The blueprint (Amazon Software License) is not part of trailscope: bring your own copy (Lambda
# console: your LogsToElasticsearch_<domain> function, Actions > Export function). It runs
# unmodified under bench/lambda_node_runtime.js, its https requests sent to the fake.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE=$ROOT/.cache
WORK=$CACHE/bench
ROUNDS=${LAMBDA_ROUNDS:-3}
INVOCATIONS=${LAMBDA_INVOCATIONS:-50}
EVENTS=${LAMBDA_EVENTS:-1000}
SKIP=${BENCH_SKIP:-}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${BENCH_BIN:-$TARGET/release/trailscope}
BLUEPRINT=${BENCH_BLUEPRINT:-$CACHE/blueprint/LogsToElasticsearch-v1.1.2/index.js}
PREFIX=benchlambda-
mkdir -p "$WORK"

log() { printf '[lambda-bench] %s\n' "$*" >&2; }
skipped() { [[ ",$SKIP," == *",$1,"* ]]; }

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  log "building trailscope (release)"
  nice -n 10 cargo build --release --quiet --bin trailscope
fi
[ -x "$BIN" ] || { log "no trailscope binary at $BIN: build it (cargo build --release) or set BENCH_BIN"; exit 1; }
if ! skipped blueprint; then
  command -v node >/dev/null || { log "node is not installed: install Node.js 18+ or set BENCH_SKIP=blueprint"; exit 1; }
  if [ ! -s "$BLUEPRINT" ]; then
    log "the AWS blueprint's code is not at $BLUEPRINT: export your LogsToElasticsearch_<domain> function's code (Lambda console, Actions > Export function) and set BENCH_BLUEPRINT to its index.js, or set BENCH_SKIP=blueprint"
    exit 1
  fi
fi

# A day two days back: every event is in the past and well inside --max-event-age, whatever the
# time of day (50,000 events at 3 a second span under 5 hours).
N=$(( INVOCATIONS * EVENTS ))
CORPUS=$WORK/lambda-events-$N.ndjson
DAY=$(date -u -d '2 days ago' +%F)
if [ ! -s "$CORPUS" ] || [ "$DAY" != "$(cat "$CORPUS.day" 2>/dev/null)" ]; then
  if [ -z "${TRAILSCOPE_BENCH_CORPUS:-}" ] && [ ! -d "$ROOT/../shared" ] && [ -d /work/shared/corpus ]; then
    export TRAILSCOPE_BENCH_CORPUS=/work/shared/corpus/cloudtrail/panther-labs__panther-analysis/rule-test-events.ndjson
  fi
  python3 bench/make_corpus.py "$N" "$CORPUS" --day "$DAY"
  echo "$DAY" > "$CORPUS.day"
fi

RESULTS=$WORK/lambda-results.ndjson
: > "$RESULTS"
RIE=(python3 bench/lambda_rie.py --corpus "$CORPUS" --events "$EVENTS" --invocations "$INVOCATIONS")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS: $INVOCATIONS invocations of $EVENTS events each"
  if ! skipped blueprint; then
    # es_endpoint: where this copy of the blueprint reads its domain from (the console's
    # own copy has it written in); any *.es.amazonaws.com name, the requests go to the fake.
    es_endpoint=search-bench-0000000000000000000000000.us-east-1.es.amazonaws.com \
      "${RIE[@]}" --label blueprint --url-env BENCH_HTTPS_TO --log "$WORK/lambda-blueprint.log" \
      -- node bench/lambda_node_runtime.js "$BLUEPRINT" >> "$RESULTS"
  fi
  if ! skipped trailscope; then
    # configured as a deployment is (the environment, no flags); findings and the lineage index
    # off: their searches need a real node, the fake would count lineage documents as events'
    # documents, and the blueprint has no counterpart (the real-node rows below have them on).
    "${RIE[@]}" --label trailscope --url-env TRAILSCOPE_OPENSEARCH_URL --log "$WORK/lambda-trailscope.log" \
      --before "'$BIN' setup --opensearch-url \"\$BENCH_OPENSEARCH_URL\" --index-prefix $PREFIX" \
      -- env TRAILSCOPE_INDEX_PREFIX=$PREFIX TRAILSCOPE_NO_FINDINGS=true TRAILSCOPE_NO_LINEAGE=true \
      TRAILSCOPE_DEAD_LETTER_FILE="$WORK/lambda-dead-letters.ndjson" "$BIN" lambda >> "$RESULTS"
  fi
  if [ -n "${LAMBDA_OPENSEARCH_URL:-}" ]; then
    for findings in off on; do
      prefix=benchlambda-$findings-
      curl -s -XDELETE "$LAMBDA_OPENSEARCH_URL/$prefix*,findings-$prefix,lineage-$prefix?ignore_unavailable=true" >/dev/null
      flag=()
      [ "$findings" = off ] && flag=(TRAILSCOPE_NO_FINDINGS=true)
      "${RIE[@]}" --label "trailscope, real node, findings $findings" \
        --opensearch "$LAMBDA_OPENSEARCH_URL" --count-index "$prefix*" --log "$WORK/lambda-trailscope-node.log" \
        --before "'$BIN' setup --opensearch-url '$LAMBDA_OPENSEARCH_URL' --index-prefix $prefix" \
        -- env TRAILSCOPE_OPENSEARCH_URL="$LAMBDA_OPENSEARCH_URL" TRAILSCOPE_INDEX_PREFIX=$prefix \
        TRAILSCOPE_FINDINGS_INDEX="findings-$prefix" TRAILSCOPE_LINEAGE_INDEX="lineage-$prefix" "${flag[@]}" \
        TRAILSCOPE_DEAD_LETTER_FILE="$WORK/lambda-dead-letters.ndjson" "$BIN" lambda >> "$RESULTS"
      curl -s -XDELETE "$LAMBDA_OPENSEARCH_URL/$prefix*,findings-$prefix,lineage-$prefix?ignore_unavailable=true" >/dev/null
      curl -s -XDELETE "$LAMBDA_OPENSEARCH_URL/_index_template/trailscope-${prefix%-}" >/dev/null
    done
  fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "Lambda: $ROUNDS round(s) x $INVOCATIONS invocations of $EVENTS CloudTrail events (CloudWatch Logs subscription payloads), interleaved, into a fake _bulk that answers at once"
echo "$(nproc) cores; load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
python3 - "$RESULTS" "${LAMBDA_MEMORY_MB:-128,256}" <<'EOF'
import json, math, statistics, sys

# AWS Lambda price, US East (N. Virginia), x86, first pricing tier (https://aws.amazon.com/lambda/pricing/):
# duration $0.0000166667 per GB-second, requests $0.20 per million. CPU is allotted in proportion to
# memory, one vCPU at 1,769 MB (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
GB_S, PER_REQUEST, VCPU_MB = 0.0000166667, 0.20 / 1e6, 1769

runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault(r["label"], []).append(r)

def nearest_rank(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]

rows = {}
for label, rs in runs.items():
    warm = [d for r in rs for d in r["durations_ms"][1:]]
    events = rs[0]["events_per_invocation"]
    cpu = statistics.median((r["cpu_s"] - r["init_cpu_s"]) * 1000 / r["invocations"] for r in rs)
    rows[label] = {
        "init": statistics.median(r["init_ms"] for r in rs),
        "init_range": (min(r["init_ms"] for r in rs), max(r["init_ms"] for r in rs)),
        "first": statistics.median(r["first_invocation_ms"] for r in rs),
        "median": statistics.median(warm), "p90": nearest_rank(warm, 90),
        "cpu": cpu, "peak": max(r["peak_mb"] for r in rs),
        "docs": sum(r["documents"] for r in rs), "events": events,
        "fake": statistics.median(r["fake_bulk_ms_per_invocation"] for r in rs),
    }

def cost_per_million(row, memory_mb):
    # Below 1,769 MB the function gets memory/1,769 of a vCPU: its CPU time stretches by the
    # inverse, the time it waits does not. The fake's answer is left out (a real OpenSearch's is
    # billed instead: the same wait for any forwarder, not measured here).
    wait = max(0.0, row["median"] - row["cpu"] - row["fake"])
    ms = row["cpu"] * max(1.0, VCPU_MB / memory_mb) + wait
    invocations = 1e6 / row["events"]
    return invocations * (ms / 1000 * memory_mb / 1024 * GB_S + PER_REQUEST), ms

print()
sizes = [int(m) for m in sys.argv[2].split(",")]
print("| forwarder | cold start (init) ms | 1st invocation ms | ms per %d-event invocation, median / p90 | of which the fake | CPU ms per invocation | peak MB | est. ms at %s MB | $ per 1M events at %s MB |"
      % (next(iter(rows.values()))["events"], " / ".join(map(str, sizes)), " / ".join(map(str, sizes))))
print("|---|---|---|---|---|---|---|---|---|")
for label, row in rows.items():
    costs = [cost_per_million(row, m) for m in sizes]
    over = [m for m in sizes if row["peak"] >= m]
    fits = " (over %d MB)" % max(over) if over else ""
    print("| %s | %.0f (%.0f-%.0f) | %.0f | %.1f / %.1f | %.1f | %.1f | %.1f%s | %s | %s |" % (
        label, row["init"], *row["init_range"], row["first"], row["median"], row["p90"], row["fake"], row["cpu"],
        row["peak"], fits, " / ".join("%.0f" % ms for _, ms in costs),
        " / ".join("$%.4f" % c for c, _ in costs)))
if "blueprint" in rows and "trailscope" in rows:
    b, t = rows["blueprint"], rows["trailscope"]
    print()
    print(("blueprint / trailscope: cold start %.1fx, ms per invocation %.1fx (p90 %.1fx), CPU %.1fx, peak MB %.1fx, $ per 1M events at " + str(sizes[0]) + " MB %.1fx")
          % (b["init"] / t["init"], b["median"] / t["median"], b["p90"] / t["p90"], b["cpu"] / t["cpu"],
             b["peak"] / t["peak"], cost_per_million(b, sizes[0])[0] / cost_per_million(t, sizes[0])[0]))
print()
print("Measured on full cores of this machine: init = process start to its first GET /next; an invocation = event handed out to its response,")
print("the fake _bulk's own answer included (a Python server: read 'of which the fake'). 'est. ms at M MB': the CPU part stretched by 1769/M")
print("(Lambda's CPU share below 1,769 MB), plus the rest of the wait, the fake's answer left out (a real OpenSearch's answer is billed on top).")
print("$ per 1M events = 1M/%d invocations x (est. ms x GB x $0.0000166667/GB-s + $0.20/1M requests), x86 US East; init is billed too,"
      % next(iter(rows.values()))["events"])
print("once per execution environment (cold start ms x GB x the same price).")
print("documents counted at the fake: " + ", ".join("%s %d" % (l, r["docs"]) for l, r in rows.items()))
EOF

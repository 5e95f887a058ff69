#!/usr/bin/env bash
# End-to-end benchmark of trailscope against its own OpenSearch node, side by side in one run,
# printed as one table (see README "Benchmarks"):
#
#   1. ceiling    the same documents trailscope sends, as pre-built gzip `_bulk` bodies, posted by a
#                 minimal client (bench/ceiling.py) with the same batch size and concurrency: the
#                 most OpenSearch takes on this machine
#   2. ingest     trailscope ingest FILE.ndjson
#   3. forward    moto (CloudWatch Logs) -> trailscope forward --once -> OpenSearch
#   4. python     BASELINE: bench/forwarder.py (boto3 FilterLogEvents, ua-parser, opensearch-py
#                 helpers.bulk), moto -> OpenSearch, in its own venv .cache/bench-venv
#   5. lambda     bench/lambda_bench.sh after the table: trailscope lambda vs the AWS
#                 LogsToElasticsearch blueprint under one Runtime API emulator (cold start, ms and
#                 peak MB per 1,000-event invocation, $ per million events); LAMBDA_ROUNDS (3),
#                 LAMBDA_INVOCATIONS (50); without node or the blueprint's code, trailscope alone
#   0. workers    trailscope ingest FILE into a `_bulk` that answers at once (bench/fake_bulk.py, no
#                 OpenSearch): the forwarder alone, per --transform-workers count (1 up to the
#                 cores, at most 4; BENCH_WORKERS="1 2 4" to choose; the default of the flag is 1), printed first as
#                 "transform events/s per worker count"
#
# Each run starts from an empty node (the bench indices are deleted first). Reported: events/s and
# as a ratio of the ceiling, CPU seconds per 100k events of the forwarder and of OpenSearch (from
# /proc/<pid>/stat), the forwarder's peak RSS (/usr/bin/time -v), documents found after the run.
#
#   scripts/bench.sh                 200,000 events (BENCH_EVENTS=1000000 for a 1M backfill)
#   BENCH_ROUNDS=3 scripts/bench.sh  every run three times, interleaved; the table sums the rounds
#                                    (OpenSearch's own speed varies by ±15% from one run to the
#                                    next on this machine: a best-of compares outliers)
#   BENCH_SKIP=python,forward ...    leave runs out (workers, ceiling, ingest, forward, python, lambda)
#   BENCH_ONLY=workers ...           only the worker counts: no OpenSearch node, no moto
#   BENCH_NO_BUILD=1 BENCH_BIN=... BENCH_BODIES_BIN=...   use binaries built before
#   BENCH_BEFORE_BIN=PATH            workers: the same runs with another build too (e.g. main's),
#                                    interleaved with this one's, as rows "before" in the table
#   BENCH_WORK=DIR                   corpus, logs and timings there (default .cache/bench)
#
# Uses its own OpenSearch node (scripts/stack.sh node-up bench 19240 19340 768m, left running;
# `scripts/stack.sh node-down bench` stops it) and its own moto (port 15040, stopped at the end),
# so other work on the machine's stack neither disturbs nor is disturbed. Figures from a shared,
# busy machine are only comparable within one run: read the ratios, and the load printed with them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE=$ROOT/.cache
N=${BENCH_EVENTS:-200000}
ROUNDS=${BENCH_ROUNDS:-1}
SKIP=${BENCH_SKIP:-}
OS_PORT=${BENCH_OS_PORT:-19240}
OS_TRANSPORT=${BENCH_OS_TRANSPORT_PORT:-19340}
MOTO_PORT=${BENCH_MOTO_PORT:-15040}
CONCURRENCY=${BENCH_CONCURRENCY:-2}
BATCH_EVENTS=${BENCH_BATCH_EVENTS:-5000}
FAKE_PORT=${BENCH_FAKE_PORT:-19260}
ONLY=${BENCH_ONLY:-}
OS_URL=http://127.0.0.1:$OS_PORT
MOTO_URL=http://127.0.0.1:$MOTO_PORT
WORK=${BENCH_WORK:-$CACHE/bench}
PREFIX=bench-
PY_PREFIX=benchpy-
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/trailscope}
BODIES_BIN=${BENCH_BODIES_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bench_bodies}
mkdir -p "$WORK"

log() { printf '[bench] %s\n' "$*" >&2; }
skipped() { [[ ",$SKIP," == *",$1,"* ]] || { [ -n "$ONLY" ] && [[ ",$ONLY," != *",$1,"* ]]; }; }

# --- build, services, data -----------------------------------------------------------------------
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  log "building trailscope and the body writer (release)"
  nice -n 10 cargo build --release --quiet --bin trailscope --example bench_bodies
fi

if ! skipped python; then
  if [ ! -x "$CACHE/bench-venv/bin/python" ] || ! "$CACHE/bench-venv/bin/python" -c 'import boto3, opensearchpy, ua_parser' 2>/dev/null; then
    log "installing the Python baseline's dependencies into .cache/bench-venv"
    python3 -m venv "$CACHE/bench-venv"
    "$CACHE/bench-venv/bin/pip" install -q -r bench/requirements.txt
  fi
fi

CORPUS=$WORK/events-$N.ndjson
# Events are 3 a second from the start of DAY: it is chosen so that the last one is over an hour
# old (CloudWatch Logs refuses events more than 2 h ahead, and forward reads up to now only; a
# 1M corpus spans almost 4 days).
DAY=$(date -u -d "@$(( $(date +%s) - N / 3 - 3600 ))" +%F)
if [ ! -s "$CORPUS" ] || [ "$DAY" != "$(cat "$CORPUS.day" 2>/dev/null)" ]; then
  python3 bench/make_corpus.py "$N" "$CORPUS" --day "$DAY"
  echo "$DAY" > "$CORPUS.day"
fi
BYTES=$(stat -c %s "$CORPUS")

# --- 0. transform workers: the forwarder alone, into a `_bulk` that answers at once ---------------
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
MAX_WORKERS=$(( $(nproc) < 4 ? $(nproc) : 4 ))
WORKERS=${BENCH_WORKERS:-$(seq -s ' ' 1 "$MAX_WORKERS")}
declare -A W_DOCS W_SECS W_CPU W_FAKE W_RSS
BEFORE_BIN=${BENCH_BEFORE_BIN:-}
# run_workers W [before]: this build (or BENCH_BEFORE_BIN's) with W workers; rows keyed "build:W".
run_workers() {
  local w=$1 build=${2:-this} bin=$BIN fake_pid t0 t1 f0 f1 docs secs cpu rss name=workers-$1
  if [ "$build" = before ]; then bin=$BEFORE_BIN; name=workers-before-$1; fi
  python3 bench/fake_bulk.py "$FAKE_PORT" mappings/index-template.json "$PREFIX" > "$WORK/$name.fake" 2>&1 &
  fake_pid=$!
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$FAKE_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
  f0=$(ticks "$fake_pid")
  t0=$(date +%s.%N)
  # Findings and the lineage index off: the fake answers `_bulk` alone (no searches, no index
  # to create); the lineage switch by environment, which a build from before it ignores.
  TRAILSCOPE_NO_LINEAGE=true /usr/bin/time -v -o "$WORK/$name.time" "$bin" ingest --opensearch-url "http://127.0.0.1:$FAKE_PORT" \
    --index-prefix "$PREFIX" --no-findings --transform-workers "$w" --concurrency "$CONCURRENCY" \
    --batch-events "$BATCH_EVENTS" --dead-letter-file "$WORK/dead-letters.ndjson" "$CORPUS" \
    > "$WORK/$name.out" 2> "$WORK/$name.err" || {
      log "$name failed:"; tail -5 "$WORK/$name.err" >&2; kill "$fake_pid"; exit 1; }
  t1=$(date +%s.%N)
  f1=$(ticks "$fake_pid")
  kill "$fake_pid"; wait "$fake_pid" 2>/dev/null || true
  docs=$(awk '/^requests/ {print $4}' "$WORK/$name.fake"); docs=${docs:-0}
  secs=$(echo "$t1 - $t0" | bc -l)
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$WORK/$name.time")
  rss=$(awk -F': ' '/Maximum resident/ {print $2 / 1024}' "$WORK/$name.time")
  log "$(printf '%-10s %7d docs in %6.2f s = %7.0f ev/s; CPU %.2f s; RSS %.0f MiB' "$name" "$docs" "$secs" \
    "$(echo "$docs / $secs" | bc -l)" "$cpu" "$rss")"
  local k=$build:$w
  W_DOCS[$k]=$(( ${W_DOCS[$k]:-0} + docs ))
  W_SECS[$k]=$(echo "${W_SECS[$k]:-0} + $secs" | bc -l)
  W_CPU[$k]=$(echo "${W_CPU[$k]:-0} + $cpu" | bc -l)
  W_FAKE[$k]=$(echo "${W_FAKE[$k]:-0} + ($f1 - $f0) / $HZ" | bc -l)
  if [ -z "${W_RSS[$k]:-}" ] || (( $(echo "$rss > ${W_RSS[$k]}" | bc -l) )); then W_RSS[$k]=$rss; fi
}
print_workers() {
  [ -n "${W_DOCS[this:1]:-}${W_DOCS[this:2]:-}" ] || return 0
  echo
  echo "transform events/s per worker count: trailscope ingest FILE ($N events) into a \`_bulk\` that answers at once (bench/fake_bulk.py), --no-findings, $( [ -n "${TRAILSCOPE_NO_GZIP:-}" ] && echo "bodies uncompressed (TRAILSCOPE_NO_GZIP)" || echo gzip); $ROUNDS round(s) interleaved, summed"
  echo
  printf '| %-8s | %8s | %10s | %10s | %8s | %15s |\n' workers events/s CPU-s/100k "cores busy" "peak RSS" "fake CPU-s/100k"
  printf '|%s|%s|%s|%s|%s|%s|\n' ---------- ---------- ------------ ------------ ---------- -----------------
  local k label
  for w in $WORKERS; do
    for build in before this; do
      k=$build:$w
      [ "${W_DOCS[$k]:-0}" -gt 0 ] || continue
      label=$w; [ "$build" = before ] && label="$w before"
      printf '| %8s | %8.0f | %10.2f | %10.2f | %4.0f MiB | %15.2f |\n' "$label" "$(echo "${W_DOCS[$k]} / ${W_SECS[$k]}" | bc -l)" \
        "$(echo "${W_CPU[$k]} * 100000 / ${W_DOCS[$k]}" | bc -l)" "$(echo "${W_CPU[$k]} / ${W_SECS[$k]}" | bc -l)" \
        "${W_RSS[$k]}" "$(echo "${W_FAKE[$k]} * 100000 / ${W_DOCS[$k]}" | bc -l)"
    done
  done
  [ -z "$BEFORE_BIN" ] || echo "(\"before\": $BEFORE_BIN)"
}
if ! skipped workers; then
  [ -x "$BIN" ] || { log "no trailscope binary at $BIN"; exit 1; }
  for round in $(seq 1 "$ROUNDS"); do
    log "workers: round $round of $ROUNDS"
    for w in $WORKERS; do
      [ -z "$BEFORE_BIN" ] || run_workers "$w" before
      run_workers "$w"
    done
  done
fi
if [ "$ONLY" = workers ]; then
  print_workers
  exit 0
fi

scripts/stack.sh node-up bench "$OS_PORT" "$OS_TRANSPORT" 768m
OS_PID=$(cat "$CACHE/run/node-bench.pid")

MOTO_PID=
stop_moto() { if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi; }
trap stop_moto EXIT
if ! skipped forward || ! skipped python; then
  [ -x "$CACHE/venv/bin/moto_server" ] || scripts/stack.sh up >/dev/null
  "$CACHE/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$WORK/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 60); do curl -fsS "$MOTO_URL/moto-api/" >/dev/null 2>&1 && break; sleep 0.5; done
fi

BODIES=$WORK/bodies-$N.bin
"$BODIES_BIN" "$CORPUS" "$BODIES" "$PREFIX" "$BATCH_EVENTS"

"$BIN" setup --opensearch-url "$OS_URL" --index-prefix "$PREFIX" > /dev/null
if ! skipped forward || ! skipped python; then
  log "loading $N events into moto (log group bench)"
  "$CACHE/venv/bin/python" bench/load_moto.py --endpoint-url "$MOTO_URL" --log-group bench "$CORPUS"
fi

# --- measuring ------------------------------------------------------------------------------------
clean() {
  curl -fsS -X DELETE "$OS_URL/${PREFIX}*,${PY_PREFIX}*?expand_wildcards=all" >/dev/null || true
  sleep 1
}
count() {
  curl -fsS -X POST "$OS_URL/$1*/_refresh" >/dev/null
  curl -fsS "$OS_URL/$1*/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}
declare -A EPS CPU OSCPU RSS DOCS SECS MOTOCPU

# run NAME PREFIX COMMAND...: runs it under /usr/bin/time -v on an empty node.
run() {
  local name=$1 prefix=$2; shift 2
  clean
  local os0 moto0=0 t0 t1 os1 moto1=0
  os0=$(ticks "$OS_PID"); [ -n "$MOTO_PID" ] && moto0=$(ticks "$MOTO_PID")
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$WORK/$name.time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" \
    || { log "$name failed:"; tail -5 "$WORK/$name.err" >&2; }
  t1=$(date +%s.%N)
  os1=$(ticks "$OS_PID"); [ -n "$MOTO_PID" ] && moto1=$(ticks "$MOTO_PID")
  local docs secs eps cpu rss oscpu motocpu
  docs=$(count "$prefix")
  secs=$(echo "$t1 - $t0" | bc -l)
  eps=$(echo "$docs / $secs" | bc -l)
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$WORK/$name.time")
  rss=$(awk -F': ' '/Maximum resident/ {print $2 / 1024}' "$WORK/$name.time")
  oscpu=$(echo "($os1 - $os0) / $HZ" | bc -l)
  motocpu=$(echo "($moto1 - $moto0) / $HZ" | bc -l)
  log "$(printf '%-8s %7d docs in %6.2f s = %7.0f ev/s; CPU %.2f s (OpenSearch %.2f s, moto %.2f s); RSS %.0f MiB' \
    "$name" "$docs" "$secs" "$eps" "$cpu" "$oscpu" "$motocpu" "$rss")"
  # the rounds summed: events/s over all of them, CPU per event over all of them, the peak RSS
  DOCS[$name]=$(( ${DOCS[$name]:-0} + docs ))
  SECS[$name]=$(echo "${SECS[$name]:-0} + $secs" | bc -l)
  CPU[$name]=$(echo "${CPU[$name]:-0} + $cpu" | bc -l)
  OSCPU[$name]=$(echo "${OSCPU[$name]:-0} + $oscpu" | bc -l)
  MOTOCPU[$name]=$(echo "${MOTOCPU[$name]:-0} + $motocpu" | bc -l)
  EPS[$name]=$(echo "${DOCS[$name]} / ${SECS[$name]}" | bc -l)
  if [ -z "${RSS[$name]:-}" ] || (( $(echo "$rss > ${RSS[$name]}" | bc -l) )); then RSS[$name]=$rss; fi
}

COMMON=(--opensearch-url "$OS_URL" --index-prefix "$PREFIX" --concurrency "$CONCURRENCY"
        --batch-events "$BATCH_EVENTS" --dead-letter-file "$WORK/dead-letters.ndjson")
# A fresh node indexes its first documents slowly (JIT, mappings, index creation): warm it up with
# one untimed pass of the ceiling client.
if [ "${BENCH_WARMUP:-1}" != 0 ]; then
  log "warm-up: one untimed pass of the raw ceiling client"
  clean
  python3 bench/ceiling.py "$OS_URL" "$BODIES" "$CONCURRENCY" > /dev/null
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS"
  skipped ceiling || run ceiling "$PREFIX" python3 bench/ceiling.py "$OS_URL" "$BODIES" "$CONCURRENCY"
  skipped ingest || run ingest "$PREFIX" "$BIN" ingest "${COMMON[@]}" "$CORPUS"
  if ! skipped forward; then
    rm -f "$WORK/checkpoint.json"
    run forward "$PREFIX" env AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
      "$BIN" forward --once --endpoint-url "$MOTO_URL" --region us-east-1 --log-group bench \
      --checkpoint-file "$WORK/checkpoint.json" "${COMMON[@]}"
  fi
  skipped python || run python "$PY_PREFIX" "$CACHE/bench-venv/bin/python" bench/forwarder.py \
    --endpoint-url "$MOTO_URL" --log-group bench --opensearch-url "$OS_URL" --index-prefix "$PY_PREFIX" \
    --chunk-size "$BATCH_EVENTS"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
clean

# start-up: `trailscope --version` (process start alone), and ingest of a one-event file end to
# end (start, connection, template check, one bulk request; its index exists: the first run makes
# it, then the event is a duplicate), best of 5 each.
head -n 1 "$CORPUS" > "$WORK/one.ndjson"
"$BIN" ingest "${COMMON[@]}" "$WORK/one.ndjson" >/dev/null 2>&1 || true
best_ms() {
  for _ in 1 2 3 4 5; do
    s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    echo $(( (e - s) / 1000000 ))
  done | sort -n | head -1
}
STARTUP_VERSION=$(best_ms "$BIN" --version)
STARTUP=$(best_ms "$BIN" ingest "${COMMON[@]}" "$WORK/one.ndjson")
clean

# --- the table ------------------------------------------------------------------------------------
CEIL=${EPS[ceiling]:-0}
print_workers
echo
echo "trailscope benchmark: $N events ($(echo "$BYTES / 1000000" | bc) MB NDJSON, $(( BYTES / N )) B/event), batch $BATCH_EVENTS events / 5 MiB, concurrency $CONCURRENCY, gzip"
echo "$(nproc) cores; load average before: $LOAD_BEFORE, after: $LOAD_AFTER; $ROUNDS round(s), summed"
echo
printf '| %-52s | %8s | %9s | %10s | %11s | %12s | %8s | %9s |\n' run events/s "% ceiling" "CPU-s/100k" "OS CPU-s/100k" "CPU % of OS" "peak RSS" "docs/round"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..54})" ---------- ----------- ------------ --------------- -------------- ---------- -----------
row() {
  local name=$1 label=$2
  [ -n "${EPS[$name]:-}" ] || return 0
  local per=$(echo "100000 / ${DOCS[$name]}" | bc -l)
  local cpu100=$(echo "${CPU[$name]} * $per" | bc -l) os100=$(echo "${OSCPU[$name]} * $per" | bc -l)
  local pct="-"
  (( $(echo "$CEIL > 0" | bc -l) )) && pct=$(printf '%.0f%%' "$(echo "100 * ${EPS[$name]} / $CEIL" | bc -l)")
  local share=$(printf '%.1f%%' "$(echo "100 * $cpu100 / $os100" | bc -l)")
  printf '| %-52s | %8.0f | %9s | %10.2f | %13.2f | %12s | %4.0f MiB | %9d |\n' "$label" "${EPS[$name]}" "$pct" \
    "$cpu100" "$os100" "$share" "${RSS[$name]}" "$(( ${DOCS[$name]} / ROUNDS ))"
}
row ceiling "1. raw ceiling (pre-built bodies, minimal client)"
row ingest "2a. trailscope ingest FILE"
row forward "2b. trailscope forward: moto -> OpenSearch"
row python "3. BASELINE Python (boto3, ua-parser, helpers.bulk)"
echo
echo "CPU-s/100k: the client process's user+system CPU (for 'raw ceiling': the minimal Python client)."
[ -n "${MOTOCPU[forward]:-}" ] && printf 'moto (the CloudWatch Logs API) used %.1f CPU-s per round during forward, %.1f during the Python baseline: not counted above.\n' "$(echo "${MOTOCPU[forward]} / $ROUNDS" | bc -l)" "$(echo "${MOTOCPU[python]:-0} / $ROUNDS" | bc -l)"
echo "start-up, best of 5: trailscope --version ${STARTUP_VERSION} ms; ingest of a 1-event file end to end (start, template check, one bulk request) ${STARTUP} ms"

# --- Lambda ---------------------------------------------------------------------------------------
if ! skipped lambda; then
  LAMBDA_SKIP=$SKIP
  if ! command -v node >/dev/null || [ ! -s "${BENCH_BLUEPRINT:-$CACHE/blueprint/LogsToElasticsearch-v1.1.2/index.js}" ]; then
    echo "NOTE: no node or no copy of the AWS blueprint's code (BENCH_BLUEPRINT, see bench/lambda_bench.sh): trailscope's Lambda alone"
    LAMBDA_SKIP="$SKIP,blueprint"
  fi
  BENCH_NO_BUILD=1 BENCH_BIN="$BIN" BENCH_SKIP="$LAMBDA_SKIP" bench/lambda_bench.sh
fi

#!/usr/bin/env bash
# Checks what a new user meets first (issue 20), against the running local stack, in ~1 minute:
#   - scripts/demo.sh, run twice under a log group, index prefix and state folder of its own: the
#     first run reads the 301 sample events, the second reads 0 and says it is the checkpoint;
#   - the audit command the demo prints runs as printed and shows both "Used but not granted"
#     and "Granted but never used" (examples/vendor-policy.json against the sample's vendor key);
#   - scripts/stack.sh status knows every port the scripts use (the README's table), and `down`
#     stops the services of its cache, by pid file and by port, and leaves other caches' alone.
# It deletes its indices and state afterwards. Needs the stack up and trailscope built (debug).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

eval "$(scripts/stack.sh env)"
ID=first-run-$$-$(date +%s)
export DEMO_LOG_GROUP=check/$ID DEMO_INDEX_PREFIX=$ID- DEMO_STATE_DIR
# The binary the integration tests run (built by `cargo test`); see DEMO_TRAILSCOPE in demo.sh.
export DEMO_TRAILSCOPE=${CARGO_TARGET_DIR:-target}/debug/trailscope
[ -x "$DEMO_TRAILSCOPE" ] || { echo "check-first-run: build trailscope first (cargo test --no-run)" >&2; exit 1; }
DEMO_STATE_DIR=$(mktemp -d)
OUT=$DEMO_STATE_DIR/out
cleanup() {
  curl -fsS -X DELETE "$TRAILSCOPE_TEST_OPENSEARCH_URL/$DEMO_INDEX_PREFIX*?expand_wildcards=all" >/dev/null 2>&1 || true
  curl -fsS -X DELETE "$TRAILSCOPE_TEST_OPENSEARCH_URL/_index_template/trailscope-${DEMO_INDEX_PREFIX%-}" >/dev/null 2>&1 || true
  "$TRAILSCOPE_TEST_VENV/bin/python" -c 'import boto3, sys; boto3.client("logs", endpoint_url=sys.argv[1],
    region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    ).delete_log_group(logGroupName=sys.argv[2])' "$TRAILSCOPE_TEST_CLOUDWATCH_URL" "$DEMO_LOG_GROUP" 2>/dev/null || true
  rm -rf "$DEMO_STATE_DIR"
}
trap cleanup EXIT

# Each step says when it started (seconds into the check), so a slow step shows in a CI log.
step() { echo "== $1 (at ${SECONDS} s)"; }
fail() { echo "check-first-run: FAILED: $*" >&2; [ -f "$OUT" ] && tail -40 "$OUT" >&2; exit 1; }
expect() { grep -qF -- "$1" "$OUT" || fail "the output lacks: $1"; }

step "demo, first run"
scripts/demo.sh > "$OUT" 2>&1 || fail "scripts/demo.sh exited $?"
expect '"read":301'
expect "run the demo again and it reads"
expect "0 events (nothing new since), which is the checkpoint working"

step "demo, second run: reads nothing, and says why"
scripts/demo.sh > "$OUT" 2>&1 || fail "scripts/demo.sh exited $?"
expect '"read":0'
expect "This run read 0 events: the checkpoint"
expect "301 CloudTrail events indexed in $DEMO_INDEX_PREFIX*"

step "the audit the demo suggests"
AUDIT=$(grep -E '^ +[^ ]*trailscope audit --access-key ' "$OUT" | head -1)
[ -n "$AUDIT" ] || fail "the demo prints no audit command"
# Runs it as printed (the words of the line; no shell expansion in it).
read -r -a WORDS <<< "$AUDIT"
"${WORDS[@]}" > "$OUT" 2>&1 || fail "${WORDS[*]} exited $?"
expect "Used but not granted (1)"
expect "iam:ListUsers"
expect "Granted but never used (1)"
expect "s3:*"

step "stack.sh status knows every port"
scripts/stack.sh status > "$OUT"
for port in "${TRAILSCOPE_OS_PORT:-19200}" "${TRAILSCOPE_SECURED_PORT:-19210}" 19230 \
    "${BENCH_OS_PORT:-19240}" "${TRAILSCOPE_MOTO_PORT:-15000}" "${BENCH_MOTO_PORT:-15040}"; do
  grep -q ":$port\b\|port $port)" "$OUT" || fail "stack.sh status does not mention port $port"
done

step "stack.sh down stops what its cache started (by pid file, by port) and nothing else"
# Two moto servers of a private cache on free ports: one recorded in a pid file like the stack's,
# one without, like bench.sh's. The running stack (another cache) must survive the `down`.
PRIV=$DEMO_STATE_DIR/stack
mkdir -p "$PRIV/run"
ln -s "$(cd "$TRAILSCOPE_TEST_VENV" && pwd -P)" "$PRIV/venv"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
P_STACK=$(free_port); P_BENCH=$(free_port)
"$PRIV/venv/bin/moto_server" -H 127.0.0.1 -p "$P_STACK" > /dev/null 2>&1 &
M_STACK=$!; echo "$M_STACK" > "$PRIV/run/moto.pid"
"$PRIV/venv/bin/moto_server" -H 127.0.0.1 -p "$P_BENCH" > /dev/null 2>&1 &
M_BENCH=$!
trap 'kill "$M_STACK" "$M_BENCH" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$P_STACK/moto-api/" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$P_BENCH/moto-api/" >/dev/null 2>&1 && break
  sleep 0.5
done
private() {
  TRAILSCOPE_CACHE=$PRIV TRAILSCOPE_MOTO_PORT=$P_STACK BENCH_MOTO_PORT=$P_BENCH \
    TRAILSCOPE_OS_PORT=$(free_port) TRAILSCOPE_SECURED_PORT=$(free_port) BENCH_OS_PORT=$(free_port) \
    scripts/stack.sh "$@"
}
private status > "$OUT"
expect "moto: running on 127.0.0.1:$P_STACK (pid $M_STACK)"
expect "moto-bench: running on 127.0.0.1:$P_BENCH (pid $M_BENCH)"
private down > "$OUT" 2>&1
for pid in "$M_STACK" "$M_BENCH"; do
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  ! kill -0 "$pid" 2>/dev/null || fail "stack.sh down left pid $pid running"
done
curl -fsS "$TRAILSCOPE_TEST_CLOUDWATCH_URL/moto-api/" >/dev/null && curl -fsS "$TRAILSCOPE_TEST_OPENSEARCH_URL" >/dev/null \
  || fail "stack.sh down of another cache stopped the running stack"

echo "check-first-run: ok"

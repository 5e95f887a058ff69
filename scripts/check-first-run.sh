#!/usr/bin/env bash
# Checks what a new user meets first (issue 20), against the running local stack, in ~1 minute:
#   - scripts/demo.sh, run twice under a log group, index prefix and state folder of its own: the
#     first run reads the 301 sample events, the second reads 0 and says it is the checkpoint;
#   - the audit command the demo prints runs as printed and shows both "Used but not granted"
#     and "Granted but never used" (examples/vendor-policy.json against the sample's vendor key);
#   - scripts/stack.sh status knows every port the scripts use (the README's table).
# It deletes its indices and state afterwards. Needs the stack up and trailscope built (debug).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

eval "$(scripts/stack.sh env)"
ID=first-run-$$-$(date +%s)
export DEMO_LOG_GROUP=check/$ID DEMO_INDEX_PREFIX=$ID- DEMO_STATE_DIR
DEMO_STATE_DIR=$(mktemp -d)
OUT=$DEMO_STATE_DIR/out
cleanup() {
  curl -fsS -X DELETE "$TRAILSCOPE_TEST_OPENSEARCH_URL/$DEMO_INDEX_PREFIX*?expand_wildcards=all" >/dev/null 2>&1 || true
  curl -fsS -X DELETE "$TRAILSCOPE_TEST_OPENSEARCH_URL/_index_template/trailscope-${DEMO_INDEX_PREFIX%-}" >/dev/null 2>&1 || true
  rm -rf "$DEMO_STATE_DIR"
}
trap cleanup EXIT

fail() { echo "check-first-run: FAILED: $*" >&2; [ -f "$OUT" ] && tail -40 "$OUT" >&2; exit 1; }
expect() { grep -qF -- "$1" "$OUT" || fail "the output lacks: $1"; }

echo "== demo, first run"
scripts/demo.sh > "$OUT" 2>&1 || fail "scripts/demo.sh exited $?"
expect '"read":301'
expect "run the demo again and it reads"
expect "0 events (nothing new since), which is the checkpoint working"

echo "== demo, second run: reads nothing, and says why"
scripts/demo.sh > "$OUT" 2>&1 || fail "scripts/demo.sh exited $?"
expect '"read":0'
expect "This run read 0 events: the checkpoint"
expect "301 CloudTrail events indexed in $DEMO_INDEX_PREFIX*"

echo "== the audit the demo suggests"
AUDIT=$(grep -E '^ +[^ ]*trailscope audit --access-key ' "$OUT" | head -1)
[ -n "$AUDIT" ] || fail "the demo prints no audit command"
# Runs it as printed (the words of the line; no shell expansion in it).
read -r -a WORDS <<< "$AUDIT"
"${WORDS[@]}" > "$OUT" 2>&1 || fail "${WORDS[*]} exited $?"
expect "Used but not granted (1)"
expect "iam:ListUsers"
expect "Granted but never used (1)"
expect "s3:*"

echo "== stack.sh status knows every port"
scripts/stack.sh status > "$OUT"
for port in 19200 19210 19230 19240 15000 15040; do
  grep -q ":$port\b\|port $port)" "$OUT" || fail "stack.sh status does not mention port $port"
done

echo "check-first-run: ok"

#!/usr/bin/env bash
# What OpenSearch pays per document (issue #23): CPU and index size per 100k trailscope documents
# against the same records indexed as they came (dynamic mapping off), and against trailscope
# documents with only one copy of each payload (text or flat_object), side by side on one node,
# rounds interleaved (bench/doc_cost.py says how it measures; README "Benchmarks" has figures).
#
#   scripts/doc-cost.sh                       100,000 records, 3 rounds
#   DOC_COST_EVENTS=N DOC_COST_ROUNDS=R scripts/doc-cost.sh
#   DOC_COST_BODIES_BIN=PATH                  a bench_bodies built before (else: cargo build --example)
#
# Starts its own node (scripts/stack.sh node-up doccost 19260 19360 768m) and stops it at the end
# (its data stays under .cache/nodes/doccost, its indices are deleted), so nothing else on the
# machine's stack disturbs it or is disturbed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=${DOC_COST_EVENTS:-100000}
ROUNDS=${DOC_COST_ROUNDS:-3}
PORT=${DOC_COST_PORT:-19260}
TRANSPORT=${DOC_COST_TRANSPORT_PORT:-19360}
WORK=$ROOT/.cache/doc-cost
mkdir -p "$WORK"
log() { printf '[doc-cost] %s\n' "$*" >&2; }

BODIES_BIN=${DOC_COST_BODIES_BIN:-}
if [ -z "$BODIES_BIN" ]; then
  log "building the body writer (examples/bench_bodies.rs)"
  cargo build --quiet --example bench_bodies
  BODIES_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/bench_bodies
fi

CORPUS=$WORK/events-$N.ndjson
# A fixed day: the documents do not depend on when this runs.
[ -s "$CORPUS" ] || python3 bench/make_corpus.py "$N" "$CORPUS" --day 2026-11-01
# Documents with both payload copies: doc_cost.py derives its other shapes from them.
TRAILSCOPE_PAYLOADS=both "$BODIES_BIN" "$CORPUS" "$WORK/bodies-$N.bin" doccost-ts- 5000

scripts/stack.sh node-up doccost "$PORT" "$TRANSPORT" 768m
trap 'scripts/stack.sh node-down doccost' EXIT
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/doc_cost.py "http://127.0.0.1:$PORT" "$CORPUS" "$WORK/bodies-$N.bin" \
  mappings/index-template.json "$ROUNDS" 2
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# The main job end to end on a local default: start the local stack (OpenSearch + a CloudWatch Logs
# API), load the sample CloudTrail events of examples/ into a log group, forward them with
# trailscope into OpenSearch, show what was indexed, and say what to try next.
#
# A first run builds trailscope (about 9 of the demo's ~11 minutes on a 2-core machine, as
# reported in issue 20; cargo shows its progress; up to ~3 GB under target/) and installs
# OpenSearch and moto into .cache/ (~0.4 GB); a second run takes seconds and reads 0 new events:
# forward continues from its checkpoint.
#
#   DEMO_LOG_GROUP, DEMO_INDEX_PREFIX, DEMO_STATE_DIR   another log group, index prefix or folder
#                                                       for the checkpoint and dead letters
#                                                       (scripts/check-first-run.sh uses them)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GROUP=${DEMO_LOG_GROUP:-trailscope-demo/cloudtrail}
PREFIX=${DEMO_INDEX_PREFIX:-cloudtrail-}
STATE=${DEMO_STATE_DIR:-.cache/demo}
CHECKPOINT=$STATE/checkpoint.json
DEAD_LETTERS=$STATE/dead-letters.ndjson
# The sample's vendor key, and the policy it was given (examples/vendor-policy.json): the audit
# shows what it used without a grant and what it was granted and never used.
VENDOR_KEY=AKIAVENDOR00EXAMPLE1

scripts/stack.sh up
eval "$(scripts/stack.sh env)"
mkdir -p "$STATE"

TARGET=${CARGO_TARGET_DIR:-target}
if [ -n "${DEMO_TRAILSCOPE:-}" ]; then
  # scripts/check-first-run.sh passes the binary `cargo test` built: a `cargo build` here would
  # compile it again (without dev-dependencies the features of some crates differ) and replace it
  # under the integration tests running beside the check.
  echo "== using $DEMO_TRAILSCOPE (DEMO_TRAILSCOPE)"
  TRAILSCOPE=$DEMO_TRAILSCOPE
else
  if [ -x "$TARGET/debug/trailscope" ]; then
    echo "== building trailscope (already built once: only what changed)"
  else
    echo "== building trailscope: a first build takes minutes (about 9 on 2 cores) and up to ~3 GB in $TARGET/"
  fi
  # Not --quiet: cargo's progress (a bar on a terminal, a line per crate otherwise) shows it works.
  cargo build --bin trailscope
  TRAILSCOPE=$TARGET/debug/trailscope
fi

echo "== loading examples/cloudtrail-sample.ndjson into CloudWatch Logs ($GROUP)"
"$TRAILSCOPE_TEST_VENV/bin/python" scripts/load_samples.py --endpoint-url "$TRAILSCOPE_TEST_CLOUDWATCH_URL" \
  --log-group "$GROUP" --recreate examples/cloudtrail-sample.ndjson

echo "== trailscope setup"
"$TRAILSCOPE" setup --opensearch-url "$TRAILSCOPE_TEST_OPENSEARCH_URL" --index-prefix "$PREFIX"

echo "== trailscope forward --once"
if [ -s "$CHECKPOINT" ]; then
  echo "   (a checkpoint from an earlier run is in $CHECKPOINT: forward continues after what it"
  echo "    delivered then, so it reads 0 events now; that is the checkpoint working)"
fi
SUMMARY=$(AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  "$TRAILSCOPE" forward --once --log-group "$GROUP" --opensearch-url "$TRAILSCOPE_TEST_OPENSEARCH_URL" \
  --endpoint-url "$TRAILSCOPE_TEST_CLOUDWATCH_URL" --index-prefix "$PREFIX" \
  --checkpoint-file "$CHECKPOINT" --dead-letter-file "$DEAD_LETTERS")
echo "$SUMMARY"
READ=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["read"])' "$SUMMARY")

echo "== what is in OpenSearch now"
python3 scripts/show_indexed.py "$TRAILSCOPE_TEST_OPENSEARCH_URL" "$PREFIX*"

PREFIX_FLAG=
[ "$PREFIX" = cloudtrail- ] || PREFIX_FLAG=" --index-prefix $PREFIX"
cat <<EOF

== what next
EOF
if [ "$READ" = 0 ]; then
  cat <<EOF
This run read 0 events: the checkpoint ($CHECKPOINT) says this log group was read and delivered
up to the last run, and nothing new arrived since. Nothing is missing: the events above are in
OpenSearch. To read the group from its start again: rm $CHECKPOINT (the events keep their IDs,
so OpenSearch counts them as duplicates, never twice).

EOF
else
  cat <<EOF
forward read $READ events and saved a checkpoint in $CHECKPOINT: run the demo again and it reads
0 events (nothing new since), which is the checkpoint working, not a failure.

EOF
fi
cat <<EOF
1. What did the vendor's access key do, and does it match the policy it was given?
   $TRAILSCOPE audit --access-key $VENDOR_KEY --since 3d --policy examples/vendor-policy.json --opensearch-url $TRAILSCOPE_TEST_OPENSEARCH_URL$PREFIX_FLAG
   ("Used but not granted": iam:ListUsers; "Granted but never used": s3:*)
2. The dashboards (needs Docker with Compose): OpenSearch and Dashboards of docker-compose.yml,
   then the sample into that OpenSearch (9200):
   TRAILSCOPE_LOG_GROUPS=unused AWS_REGION=us-east-1 docker compose up -d --build opensearch dashboards setup
   $TRAILSCOPE ingest --opensearch-url http://127.0.0.1:9200 examples/cloudtrail-sample.ndjson
   and open http://127.0.0.1:5601 ("CloudTrail overview", "Identity activity"; the sample file's
   events are of 2026-01-15: set the time picker to that day).
3. Your own CloudTrail log group: trailscope forward --help, and examples/forward.toml.
4. Stop the local stack: scripts/stack.sh down
EOF

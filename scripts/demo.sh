#!/usr/bin/env bash
# The main job end to end on a local default: start the local stack (OpenSearch + a CloudWatch Logs
# API), load the sample CloudTrail events of examples/ into a log group, forward them with
# trailscope into OpenSearch, and show what was indexed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/stack.sh up
eval "$(scripts/stack.sh env)"
GROUP=trailscope-demo/cloudtrail

echo "== building trailscope"
cargo build --quiet
TRAILSCOPE=target/debug/trailscope

echo "== loading examples/cloudtrail-sample.ndjson into CloudWatch Logs ($GROUP)"
"$TRAILSCOPE_TEST_VENV/bin/python" scripts/load_samples.py --endpoint-url "$TRAILSCOPE_TEST_CLOUDWATCH_URL" \
  --log-group "$GROUP" --recreate examples/cloudtrail-sample.ndjson

echo "== trailscope setup"
"$TRAILSCOPE" setup --opensearch-url "$TRAILSCOPE_TEST_OPENSEARCH_URL"

echo "== trailscope forward --once"
AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  "$TRAILSCOPE" forward --once --log-group "$GROUP" --opensearch-url "$TRAILSCOPE_TEST_OPENSEARCH_URL" \
  --endpoint-url "$TRAILSCOPE_TEST_CLOUDWATCH_URL" --dead-letter-file .cache/demo-dead-letters.ndjson

echo "== what is in OpenSearch now"
python3 scripts/show_indexed.py "$TRAILSCOPE_TEST_OPENSEARCH_URL" "cloudtrail-*"

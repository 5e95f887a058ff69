#!/usr/bin/env bash
# Runs every check and test of trailscope against the real local stack (started if needed):
# formatting, clippy with warnings as errors, unit and integration tests.
# The stack stays up afterwards so the next run is fast; `scripts/stack.sh down` stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A clean CI build of this crate needs a few GB under target/; say how much there is so that a
# full disk shows up as such rather than as a linker crash.
echo "== disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free where target/ is built"
# Incremental caches only help a second build; a one-shot CI run would just store them.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

scripts/stack.sh up
eval "$(scripts/stack.sh env)"

# The compatibility matrix: the core integration tests run again, at the end, against the newest
# OpenSearch 3.x (Maven Central's integ-test-zip, which needs Java 21+: the Temurin 25 JDK here).
# Its node starts now, in the background, while the build runs.
OS3_VERSION=${TRAILSCOPE_OS3_VERSION:-3.6.0}
OS3_PORT=${TRAILSCOPE_OS3_PORT:-19250}
OS3_JAVA=${TRAILSCOPE_OS3_JAVA_HOME:-$(ls -d /usr/lib/jvm/temurin-2[1-9]* /usr/lib/jvm/java-2[1-9]-* 2>/dev/null | head -1 || true)}
os3_log=.cache/run/os3-up.log
if [ -n "$OS3_JAVA" ]; then
  OPENSEARCH_VERSION=$OS3_VERSION OPENSEARCH_JAVA_HOME=$OS3_JAVA \
    scripts/stack.sh node-up os3 "$OS3_PORT" $((OS3_PORT + 100)) 512m > "$os3_log" 2>&1 &
  os3_pid=$!
elif [ -n "${CI:-}" ]; then
  echo "error: no Java 21+ under /usr/lib/jvm for OpenSearch $OS3_VERSION (set TRAILSCOPE_OS3_JAVA_HOME)" >&2
  exit 1
fi

echo "== module graph: no cycle (scripts/module-cycles.py)"
python3 scripts/module-cycles.py
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== GeoIP test database (npm, into .cache/geoip)"
scripts/geoip-db.sh
echo "== cargo test"
rm -rf target/fault-rows
cargo test --all-targets
scripts/check-first-run.sh   # the demo twice (checkpoint explained), the audit it prints, stack.sh status ports

# Tests on data written by others (../shared/corpus, beside the checkout in CI and development
# sessions, not in a user's clone) are ignored in the run above, with that reason, and run here.
echo "== tests on the shared corpus (../shared/corpus)"
if [ -d ../shared/corpus ]; then
  cargo test --lib --tests shared_corpus -- --ignored
elif [ -n "${CI:-}" ]; then
  echo "error: ../shared/corpus is missing beside the checkout: CI expects it" >&2
  exit 1
else
  echo "SKIPPED: no ../shared/corpus beside this checkout (the tests named shared_corpus_* stay ignored)"
fi

if [ -n "${os3_pid:-}" ]; then
  echo "== OpenSearch $OS3_VERSION: the core integration tests again"
  wait "$os3_pid" || { cat "$os3_log"; exit 1; }
  TRAILSCOPE_TEST_OPENSEARCH_URL=http://127.0.0.1:$OS3_PORT cargo test \
    --test forward --test ingest --test sink --test audit --test dashboards --test retention
  scripts/stack.sh node-down os3
else
  echo "== OpenSearch $OS3_VERSION: SKIPPED (no Java 21+ under /usr/lib/jvm; set TRAILSCOPE_OS3_JAVA_HOME)"
fi

echo "== disk: target/ is $(du -sh target | cut -f1), $(df -h --output=avail . | tail -1 | tr -d ' ') free"

# The fault suite (tests/faults.rs) leaves one row per scenario beside the build.
if [ -d target/fault-rows ]; then
  echo "== fault suite"
  echo "| fault | sent | indexed | duplicated | dead-lettered | lost | note |"
  echo "|---|---|---|---|---|---|---|"
  cat target/fault-rows/*.md
fi

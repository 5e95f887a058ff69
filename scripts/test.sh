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

mkdir -p .cache/run
# The nodes start in the background while fmt and clippy run (the JVM start is ~30 s of waiting).
# One after the other: both may fetch with Maven into the same local repository on a fresh machine.
# The compatibility matrix: the core integration tests run again against the newest OpenSearch 3.x
# (Maven Central's integ-test-zip, which needs Java 21+: the Temurin 25 JDK here).
OS3_VERSION=${TRAILSCOPE_OS3_VERSION:-3.6.0}
OS3_PORT=${TRAILSCOPE_OS3_PORT:-19250}
OS3_JAVA=${TRAILSCOPE_OS3_JAVA_HOME:-$(ls -d /usr/lib/jvm/temurin-2[1-9]* /usr/lib/jvm/java-2[1-9]-* 2>/dev/null | head -1 || true)}
if [ -z "$OS3_JAVA" ] && [ -n "${CI:-}" ]; then
  echo "error: no Java 21+ under /usr/lib/jvm for OpenSearch $OS3_VERSION (set TRAILSCOPE_OS3_JAVA_HOME)" >&2
  exit 1
fi
stack_log=.cache/run/stack-up.log os3_log=.cache/run/os3-up.log
rm -f "$stack_log.rc" "$os3_log.rc"
(
  # Each writes its exit status, success or not: the waits below end either way.
  rc=0; scripts/stack.sh up > "$stack_log" 2>&1 || rc=$?; echo $rc > "$stack_log.rc"
  if [ -n "$OS3_JAVA" ] && [ $rc = 0 ]; then
    # A fresh data folder each run: the node holds nothing worth keeping, and a document left in
    # its translog by a hand-made experiment would be replayed, and could crash it, at every start.
    scripts/stack.sh node-down os3 > /dev/null 2>&1 || true
    rm -rf .cache/nodes/os3/data
    OPENSEARCH_VERSION=$OS3_VERSION OPENSEARCH_JAVA_HOME=$OS3_JAVA \
      scripts/stack.sh node-up os3 "$OS3_PORT" $((OS3_PORT + 100)) 512m > "$os3_log" 2>&1 || rc=$?
    echo $rc > "$os3_log.rc"
  fi
) &

echo "== module graph: no cycle (scripts/module-cycles.py)"
python3 scripts/module-cycles.py
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== GeoIP test database (npm, into .cache/geoip)"
scripts/geoip-db.sh

echo "== local stack (started in the background above)"
while [ ! -s "$stack_log.rc" ]; do sleep 1; done
cat "$stack_log"
[ "$(cat "$stack_log.rc")" = 0 ] || exit 1
eval "$(scripts/stack.sh env)"

# Tests on data written by others (../shared/corpus, beside the checkout in CI and development
# sessions, not in a user's clone) are ignored by a plain `cargo test`, with that reason, and run here.
corpus=()
if [ -d ../shared/corpus ]; then
  corpus=(--ignored shared_corpus)
elif [ -n "${CI:-}" ]; then
  echo "error: ../shared/corpus is missing beside the checkout: CI expects it" >&2
  exit 1
else
  echo "SKIPPED: no ../shared/corpus beside this checkout (the tests named shared_corpus_* stay ignored)"
fi
matrix=()
if [ -n "$OS3_JAVA" ]; then
  # Waits for the 3.x node (its own job: the others run meanwhile); a node that failed to start
  # fails these jobs with its log.
  gate="while [ ! -s $os3_log.rc ]; do sleep 1; done; [ \$(cat $os3_log.rc) = 0 ] || { cat $os3_log; exit 1; }"
  matrix=(--matrix os3 "http://127.0.0.1:$OS3_PORT" forward,ingest,sink,audit,dashboards,retention "$gate")
else
  echo "== OpenSearch $OS3_VERSION: SKIPPED (no Java 21+ under /usr/lib/jvm; set TRAILSCOPE_OS3_JAVA_HOME)"
fi

# Every test binary of `cargo test --all-targets`, the shared-corpus tests, the 3.x matrix and the
# first-run check (the demo twice), a few at a time: they mostly wait on the servers.
echo "== tests (scripts/run-tests.py)"
rm -rf target/fault-rows
python3 scripts/run-tests.py --jobs "${TRAILSCOPE_TEST_JOBS:-3}" "${corpus[@]}" "${matrix[@]}" \
  --cmd first-run scripts/check-first-run.sh
[ -n "$OS3_JAVA" ] && scripts/stack.sh node-down os3

echo "== disk: target/ is $(du -sh target | cut -f1), $(df -h --output=avail . | tail -1 | tr -d ' ') free"

# The fault suite (tests/faults.rs) leaves one row per scenario beside the build.
if [ -d target/fault-rows ]; then
  echo "== fault suite"
  echo "| fault | sent | indexed | duplicated | dead-lettered | lost | note |"
  echo "|---|---|---|---|---|---|---|"
  cat target/fault-rows/*.md
fi

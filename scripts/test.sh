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

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "== GeoIP test database (npm, into .cache/geoip)"
scripts/geoip-db.sh
echo "== cargo test"
cargo test --all-targets
scripts/check-first-run.sh   # the demo twice (checkpoint explained), the audit it prints, stack.sh status ports

echo "== disk: target/ is $(du -sh target | cut -f1), $(df -h --output=avail . | tail -1 | tr -d ' ') free"

# The fault suite (tests/faults.rs) leaves its table beside the build.
if [ -f target/fault-summary.txt ]; then
  echo "== fault suite"
  cat target/fault-summary.txt
fi

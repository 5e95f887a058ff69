#!/usr/bin/env bash
# The transform (decode + enrich + bulk encode, one thread) of two builds side by side, in one run:
# `benches/pipeline.rs`'s timed pass, the two bench binaries alternating round by round (a busy
# machine slows both alike), and the instructions per event of each (passes=N
# minus passes=0, cachegrind: steady where times are not).
#
#   scripts/transform-ab.sh BENCH_A BENCH_B [ROUNDS]
#
# BENCH_*: bench executables, e.g. target/release/deps/pipeline-<hash> built at two commits
# (`cargo bench --bench pipeline --no-run` prints the path; copy the first one away before
# building the second). From a git worktree set TRAILSCOPE_BENCH_CORPUS to the shared corpus file.
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-5}
PASSES=${TRAILSCOPE_BENCH_PASSES:-3}
export TRAILSCOPE_BENCH_EVENTS=${TRAILSCOPE_BENCH_EVENTS:-100000}
# Only the timed pass: a filter no criterion benchmark matches.
eps() { TRAILSCOPE_BENCH_PASSES=$PASSES "$1" --bench no-criterion-benchmark 2>/dev/null \
  | sed -n 's/.* = \([0-9]*\) events\/s.*/\1/p'; }
declare -a EA EB
for r in $(seq 1 "$ROUNDS"); do
  EA+=("$(eps "$A")"); EB+=("$(eps "$B")")
  echo "round $r: A ${EA[-1]} events/s, B ${EB[-1]} events/s" >&2
done
mean() { printf '%s\n' "$@" | awk '{s += $1} END {printf "%.0f", s / NR}'; }
MA=$(mean "${EA[@]}") MB=$(mean "${EB[@]}")
echo "transform, 1 thread, $TRAILSCOPE_BENCH_EVENTS events, best of $PASSES passes per round, $ROUNDS rounds interleaved:"
echo "  A: mean $MA events/s (${EA[*]})"
echo "  B: mean $MB events/s (${EB[*]})"
echo "  B/A: $(echo "$MB / $MA" | bc -l | cut -c1-5)"
# Instructions (cachegrind, no cache simulation: this machine's perf has no hardware counters) of
# 10,000 events, 2 passes minus 0 passes (the largest count: the bench process, not a child).
if command -v valgrind >/dev/null; then
  instr() { TRAILSCOPE_BENCH_EVENTS=10000 TRAILSCOPE_BENCH_PASSES=$2 valgrind --tool=cachegrind \
    --cache-sim=no --cachegrind-out-file=/dev/null "$1" --bench no-criterion-benchmark 2>&1 >/dev/null \
    | sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d , | sort -n | tail -1; }
  per_event() { echo "($(instr "$1" 2) - $(instr "$1" 0)) / 20000" | bc; }
  IA=$(per_event "$A") IB=$(per_event "$B")
  echo "  instructions per event (cachegrind, 10,000 events, 2 passes minus 0): A $IA, B $IB, B/A $(echo "$IB / $IA" | bc -l | cut -c1-5)"
fi

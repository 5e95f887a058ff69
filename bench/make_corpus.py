#!/usr/bin/env python3
"""Writes N CloudTrail records (NDJSON) for scripts/bench.sh: the shared corpus of real-shaped
records (../shared/corpus/cloudtrail/panther-labs__panther-analysis/rule-test-events.ndjson, 405
records, ~1.3 KB each) replicated, each copy with its own eventID, eventTime and access key (the
same scheme as benches/pipeline.rs). Times start at 00:00:00 UTC of --day (default: yesterday, so
that CloudWatch Logs/moto accepts them) at 3 events a second. Without the corpus,
examples/cloudtrail-sample.ndjson is used and a NOTE says so on stderr.

  make_corpus.py N OUT.ndjson [--day YYYY-MM-DD]
"""
import argparse, datetime, json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TRAILSCOPE_BENCH_CORPUS: from a git worktree, which has no ../shared beside it.
CORPUS = os.environ.get("TRAILSCOPE_BENCH_CORPUS") or os.path.join(
    ROOT, "../shared/corpus/cloudtrail/panther-labs__panther-analysis/rule-test-events.ndjson")
FALLBACK = os.path.join(ROOT, "examples/cloudtrail-sample.ndjson")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--day", default=(datetime.datetime.now(datetime.timezone.utc).date()
                                     - datetime.timedelta(days=1)).isoformat())
    a = ap.parse_args()
    src = CORPUS if os.path.exists(CORPUS) else FALLBACK
    if src is FALLBACK:
        print(f"NOTE: the shared corpus is absent: falling back to {FALLBACK}", file=sys.stderr)
    base = [json.loads(l) for l in open(src) if l.strip()]
    start = int(datetime.datetime.fromisoformat(a.day).replace(tzinfo=datetime.timezone.utc).timestamp())
    size = 0
    with open(a.out, "w") as out:
        for i in range(a.n):
            r = json.loads(json.dumps(base[i % len(base)]))
            r["eventID"] = "7ea15c0e-%04x-4%03x-8%03x-%012x" % ((i >> 16) & 0xFFFF, (i >> 4) & 0xFFF, i & 0xFFF, i)
            if "eventTime" in r:
                t = datetime.datetime.fromtimestamp(start + i // 3, datetime.timezone.utc)
                r["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
            u = r.get("userIdentity")
            if isinstance(u, dict) and "accessKeyId" in u:
                u["accessKeyId"] = "AKIABENCH%011d" % (i % 5000)
            line = json.dumps(r, separators=(",", ":"))
            size += len(line) + 1
            out.write(line + "\n")
    print(f"{a.n} events from {os.path.relpath(src, ROOT)}, {size / 1e6:.1f} MB, "
          f"{size / a.n:.0f} B/event", file=sys.stderr)


main()

#!/usr/bin/env python3
"""Runs the test binaries `cargo test --all-targets` would run, several at a time.

`cargo test` runs one test binary after another; ours spend most of their time waiting on OpenSearch,
moto or a process they started (the fault suite alone is ~3 minutes of waiting), so on a 2-core CI
machine running a few binaries side by side cuts the wall time without starving any of them. Every
binary is found from cargo's own build output, so a new tests/*.rs file runs without being listed here.

Each job's output is kept whole and printed when it ends (libtest's format, as cargo prints it), then a
table of job times; the exit status is 101 if any job failed, as cargo's.

  scripts/run-tests.py [--jobs N] [--ignored FILTER] [--matrix NAME URL TESTS GATE] [--cmd NAME SHELL]...

--ignored FILTER   also run `<binary> --ignored FILTER` for the lib and every tests/*.rs binary
--matrix NAME URL TESTS GATE
                   run the tests/*.rs binaries named in TESTS (comma-separated) again with
                   TRAILSCOPE_TEST_OPENSEARCH_URL=URL, after the shell command GATE succeeds (it waits for
                   that node; its failure fails the job)
--cmd NAME SHELL   a shell command run as one more job
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Only the order of the start: the longest first, so the pool does not end waiting on one long job.
# Seconds measured on a clean-clone CI run; a binary missing here counts as short.
KNOWN_SECONDS = {
    "test:faults": 175,
    "test:secured": 60,
    "test:forward": 45,
    "cmd:first-run": 60,
    "test:lambda": 30,
}


@dataclass
class Job:
    name: str
    argv: list
    env: dict = field(default_factory=dict)
    gate: str | None = None
    shell: bool = False
    seconds: float = 0.0
    status: int | None = None
    output: str = ""


def test_executables():
    """(kind, name, path) of every test binary of `cargo test --all-targets`, built if needed."""
    proc = subprocess.run(
        ["cargo", "test", "--all-targets", "--no-run", "--message-format=json-render-diagnostics"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    found = []
    for line in proc.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if not msg["profile"]["test"]:
            continue
        target = msg["target"]
        found.append((target["kind"][0], target["name"], msg["executable"]))
    return found


# Process groups of the jobs running now: stopping this script stops them too (a test binary left
# behind would go on writing into the shared stack).
RUNNING = set()
RUNNING_LOCK = threading.Lock()
STOPPING = threading.Event()


def call(argv, **kwargs):
    proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
    with RUNNING_LOCK:
        RUNNING.add(proc.pid)
    try:
        return proc.wait()
    finally:
        with RUNNING_LOCK:
            RUNNING.discard(proc.pid)


def stop_all(_signum, _frame):
    STOPPING.set()
    with RUNNING_LOCK:
        for pgid in RUNNING:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass


def lists_ignored(path, pattern):
    """Whether the binary has an ignored test matching `pattern` (a job of none only adds noise)."""
    listed = subprocess.run(
        [path, "--list", "--ignored", "--format", "terse", pattern],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    return any(line.endswith(": test") for line in listed.stdout.splitlines())


def run_job(job: Job, log_dir: str):
    start = time.monotonic()
    with tempfile.TemporaryFile("w+", dir=log_dir) as out:
        env = dict(os.environ, CARGO_MANIFEST_DIR=ROOT, **job.env)
        status = 0
        if job.gate:
            status = call(["bash", "-c", job.gate], cwd=ROOT, env=env, stdout=out, stderr=out)
            if status != 0:
                out.write(f"\n{job.name}: not run: its gate failed ({job.gate})\n")
        if status == 0:
            argv = ["bash", "-c", job.argv[0]] if job.shell else job.argv
            status = call(argv, cwd=ROOT, env=env, stdout=out, stderr=out)
        out.seek(0)
        job.output = out.read()
    job.status = status
    job.seconds = time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--ignored", action="append", default=[])
    parser.add_argument("--matrix", nargs=4, action="append", default=[], metavar=("NAME", "URL", "TESTS", "GATE"))
    parser.add_argument("--cmd", nargs=2, action="append", default=[], metavar=("NAME", "SHELL"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)

    executables = test_executables()
    jobs = []
    for kind, name, path in executables:
        jobs.append(Job(f"{kind}:{name}", [path]))
    for pattern in args.ignored:
        for kind, name, path in executables:
            if kind in ("lib", "test") and lists_ignored(path, pattern):
                jobs.append(Job(f"{kind}:{name} --ignored {pattern}", [path, "--ignored", pattern]))
    for name, url, tests, gate in args.matrix:
        by_name = {n: p for k, n, p in executables if k == "test"}
        for test in tests.split(","):
            if test not in by_name:
                sys.exit(f"run-tests: --matrix {name}: no tests/{test}.rs binary")
            jobs.append(Job(f"{name}:{test}", [by_name[test]], {"TRAILSCOPE_TEST_OPENSEARCH_URL": url}, gate))
    for name, shell in args.cmd:
        jobs.append(Job(f"cmd:{name}", [shell], shell=True))
    # Gated jobs last: their node is still starting while the others run.
    jobs.sort(key=lambda j: (j.gate is not None, -KNOWN_SECONDS.get(j.name, 0)))

    queue = list(jobs)
    lock = threading.Lock()
    started = time.monotonic()

    def worker(log_dir):
        while True:
            with lock:
                if not queue or STOPPING.is_set():
                    return
                job = queue.pop(0)
            run_job(job, log_dir)
            with lock:
                verdict = "ok" if job.status == 0 else f"FAILED (exit {job.status})"
                print(f"\n     Running {job.name} ({' '.join(job.argv)}) — {verdict} in {job.seconds:.0f} s", flush=True)
                sys.stdout.write(job.output)
                sys.stdout.flush()

    with tempfile.TemporaryDirectory() as log_dir:
        threads = [threading.Thread(target=worker, args=(log_dir,)) for _ in range(max(1, args.jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if STOPPING.is_set():
        sys.exit("run-tests: stopped by a signal; the jobs running were stopped too")

    wall = time.monotonic() - started
    print(f"\n== test jobs: {len(jobs)} in {wall:.0f} s wall, {args.jobs} at a time (longest first)")
    for job in sorted(jobs, key=lambda j: -j.seconds):
        if job.seconds >= 5 or job.status != 0:
            mark = "" if job.status == 0 else "  FAILED"
            print(f"  {job.seconds:6.0f} s  {job.name}{mark}")
    failed = [j.name for j in jobs if j.status != 0]
    if failed:
        print(f"\nerror: {len(failed)} test job(s) failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(101)


if __name__ == "__main__":
    main()

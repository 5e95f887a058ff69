#!/usr/bin/env python3
"""A local Lambda Runtime API emulator for benchmarks: runs ONE function process (any runtime that
speaks the Runtime API: trailscope's `lambda`, bench/lambda_node_runtime.js with a Node handler),
hands it N CloudWatch Logs subscription events one after the other, as Lambda does in one warm
execution environment, and measures what Lambda bills:

  init ms      process start -> its first GET .../invocation/next (the cold start; Lambda bills it)
  duration ms  an invocation handed out -> its .../response (the billed duration of each one)
  peak MB      the process's VmHWM (peak RSS) once the last invocation answered; VmRSS after init
  CPU s        the process's user+system CPU from its rusage, init and invocations together

Each event carries EVENTS records of CORPUS (NDJSON, one CloudTrail record a line, a slice of its
own) as AWS delivers them: a DATA_MESSAGE of logEvents (id, timestamp, message), gzip, base64,
{"awslogs": {"data": ...}}. The payloads are built before the process starts.

The function's OpenSearch is a fake served by this process (its URL is BENCH_OPENSEARCH_URL in the
function's environment, and any --url-env NAME), the same one for every forwarder, so that the figures are the forwarder's alone:
`_bulk` answers at once, every item created (201, under the action the request used), and
counts the distinct (_index, _id) pairs it received; `GET /` answers as OpenSearch 2.19.1; any
other PUT is stored and a GET of the same path answers it (so `trailscope setup` can install its
template with --before and the function's template check finds it); index templates answer in
GET _index_template's shape. Any other request is 404.

With --opensearch URL --count-index PATTERN the function talks to that real node instead (to
measure what needs one, such as findings' baseline searches): the documents are then counted
there after the run (`PATTERN/_count` after a refresh), and "fake" figures are 0.

Fails (exit 1, with the reason) when an invocation errors, init fails, the process exits early,
an invocation answers before all its documents reached `_bulk`, or fewer distinct documents than
sent were indexed. Prints one JSON object on stdout.

  lambda_rie.py --corpus FILE [--events 1000] [--invocations 50] [--memory-mb 256]
                [--timeout-s 60] [--before 'SHELL COMMAND'] [--url-env NAME] [--log FILE]
                -- COMMAND ARGS...
"""
import argparse, base64, calendar, gzip, json, math, os, signal, statistics, subprocess, sys
import threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNTIME = "/2018-06-01/runtime"
ACCOUNT = "111122223333"
LOG_GROUP = f"aws-cloudtrail-logs-{ACCOUNT}-bench"
LOG_STREAM = f"{ACCOUNT}_CloudTrail_us-east-1"


def epoch_ms(event_time, fallback):
    try:
        return calendar.timegm(time.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ")) * 1000
    except (TypeError, ValueError):
        return fallback


def payloads(corpus, events, invocations):
    """invocations subscription events of `events` records each, from consecutive corpus lines."""
    with open(corpus) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    need = events * invocations
    if len(lines) < need:
        sys.exit(f"lambda_rie: {corpus} has {len(lines)} records, {need} are needed "
                 f"({invocations} invocations of {events}): make a bigger corpus")
    out = []
    for k in range(invocations):
        log_events, last = [], 0
        for i, line in enumerate(lines[k * events:(k + 1) * events]):
            last = epoch_ms(json.loads(line).get("eventTime"), last)
            # CloudWatch Logs event ids are 56-digit decimal strings
            log_events.append({"id": "%056d" % (k * events + i), "timestamp": last, "message": line})
        message = {"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": LOG_GROUP,
                   "logStream": LOG_STREAM, "subscriptionFilters": ["bench"], "logEvents": log_events}
        data = base64.b64encode(gzip.compress(json.dumps(message).encode())).decode()
        out.append(json.dumps({"awslogs": {"data": data}}).encode())
    return out


class State:
    def __init__(self, events):
        self.lock = threading.Condition()
        self.events = events          # the invocation bodies, handed out in order
        self.next = 0                 # index of the next one to hand out
        self.ids = {}                 # request id -> invocation index
        self.handed = {}              # invocation index -> monotonic time handed out
        self.answered = {}            # invocation index -> monotonic time of its response
        self.docs_at_answer = {}      # invocation index -> distinct documents indexed by then
        self.first_next = None        # monotonic time of the first GET .../next
        self.rss_after_init_kb = None
        self.cpu_at_init_s = None
        self.failure = None           # why the run failed
        self.pid = None
        # the fake OpenSearch
        self.docs = set()
        self.items = 0
        self.bulk_requests = 0
        self.bulk_seconds = 0.0       # the fake's own time answering _bulk (inside the durations)
        self.stored = {}


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # the function's connections are reset when it is stopped at the end: not an error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_s(pid):
    """user+system CPU seconds the process used so far (/proc/<pid>/stat fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def runtime_api(state, timeout_s):
    class Runtime(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: with Nagle on, the body waits for the client's
        # delayed ACK (~40 ms), which would be counted in the invocation
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def body(self):
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self):
            if self.path != f"{RUNTIME}/invocation/next":
                return self.reply(404, b'{"errorMessage":"unknown path"}')
            with state.lock:
                if state.first_next is None:
                    state.first_next = time.monotonic()
                    state.rss_after_init_kb = proc_status(state.pid, "VmRSS")
                    state.cpu_at_init_s = proc_cpu_s(state.pid)
                # One at a time, as in one execution environment: the next invocation only once
                # the previous one answered; after the last, /next blocks until the process is
                # stopped (as Lambda freezes an idle environment).
                while state.next >= len(state.events) or (state.next > 0 and (state.next - 1) not in state.answered):
                    state.lock.wait()
                k = state.next
                state.next += 1
                request_id = str(uuid.uuid4())
                state.ids[request_id] = k
                body = state.events[k]
                deadline = int(time.time() * 1000) + timeout_s * 1000
                state.handed[k] = time.monotonic()
            self.reply(200, body, [
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn",
                 f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench"),
                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
            ])

        def do_POST(self):
            now = time.monotonic()
            body = self.body()
            parts = self.path[len(RUNTIME):].strip("/").split("/")
            with state.lock:
                if parts == ["init", "error"]:
                    state.failure = f"init failed: {body.decode(errors='replace')[:500]}"
                elif len(parts) == 3 and parts[0] == "invocation" and parts[1] in state.ids:
                    k = state.ids[parts[1]]
                    if parts[2] == "response":
                        state.answered[k] = now
                        state.docs_at_answer[k] = len(state.docs)
                    elif parts[2] == "error":
                        state.failure = (f"invocation {k + 1} failed: "
                                         f"{body.decode(errors='replace')[:500]}")
                    else:
                        return self.reply(404, b'{"errorMessage":"unknown path"}')
                else:
                    return self.reply(404, b'{"errorMessage":"unknown path"}')
                state.lock.notify_all()
            self.reply(202, b'{"status":"OK"}')

    return Server(("127.0.0.1", 0), Runtime)


def fake_opensearch(state):
    class OpenSearch(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as above

        def log_message(self, *args):
            pass

        def reply(self, status, body):
            body = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def body(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            return raw

        def route(self):
            return self.path.split("?")[0]

        def do_GET(self):
            path = self.route()
            if path == "/":
                return self.reply(200, '{"name":"bench","cluster_name":"bench","version":'
                                       '{"distribution":"opensearch","number":"2.19.1"}}')
            with state.lock:
                stored = state.stored.get(path)
            if stored is None:
                return self.reply(404, '{"error":"not found","status":404}')
            if path.startswith("/_index_template/"):
                name = path.rsplit("/", 1)[1]
                return self.reply(200, '{"index_templates":[{"name":%s,"index_template":%s}]}'
                                  % (json.dumps(name), stored.decode()))
            self.reply(200, stored)

        def do_PUT(self):
            body = self.body()
            with state.lock:
                state.stored[self.route()] = body
            self.reply(200, '{"acknowledged":true}')

        def do_POST(self):
            t0 = time.monotonic()
            body = self.body()
            if not self.route().endswith("/_bulk"):
                return self.reply(404, '{"error":"the bench fake serves _bulk only","status":404}')
            items, docs = [], []
            for action_line in body.split(b"\n")[0::2]:
                if not action_line.strip():
                    continue
                (op, meta), = json.loads(action_line).items()
                docs.append((meta.get("_index"), meta.get("_id")))
                items.append('{"%s":{"status":201}}' % op)
            with state.lock:
                state.bulk_requests += 1
                state.items += len(items)
                state.docs.update(docs)
            self.reply(200, '{"took":1,"errors":false,"items":[%s]}' % ",".join(items))
            with state.lock:
                state.bulk_seconds += time.monotonic() - t0

    return Server(("127.0.0.1", 0), OpenSearch)


def count_documents(url, pattern):
    import urllib.request
    urllib.request.urlopen(urllib.request.Request(f"{url}/{pattern}/_refresh", method="POST")).read()
    with urllib.request.urlopen(f"{url}/{pattern}/_count") as r:
        return json.load(r)["count"]


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "127.0.0.1:%d" % server.server_address[1]


def percentile(values, p):
    # nearest rank
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--events", type=int, default=1000, help="records per invocation")
    ap.add_argument("--invocations", type=int, default=50)
    ap.add_argument("--memory-mb", type=int, default=256, help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    ap.add_argument("--timeout-s", type=int, default=60, help="the invocation deadline")
    ap.add_argument("--before", help="shell command run first, with BENCH_OPENSEARCH_URL set")
    ap.add_argument("--url-env", action="append", default=[], metavar="NAME",
                    help="also set NAME to the fake OpenSearch's URL in the function's environment")
    ap.add_argument("--opensearch", help="a real OpenSearch node instead of the fake")
    ap.add_argument("--count-index", help="with --opensearch: the index pattern to count in")
    ap.add_argument("--label", help="the name in messages and the output (default: the command)")
    ap.add_argument("--log", default=os.devnull, help="the function's stdout and stderr")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        ap.error("the function's command is missing (after --)")
    label = a.label or " ".join(command)

    state = State(payloads(a.corpus, a.events, a.invocations))
    api = serve(runtime_api(state, a.timeout_s))
    if a.opensearch and not a.count_index:
        ap.error("--opensearch needs --count-index (where the documents are counted)")
    opensearch = a.opensearch or "http://" + serve(fake_opensearch(state))
    env = dict(os.environ, BENCH_OPENSEARCH_URL=opensearch)
    if a.before:
        done = subprocess.run(a.before, shell=True, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"lambda_rie: --before failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    env.update({
        "AWS_LAMBDA_RUNTIME_API": api,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(a.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]bench",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIABENCHBENCHBENCH0", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
    })
    env.update({name: opensearch for name in a.url_env})

    log = open(a.log, "ab")
    with state.lock:
        start = time.monotonic()
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        state.pid = proc.pid
        limit = start + 60 + a.invocations * a.timeout_s
        while state.failure is None and len(state.answered) < a.invocations:
            if proc.poll() is not None:
                state.failure = f"the function exited with {proc.returncode} (see {a.log})"
                break
            if time.monotonic() > limit:
                state.failure = "timed out"
                break
            state.lock.wait(0.2)
        peak_kb = proc_status(proc.pid, "VmHWM")
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
        cpu_s = usage.ru_utime + usage.ru_stime
        peak_kb = peak_kb or usage.ru_maxrss
    except ChildProcessError:
        cpu_s = None
    log.close()

    if a.opensearch and state.failure is None:
        state.docs = set(range(count_documents(a.opensearch, a.count_index)))
    with state.lock:
        # A real node is counted once, at the end: whether each invocation answered only after
        # its documents were in is checked against the fake alone.
        if state.failure is None and not a.opensearch:
            for k in range(a.invocations):
                want = (k + 1) * a.events
                if state.docs_at_answer[k] < want:
                    state.failure = (f"invocation {k + 1} answered with {state.docs_at_answer[k]} "
                                     f"documents indexed in all, {want} expected by then")
                    break
        if state.failure is None and len(state.docs) != a.invocations * a.events:
            state.failure = (f"{len(state.docs)} distinct documents reached _bulk, "
                             f"{a.invocations * a.events} were sent")
        if state.failure:
            sys.exit(f"lambda_rie: {label}: {state.failure}")
        durations = [1000 * (state.answered[k] - state.handed[k]) for k in range(a.invocations)]
        warm = durations[1:] or durations
        print(json.dumps({
            "label": label,
            "command": " ".join(command),
            "invocations": a.invocations,
            "events_per_invocation": a.events,
            "init_ms": round(1000 * (state.first_next - start), 1),
            "first_invocation_ms": round(durations[0], 1),
            "warm_median_ms": round(statistics.median(warm), 1),
            "warm_p90_ms": round(percentile(warm, 90), 1),
            "warm_max_ms": round(max(warm), 1),
            "rss_after_init_mb": round((state.rss_after_init_kb or 0) / 1024, 1),
            "peak_mb": round(peak_kb / 1024, 1),
            "cpu_s": None if cpu_s is None else round(cpu_s, 3),
            "init_cpu_s": state.cpu_at_init_s,
            "documents": len(state.docs),
            "bulk_items": state.items,
            "bulk_requests": state.bulk_requests,
            "durations_ms": [round(d, 2) for d in durations],
            "fake_bulk_ms_per_invocation": round(1000 * state.bulk_seconds / a.invocations, 1),
        }))


main()

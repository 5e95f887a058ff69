#!/usr/bin/env python3
"""The raw ceiling: posts pre-built gzip `_bulk` bodies (from examples/bench_bodies.rs: exactly
the documents trailscope sends) to OpenSearch with N requests in flight, and nothing else: no
decoding, no enrichment, no per-item handling. Standard library only.

  ceiling.py URL BODIES.bin CONCURRENCY
Prints one JSON line: events, seconds, errors.
"""
import http.client, json, sys, threading, time, urllib.parse


def bodies(path):
    out = []
    with open(path, "rb") as f:
        while True:
            header = f.readline()
            if not header:
                return out
            out.append(f.read(int(header)))


def main():
    url, path, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    u = urllib.parse.urlsplit(url)
    work = bodies(path)
    lock = threading.Lock()
    stats = {"events": 0, "errors": 0, "requests": 0}

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        while True:
            with lock:
                if not work:
                    return
                body = work.pop(0)
            while True:
                conn.request("POST", "/_bulk?filter_path=errors,items.*.status", body,
                             {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 429:
                    time.sleep(0.2)
                    continue
                reply = json.loads(data)
                items = reply.get("items", [])
                bad = sum(1 for i in items if next(iter(i.values()))["status"] not in (200, 201))
                with lock:
                    stats["events"] += len(items)
                    stats["errors"] += bad + (resp.status != 200)
                    stats["requests"] += 1
                break

    t = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stats["seconds"] = round(time.monotonic() - t, 3)
    print(json.dumps(stats))


main()

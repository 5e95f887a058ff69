#!/usr/bin/env python3
"""What OpenSearch pays per document (scripts/doc-cost.sh runs this): the same N CloudTrail records
indexed as trailscope documents (several shapes of the payload fields) and as the raw records
(dynamic mapping off), side by side on one node, rounds interleaved. Standard library only.

  doc_cost.py URL CORPUS.ndjson TRAILSCOPE_BODIES.bin TEMPLATE.json ROUNDS [CONCURRENCY]

TRAILSCOPE_BODIES.bin is examples/bench_bodies.rs's output for CORPUS with TRAILSCOPE_PAYLOADS=both
(gzip `_bulk` bodies, index prefix `doccost-ts-`, both payload copies). Shapes (each in its own
indices `doccost-<shape>-*`):

  raw         the records as they came, `{"dynamic": false}`: stored, nothing indexed (same
              `create` action and `_id` as trailscope's document of the record)
  both        trailscope's documents with `--payloads both`: each payload (requestParameters,
              responseElements, additionalEventData, serviceEventDetails) as a JSON text copy
              (keyword, not indexed) and as a flat_object (aws.cloudtrail.flattened.*)
  flat        without the text copy of a payload that is in its flat_object
  text        without the flat_object copies (the text copies only)
  none        without either copy of the payloads: what the other fields cost
  core        `none` also without the ECS fields that repeat or derive from CloudTrail's own
              (user_agent, aws.user_agent, related, user, source, tls, cloud): what those cost

Per shape and round: the node's process CPU (`_nodes/stats/process` cpu.total_in_millis) over the
bulk load and a refresh, then over `_forcemerge?max_num_segments=1`, and the primary store size
after the merge (`_cat/indices?bytes=b`). Prints one JSON line per run and a table of the rounds
summed, per 100k documents, with each shape's ratio to `raw`.
"""
import gzip, http.client, json, sys, threading, time, urllib.parse

SHAPES = ["raw", "both", "flat", "text", "none", "core"]
TS_SHAPES = SHAPES[1:]
# Top-level ECS fields `core` leaves out: each repeats or is derived from a CloudTrail field that
# stays (userAgent, sourceIPAddress, userIdentity, awsRegion, tlsDetails).
DERIVED = ["user_agent", "related", "user", "source", "tls", "cloud"]
PAYLOADS = ["request_parameters", "response_elements", "additional_event_data", "service_event_details"]
BATCH = 5000


def read_bodies(path):
    out = []
    with open(path, "rb") as f:
        while True:
            header = f.readline()
            if not header:
                return out
            out.append(f.read(int(header)))


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def trailscope_docs(bodies):
    """(index suffix, document) for every document in the bodies, in order."""
    for body in bodies:
        lines = gzip.decompress(body).decode().splitlines()
        for action, doc in zip(lines[0::2], lines[1::2]):
            meta = json.loads(action)
            op = next(iter(meta))
            index = meta[op]["_index"]
            yield op, meta[op].get("_id"), index[len("doccost-ts-"):], json.loads(doc)


def shape(doc, name):
    ct = doc.get("aws", {}).get("cloudtrail", {})
    if name == "flat":
        flat = ct.get("flattened", {})
        for p in PAYLOADS:
            if p in flat:
                ct.pop(p, None)
    elif name == "text":
        ct.pop("flattened", None)
    elif name in ("none", "core"):
        ct.pop("flattened", None)
        for p in PAYLOADS:
            ct.pop(p, None)
        if name == "core":
            for field in DERIVED:
                doc.pop(field, None)
            doc.get("aws", {}).pop("user_agent", None)
    return doc


def bulk_bodies(items):
    """gzip `_bulk` bodies of BATCH documents each from (action, document) text pairs."""
    out, lines = [], []
    for n, (action, doc) in enumerate(items, 1):
        lines.append(action)
        lines.append(doc)
        if n % BATCH == 0:
            out.append(gzip.compress(("\n".join(lines) + "\n").encode(), 1))
            lines = []
    if lines:
        out.append(gzip.compress(("\n".join(lines) + "\n").encode(), 1))
    return out


def build(corpus, ts_bodies):
    docs = list(trailscope_docs(read_bodies(ts_bodies)))
    ct = [d.get("aws", {}).get("cloudtrail", {}) for _, _, _, d in docs]
    if any("flattened" in c for c in ct) and not any(
            p in c and p in c.get("flattened", {}) for c in ct for p in PAYLOADS):
        raise SystemExit("the bodies have no text copy beside a flat_object: write them with "
                         "TRAILSCOPE_PAYLOADS=both (scripts/doc-cost.sh does)")
    bodies = {}
    for name in TS_SHAPES:
        bodies[name] = bulk_bodies(
            (compact({op: {"_index": f"doccost-{name}-{suffix}", **({"_id": i} if i else {})}}),
             compact(shape(json.loads(compact(d)), name)))
            for op, i, suffix, d in docs)
    # The records trailscope made documents of (a record without eventTime cannot be placed in
    # time from a file: dead-lettered), with the same action and `_id` as its document: only
    # the document differs.
    by_id = {}
    with open(corpus) as f:
        for line in f:
            if line.strip():
                by_id[json.loads(line).get("eventID")] = line.strip()
    records = [by_id[d["event"]["id"]] for _, _, _, d in docs]
    bodies["raw"] = bulk_bodies(
        (compact({op: {"_index": "doccost-raw-records", **({"_id": i} if i else {})}}), r)
        for (op, i, _, _), r in zip(docs, records))
    return bodies, len(docs), len(records)


class Node:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.status >= 300 and not (method == "DELETE" and resp.status == 404):
            raise SystemExit(f"{method} {path}: HTTP {resp.status}: {data[:300]!r}")
        return json.loads(data) if data and data[:1] in b"{[" else data

    def cpu_ms(self):
        nodes = self.call("GET", "/_nodes/_local/stats/process?filter_path=nodes.*.process.cpu")["nodes"]
        return next(iter(nodes.values()))["process"]["cpu"]["total_in_millis"]

    def post_all(self, bodies, concurrency):
        work, lock, errors = list(bodies), threading.Lock(), []

        def worker():
            conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
            while True:
                with lock:
                    if not work:
                        return
                    body = work.pop(0)
                while True:
                    conn.request("POST", "/_bulk?filter_path=errors,items.*.error", body,
                                 {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status == 429:
                        time.sleep(0.2)
                        continue
                    reply = json.loads(data)
                    if resp.status != 200 or reply.get("errors"):
                        with lock:
                            errors.append(data[:300])
                    break

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise SystemExit(f"bulk errors: {errors[0]!r}")


def templates(node, template_path):
    with open(template_path) as f:
        ts = json.load(f)
    settings = {"index": {"number_of_shards": 1, "number_of_replicas": 0,
                          "refresh_interval": ts["template"]["settings"]["index"].get("refresh_interval", "5s")}}
    for name in TS_SHAPES:
        t = json.loads(json.dumps(ts))
        t["index_patterns"] = [f"doccost-{name}-*"]
        t["template"].setdefault("settings", {}).setdefault("index", {}).update(settings["index"])
        t["_meta"] = {"managed_by": "doc_cost.py"}
        node.call("PUT", f"/_index_template/doccost-{name}", t)
    node.call("PUT", "/_index_template/doccost-raw", {
        "index_patterns": ["doccost-raw-*"], "priority": 200, "_meta": {"managed_by": "doc_cost.py"},
        "template": {"settings": settings, "mappings": {"dynamic": False}}})


def run(node, name, bodies, concurrency):
    node.call("DELETE", f"/doccost-{name}-*?expand_wildcards=all")
    time.sleep(1)
    c0, t0 = node.cpu_ms(), time.monotonic()
    node.post_all(bodies, concurrency)
    node.call("POST", f"/doccost-{name}-*/_refresh")
    c1, t1 = node.cpu_ms(), time.monotonic()
    node.call("POST", f"/doccost-{name}-*/_forcemerge?max_num_segments=1")
    c2 = node.cpu_ms()
    # The merged-away segments stay on disk until a flush and refresh let them go: without
    # these the size counted both.
    node.call("POST", f"/doccost-{name}-*/_flush")
    node.call("POST", f"/doccost-{name}-*/_refresh")
    time.sleep(1)
    rows = node.call("GET", f"/_cat/indices/doccost-{name}-*?bytes=b&format=json&h=index,docs.count,pri.store.size")
    docs = sum(int(r["docs.count"]) for r in rows)
    size = sum(int(r["pri.store.size"]) for r in rows)
    return {"shape": name, "docs": docs, "seconds": round(t1 - t0, 3), "index_cpu_s": (c1 - c0) / 1000,
            "merge_cpu_s": (c2 - c1) / 1000, "bytes": size}


def main():
    url, corpus, ts_bodies, template = sys.argv[1:5]
    rounds = int(sys.argv[5])
    concurrency = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    node = Node(url)
    bodies, n_docs, n_records = build(corpus, ts_bodies)
    if n_docs != n_records:
        raise SystemExit(f"{n_docs} trailscope documents for {n_records} records: not comparable")
    templates(node, template)
    # A fresh node indexes its first documents slowly (JIT): one untimed pass of each shape.
    for name in SHAPES:
        run(node, name, bodies[name], concurrency)
    total = {}
    for r in range(rounds):
        order = SHAPES[r % len(SHAPES):] + SHAPES[:r % len(SHAPES)]
        for name in order:
            res = run(node, name, bodies[name], concurrency)
            if res["docs"] != n_records:
                raise SystemExit(f"{name}: {res['docs']} documents indexed of {n_records}")
            print(json.dumps({"round": r + 1, **res}), flush=True)
            t = total.setdefault(name, {"docs": 0, "seconds": 0, "index_cpu_s": 0, "merge_cpu_s": 0, "bytes": 0})
            for k in t:
                t[k] += res[k]
    for name in SHAPES:
        node.call("DELETE", f"/doccost-{name}-*?expand_wildcards=all")
        node.call("DELETE", f"/_index_template/doccost-{name}")
    per = lambda t, k: t[k] * 100_000 / t["docs"]
    raw = total["raw"]
    print()
    print(f"OpenSearch per 100k documents: {n_records} CloudTrail records, {rounds} round(s) summed, "
          f"concurrency {concurrency}, 1 shard, forcemerged to 1 segment")
    print()
    print("| shape | index CPU-s/100k | x raw | merge CPU-s/100k | total CPU-s/100k | x raw | MB/100k | x raw | docs/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    # A run too small for the node's CPU counter (milliseconds) to see the raw load has no ratio.
    ratio = lambda a, b: f"{a / b:.2f}" if b else "n/a"
    for name in SHAPES:
        t = total[name]
        tot = lambda x: per(x, "index_cpu_s") + per(x, "merge_cpu_s")
        print(f"| {name} | {per(t, 'index_cpu_s'):.2f} | {ratio(per(t, 'index_cpu_s'), per(raw, 'index_cpu_s'))} "
              f"| {per(t, 'merge_cpu_s'):.2f} | {tot(t):.2f} | {ratio(tot(t), tot(raw))} "
              f"| {per(t, 'bytes') / 1e6:.1f} | {ratio(t['bytes'], raw['bytes'])} | {t['docs'] / t['seconds']:.0f} |")


if __name__ == "__main__":
    main()

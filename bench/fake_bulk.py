#!/usr/bin/env python3
"""A `_bulk` endpoint that answers at once: every item created. For measuring a forwarder alone
(its events/s and CPU without OpenSearch's cost), as in issue #23's table.

    python3 bench/fake_bulk.py PORT [TEMPLATE_JSON PREFIX]

Answers `GET /` as OpenSearch 2.19.1, `GET /_index_template/<name>` with TEMPLATE_JSON (so that
`trailscope` finds its template installed), and `POST /_bulk` with one `{"create":{"status":201}}`
per action line (a gzip body is decompressed to count them). Prints `requests N items M` on
SIGTERM/SIGINT. Its own CPU is the decompression and the count: the bench reports it apart.

Decompression is most of that CPU, and on a 2-core machine it is taken from the forwarder being
measured: libdeflate (the Debian package libdeflate0, through ctypes) inflates the same bodies in
about 0.32 CPU-s per 100k events where Python's zlib takes 0.82-0.89 (measured on the bench's own
bodies). Every body is still inflated whole and its lines counted; Python's gzip is used when
libdeflate is absent or leaves part of a body (several gzip members, a size its trailer does not
tell).
"""
import ctypes
import ctypes.util
import gzip
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
TEMPLATE = None
if len(sys.argv) > 3:
    with open(sys.argv[2]) as f:
        body = json.load(f)
    body["index_patterns"] = [sys.argv[3] + "*"]
    TEMPLATE = body
ITEM = b'{"create":{"status":201}}'


def libdeflate():
    """A gzip inflater from libdeflate, or None when the library is not installed."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("deflate") or "libdeflate.so.0")
    except OSError:
        return None
    lib.libdeflate_alloc_decompressor.restype = ctypes.c_void_p
    lib.libdeflate_gzip_decompress_ex.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
    lib.libdeflate_gzip_decompress_ex.restype = ctypes.c_int
    lib.libdeflate_free_decompressor.argtypes = [ctypes.c_void_p]

    def gunzip(body):
        # One decompressor per call: the server answers on several threads.
        size = int.from_bytes(body[-4:], "little") if len(body) >= 18 else 0
        out = bytearray(size)
        read, got = ctypes.c_size_t(), ctypes.c_size_t()
        d = lib.libdeflate_alloc_decompressor()
        try:
            target = (ctypes.c_char * size).from_buffer(out) if size else None
            status = lib.libdeflate_gzip_decompress_ex(
                d, body, len(body), target, size, ctypes.byref(read), ctypes.byref(got))
            del target
        finally:
            lib.libdeflate_free_decompressor(d)
        # 0 is success, of the first gzip member only: a body of several members (or one whose
        # trailer does not tell its whole size, over 4 GiB) is left to Python's gzip.
        whole = status == 0 and read.value == len(body) and got.value == size
        return out if whole else python_gunzip(body)

    return gunzip


def python_gunzip(body):
    # Every member of the body (zlib.decompress would stop after the first).
    return gzip.decompress(body)


gunzip = libdeflate() or python_gunzip
counts = {"requests": 0, "items": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body are two writes: with Nagle's algorithm the second waits for the
    # client's delayed ACK (40 ms), which capped a forwarder at ~50k events/s.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/" or self.path.startswith("/?"):
            self.answer(200, b'{"name":"fake","version":{"distribution":"opensearch","number":"2.19.1"}}')
        elif self.path.startswith("/_index_template/") and TEMPLATE is not None:
            name = self.path.split("/")[2].split("?")[0]
            body = {"index_templates": [{"name": name, "index_template": TEMPLATE}]}
            self.answer(200, json.dumps(body).encode())
        else:
            self.answer(404, b'{"error":"not served by the fake"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if not self.path.startswith("/_bulk"):
            self.answer(404, b'{"error":"not served by the fake"}')
            return
        if self.headers.get("content-encoding") == "gzip":
            body = gunzip(body)
        # One action line and one document line per item.
        n = body.count(b"\n") // 2
        counts["requests"] += 1
        counts["items"] += n
        self.answer(200, b'{"took":1,"errors":false,"items":[' + b",".join([ITEM] * n) + b"]}")


def stop(*_):
    inflater = "python" if gunzip is python_gunzip else "libdeflate"
    print(f"requests {counts['requests']} items {counts['items']} inflater {inflater}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()

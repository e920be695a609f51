"""A loopback HTTP proxy in front of moto that answers like IoT when a client goes over its rate.

Each IoT operation has its own token bucket (rate per second, burst of the same size, as IoT's documented limits
are per API). Over the rate the proxy answers HTTP 400 with `x-amzn-ErrorType: ThrottlingException`, IoT's answer.
It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

OPERATIONS = [
    ("GET", re.compile(r"^/jobs/[^/]+$"), "DescribeJob"),
    ("PUT", re.compile(r"^/jobs/[^/]+/cancel$"), "CancelJob"),
    ("GET", re.compile(r"^/jobs$"), "ListJobs"),
]


class Bucket:
    def __init__(self, rate: float):
        self.rate, self.tokens, self.at = rate, rate, time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class ThrottleProxy:
    def __init__(self, upstream: str, rate: float):
        self.upstream = urlparse(upstream)
        self.buckets = {name: Bucket(rate) for _, _, name in OPERATIONS}
        self.throttled = {name: 0 for _, _, name in OPERATIONS}
        self.passed = {name: 0 for _, _, name in OPERATIONS}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlparse(self.path).path
                name = next((n for m, rx, n in OPERATIONS if m == self.command and rx.match(path)), None)
                if name and not proxy.buckets[name].take():
                    proxy.throttled[name] += 1
                    payload = b'{"message":"Rate exceeded"}'
                    self.send_response(400)
                    self.send_header("x-amzn-ErrorType", "ThrottlingException")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if name:
                    proxy.passed[name] += 1
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ThrottleProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

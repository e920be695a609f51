"""A loopback HTTP proxy in front of the emulator that answers like IoT when things go wrong.

- Rate: each IoT operation may have its own token bucket (rate per second, burst of the same size, as IoT's limits
  are per API); over it the proxy answers HTTP 400 `ThrottlingException`, IoT's answer.
- Regions: every request signed for a region of `unavailable_regions` (whatever the service) is answered HTTP 503,
  as if the region's endpoints were down.
- Latency: `latency_s` added to every request, as a network's round trip would (requests wait side by side, so
  calls made in parallel overlap as they do against AWS, which a CPU-bound emulator alone cannot show).
- Faults: a plan, called with the operation and path of every request, may answer `throttle`, `unavailable`
  (HTTP 503 ServiceUnavailableException), `reset` (the connection is closed with no answer) or `timeout` (the
  request reaches the emulator, but the answer comes only after `timeout_s`, later than the client waits).

Used by `make bench` (throttled fan-out) and the fault-injection tests. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

OPERATIONS = [
    ("GET", re.compile(r"^/jobs/[^/]+$"), "DescribeJob"),
    ("PUT", re.compile(r"^/jobs/[^/]+/cancel$"), "CancelJob"),
    ("GET", re.compile(r"^/jobs$"), "ListJobs"),
    ("GET", re.compile(r"^/jobs/[^/]+/things$"), "ListJobExecutionsForJob"),
    ("PUT", re.compile(r"^/things/[^/]+/jobs/[^/]+/cancel$"), "CancelJobExecution"),
]
ERRORS = {"throttle": (400, "ThrottlingException"), "unavailable": (503, "ServiceUnavailableException")}
SIGNED_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


def named_operation(headers: Any, body: bytes) -> str | None:
    """The operation a request names itself: the JSON protocol's X-Amz-Target, or the query protocol's Action."""
    target = headers.get("X-Amz-Target")
    if target:
        return str(target).rsplit(".", 1)[-1]
    action = parse_qs(body.decode("utf-8", "replace")).get("Action") if body else None
    return action[0] if action else None


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


def operation_of(method: str, path: str) -> str | None:
    return next((name for verb, pattern, name in OPERATIONS if verb == method and pattern.match(path)), None)


class FaultProxy:
    def __init__(self, upstream: str, rate: float | None = None,
                 plan: Callable[[str | None, str], str | None] | None = None, timeout_s: float = 2.0,
                 latency_s: float = 0.0):
        self.upstream = urlparse(upstream)
        self.latency_s = latency_s  # a network's round trip, added to every request (waiting, not computing)
        self.buckets = {name: Bucket(rate) for *_, name in OPERATIONS} if rate else {}
        self.plan = plan or (lambda operation, path: None)
        self.unavailable_regions: set[str] = set()
        self.timeout_s = timeout_s
        self.injected: dict[str, int] = {}  # fault -> count, throttling by the rate included
        self.forwarded: list[tuple[str | None, str]] = []  # (operation, path) of what reached the emulator
        # (HTTP method, path, the operation a JSON or query protocol request names) of every request received
        self.received: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for the serving loop's next poll: 50 ms, not the standard library's 0.5 s per proxy
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def count(self, fault: str) -> None:
        with self._lock:
            self.injected[fault] = self.injected.get(fault, 0) + 1

    def _forward(self, method: str, target: str, body: bytes, headers: dict[str, str]):
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30)
        try:
            connection.request(method, target, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheaders(), answer.read()
        finally:
            connection.close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlparse(self.path).path
                with proxy._lock:
                    proxy.received.append((self.command, path, named_operation(self.headers, body)))
                operation = operation_of(self.command, path)
                fault = proxy.plan(operation, path)
                signed = SIGNED_REGION.search(self.headers.get("Authorization", ""))
                if signed and signed.group(1) in proxy.unavailable_regions:
                    fault = "unavailable"
                if fault is None and operation in proxy.buckets and not proxy.buckets[operation].take():
                    fault = "throttle"
                if fault in ERRORS:
                    proxy.count(fault)
                    status, code = ERRORS[fault]
                    if "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):  # the query protocol's
                        self._answer(status, [("Content-Type", "text/xml")], (
                            f"<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>injected by "
                            "the fault proxy</Message></Error><RequestId>0</RequestId></ErrorResponse>").encode())
                        return
                    self._answer(status, [("x-amzn-ErrorType", code), ("Content-Type", "application/json")],
                                 b'{"message":"injected by the fault proxy"}')
                    return
                if fault == "reset":
                    proxy.count(fault)
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                if proxy.latency_s:
                    time.sleep(proxy.latency_s)
                status, answer_headers, data = proxy._forward(self.command, self.path, body, headers)
                with proxy._lock:
                    proxy.forwarded.append((operation, path))
                if fault == "timeout":
                    proxy.count(fault)
                    time.sleep(proxy.timeout_s)
                    self.close_connection = True
                    return
                self._answer(status, answer_headers, data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _relay

        return Handler

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

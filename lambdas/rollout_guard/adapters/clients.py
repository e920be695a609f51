"""boto3 clients with the guard's retry and timeout settings, created when first needed, never at import.

botocore's `standard` retry mode retries throttling (IoT's ThrottlingException arrives as HTTP 400, and its 410
LimitExceededException counts as throttling there too), 5xx answers and connection faults with exponential backoff
and jitter, and never retries ResourceNotFound or InvalidRequest.
"""

from __future__ import annotations

import threading
import time
from typing import Any


def make_client(
    service: str = "iot",
    max_attempts: int = 5,
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    read_timeout: float = 10,
) -> Any:
    """A client with the guard's retry and timeout settings. Unless given, the region and endpoint come from boto3's
    usual configuration (AWS_REGION, AWS_ENDPOINT_URL...)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=3,
        read_timeout=read_timeout,
    )
    session = boto3.session.Session(profile_name=profile) if profile else boto3
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


class Pacer:
    """Holds each operation's requests to `per_second` with a token bucket (a botocore before-send hook, so retries
    are paced too). A sporadic alert never waits; a fan-out settles at the rate. IoT throttles each API at about 10
    requests a second; staying under it avoids the throttling errors and backoff sleeps that would otherwise stretch
    a fan-out far beyond what the rate allows. The burst is half the rate, leaving IoT's own bucket room for jitter."""

    def __init__(self, per_second: float):
        self._rate = per_second
        self._burst = max(1.0, per_second / 2)
        self._buckets: dict[str, tuple[float, float]] = {}  # operation -> (tokens, when)
        self._lock = threading.Lock()

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            now = time.monotonic()
            tokens, then = self._buckets.get(operation, (self._burst, now))
            tokens = min(self._burst, tokens + (now - then) * self._rate) - 1
            self._buckets[operation] = (tokens, now)
        if tokens < 0:  # a reservation: later callers queue behind this one
            time.sleep(-tokens / self._rate)


def pace(client: Any, per_second: float) -> Any:
    """Pace every operation of `client`; 0 leaves it unpaced."""
    if per_second > 0:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-send.{service}", Pacer(per_second))
    return client

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
) -> Any:
    """A client with the guard's retry and timeout settings. Unless given, the region and endpoint come from boto3's
    usual configuration (AWS_REGION, AWS_ENDPOINT_URL...)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=3,
        read_timeout=10,
    )
    session = boto3.session.Session(profile_name=profile) if profile else boto3
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)


class Pacer:
    """Spaces the requests of each operation evenly at `per_second` (a botocore before-send hook, so retries are
    paced too). IoT throttles each API at about 10 requests a second; staying under it avoids the throttling errors
    and backoff sleeps that would otherwise stretch a fan-out far beyond what the rate allows."""

    def __init__(self, per_second: float):
        self._interval = 1.0 / per_second
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(operation, now))
            self._next[operation] = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


def pace(client: Any, per_second: float) -> Any:
    """Pace every operation of `client`; 0 leaves it unpaced."""
    if per_second > 0:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-send.{service}", Pacer(per_second))
    return client

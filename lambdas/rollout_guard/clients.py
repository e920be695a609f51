"""boto3 clients with the guard's retry and timeout settings, created when first needed, never at import.

botocore's `standard` retry mode retries throttling (IoT's ThrottlingException arrives as HTTP 400, and its 410
LimitExceededException counts as throttling there too), 5xx answers and connection faults with exponential backoff
and jitter, and never retries ResourceNotFound or InvalidRequest.
"""

from __future__ import annotations

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

"""One AWS call as the adapters make it: a botocore failure becomes the port's own error, named by the API's
operation, and a paginated listing is read to its end (or fails: a listing cut short could hide what must be
halted). Shared by the IoT and Greengrass adapters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rollout_guard.halts.jobs import JobsError


class Calls:
    """`client`'s calls, each failure raised as `error` (the port's `JobsError` or a subclass)."""

    def __init__(self, client: Any, error: type[JobsError] = JobsError):
        self._client, self._error = client, error

    def api_name(self, method: str) -> str:
        """`list_jobs` -> `ListJobs`, as the API and its errors name it."""
        name: str = self._client.meta.method_to_api_mapping.get(method, method)
        return name

    def __call__(self, method: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer: dict[str, Any] = getattr(self._client, method)(**params)
            return answer
        except ClientError as error:
            details = error.response.get("Error", {})
            code, message = details.get("Code", "Unknown"), details.get("Message", str(error))
            raise self._error(self.api_name(method), code, message) from error
        except BotoCoreError as error:
            raise self._error(self.api_name(method), type(error).__name__, str(error), answered=False) from error

    def pages(self, method: str, items: str, **params: Any) -> Iterator[Any]:
        """Every item of a paginated listing. A token seen twice means the listing would never end (moto's ListJobs
        does this): that is an error, since a listing cut short could hide a job that must be halted."""
        seen: set[str] = set()
        token = None
        while True:
            page = self(method, **params, **({"nextToken": token} if token else {}))
            yield from page.get(items, [])
            token = page.get("nextToken")
            if not token:
                return
            if token in seen:
                raise self._error(self.api_name(method), "PaginationLoop", "the same nextToken came back twice")
            seen.add(token)

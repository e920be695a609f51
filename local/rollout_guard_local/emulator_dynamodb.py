"""DynamoDB's conditional writes are atomic; moto's are not under its threaded server.

moto_server answers each request on a thread of its own, and moto's DynamoDB reads an item, checks the condition and
writes it without a lock: two conditional PutItems of one key, at the same moment, can both succeed. The exactly-once
claims rely on the first winning and the second being refused (ConditionalCheckFailedException), as in DynamoDB, so
the emulator runs DynamoDB's writes one at a time. Reads are left concurrent. `install()` is idempotent.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")
_LOCK = threading.Lock()
_WRAPPED: set[Any] = set()  # the methods installed here (install() again leaves them as they are)


def install() -> None:
    from moto.dynamodb.responses import DynamoHandler

    for name in WRITES:
        method = getattr(DynamoHandler, name)
        if method in _WRAPPED:
            continue

        @functools.wraps(method)
        def locked(self: Any, *args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with _LOCK:
                return _method(self, *args, **kwargs)

        _WRAPPED.add(locked)
        setattr(DynamoHandler, name, locked)

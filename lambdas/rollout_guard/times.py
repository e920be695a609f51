"""Times as the guard's inputs and records carry them: ISO 8601 text, UTC when it names no zone."""

from __future__ import annotations

from datetime import datetime, timezone


def epoch(text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 time (UTC when it names no zone), or None when there is none to read."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat(timespec="seconds")

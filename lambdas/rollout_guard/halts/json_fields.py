"""Typed access to untrusted JSON: each reader returns the type it names or raises `UnrecognisedAlert` with a
one-line reason naming the field."""

from __future__ import annotations

import json
from typing import Any

from rollout_guard.halts.alert_kinds import UnrecognisedAlert


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnrecognisedAlert(f"{what} must be an object")
    return value


def obj_or_empty(value: Any, what: str) -> dict[str, Any]:
    """An optional object: absent is empty."""
    return {} if value is None else obj(value, what)


def text(value: Any, what: str) -> str | None:
    """An optional string: absent or empty is None."""
    if value is None or value == "":
        return None
    return required(value, what)


def required(value: Any, what: str) -> str:
    if value is None:
        raise UnrecognisedAlert(f"{what} is missing")
    if not isinstance(value, str) or not value:
        raise UnrecognisedAlert(f"{what} must be a non-empty string")
    return value


def items(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnrecognisedAlert(f"{what} must be a list")
    return value


def unique(values: list[Any]) -> tuple[Any, ...]:
    """The values in order without repeats, in linear time. Values that cannot be hashed (a job id given as a list
    or object: never a valid id) are compared by their JSON text, or kept when even that cannot be made."""
    seen: set[Any] = set()
    unique: list[Any] = []
    for value in values:
        key = value if value.__hash__ is not None else _shape(value)
        if key not in seen:
            seen.add(key)
            unique.append(value)
    return tuple(unique)


def _shape(value: Any) -> tuple[Any, ...]:
    """A list's or an object's key: its JSON text, in a tuple so that it never equals a string (JSON has no tuple);
    one of its own when it has none."""
    try:
        return (json.dumps(value, sort_keys=True),)
    except (TypeError, ValueError, RecursionError):
        return (id(value),)

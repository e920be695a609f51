"""The CLI's exit codes, and its one-line error on stderr."""

from __future__ import annotations

import sys

HANDLED, HALT_FAILED, BAD_INPUT = 0, 1, 2


def fail(message: str, code: int = BAD_INPUT) -> int:
    print(f"rollout-guard: {message}", file=sys.stderr)
    return code

"""rollout-guard for CDK: the `RolloutGuard` construct, the stack `app.py` deploys, and their configuration.

    from rollout_guard_cdk import GuardConfig, RolloutGuard

Loaded lazily: `rollout_guard_cdk.project` (which the operator's CLI reads) never pulls in aws-cdk-lib.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RolloutGuard": "rollout_guard",
    "RolloutGuardStack": "guard_stack",
    "GuardConfig": "config",
    "ConfigError": "config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)

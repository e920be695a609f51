"""Where a project's guard is configured: the context key in cdk.json and the policy file's default.

Shared by the CDK app and the operator's CLI (which finds the project's policy without loading CDK).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTEXT_KEY = "rollout-guard"
DEFAULT_POLICY_FILE = "policy.yaml"
# Keys of the context that describe the deployment (where the guards go), not one guard (see environments.py).
DEPLOYMENT_KEYS = ("environments", "control")


def project_context(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The folder of the nearest cdk.json at or above `start` (the working folder by default) and its
    `rollout-guard` context, or None when there is none or it cannot be read."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        config = folder / "cdk.json"
        if config.is_file():
            try:
                context = json.loads(config.read_text(encoding="utf-8")).get("context", {}).get(CONTEXT_KEY) or {}
            except (ValueError, AttributeError):
                return None
            return (folder, context) if isinstance(context, dict) else None
    return None


def project_policy_file(start: Path | None = None) -> Path | None:
    """The policy the stacks deploy: `policyFile` in the project's context, relative to its cdk.json."""
    found = project_context(start)
    return found[0] / found[1].get("policyFile", DEFAULT_POLICY_FILE) if found else None

"""Where a project's guard is configured: the context key in cdk.json and the policy file's default.

Shared by the CDK app and the operator's CLI (which finds the project's policy without loading CDK).
"""

from __future__ import annotations

import json
from pathlib import Path

CONTEXT_KEY = "rollout-guard"
DEFAULT_POLICY_FILE = "policy.yaml"
# Keys of the context that describe the deployment (where the guards go), not one guard (see environments.py).
DEPLOYMENT_KEYS = ("environments", "control")


def project_policy_file(start: Path | None = None) -> Path | None:
    """The policy the stacks deploy: `policyFile` in the context of the nearest cdk.json at or above `start` (the
    working folder by default), or None when there is none or it cannot be read."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        config = folder / "cdk.json"
        if config.is_file():
            try:
                context = json.loads(config.read_text(encoding="utf-8")).get("context", {})
                return folder / context.get(CONTEXT_KEY, {}).get("policyFile", DEFAULT_POLICY_FILE)
            except (ValueError, AttributeError):
                return None
    return None

#!/usr/bin/env python3
"""The CDK app: one RolloutGuard stack, configured from cdk.json's `rollout-guard` context, checked by cdk-nag."""

from __future__ import annotations

import sys
from pathlib import Path

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from rollout_guard.policy import PolicyError
from rollout_guard_cdk.config import ConfigError, GuardConfig
from rollout_guard_cdk.guard_stack import RolloutGuardStack
from rollout_guard_cdk.project import CONTEXT_KEY


def build(app: App) -> RolloutGuardStack:
    config = GuardConfig.from_context(app.node.try_get_context(CONTEXT_KEY), Path(__file__).resolve().parent)
    stack = RolloutGuardStack(app, "RolloutGuard", config=config)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> None:
    app = App()
    try:
        build(app)
    except PolicyError as error:
        sys.exit("rollout-guard: invalid policy: " + "; ".join(error.problems))
    except ConfigError as error:
        sys.exit(f"rollout-guard: {error}")
    app.synth()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The CDK app: one RolloutGuard stack, configured from cdk.json's `rollout-guard` context, checked by cdk-nag."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from rollout_guard.policy import PolicyError
from rollout_guard_cdk.config import ConfigError, GuardConfig
from rollout_guard_cdk.guard_stack import RolloutGuardStack
from rollout_guard_cdk.project import CONTEXT_KEY


def build(app: App) -> RolloutGuardStack:
    config = GuardConfig.from_context(app.node.try_get_context(CONTEXT_KEY), Path(__file__).resolve().parent)
    # The CLI's account and region when it knows them (CDK's usual pattern), so that checks which need them (a
    # foreign alert topic) run at synth; without credentials the stack stays environment-agnostic.
    env = Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
    stack = RolloutGuardStack(app, "RolloutGuard", config=config, env=env)
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

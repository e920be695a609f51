#!/usr/bin/env python3
"""The CDK app, configured from cdk.json's `rollout-guard` context and checked by cdk-nag: one guard stack, or one
per listed environment and a control stack in the home region (`cdk deploy --all`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from aws_cdk import App, Environment, Stack, Validations
from cdk_nag import AwsSolutionsChecks

from rollout_guard.policy import PolicyError
from rollout_guard_cdk.config import ConfigError, GuardConfig
from rollout_guard_cdk.control import ControlStack
from rollout_guard_cdk.environments import CONTROL_STACK, GUARD_STACK, Deployment
from rollout_guard_cdk.guard_stack import RolloutGuardStack
from rollout_guard_cdk.project import CONTEXT_KEY

HERE = Path(__file__).resolve().parent


def build(app: App) -> list[Stack]:
    """Every stack of the app: the guard stacks first, then the control stack (if any)."""
    context = app.node.try_get_context(CONTEXT_KEY) or {}
    deployment = Deployment.from_context(context)
    stacks: list[Stack] = []
    if not deployment.environments:
        # The CLI's account and region when it knows them (CDK's usual pattern), so that checks which need them (a
        # foreign alert topic) run at synth; without credentials the stack stays environment-agnostic.
        env = Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"))
        config = GuardConfig.from_context({k: v for k, v in context.items()}, HERE)
        stacks.append(RolloutGuardStack(app, GUARD_STACK, config=config, env=env))
    for environment in deployment.environments:
        config = GuardConfig.from_context(deployment.guard_context(context, environment), HERE)
        stacks.append(RolloutGuardStack(app, environment.stack_name, config=config, control=deployment.control,
                                        env=Environment(account=environment.account, region=environment.region)))
    if deployment.control:
        control = deployment.control
        stacks.append(ControlStack(app, CONTROL_STACK, control=control, environments=deployment.environments,
                                   env=Environment(account=control.account, region=control.region)))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


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

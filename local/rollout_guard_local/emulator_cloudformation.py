"""CloudFormation's outputs after a change set, which moto drops.

`cdk deploy` creates a stack through a change set. CloudFormation's DescribeStacks then answers with the stack's
outputs (the API reference: `Outputs`, "A list of output structures"). moto sets the executed change set's template
on the stack but keeps the outputs it parsed from the empty template of the CREATE change set, so the stack shows
none. Here the stack reads its template again after the change set ran, and its outputs resolve against the
resources the change set made, as CloudFormation's do. `install()` is idempotent.
"""

from __future__ import annotations

import functools
from typing import Any


def install() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    execute = CloudFormationBackend.execute_change_set
    if getattr(execute, "rollout_guard_outputs", False):
        return

    @functools.wraps(execute)
    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        execute(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack.template and stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
                stack._parse_template()
                stack.output_map = stack._create_output_map()

    execute_change_set.rollout_guard_outputs = True  # type: ignore[attr-defined]
    CloudFormationBackend.execute_change_set = execute_change_set

"""Reading a synthesized template: resources by type, intrinsic functions rendered as readable strings."""

from __future__ import annotations

from typing import Any


def render(value: Any) -> Any:
    """Fn::Join, Ref and Fn::GetAtt as text ("${Ref}", "${Id.Attr}"); everything else as is."""
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "Ref":
            return "${" + inner + "}"
        if key == "Fn::GetAtt":
            return "${" + ".".join(inner) + "}"
        if key == "Fn::Join":
            return inner[0].join(str(render(part)) for part in inner[1])
    if isinstance(value, dict):
        return {key: render(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [render(inner) for inner in value]
    return value


def resources(template: dict, kind: str) -> dict[str, dict]:
    """Logical id -> rendered properties of every resource of a type."""
    return {
        logical_id: render(resource.get("Properties", {}))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def one(template: dict, kind: str, named: str = "") -> tuple[str, dict]:
    """The one resource of a type (whose logical id holds `named`, when given)."""
    found = {logical_id: props for logical_id, props in resources(template, kind).items() if named in logical_id}
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def statements(template: dict, role: str = "FunctionRole") -> list[dict]:
    """Every statement of the IAM policies attached to the role whose logical id holds `role` (the function's by
    default), with actions as lists."""
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if not any(role in str(attached) for attached in policy.get("Roles", [])):
            continue
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            found.append({**statement, "Action": actions if isinstance(actions, list) else [actions]})
    return found


# The statements CancelDeployment's dependent actions need (test_greengrass_stack holds them): left out of
# `statement_for`, which finds the one statement granting an action on the guard's own jobs.
DEPLOYMENT_SIDS = ("DeploymentJobs", "DeploymentTargets")


def statement_for(template: dict, action: str) -> dict:
    matching = [s for s in statements(template) if action in s["Action"] and s["Effect"] == "Allow"
                and s.get("Sid") not in DEPLOYMENT_SIDS]
    assert len(matching) == 1, matching
    return matching[0]


def resources_of(statement: dict) -> list[str]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]

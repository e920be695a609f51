"""Doctor's look at the rules that name Greengrass v2 deployments: can the deployed function stop them (its role
holds the Greengrass actions, which a stack deployed before such a rule lacks), and which deployments do the rules'
globs reach now."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase

from .doctor_account import OK, WARNING, Account, Finding, role_lacks

CHECK = "greengrass deployments"
NEEDED = ("greengrass:ListDeployments", "greengrass:GetDeployment", "greengrass:CancelDeployment")


def check_deployments(account: Account) -> Iterator[Finding]:
    rules = [rule for rule in account.config.policy.rules if rule.deployments is not None]
    if not rules:
        return
    yield from role_lacks(account, CHECK, NEEDED, lambda r: r == "*" or ":greengrass:" in r, rules,
                          "cannot stop a deployment")
    greengrass = account.client("greengrassv2")
    latest = [item for page in greengrass.get_paginator("list_deployments").paginate(historyFilter="LATEST_ONLY")
              for item in page.get("deployments", [])]
    for rule in rules:
        reached = [item for item in latest if any(fnmatchcase(item.get("deploymentName", ""), glob)
                                                  for glob in rule.deployments or ())
                   and (not rule.thing_group or item.get("targetArn", "").endswith(f":thinggroup/{rule.thing_group}"))]
        active = [item for item in reached if item.get("deploymentStatus") == "ACTIVE"]
        globs = ", ".join(repr(glob) for glob in rule.deployments or ())
        if not reached:
            yield Finding(f"deployments of rule {rule.name}", WARNING, f"no deployment's name matches {globs}"
                          + (f" on thing group {rule.thing_group}" if rule.thing_group else "")
                          + ": the rule stops nothing today", "check the globs against `aws greengrassv2 "
                          "list-deployments` (names, not ids)")
        else:
            yield Finding(f"deployments of rule {rule.name}", OK, f"{globs} reach {len(reached)} deployment(s), "
                          f"{len(active)} ACTIVE: {', '.join(item['deploymentName'] for item in reached[:5])}")

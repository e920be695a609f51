"""Many environments from one app: the `environments` and `control` keys of the `rollout-guard` context.

    "environments": [{"name": "eu", "account": "111111111111", "region": "eu-west-1",
                      "policyFile": "policy-eu.yaml", "overrides": {"dryRun": true}}, ...],
    "control": {"account": "111111111111", "region": "eu-west-1", "organizationId": "o-abc123"}

One guard stack per environment (CDK's multi-environment pattern: `cdk deploy --all`), each self-contained and
configured by the shared context with its own policy file and overrides; one control stack in the home region.
Without `environments`, the app makes one guard stack in the CLI's environment, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .config import ConfigError
from .project import CONTEXT_KEY, DEPLOYMENT_KEYS

ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
NAME = re.compile(r"[A-Za-z0-9-]{1,40}")
ORGANIZATION = re.compile(r"o-[a-z0-9]{10,32}")
ENVIRONMENT_KEYS = {"name", "account", "region", "policyFile", "overrides"}
CONTROL_KEYS = {"account", "region", "organizationId"}
GUARD_STACK = "RolloutGuard"
CONTROL_STACK = "RolloutGuardControl"
CONTROL_BUS = "rollout-guard-control"


@dataclass(frozen=True)
class Environment:
    name: str
    account: str
    region: str
    policy_file: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def stack_name(self) -> str:
        return f"{GUARD_STACK}-{self.name}"


@dataclass(frozen=True)
class Control:
    account: str
    region: str
    organization_id: str | None = None

    def bus_arn(self, partition: str = "aws") -> str:
        return f"arn:{partition}:events:{self.region}:{self.account}:event-bus/{CONTROL_BUS}"


@dataclass(frozen=True)
class Deployment:
    environments: tuple[Environment, ...] = ()
    control: Control | None = None

    def guard_context(self, context: dict[str, Any], environment: Environment) -> dict[str, Any]:
        """The `rollout-guard` context of one environment's guard: the shared keys, its policy, its overrides."""
        own = {key: value for key, value in context.items() if key not in DEPLOYMENT_KEYS}
        own.update(dict(environment.overrides))
        if environment.policy_file:
            own["policyFile"] = environment.policy_file
        return own

    @classmethod
    def from_context(cls, context: Any) -> Deployment:
        context = context if isinstance(context, dict) else {}
        problems: list[str] = []
        environments = tuple(_environment(raw, index, problems)
                             for index, raw in enumerate(_list(context.get("environments"), problems)))
        names = [environment.name for environment in environments]
        if len(set(names)) != len(names):
            problems.append("environments: each name must be unique")
        places = [(environment.account, environment.region) for environment in environments]
        if len(set(places)) != len(places):
            problems.append("environments: one guard per account and region")
        control = _control(context.get("control"), problems) if context.get("control") is not None else None
        if control is not None and not environments:
            problems.append("control needs environments: it gathers their guards")
        if problems:
            raise ConfigError(f"cdk.json context '{CONTEXT_KEY}': " + "; ".join(problems))
        return cls(environments, control)


def _list(value: Any, problems: list[str]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append("environments must be a list")
        return []
    return value


def _text(raw: dict[str, Any], key: str, pattern: re.Pattern[str], what: str, label: str,
          problems: list[str]) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        problems.append(f"{label}: {key} {value!r} is not {what}")
        return ""
    return value


def _environment(raw: Any, index: int, problems: list[str]) -> Environment:
    label = f"environments[{index}]"
    if not isinstance(raw, dict):
        problems.append(f"{label} must be an object")
        return Environment(f"#{index}", "", "")
    problems += [f"{label}: unknown key {key!r}" for key in sorted(set(raw) - ENVIRONMENT_KEYS)]
    account = _text(raw, "account", ACCOUNT, "a 12-digit account id", label, problems)
    region = _text(raw, "region", REGION, "a region code", label, problems)
    name = raw.get("name", region)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.append(f"{label}: name {name!r} must be 1 to 40 letters, digits or -")
    overrides = raw.get("overrides", {})
    if not isinstance(overrides, dict) or set(overrides) & {*DEPLOYMENT_KEYS, "policyFile"}:
        problems.append(f"{label}: overrides must be an object of guard options (policyFile is its own key)")
        overrides = {}
    policy_file = raw.get("policyFile")
    if policy_file is not None and (not isinstance(policy_file, str) or not policy_file):
        problems.append(f"{label}: policyFile must be a path")
    return Environment(str(name), account, region, policy_file, tuple(sorted(overrides.items())))


def _control(raw: Any, problems: list[str]) -> Control | None:
    if not isinstance(raw, dict):
        problems.append("control must be an object")
        return None
    problems += [f"control: unknown key {key!r}" for key in sorted(set(raw) - CONTROL_KEYS)]
    account = _text(raw, "account", ACCOUNT, "a 12-digit account id", "control", problems)
    region = _text(raw, "region", REGION, "a region code", "control", problems)
    organization = raw.get("organizationId")
    if organization is not None and (not isinstance(organization, str) or not ORGANIZATION.fullmatch(organization)):
        problems.append(f"control: organizationId {organization!r} is not an organization id (o-...)")
    return Control(account, region, organization)

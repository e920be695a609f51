"""The deployment's configuration: the `rollout-guard` object in cdk.json's context, validated at synth time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollout_guard import policy as policy_module

CONTEXT_KEY = "rollout-guard"
KNOWN_KEYS = {
    "policyFile", "alarmNamePrefixes", "customEventSources", "alertTopicArns", "dryRun", "logRetentionDays",
    "jobTagKey", "jobTagValue", "alarmLambdaAction", "reservedConcurrency", "tracing",
    "killSwitchParameter",
}
PARAMETER = re.compile(r"/[A-Za-z0-9_.\-/]{1,1010}")
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")
# What CloudWatch Logs accepts as a retention, in days.
RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
                  3653}


class ConfigError(ValueError):
    """The cdk.json context is invalid."""


@dataclass(frozen=True)
class GuardConfig:
    policy_file: Path
    policy: policy_module.Policy
    policy_document: Any
    alarm_name_prefixes: tuple[str, ...] = ()
    custom_event_sources: tuple[str, ...] = ()
    alert_topic_arns: tuple[str, ...] = ()
    dry_run: bool = False
    log_retention_days: int = 30
    job_tag_key: str | None = None
    job_tag_value: str = "true"
    alarm_lambda_action: bool = True
    reserved_concurrency: int = 2
    tracing: bool = False
    kill_switch_parameter: str | None = None

    @classmethod
    def from_context(cls, context: Any, base: Path) -> GuardConfig:
        """Build from the context object; the policy file is resolved against `base` (the cdk.json folder)."""
        if context is None:
            context = {}
        if not isinstance(context, dict):
            raise ConfigError(f"context '{CONTEXT_KEY}' must be an object")
        problems = [f"unknown key {key!r}" for key in sorted(set(context) - KNOWN_KEYS)]

        def strings(key: str) -> tuple[str, ...]:
            value = context.get(key, [])
            if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
                problems.append(f"{key} must be a list of non-empty strings")
                return ()
            return tuple(value)

        prefixes, sources, topics = strings("alarmNamePrefixes"), strings("customEventSources"), strings("alertTopicArns")
        problems += [f"alertTopicArns: {arn!r} is not an SNS topic ARN" for arn in topics if not TOPIC_ARN.fullmatch(arn)]
        problems += [f"customEventSources: {s!r} is an AWS source" for s in sources if s.startswith("aws.")]
        for flag in ("dryRun", "alarmLambdaAction", "tracing"):
            if flag in context and not isinstance(context[flag], bool):
                problems.append(f"{flag} must be true or false")
        retention = context.get("logRetentionDays", 30)
        if retention not in RETENTION_DAYS or isinstance(retention, bool):
            problems.append(f"logRetentionDays {retention!r} is not a CloudWatch Logs retention")
        concurrency = context.get("reservedConcurrency", 2)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 10:
            problems.append("reservedConcurrency must be a whole number from 1 to 10 (IoT allows ~10 CancelJob/s)")
        tag_key = context.get("jobTagKey")
        if tag_key is not None and (not isinstance(tag_key, str) or not tag_key):
            problems.append("jobTagKey must be a non-empty string or null")
        tag_value = context.get("jobTagValue", "true")
        if not isinstance(tag_value, str) or not tag_value:
            problems.append("jobTagValue must be a non-empty string")
        kill_switch = context.get("killSwitchParameter")
        if kill_switch is not None and (not isinstance(kill_switch, str) or not PARAMETER.fullmatch(kill_switch)):
            problems.append(f"killSwitchParameter {kill_switch!r} is not an SSM parameter name starting with /")
        if problems:
            raise ConfigError(f"cdk.json context '{CONTEXT_KEY}': " + "; ".join(problems))

        policy_file = base / context.get("policyFile", "policy.yaml")
        document = policy_module.read_document(policy_file)
        return cls(
            policy_file=policy_file,
            policy=policy_module.load(document),
            policy_document=document,
            alarm_name_prefixes=prefixes,
            custom_event_sources=sources,
            alert_topic_arns=topics,
            dry_run=context.get("dryRun", False),
            log_retention_days=retention,
            job_tag_key=tag_key,
            job_tag_value=tag_value,
            alarm_lambda_action=context.get("alarmLambdaAction", True),
            reserved_concurrency=concurrency,
            tracing=context.get("tracing", False),
            kill_switch_parameter=kill_switch,
        )

    def job_globs(self) -> tuple[str, ...] | None:
        """The job id globs the function may ever cancel, or None when some rule leaves jobs open."""
        if any(rule.jobs is None for rule in self.policy.rules):
            return None
        return tuple(dict.fromkeys(glob for rule in self.policy.rules for glob in rule.jobs))

    def needs_listing(self) -> bool:
        """ListJobs serves rules that choose among active jobs by their globs."""
        return any(rule.jobs is not None for rule in self.policy.rules)

    def escalates(self) -> bool:
        """Some rule forces: it may force-cancel the IN_PROGRESS executions of a job cancelled without force."""
        return any(rule.force for rule in self.policy.rules)

    def handles_defender(self) -> bool:
        """Some rule can match a Device Defender violation, so the function looks up a thing's jobs."""
        return any(
            rule.match.alarm_name is None and rule.match.source is None and rule.match.severity is None
            for rule in self.policy.rules
        )

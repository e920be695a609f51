"""The deployment's configuration: the `rollout-guard` object in cdk.json's context, validated at synth time.

Each option is one field below: its context key, its default and its check are written once, there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from rollout_guard import policy as policy_module
from rollout_guard.halts.alert_kinds import CUSTOM, DEFENDER, OPERATOR_SOURCE
from rollout_guard.halts.decisions import kinds_matched
from rollout_guard.policy import THROTTLE

from .project import CONTEXT_KEY, DEFAULT_POLICY_FILE, DEPLOYMENT_KEYS

PARAMETER = re.compile(r"/[A-Za-z0-9_.\-/]{1,1010}")
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# What CloudWatch Logs accepts as a retention, in days.
RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
                  3653}

# Reserved concurrency left to the alert path above the fleet queue's consumers.
ALERT_ROOM = 2
# A check returns the value to keep, or raises ValueError with the problem.
Check = Callable[[str, Any], Any]


class ConfigError(ValueError):
    """The cdk.json context is invalid."""


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{key} must be a list of non-empty strings")
    return tuple(value)


def _topic_arns(key: str, value: Any) -> tuple[str, ...]:
    arns = _strings(key, value)
    bad = [arn for arn in arns if not TOPIC_ARN.fullmatch(arn)]
    if bad:
        raise ValueError(f"{key}: {bad[0]!r} is not an SNS topic ARN")
    return arns


def _event_sources(key: str, value: Any) -> tuple[str, ...]:
    sources = _strings(key, value)
    aws = [source for source in sources if source.startswith("aws.")]
    if aws:
        raise ValueError(f"{key}: {aws[0]!r} is an AWS source")
    return sources


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _retention(key: str, value: Any) -> int:
    if isinstance(value, bool) or value not in RETENTION_DAYS:
        raise ValueError(f"{key} {value!r} is not a CloudWatch Logs retention")
    return int(value)


def _concurrency(key: str, value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10):
        raise ValueError(f"{key} must be null (none reserved) or a whole number from 1 to 10")
    return value


def _consumers(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 20:
        raise ValueError(f"{key} must be a whole number from 2 to 20 (the SQS event source's maximum concurrency)")
    return value


def _rate(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10:
        raise ValueError(f"{key} must be a number of requests a second above 0 and at most 10 (IoT's planning rate)")
    return float(value)


def _archive_days(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        raise ValueError(f"{key} must be a whole number of days from 1 to 3650")
    return value


def _optional_matching(pattern: re.Pattern[str], what: str) -> Check:
    """A check for an optional string of a given form."""

    def check(key: str, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not pattern.fullmatch(value)):
            raise ValueError(f"{key}: {value!r} is not {what}")
        return value

    return check


def _optional_text(key: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{key} must be a non-empty string or null")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value




def _globs_of(rules: Any) -> tuple[str, ...] | None:
    """Every job glob of the rules, once each; None when one of them leaves jobs open."""
    globs: list[str] = []
    for rule in rules:
        if rule.jobs is None:
            return None
        globs += rule.jobs
    return tuple(dict.fromkeys(globs))


def option(key: str, default: Any, check: Check) -> Any:
    """A context option: the field's default is the option's default."""
    return field(default=default, metadata={"key": key, "check": check})


@dataclass(frozen=True)
class GuardConfig:
    policy_file: Path
    policy: policy_module.Policy
    policy_document: Any
    alarm_name_prefixes: tuple[str, ...] = option("alarmNamePrefixes", (), _strings)
    custom_event_sources: tuple[str, ...] = option("customEventSources", (), _event_sources)
    alert_topic_arns: tuple[str, ...] = option("alertTopicArns", (), _topic_arns)
    dry_run: bool = option("dryRun", False, _flag)
    log_retention_days: int = option("logRetentionDays", 30, _retention)
    job_tag_key: str | None = option("jobTagKey", None, _optional_text)
    job_tag_value: str = option("jobTagValue", "true", _text)
    # One path per alarm by default: the EventBridge rule on alarmNamePrefixes. The Lambda alarm action is an
    # alternative to turn on knowingly (an alarm wired both ways runs the guard twice).
    alarm_lambda_action: bool = option("alarmLambdaAction", False, _flag)
    # Opt-in: Lambda keeps 10 executions of the account unreserved, and new accounts often have only 10.
    reserved_concurrency: int | None = option("reservedConcurrency", None, _concurrency)
    tracing: bool = option("tracing", False, _flag)
    kill_switch_parameter: str | None = option("killSwitchParameter", None,
                                               _optional_matching(PARAMETER, "an SSM parameter name starting with /"))
    operations_topic_arn: str | None = option("operationsTopicArn", None,
                                              _optional_matching(TOPIC_ARN, "an SNS topic ARN"))
    operations_email: str | None = option("operationsEmail", None, _optional_matching(EMAIL, "an e-mail address"))
    # The fleet signal: topic rules on the Jobs execution (and, for dark things, lifecycle) events into a queue the
    # function reads; it needs a rule with match.signal: casualties.
    fleet_signal: bool = option("fleetSignal", False, _flag)
    # IoT's API rates are per account and region, and each consumer paces itself: the fleet queue is read by at most
    # `fleetConsumers` concurrent batches, which share `fleetIotRate` requests a second of each IoT operation; the
    # rest of IoT's ~10 a second is left to halts. A consumer's pacer spaces its calls by 1 / its share, so with a
    # share of at most 1 a second no one-second window holds more than `fleetConsumers` of one operation. At most 20 consumers: a job's tally item takes a write from about
    # every batch of a failing rollout (~25 batches a second a consumer), and one item takes 1,000 writes a second.
    fleet_consumers: int = option("fleetConsumers", 5, _consumers)
    fleet_iot_rate: float = option("fleetIotRate", 5.0, _rate)
    # Something to replay: the same topic rules also deliver the fleet's events to Firehose, into an encrypted bucket
    # as gzip JSON lines (`rollout-guard replay` reads them), kept `fleetArchiveDays`.
    fleet_archive: bool = option("fleetArchive", False, _flag)
    fleet_archive_days: int = option("fleetArchiveDays", 30, _archive_days)
    # UpdateEventConfigurations through a custom resource: Jobs events are off in an account until turned on, for
    # every consumer of the account and region, so this is asked for knowingly (README gives the one command).
    enable_job_events: bool = option("enableJobEvents", False, _flag)
    # The pre-start gate: CloudTrail's record of CreateJob reaches the function, which cancels a job created while
    # its rule's alarm is in ALARM; it needs a rule with match.alarm_name and a trail of management events.
    pre_start_gate: bool = option("preStartGate", False, _flag)
    # A trail of write management events for the gate, where the account has none in the region.
    gate_trail: bool = option("gateTrail", False, _flag)
    gate_trail_days: int = option("gateTrailDays", 30, _archive_days)

    @classmethod
    def options(cls) -> dict[str, Any]:
        """Context key -> the dataclass field it sets."""
        return {f.metadata["key"]: f for f in fields(cls) if "key" in f.metadata}

    @classmethod
    def from_context(cls, context: Any, base: Path) -> GuardConfig:
        """Build from the context object; the policy file is resolved against `base` (the cdk.json folder)."""
        context = {} if context is None else context
        if not isinstance(context, dict):
            raise ConfigError(f"context '{CONTEXT_KEY}' must be an object")
        options = cls.options()
        known = {*options, "policyFile", *DEPLOYMENT_KEYS}  # the deployment's keys are read by environments.py
        problems = [f"unknown key {key!r}" for key in sorted(set(context) - known)]
        values: dict[str, Any] = {}
        for key, spec in options.items():
            if key in context:
                try:
                    values[spec.name] = spec.metadata["check"](key, context[key])
                except ValueError as error:
                    problems.append(str(error))
        if problems:
            raise ConfigError(f"cdk.json context '{CONTEXT_KEY}': " + "; ".join(problems))
        policy_file = base / context.get("policyFile", DEFAULT_POLICY_FILE)
        document = policy_module.read_document(policy_file)
        config = cls(policy_file=policy_file, policy=policy_module.load(document), policy_document=document,
                     **values)
        config.check_features()
        config.check_concurrency(explicit_consumers="fleetConsumers" in context)
        return config

    def check_concurrency(self, explicit_consumers: bool) -> None:
        """The SQS event source does not count reserved concurrency: with `fleetConsumers` batches of a fleet
        backlog holding every reserved slot, alerts would be throttled, and throttled batches count towards the
        fleet queue's maxReceiveCount. So a reservation leaves the alert path at least 2 above the consumers."""
        reserved, consumers = self.reserved_concurrency, self.fleet_consumers
        if reserved is None or not (self.fleet_signal or explicit_consumers) or reserved >= consumers + ALERT_ROOM:
            return
        raise ConfigError(f"cdk.json context '{CONTEXT_KEY}': reservedConcurrency {reserved} must exceed "
                          f"fleetConsumers {consumers} by at least {ALERT_ROOM} (the fleet queue's batches would take "
                          f"every slot the alerts need): set reservedConcurrency to {consumers + ALERT_ROOM} or more, "
                          f"lower fleetConsumers, or reserve none (null)")

    def check_features(self) -> None:
        """A feature turned on must have a rule to serve."""
        problems = []
        if self.fleet_signal and not self.policy.fleet_rules():
            problems.append("fleetSignal is on, but no rule of the policy has match.signal: casualties")
        if self.fleet_archive and not self.fleet_signal:
            problems.append("fleetArchive keeps the fleet signal's events: turn fleetSignal on too")
        if self.enable_job_events and not self.fleet_signal:
            problems.append("enableJobEvents serves the fleet signal: turn fleetSignal on too")
        if self.gate_trail and not self.pre_start_gate:
            problems.append("gateTrail serves the pre-start gate: turn preStartGate on too")
        if self.pre_start_gate and not self.gated_alarms():
            problems.append("preStartGate is on, but no rule of the policy has match.alarm_name")
        if problems:
            raise ConfigError(f"cdk.json context '{CONTEXT_KEY}': " + "; ".join(problems))

    def gated_alarms(self) -> tuple[str, ...]:
        """The alarm globs the pre-start gate looks at."""
        return tuple(dict.fromkeys(rule.match.alarm_name for rule in self.policy.rules if rule.match.alarm_name))

    # --- what the function's IAM needs, from the policy's own matching ---------------------------------------

    def job_globs(self) -> tuple[str, ...] | None:
        """The job id globs the function may ever cancel, or None when some rule leaves jobs open."""
        return _globs_of(self.policy.rules)

    def throttle_rules(self) -> tuple[Any, ...]:
        """The rules whose action is `throttle`: they update jobs, and their alarms' returns to OK restore them."""
        return tuple(rule for rule in self.policy.rules if rule.action == THROTTLE)

    def watches_throttles(self) -> bool:
        """Some rule may throttle a job (a throttle rule, or an operator's throttle): every throttle gets a timer
        (EventBridge Scheduler) that restores, escalates, forgets or announces it (`halts.throttle.watchdog`)."""
        return bool(self.updating_rules())

    def updating_rules(self) -> tuple[Any, ...]:
        """The rules that may call UpdateJob: throttle rules, and the rules an operator's throttle or resume acts
        under (`rollout-guard throttle`, through the operator rule's guardrails)."""
        operator = tuple(rule for rule in self.policy.rules if CUSTOM in kinds_matched(rule)
                         and fnmatchcase(OPERATOR_SOURCE, rule.match.source or "*"))
        return tuple(dict.fromkeys((*self.throttle_rules(), *operator)))

    def throttle_job_globs(self) -> tuple[str, ...] | None:
        """The job globs UpdateJob may touch, or None when a rule that updates leaves jobs open."""
        return _globs_of(self.updating_rules())

    def needs_listing(self) -> bool:
        """ListJobs serves rules that choose among active jobs by their globs."""
        return any(rule.jobs is not None for rule in self.policy.rules)

    def revert_rules(self) -> tuple[Any, ...]:
        """The rules with a `revert`: the function lists their jobs' SUCCEEDED things and creates revert jobs."""
        return tuple(rule for rule in self.policy.rules if rule.revert is not None)

    def revert_job_globs(self) -> tuple[str, ...]:
        """The job globs of the revert rules (the jobs a revert follows); ("*",) when one of them leaves jobs open."""
        return _globs_of(self.revert_rules()) or ("*",)

    def revert_ids(self) -> tuple[str, ...]:
        """Globs over the ids of the revert jobs the function may create (`<job>-revert`, `<job>-revert-N`): the
        revert rules' job globs with the suffix."""
        return tuple(f"{glob}-revert*" for glob in self.revert_job_globs())

    def stops_deployments(self) -> bool:
        """Some rule names Greengrass v2 deployments: the function lists, reads and cancels them."""
        return any(rule.deployments is not None for rule in self.policy.rules)

    def counts_dark_things(self) -> bool:
        """The fleet signal looks for dark things: its checks list the fleet jobs' IN_PROGRESS executions."""
        return self.fleet_signal and bool(self.policy.dark_checks())

    def fleet_iot_rate_per_consumer(self) -> float:
        return self.fleet_iot_rate / self.fleet_consumers

    def escalates(self) -> bool:
        """Some rule forces: it may force-cancel the IN_PROGRESS executions of a job cancelled without force."""
        return any(rule.force for rule in self.policy.rules)

    def handles_operator_halts(self) -> bool:
        """Some rule can match an operator's halt (`rollout-guard halt`, the control bus)."""
        return any(CUSTOM in kinds_matched(rule) and fnmatchcase(OPERATOR_SOURCE, rule.match.source or "*")
                   for rule in self.policy.rules)

    def looks_up_things(self) -> bool:
        """The function asks which jobs a thing is executing: for a Defender violation, or a dark thing."""
        return self.handles_defender() or self.fleet_signal

    def handles_defender(self) -> bool:
        """Some rule can match a Device Defender violation, so the function looks up a thing's jobs and Device
        Defender gets a role to publish to the alert topic."""
        return bool(self.security_profiles())

    def security_profiles(self) -> tuple[str, ...]:
        """Globs of the security profiles whose violations some rule can match ('*' for a rule that names none)."""
        defender_rules = [rule for rule in self.policy.rules if DEFENDER in kinds_matched(rule)]
        return tuple(dict.fromkeys(rule.match.security_profile or "*" for rule in defender_rules))

"""`rollout-guard doctor`: what the live account still lacks for the guard as configured, region by region.

Each check reads only: the clients it uses refuse, before sending, any operation that is not a Describe, Get or
List (so a check cannot change the account even by mistake). A check that cannot be made (access denied, an API the
region lacks, an error) is a warning that says so, never a pass. Each finding names the one command or setting that
fixes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from rollout_guard_cdk import outputs

from .doctor_account import (
    DETECT_CLOSED,
    FLEET_QUEUE_LAG_S,
    FUNCTION,
    GONE,
    IOT_DOCUMENTED_RATE,
    JOB_EVENTS,
    NOT_CHECKED,
    OK,
    PROBLEM,
    QUEUE,
    STACK_OK,
    TABLE,
    TOPIC,
    WARNING,
    Account,
    Finding,
    WriteRefused,
    cannot,
)
from .doctor_deployments import check_deployments
from .doctor_quotas import check_insights_alarms, check_throttled_jobs, check_timer_role, check_trail_quota
from .doctor_reverts import check_reverts
from .everywhere import ANSWERED, Target
from .tables import text_table

__all__ = ["OK", "PROBLEM", "WARNING", "Account", "Finding", "WriteRefused", "examine", "run_check"]


# --- the checks: each takes the account and yields findings ------------------------------------------------


def check_stack(account: Account) -> Iterator[Finding]:
    name, region = account.target.stack, account.target.region
    if account.stack is None:
        yield Finding("stack", PROBLEM, f"stack {name} is not deployed in {region}", f"cdk deploy {name}")
        return
    status = account.stack["StackStatus"]
    verdict = OK if status in STACK_OK else PROBLEM
    yield Finding("stack", verdict, f"{name} {status}", "-" if verdict == OK else f"cdk deploy {name}")
    missing = [key for key in expected_outputs(account.config) if account.output(key) is None]
    if missing:
        yield Finding("stack outputs", WARNING, f"{name} has no output {', '.join(missing)} (deployed before this "
                      "version declared it): the checks that read it are left out", f"cdk deploy {name}")


def expected_outputs(config: Any) -> list[str]:
    """The outputs a stack of this configuration declares, which the checks read the guard's resources by."""
    wanted = [outputs.FUNCTION, outputs.STATE_TABLE, outputs.DEAD_LETTER_QUEUE]
    wanted += [outputs.ALARM_RULE] if config.alarm_name_prefixes else []
    wanted += [outputs.FLEET_QUEUE, outputs.FLEET_ERROR_QUEUE] if config.fleet_signal else []
    wanted += [outputs.TIMER_DEAD_LETTER_QUEUE, outputs.ESCALATION_SCHEDULER_ROLE] if config.watches_throttles() else []
    return wanted


def check_resources(account: Account) -> Iterator[Finding]:
    """Each of the stack's functions, topics, queues and tables still exists; a kind whose look is denied is a
    warning for that kind alone."""
    from botocore.exceptions import ClientError

    if account.stack is None:
        return

    looks = {FUNCTION: lambda name: account.client("lambda").get_function_configuration(FunctionName=name),
             TOPIC: lambda arn: account.client("sns").get_topic_attributes(TopicArn=arn),
             QUEUE: lambda url: account.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]),
             TABLE: lambda name: account.client("dynamodb").describe_table(TableName=name)}
    seen, gone, unchecked = [], [], {}
    for resource in account.resources:
        kind = resource.get("ResourceType", "")
        look = looks.get(kind)
        if look is None or kind in unchecked:
            continue
        try:
            look(resource["PhysicalResourceId"])
            seen.append(kind.split("::")[-1].lower())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in GONE:
                gone.append(f"{resource['LogicalResourceId']} ({resource['PhysicalResourceId']})")
            else:
                unchecked[kind] = cannot("stack resources", error)
    yield from unchecked.values()
    for missing in gone:
        yield Finding("stack resources", PROBLEM, f"the stack's {missing} no longer exists",
                      f"cdk deploy {account.target.stack}")
    kinds = ", ".join(f"{seen.count(kind)} {kind}(s)" for kind in dict.fromkeys(seen))
    yield Finding("stack resources", OK if not gone else PROBLEM, f"found the stack's {kinds or 'nothing'}")


def check_function(account: Account) -> Iterator[Finding]:
    from rollout_guard import settings

    if account.stack is None:
        return
    if account.function is None:
        yield Finding("function", PROBLEM, "the stack has no guard function", f"cdk deploy {account.target.stack}")
        return
    env = (account.function.get("Environment") or {}).get("Variables", {})
    wanted = {settings.STATE_TABLE: account.output(outputs.STATE_TABLE),
              settings.DEAD_LETTER_QUEUE: account.output(outputs.DEAD_LETTER_QUEUE),
              settings.FLEET_QUEUE: account.output(outputs.FLEET_QUEUE)}
    drifted = [f"{variable}={env.get(variable)!r}, the stack made {made!r}" for variable, made in wanted.items()
               if made is not None and env.get(variable) != made]
    if drifted:
        yield Finding("function", PROBLEM, f"{account.function['FunctionName']} reads what the stack did not make: "
                      + "; ".join(drifted), f"cdk deploy {account.target.stack}")
    else:
        yield Finding("function", OK, f"{account.function['FunctionName']} uses the stack's table and queues")


def check_job_events(account: Account) -> Iterator[Finding]:
    if not account.config.fleet_signal:
        return
    configured = account.client("iot").describe_event_configurations().get("eventConfigurations", {})
    off = [kind for kind in JOB_EVENTS if not (configured.get(kind) or {}).get("Enabled")]
    if off:
        turn_on = json.dumps({kind: {"Enabled": True} for kind in JOB_EVENTS}, separators=(",", ":"))
        yield Finding("jobs events", PROBLEM, f"{' and '.join(off)} events are off: the fleet signal hears no "
                      "execution", f"aws iot update-event-configurations --event-configurations '{turn_on}' "
                      f"--region {account.target.region} (or enableJobEvents: true)")
    else:
        yield Finding("jobs events", OK, "JOB and JOB_EXECUTION events are on")


def check_trail(account: Account) -> Iterator[Finding]:
    if not account.config.pre_start_gate:
        return
    from botocore.exceptions import ClientError

    cloudtrail, region = account.client("cloudtrail"), account.target.region
    trails = cloudtrail.describe_trails(includeShadowTrails=True).get("trailList", [])
    covering = [t for t in trails if t.get("IsMultiRegionTrail") or t.get("HomeRegion") == region]
    logging, writing, unread = 0, [], []
    for trail in covering:  # one trail that cannot be read (another account's, a denied one) hides no other
        try:
            if not cloudtrail.get_trail_status(Name=trail["TrailARN"]).get("IsLogging"):
                continue
            logging += 1
            if logs_write_management(cloudtrail.get_event_selectors(TrailName=trail["TrailARN"])):
                writing.append(trail["Name"])
        except ClientError as error:
            unread.append(cannot("trail", error).found.removeprefix(NOT_CHECKED) + f" for {trail['Name']}")
    if writing:
        yield Finding("trail", OK, f"{writing[0]} logs write management events: the gate hears CreateJob")
    elif unread:
        yield Finding("trail", WARNING, f"no trail read logs write management events in {region}; not read: "
                      + "; ".join(unread), "allow cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors, or "
                      "gateTrail: true")
    else:
        yield Finding("trail", PROBLEM, f"no trail logging write management events in {region} "
                      f"({len(covering)} trail(s) cover it, {logging} logging): the gate never hears CreateJob",
                      "gateTrail: true in cdk.json, then cdk deploy")


def logs_write_management(selectors: dict[str, Any]) -> bool:
    """Whether a trail's event selectors record IoT's write management calls (CreateJob)."""
    basic, advanced = selectors.get("EventSelectors"), selectors.get("AdvancedEventSelectors")
    if not basic and not advanced:
        return True  # a trail's default: every management event
    if any(s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") in ("All", "WriteOnly")
           for s in basic or []):
        return True
    return any(_advanced_logs_iot_writes(selector.get("FieldSelectors", [])) for selector in advanced or [])


def _advanced_logs_iot_writes(fields: list[dict[str, Any]]) -> bool:
    by_field = {f["Field"]: f for f in fields}
    category, read_only, source = (by_field.get(name, {}) for name in ("eventCategory", "readOnly", "eventSource"))
    if "Management" not in category.get("Equals", []) or "true" in read_only.get("Equals", []):
        return False
    if source.get("Equals") and "iot.amazonaws.com" not in source["Equals"]:
        return False
    return "iot.amazonaws.com" not in source.get("NotEquals", [])


def check_alarms(account: Account) -> Iterator[Finding]:
    rules = [rule for rule in account.config.policy.rules if rule.match.alarm_name]
    if not rules:
        return
    heard_by = _alarm_routes(account)
    for rule in rules:
        matched = [alarm for alarm in account.alarms if fnmatchcase(alarm["AlarmName"], rule.match.alarm_name)]
        check = f"alarms of rule {rule.name}"
        if not matched:
            yield Finding(check, PROBLEM, f"no alarm matches {rule.match.alarm_name!r}: the rule never fires",
                          f"create an alarm whose name matches {rule.match.alarm_name!r}, or change the rule")
            continue
        wrong = [finding for alarm in matched for finding in _alarm_findings(account, rule, alarm, heard_by)]
        yield from wrong
        if not wrong:
            yield Finding(check, OK, f"{len(matched)} alarm(s) match {rule.match.alarm_name!r}; each reaches the "
                          "guard and names its jobs" + ("" if rule.jobs is None else " or the rule's jobs globs do"))
    yield from _unmatched(account, rules, heard_by)


def _unmatched(account: Account, rules: list[Any], heard_by: dict[str, Any]) -> Iterator[Finding]:
    """Alarms the stack delivers to the guard that no rule matches: their alerts are ignored."""
    heard = [alarm["AlarmName"] for alarm in account.alarms
             if any(alarm["AlarmName"].startswith(prefix) for prefix in heard_by["prefixes"])
             or heard_by["actions"] & set(alarm.get("AlarmActions", []))]
    ignored = [name for name in heard if not any(fnmatchcase(name, rule.match.alarm_name) for rule in rules)]
    if ignored:
        yield Finding("alarms no rule matches", WARNING, f"the guard hears {', '.join(ignored[:5])}"
                      f"{' ...' if len(ignored) > 5 else ''} but no rule's alarm_name matches: ignored",
                      "add a rule for them, or narrow alarmNamePrefixes / their alarm actions")


def _alarm_routes(account: Account) -> dict[str, Any]:
    """How alarms reach the guard: the stack's EventBridge rule's alarm-name prefixes, and the ARNs an alarm action
    may name (the alert topic, topics the guard subscribes to, the function)."""
    prefixes: list[str] = []
    rule_name = account.output(outputs.ALARM_RULE)
    if rule_name is not None:
        rule = account.client("events").describe_rule(Name=rule_name)
        if rule.get("State") == "ENABLED":
            names = json.loads(rule.get("EventPattern") or "{}").get("detail", {}).get("alarmName", [])
            prefixes = [n["prefix"] if isinstance(n, dict) else n for n in names
                        if isinstance(n, str) or "prefix" in n]
    topics = [topic] if (topic := account.output(outputs.ALERT_TOPIC)) else []
    actions = {*topics, *account.config.alert_topic_arns}
    if account.function is not None:
        actions.add(account.function["FunctionArn"])
    return {"prefixes": prefixes, "actions": actions, "topic": topics[0] if topics else "<the alert topic>"}


def _alarm_findings(account: Account, rule: Any, alarm: dict[str, Any], heard_by: dict[str, Any]) -> Iterator[Finding]:
    from rollout_guard.halts.alert_kinds import JOB_ID_DIMENSION
    from rollout_guard.policy import THROTTLE

    check, name = f"alarms of rule {rule.name}", alarm["AlarmName"]
    by_rule = any(name.startswith(prefix) for prefix in heard_by["prefixes"])
    by_action = alarm.get("ActionsEnabled", True) and bool(heard_by["actions"] & set(alarm.get("AlarmActions", [])))
    if account.stack is not None and not by_rule and not by_action:
        topic = heard_by["topic"]
        yield Finding(check, PROBLEM, f"{name} never reaches the guard: no ALARM action to its topic, and the "
                      "EventBridge rule's prefixes do not match it",
                      f"aws cloudwatch put-metric-alarm ... --alarm-actions {topic} (or add a prefix to "
                      "alarmNamePrefixes)")
    if rule.action == THROTTLE and by_action and not by_rule and not heard_by["actions"] & set(
            alarm.get("OKActions", [])):
        yield Finding(check, PROBLEM, f"{name} throttles through its ALARM action, but its return to OK never "
                      "reaches the guard: a throttled job would stay slow", f"aws cloudwatch put-metric-alarm ... "
                      f"--ok-actions {heard_by['topic']} (or add a prefix to alarmNamePrefixes)")
    if rule.jobs is not None or rule.deployments is not None:  # the rule's globs choose
        return
    dimensions = [*alarm.get("Dimensions", []),
                  *(d for m in alarm.get("Metrics", []) for d in m.get("MetricStat", {}).get("Metric", {})
                    .get("Dimensions", []))]
    if any(d["Name"] == JOB_ID_DIMENSION for d in dimensions):
        return
    tags = account.client("cloudwatch").list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
    if by_rule and any(tag["Key"] == JOB_ID_DIMENSION for tag in tags):
        return  # alarm tags travel in EventBridge's event only
    yield Finding(check, PROBLEM, f"{name} names no job (no {JOB_ID_DIMENSION} dimension, no {JOB_ID_DIMENSION} "
                  "tag EventBridge delivers) and the rule has no jobs globs: it selects nothing",
                  f"tag the alarm {JOB_ID_DIMENSION}=<job id>, or give rule {rule.name} jobs globs")


def check_defender(account: Account) -> Iterator[Finding]:
    globs = account.config.security_profiles() if account.config.handles_defender() else ()
    if not globs:
        return
    iot = account.client("iot")
    topic, role_arn = account.output(outputs.ALERT_TOPIC), account.output(outputs.DEFENDER_ALERT_ROLE)
    names = [p["name"] for page in iot.get_paginator("list_security_profiles").paginate()
             for p in page.get("securityProfileIdentifiers", [])]
    matched = [name for name in names if any(fnmatchcase(name, glob) for glob in globs)]
    sending = []
    for name in matched:
        target = iot.describe_security_profile(securityProfileName=name).get("alertTargets", {}).get("SNS", {})
        role = target.get("roleArn", "")
        if topic is not None and target.get("alertTargetArn") == topic and role == role_arn:
            sending.append(name)
    if sending:
        yield Finding("device defender", OK, f"alerting the guard's topic through the stack's role: "
                      f"{', '.join(sending)}. {DETECT_CLOSED}")
        return
    role = role_arn.rsplit("/", 1)[-1] if role_arn else "<defender alert role>"
    topic = topic or "<alert topic>"
    yield Finding("device defender", PROBLEM, f"no security profile matching {', '.join(globs)} sends its "
                  f"violations to the guard ({len(matched)} match). {DETECT_CLOSED}",
                  "aws iot update-security-profile --security-profile-name NAME --alert-targets "
                  f"'SNS={{alertTargetArn={topic},roleArn=<arn of role {role}>}}'")


def check_kill_switch(account: Account) -> Iterator[Finding]:
    from botocore.exceptions import ClientError

    from rollout_guard.adapters.kill_switch import OFF, ON

    name = account.config.kill_switch_parameter
    if not name:
        return
    try:
        value = account.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        yield Finding("kill switch", OK, f"{name} is absent: off, the guard acts")
        return
    normalised = value.strip().lower()
    if normalised in ON:
        yield Finding("kill switch", WARNING, f"{name} is {value!r}: every halt is a dry run",
                      f"aws ssm put-parameter --name {name} --value off --overwrite")
    elif normalised in OFF:
        yield Finding("kill switch", OK, f"{name} is {value!r}: the guard acts")
    else:
        yield Finding("kill switch", WARNING, f"{name} holds {value!r}, neither on nor off (counted as off)",
                      f"aws ssm put-parameter --name {name} --value off --overwrite")


# The queues that hold what the guard could not handle: (check, the stack's output, what a message is, the fix).
DRAINED = (
    ("dead letters", outputs.DEAD_LETTER_QUEUE, "alert(s) the guard never handled",
     "replay each with rollout-guard invoke"),
    ("fleet errors", outputs.FLEET_ERROR_QUEUE, "fleet message(s) IoT could not deliver or the function could not "
     "handle", "an IoT error message carries the event in base64OriginalPayload; replay events with rollout-guard "
     "invoke (or rollout-guard replay to see what they would have done)"),
    ("timer dead letters", outputs.TIMER_DEAD_LETTER_QUEUE, "throttle timer(s) Scheduler could not deliver: their jobs "
     "are not watched", "rollout-guard status lists the throttled jobs: resume or halt each; replay a timer's event "
     "with rollout-guard invoke"),
)


def check_dead_letters(account: Account) -> Iterator[Finding]:
    for check, output, what, fix in DRAINED:
        for url in filter(None, [account.output(output)]):
            attributes = account.client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
            depth = sum(int(value) for value in attributes.get("Attributes", {}).values())
            if depth:
                yield Finding(check, PROBLEM, f"{depth} {what} in {url}", f"aws sqs receive-message --queue-url {url}; "
                              + fix)
            else:
                yield Finding(check, OK, "empty")


def check_function_health(account: Account) -> Iterator[Finding]:
    if account.function is None:
        return
    name = account.function["FunctionName"]
    errors = account.metric_sum("AWS/Lambda", "Errors", {"FunctionName": name})
    throttles = account.metric_sum("AWS/Lambda", "Throttles", {"FunctionName": name})
    if errors or throttles:
        yield Finding("function health", WARNING, f"{errors:g} error(s) and {throttles:g} throttle(s) in the last "
                      "hour", f"aws logs tail /aws/lambda/{name} --since 1h (errors); reservedConcurrency "
                      "(throttles)")
    else:
        yield Finding("function health", OK, "no errors or throttles in the last hour")


def check_fleet_queue(account: Account) -> Iterator[Finding]:
    url = account.output(outputs.FLEET_QUEUE)
    if url is None or account.function is None:
        return
    mappings = account.client("lambda").list_event_source_mappings(
        FunctionName=account.function["FunctionName"]).get("EventSourceMappings", [])
    states = [m.get("State") for m in mappings if m.get("EventSourceArn", "").endswith(":" + url.rsplit("/", 1)[-1])]
    if "Enabled" not in states:
        yield Finding("fleet queue", PROBLEM, f"the function does not read {url} (mapping {states or 'missing'})",
                      f"cdk deploy {account.target.stack}")
        return
    age = account.metric_sum("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": url.rsplit("/", 1)[-1]},
                             hours=0.25, statistic="Maximum")
    if age > FLEET_QUEUE_LAG_S:
        yield Finding("fleet queue", WARNING, f"oldest message {age:g} s old: the fleet signal lags",
                      "fleetConsumers (more concurrent batches), or find the failing batch in the function's logs")
    else:
        yield Finding("fleet queue", OK, f"read by the function; oldest message {age:g} s in the last 15 minutes")


def check_iot_rate(account: Account) -> Iterator[Finding]:
    from rollout_guard import settings

    config = account.config
    env = ((account.function or {}).get("Environment") or {}).get("Variables", {})
    alert_rate = float(env.get(settings.IOT_RATE, settings.Settings.iot_rate))
    fleet_rate = (float(env.get(settings.FLEET_IOT_RATE, config.fleet_iot_rate_per_consumer())) * config.fleet_consumers
                  if config.fleet_signal else 0.0)
    basis = f"the documented {IOT_DOCUMENTED_RATE:g}/s per Jobs API and region (2019 guide, none newer)"
    if fleet_rate >= IOT_DOCUMENTED_RATE:
        yield Finding("iot rate", PROBLEM, f"the fleet signal may take {fleet_rate:g}/s, all of {basis}: halts "
                      "would wait", "lower fleetIotRate in cdk.json")
    elif alert_rate == 0 or alert_rate > IOT_DOCUMENTED_RATE:
        yield Finding("iot rate", WARNING, f"halts are paced at {alert_rate:g}/s (0 = unpaced) against {basis}: "
                      "expect throttling answers, retried", f"{settings.IOT_RATE}=10")
    else:
        yield Finding("iot rate", OK, f"halts {alert_rate:g}/s an instance, fleet signal {fleet_rate:g}/s in all; "
                      f"{basis}")


CHECKS: tuple[tuple[str, Callable[[Account], Iterator[Finding]]], ...] = (
    ("stack", check_stack), ("stack resources", check_resources), ("function", check_function),
    ("jobs events", check_job_events), ("trail", check_trail), ("trail quota", check_trail_quota),
    ("alarms", check_alarms), ("metrics insights alarms", check_insights_alarms),
    ("device defender", check_defender), ("kill switch", check_kill_switch),
    ("dead letters", check_dead_letters), ("function health", check_function_health),
    ("fleet queue", check_fleet_queue), ("iot rate", check_iot_rate), ("throttled jobs", check_throttled_jobs),
    ("timer role", check_timer_role), ("greengrass deployments", check_deployments), ("reverts", check_reverts))


def examine(target: Target, config: Any, clients: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every check of one region; a check that cannot be made is a warning saying why, and the others still run.
    A region that cannot be reached at all fails as a whole (nothing there was checked)."""
    account = Account(target, config, clients or {})
    findings = [finding for name, check in CHECKS for finding in run_check(account, name, check)]
    if findings and all(finding.found.startswith(NOT_CHECKED) for finding in findings):
        # nothing could be checked (a region's endpoint that answers nothing doctor can read): never a pass
        findings.insert(0, Finding("region", PROBLEM, f"no check could be made in {target.region}: "
                                   f"{findings[0].found.removeprefix(NOT_CHECKED)}", "the region, credentials and "
                                   "doctor's permissions (rollout-guard doctor --print-policy)"))
    return {"detail": "", "checks": [asdict(finding) for finding in findings]}


def run_check(account: Account, name: str, check: Callable[[Account], Iterator[Finding]]) -> list[Finding]:
    """One check's findings, or the warning that it could not be made; an unreachable region fails as a whole."""
    from botocore.exceptions import ConnectionError as Unreachable

    findings: list[Finding] = []
    try:
        findings.extend(check(account))
    except Unreachable:
        raise
    except Exception as error:  # noqa: BLE001 (reported as the check's finding, never a pass)
        findings.append(cannot(name, error))
    return findings


def guard_config(target: Target) -> Any:
    """The guard as this environment configures it (cdk.json's context and policy)."""
    from rollout_guard_cdk.config import GuardConfig

    return GuardConfig.from_context({**target.context, "policyFile": str(target.policy_file)}, Path("/"))


def failed(answers: list[dict[str, Any]]) -> bool:
    """A problem anywhere, or a region that did not answer (nothing there was checked)."""
    return any(a["status"] != ANSWERED or any(c["verdict"] == PROBLEM for c in a.get("checks", [])) for a in answers)


HEADERS = ["region", "check", "verdict", "found", "fix"]


def check_rows(answers: list[dict[str, Any]]) -> list[list[Any]]:
    found = []
    for answer in answers:
        if answer["status"] != ANSWERED:
            found.append([answer["region"], "region", PROBLEM, f"{answer['status']}: {answer['detail']}", "-"])
        found += [[answer["region"], c["check"], c["verdict"], c["found"], c["fix"]] for c in answer.get("checks", [])]
    return found


def as_text(answers: list[dict[str, Any]]) -> str:
    rows = check_rows(answers)
    counts = {verdict: sum(1 for row in rows if row[2] == verdict) for verdict in (PROBLEM, WARNING, OK)}
    summary = f"{counts[PROBLEM]} problem(s), {counts[WARNING]} warning(s), {counts[OK]} ok"
    return text_table(rows, HEADERS) + f"\n\n{summary}"


def as_json(answers: list[dict[str, Any]]) -> dict[str, Any]:
    checks = [c for a in answers for c in a.get("checks", [])]
    return {"regions": answers, "problems": sum(1 for c in checks if c["verdict"] == PROBLEM)
            + sum(1 for a in answers if a["status"] != ANSWERED),
            "warnings": sum(1 for c in checks if c["verdict"] == WARNING)}

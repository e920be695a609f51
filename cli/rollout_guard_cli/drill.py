"""The local drill behind `make demo`: a moto server, a small fleet, real alerts through `rollout-guard invoke`.

Each invoke runs the command's own code in the drill's process, with the emulator as its AWS; the alarm delivered
twice at once goes to two processes, as to two instances of the function. It checks what a user would check, the
jobs' final states, and exits non-zero when the guard did not do what the policy says. The server is always
stopped.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rollout_guard_cdk import outputs
from rollout_guard_local import samples
from rollout_guard_local.emulator import EMULATOR_ENV, client, client_env, moto_server
from rollout_guard_local.fault_proxy import FaultProxy
from rollout_guard_local.rehearsal import STACK

from . import invoke, revert
from .everywhere import outputs_of
from .in_process import run_captured
from .tables import text_table

GROUPS = {"fleet-eu": ["dev-eu-1", "dev-eu-2", "dev-eu-3"], "fleet-us": ["dev-us-1", "dev-us-2"]}
CANARY = "dev-canary-1"
# job id -> (targets, what the drill expects at the end)
JOBS = {
    "fw-2-4-eu": ("group:fleet-eu", "CANCELED"),
    "fw-2-4-us": ("group:fleet-us", "ACTIVE"),
    "fw-2-4-canary": (f"thing:{CANARY}", "CANCELED"),
    "fw-2-3-eu": ("group:fleet-eu", "CANCELED"),  # an older rollout, cancelled before the drill
    "ops-reboot-eu": ("group:fleet-eu", "ACTIVE"),  # not firmware: no rule may touch it
    "fw-2-5-eu": ("group:fleet-eu", "CANCELED"),  # its alarm is delivered twice at the same moment
}
STATE_TABLE = "rollout-guard-drill-state"
FLEET_QUEUE = "rollout-guard-drill-fleet"
# The fleet signal: a rollout of FLEET_JOB to ROLLOUT, replayed from an hour ago (so every dark check is due).
FLEET_JOB = "fw-3-0-eu"
ROLLOUT = [f"dev-r-{n}" for n in range(1, 6)]
# The pre-start gate: GATED_JOB is created while GATED_ALARM (the crash-rate rule's) is in ALARM.
GATED_JOB, GATED_ALARM = "fw-3-1-eu", "fw-crash-rate-eu-3-1"
TRAIL_BUCKET, REGION = "rollout-guard-drill-trail", EMULATOR_ENV["AWS_REGION"]
# The graduated response: THROTTLED_JOB is slowed by a warning, restored when it clears, and cancelled when a second
# warning holds past escalate_after. The scene's rule comes first in a copy of the drill's policy.
THROTTLED_JOB, WARNING_ALARM = "fw-3-3-eu", "fw-warn-eu"
THROTTLE_RULE = """  - name: crash-warning
    match: {alarm_name: "fw-warn-*"}
    jobs: ["fw-*"]
    reason_code: FIRMWARE_WARNING
    action: throttle
    throttle:
      max_per_minute: 5
      abort: {failure_type: FAILED, percent: 10, min_executed: 20}
      escalate_after: 10m
"""
ROLLOUT_CONFIG = {"exponentialRate": {"baseRatePerMinute": 50, "incrementFactor": 2.0,
                                      "rateIncreaseCriteria": {"numberOfSucceededThings": 100}}}
ESCALATION = {"ROLLOUT_GUARD_ESCALATION_BUS_ARN": f"arn:aws:events:{REGION}:123456789012:event-bus/default",
              "ROLLOUT_GUARD_ESCALATION_ROLE_ARN": "arn:aws:iam::123456789012:role/rollout-guard-escalation"}
# Greengrass v2: a bad deployment to GG_GROUP whose core devices fail, beside one the policy does not name.
GG_GROUP, GG_BAD, GG_OTHER = "gg-fleet-eu", "gg-fw-3-0", "gg-camera-2"
GG_CORES = [f"gg-core-{n}" for n in range(1, 5)]
# After the rollout: AFTER_JOB completes on AFTER_THINGS; two hours later three of them go dark for good.
AFTER_JOB = "fw-2-9-eu"
AFTER_THINGS = [f"dev-a-{n}" for n in range(1, 6)]
LATE_JOBS = {FLEET_JOB: (f"things:dev-r-1..{len(ROLLOUT)}", "CANCELED"), GATED_JOB: ("group:fleet-eu", "CANCELED"),
             THROTTLED_JOB: ("group:fleet-eu", "CANCELED")}


def rollout_steps(start_ms: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """The rollout as the fleet reports it; the policy's fleet rule halts at the third casualty."""
    at = start_ms

    def reboot(thing: str, back: bool) -> list[dict[str, Any]]:
        events = [samples.job_execution(FLEET_JOB, thing, "SUCCEEDED", at), samples.presence(thing, False, at + 1000)]
        return events + ([samples.presence(thing, True, at + 21_000)] if back else [])

    return [
        ("dev-r-1 succeeds, reboots, is back in 20 s", reboot("dev-r-1", back=True)),
        ("dev-r-2 reports FAILED", [samples.job_execution(FLEET_JOB, "dev-r-2", "FAILED", at + 60_000)]),
        ("dev-r-3 succeeds, reboots, never comes back", reboot("dev-r-3", back=False)),
        ("dev-r-2's FAILED delivered again", [samples.job_execution(FLEET_JOB, "dev-r-2", "FAILED", at + 60_000)]),
        ("dev-r-4 reports REJECTED", [samples.job_execution(FLEET_JOB, "dev-r-4", "REJECTED", at + 120_000)]),
    ]
TWICE_AT_ONCE = ("the same alarm, two deliveries at once",
                 samples.alarm_eventbridge(job_id="fw-2-5-eu", alarm_name="fw-crash-rate-eu-2-5"))
ALERTS = [
    ("crash alarm fw-crash-rate-eu -> ALARM", samples.alarm_eventbridge(job_id="fw-2-4-eu")),
    ("the same alarm, delivered twice", samples.alarm_eventbridge(job_id="fw-2-4-eu")),
    ("fw-crash-rate-eu back to OK", samples.alarm_eventbridge(job_id="fw-2-4-eu", state="OK", previous_state="ALARM")),
    ("unrelated alarm billing-spend-high", samples.alarm_sns(job_id="fw-2-4-us", alarm_name="billing-spend-high")),
    (f"Defender violation on {CANARY}", samples.defender_sns(thing_name=CANARY)),
    ("warning from monitoring (not critical)", samples.custom_sns(job_id="fw-2-4-us", severity="warning")),
]


def seed(iot: Any) -> None:
    arns = {}
    for group, things in GROUPS.items():
        arns[f"group:{group}"] = iot.create_thing_group(thingGroupName=group)["thingGroupArn"]
        for thing in things:
            iot.create_thing(thingName=thing)
            iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
    arns[f"thing:{CANARY}"] = iot.create_thing(thingName=CANARY)["thingArn"]
    for job_id, (target, _) in JOBS.items():
        iot.create_job(
            jobId=job_id,
            targets=[arns[target]],
            document=json.dumps({"operation": "firmware-update", "version": job_id}),
            targetSelection="SNAPSHOT",
        )
    iot.cancel_job(jobId="fw-2-3-eu", reasonCode="SUPERSEDED", comment="replaced by 2.4")


def _arguments(event: dict[str, Any], policy_file: Path, folder: Path, index: int | str, *extra: str) -> list[str]:
    """`rollout-guard invoke`'s arguments (after `invoke`) for one event (written to a file in the drill's folder)."""
    path = folder / f"alert-{index}.json"
    path.write_text(json.dumps(event))
    return [str(path), "--policy", str(policy_file), "--state-table", STATE_TABLE, *extra]


def _command(event: dict[str, Any], policy_file: Path, folder: Path, index: int | str) -> list[str]:
    """The same invoke as a process of its own (two at once stand for two instances of the function)."""
    return [sys.executable, "-m", "rollout_guard_cli.main", "invoke",
            *_arguments(event, policy_file, folder, index)]


def _rows(index: int, title: str, returncode: int, stdout: str, stderr: str) -> list[list[str]]:
    if returncode != 0:
        return [[str(index), title, str(returncode), "-", "-", "-", stderr.strip()]]
    outcome = json.loads(stdout)
    decisions = outcome["decisions"] or [{"jobId": "-", "action": "-", "reasonCode": "-", "detail": ""}]
    return [[str(index) if n == 0 else "", title if n == 0 else "", "0", d["jobId"], d["action"], d["reasonCode"],
             d["detail"] or outcome["detail"]] for n, d in enumerate(decisions)]


def _twice_at_once(policy_file: Path, url: str, folder: Path, index: int) -> tuple[list[list[str]], int]:
    """Two instances get one alarm at the same moment, through a loopback proxy that counts the CancelJob calls."""
    title, event = TWICE_AT_ONCE
    with FaultProxy(url) as proxy:
        env = {**os.environ, **client_env(proxy.url)}
        running = [subprocess.Popen(_command(event, policy_file, folder, index * 10 + n), env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(2)]
        rows = []
        for n, process in enumerate(running):
            stdout, stderr = process.communicate(timeout=120)
            rows += _rows(index, f"{title} ({'ab'[n]})", process.returncode, stdout, stderr)
        cancels = sum(1 for operation, path in proxy.forwarded if operation == "CancelJob" and "fw-2-5-eu" in path)
    return rows, cancels


def _fleet_rollout(policy_file: Path, url: str, folder: Path, env: dict[str, str]) -> list[str]:
    """The rollout step by step through `rollout-guard invoke` (each step an SQS batch, its dark checks read back
    from the fleet queue and invoked in turn); returns what went wrong."""
    iot, sqs = client("iot", url), client("sqs", url)
    arns = [iot.create_thing(thingName=thing)["thingArn"] for thing in ROLLOUT]
    iot.create_job(jobId=FLEET_JOB, targets=arns, document=json.dumps({"version": FLEET_JOB}),
                   targetSelection="SNAPSHOT")
    queue = sqs.create_queue(QueueName=FLEET_QUEUE)["QueueUrl"]
    print(f"\nFleet signal: a rollout of {FLEET_JOB} to {len(ROLLOUT)} devices, replayed through "
          f"`rollout-guard invoke` (dark checks read back from the fleet queue)\n")
    rows, wrong, counted = [], [], "0"
    steps = rollout_steps(int(time.time() * 1000) - 3_600_000)
    for index, (title, events) in enumerate(steps, start=1):
        invoked = _fleet_step(events, policy_file, folder, f"fleet-{index}", env, sqs, queue)
        evaluations = [e for result in invoked for e in result.get("evaluations", [])]
        counted = str(evaluations[-1]["casualties"]) if evaluations else counted
        job_status = iot.describe_job(jobId=FLEET_JOB)["job"]["status"]
        last = index == len(steps)
        if (job_status == "CANCELED") != last or any("error" in result for result in invoked):
            wrong.append(f"{FLEET_JOB} after step {index} ({job_status})")
        rows.append([str(index), title, str(len(events)), str(len(invoked) - 1), counted, job_status])
    print(text_table(rows, ["#", "the fleet reports", "events", "dark checks", "casualties", "job after"]))
    return wrong


def _fleet_step(events: list[dict[str, Any]], policy_file: Path, folder: Path, name: str, env: dict[str, str],
                sqs: Any, queue: str) -> list[dict[str, Any]]:
    """One step of a rollout through `rollout-guard invoke`: the events as an SQS batch, then each dark check it
    scheduled read back from the fleet queue (`sqs`, `queue`) and invoked in turn."""
    invoked = [_invoke(samples.sqs_batch(*events), policy_file, folder, name, env, "--fleet-queue", queue)]
    for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        invoked.append(_invoke(json.loads(message["Body"]), policy_file, folder, f"{name}-check", env))
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return invoked


REPLAY_START_MS = 1_800_000_000_000  # the replayed rollout's fixed clock (2027-01-15T08:00Z): the same picture each run
PICTURE = Path("docs") / "replay-report.png"


def _replay_report(policy_file: Path, folder: Path) -> list[str]:
    """The rollout's events replayed offline (`rollout-guard replay --report --plot`): the README's picture, written
    to docs/ of the project the drill runs in (the same bytes each run), the HTML report beside the drill's files."""
    import argparse

    from rollout_guard_cdk.project import project_context

    from . import replay

    events = [event for _, batch in rollout_steps(REPLAY_START_MS) for event in batch]
    (folder / "rollout.jsonl").write_text("\n".join(json.dumps(event) for event in events))
    found = project_context()
    picture = found[0] / PICTURE if found is not None and (found[0] / PICTURE.parent).is_dir() else folder / PICTURE.name
    args = argparse.Namespace(events=str(folder / "rollout.jsonl"), policy=str(policy_file), compare=None, jobs=None,
                              deployments=None, output="table", report=str(folder / "replay.html"),
                              plot=str(picture))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = replay.command(args)
    html = (folder / "replay.html").read_text() if code == 0 else ""
    print(f"\nReplay of the rollout's events (offline, `rollout-guard replay --report --plot`): exit {code}; "
          f"{html.count('<svg')} chart(s) in the HTML report, the picture in {picture}")
    return [] if code == 0 and "<svg" in html and picture.is_file() else ["the replay report"]


def _invoke(event: dict[str, Any], policy_file: Path, folder: Path, name: str, env: dict[str, str],
            *extra: str) -> dict[str, Any]:
    code, stdout, stderr = run_captured(invoke.main, _arguments(event, policy_file, folder, name, *extra), env)
    if code != 0:
        return {"error": stderr.strip() or stdout.strip()}
    result: dict[str, Any] = json.loads(stdout)
    return result


def _gate(policy_file: Path, url: str, folder: Path, env: dict[str, str]) -> list[str]:
    """A job created while its rule's alarm already fires: CloudTrail's CreateJob through `rollout-guard invoke`."""
    cloudwatch, iot = client("cloudwatch", url), client("iot", url)
    cloudwatch.put_metric_alarm(AlarmName=GATED_ALARM, MetricName="CrashRate", Namespace="Fleet/Firmware",
                                Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=5,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=GATED_ALARM, StateValue="ALARM", StateReason="crash rate 7.2% > 5%")
    group = iot.describe_thing_group(thingGroupName="fleet-eu")["thingGroupArn"]
    iot.create_job(jobId=GATED_JOB, targets=[group], document=json.dumps({"version": GATED_JOB}),
                   targetSelection="SNAPSHOT")
    result = _invoke(samples.job_created(GATED_JOB), policy_file, folder, "gate", env)
    decision = (result.get("decisions") or [{}])[0]
    print(f"\nPre-start gate: {GATED_JOB} created while {GATED_ALARM} is in ALARM -> "
          f"{decision.get('action', result.get('error', result.get('detail')))} ({decision.get('reasonCode', '-')})")
    return [] if decision.get("action") == "canceled" else [f"{GATED_JOB} (the gate did not cancel it)"]


def _greengrass(policy_file: Path, url: str, folder: Path, env: dict[str, str]) -> list[str]:
    """A Greengrass v2 deployment whose core devices fail, step by step through `rollout-guard invoke` (Greengrass's
    EventBridge events as the fleet queue delivers them); another deployment, no rule's, is left alone."""
    iot, gg = client("iot", url), client("greengrassv2", url)
    made = {}
    for name, group in ((GG_BAD, GG_GROUP), (GG_OTHER, "gg-cameras")):
        iot.create_thing_group(thingGroupName=group)
        target = iot.describe_thing_group(thingGroupName=group)["thingGroupArn"]
        made[name] = gg.create_deployment(targetArn=target, deploymentName=name, components={
            "com.acme.fw": {"componentVersion": "3.0.0"}})["deploymentId"]
    bad, at = made[GG_BAD], int(time.time() * 1000) - 3_600_000
    steps = [("two core devices take it", [samples.deployment_status(bad, core, "SUCCEEDED", at + n * 1000)
                                           for n, core in enumerate(GG_CORES[:2], start=1)]),
             ("one fails, reported twice (both id spellings)",
              [samples.deployment_status(bad, GG_CORES[2], "FAILED", at + 3000, spelling=spelling)
               for spelling in ("deploymentId", "deployment-id")]),
             ("a component of a device that took it breaks", [samples.component_status(GG_CORES[0], "BROKEN",
                                                                                       at + 4000)]),
             ("another core device rejects it", [samples.deployment_status(bad, GG_CORES[3], "REJECTED", at + 5000)])]
    print(f"\nGreengrass v2: deployment {GG_BAD} to {GG_GROUP} (its core devices' status events through the fleet "
          f"queue), beside {GG_OTHER}\n")
    rows, wrong = [], []
    for index, (title, events) in enumerate(steps, start=1):
        result = _invoke(samples.sqs_batch(*events), policy_file, folder, f"greengrass-{index}", env)
        evaluations = result.get("evaluations", [])
        status = {d["deploymentName"]: d["deploymentStatus"] for d in gg.list_deployments()["deployments"]}
        last = index == len(steps)
        if "error" in result or (status[GG_BAD] == "CANCELED") != last or status[GG_OTHER] != "ACTIVE":
            wrong.append(f"deployment {GG_BAD} after step {index} ({status[GG_BAD]})")
        rows.append([str(index), title, str(evaluations[-1]["casualties"]) if evaluations else "-", status[GG_BAD],
                     status[GG_OTHER]])
    print(text_table(rows, ["#", "the core devices report", "casualties", GG_BAD, GG_OTHER]))
    print("A cancel stops only the devices that had not received the deployment: those that took it keep it.")
    return wrong


def _after_rollout(policy_file: Path, url: str, folder: Path, env: dict[str, str]) -> list[str]:
    """A rollout that COMPLETED (its devices report through the emulator's Jobs data plane), watched a day after
    success by the fleet rule: devices that go dark two hours later make it `regressed` (nothing to cancel) and
    its revert ready; the operator looks at it, approves it, and the revert job goes to exactly the devices that
    SUCCEEDED, once."""
    iot, data, sqs = client("iot", url), client("iot-jobs-data", url), client("sqs", url)
    arns = [iot.create_thing(thingName=thing)["thingArn"] for thing in AFTER_THINGS]
    iot.create_job(jobId=AFTER_JOB, targets=arns, document=json.dumps({"version": AFTER_JOB}),
                   targetSelection="SNAPSHOT")
    for thing in AFTER_THINGS:
        data.update_job_execution(thingName=thing, jobId=AFTER_JOB, status="SUCCEEDED")
    queue = sqs.get_queue_url(QueueName=FLEET_QUEUE)["QueueUrl"]
    at = int(time.time() * 1000) - 3 * 3_600_000
    steps = [("five devices take it; the job COMPLETES",
              [samples.job_execution(AFTER_JOB, thing, "SUCCEEDED", at + n) for n, thing in enumerate(AFTER_THINGS)]),
             ("2 h later dev-a-1 and dev-a-2 go dark for good",
              [samples.presence(thing, False, at + 7_200_000 + n * 1000) for n, thing in enumerate(AFTER_THINGS[:2])]),
             ("dev-a-3 goes dark too", [samples.presence(AFTER_THINGS[2], False, at + 7_230_000)])]
    print(f"\nAfter the rollout: {AFTER_JOB} COMPLETED on {len(AFTER_THINGS)} devices, watched a day after "
          "success; a revert waits for approval\n")
    rows: list[list[str]] = []
    for index, (title, events) in enumerate(steps, start=1):
        invoked = _fleet_step(events, policy_file, folder, f"after-{index}", env, sqs, queue)
        decided = [d["action"] for result in invoked for e in result.get("evaluations", [])
                   for d in (e.get("outcome") or {}).get("decisions", [])]
        rows.append([str(index), title, ", ".join(decided) or "-", iot.describe_job(jobId=AFTER_JOB)["job"]["status"]])
    asked = ["--job", AFTER_JOB, "--state-table", STATE_TABLE, "--policy", str(policy_file)]
    shown = run_captured(revert.main, asked, env)
    approved = run_captured(revert.main, [*asked, "--approve"], env)
    again = run_captured(revert.main, [*asked, "--approve"], env)
    for title, (code, out, err) in (("rollout-guard revert (the plan)", shown),
                                    ("rollout-guard revert --approve", approved), ("and once more", again)):
        rows.append([str(len(rows) + 1), title, f"exit {code}", (out or err).strip().splitlines()[0][:90]])
    print(text_table(rows, ["#", "what happens", "decisions", "job"]))
    created = sorted(j["jobId"] for j in iot.list_jobs()["jobs"] if j["jobId"].startswith(f"{AFTER_JOB}-revert"))
    targets = sorted(iot.describe_job(jobId=created[0])["job"]["targets"]) if created else []
    print(f"Revert jobs: {', '.join(created) or 'none'}; targets: {len(targets)} of the {len(arns)} devices that "
          "SUCCEEDED")
    if rows[2][2] != "regressed, revert_ready" or created != [f"{AFTER_JOB}-revert"] or targets != sorted(arns):
        return [f"{AFTER_JOB} (regression and revert: {rows[2][2]}; revert jobs {created})"]
    return []


def _graduated(policy_file: Path, url: str, folder: Path, env: dict[str, str]) -> list[str]:
    """A warning throttles a job, its return to OK restores it; a second warning holds and the job is cancelled
    when its escalation timer (an EventBridge Scheduler schedule, read back from the emulator) fires."""
    iot, cloudwatch = client("iot", url), client("cloudwatch", url)
    scene = folder / "graduated-policy.yaml"
    text = policy_file.read_text()
    scene.write_text(text.replace("rules:\n", "rules:\n" + THROTTLE_RULE, 1))
    group = iot.describe_thing_group(thingGroupName="fleet-eu")["thingGroupArn"]
    iot.create_job(jobId=THROTTLED_JOB, targets=[group], document=json.dumps({"version": THROTTLED_JOB}),
                   targetSelection="SNAPSHOT", jobExecutionsRolloutConfig=ROLLOUT_CONFIG)
    cloudwatch.put_metric_alarm(AlarmName=WARNING_ALARM, MetricName="CrashRate", Namespace="Fleet/Firmware",
                                Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=2,
                                ComparisonOperator="GreaterThanThreshold")
    env = {**env, **ESCALATION}
    print(f"\nGraduated response: rule crash-warning throttles {THROTTLED_JOB} on {WARNING_ALARM} "
          "(5 a minute, abort at 10% FAILED after 20), restores it on OK, cancels after 10m of ALARM\n")
    rows: list[list[Any]] = []
    wrong: list[str] = []
    for title, state, event in _graduated_steps(url):
        cloudwatch.set_alarm_state(AlarmName=WARNING_ALARM, StateValue=state, StateReason=title)
        result = _invoke(event() if callable(event) else event, scene, folder, f"graduated-{len(rows)}", env)
        decision = (result.get("decisions") or [{}])[0]
        job = iot.describe_job(jobId=THROTTLED_JOB)["job"]
        rows.append([str(len(rows) + 1), title, decision.get("action", result.get("error", "-")), job["status"],
                     json.dumps(job.get("jobExecutionsRolloutConfig")), len((job.get("abortConfig") or {})
                                                                             .get("criteriaList", []))])
    print(text_table(rows, ["#", "what happens", "decision", "job", "rollout config", "abort criteria"]))
    expected = ["throttled", "restored", "throttled", "canceled"]
    if [row[2] for row in rows] != expected:
        wrong.append(f"{THROTTLED_JOB} (decisions {[row[2] for row in rows]}, expected {expected})")
    return wrong


def _graduated_steps(url: str) -> list[tuple[str, str, Any]]:
    warn = samples.alarm_eventbridge(job_id=THROTTLED_JOB, alarm_name=WARNING_ALARM)
    clear = samples.alarm_eventbridge(job_id=THROTTLED_JOB, alarm_name=WARNING_ALARM, state="OK",
                                      previous_state="ALARM")
    again = copy.deepcopy(warn)  # a later transition into ALARM: its own time and event id
    again["id"] = f"{warn['id']}-again"
    again["detail"]["state"]["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
    return [("warning: crash rate 2.5% > 2%", "ALARM", warn), ("the warning clears", "OK", clear),
            ("a second warning", "ALARM", again),
            ("10 minutes later, still in ALARM: the escalation timer fires", "ALARM", lambda: _due_event(url))]


def _due_event(url: str) -> dict[str, Any]:
    return timer_event(url)


def timer_event(url: str, job_id: str | None = None) -> dict[str, Any]:
    """The event the next pending throttle timer puts on the bus, as EventBridge hands it to the function; the
    schedule is deleted, as Scheduler deletes a one-time schedule once it ran (the emulator runs none). The timer
    of the latest throttle (of `job_id`, when given) that falls due first."""
    scheduler = client("scheduler", url)
    pending = []
    for summary in scheduler.list_schedules()["Schedules"]:
        target = scheduler.get_schedule(Name=summary["Name"])["Target"]
        detail = json.loads(target["Input"])
        if job_id is None or detail.get("jobId") == job_id:
            pending.append((detail.get("throttledAt", ""), detail.get("dueAt", ""), summary["Name"], target, detail))
    latest = max(throttled for throttled, *_ in pending)
    _, _, name, target, detail = min((p for p in pending if p[0] == latest), key=lambda p: (p[1], p[2]))
    scheduler.delete_schedule(Name=name)
    return {"version": "0", "id": f"drill-{name}", "source": target["EventBridgeParameters"]["Source"],
            "detail-type": target["EventBridgeParameters"]["DetailType"], "account": "123456789012",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": REGION, "resources": [],
            "detail": detail}


def deploy_guard(url: str, folder: Path) -> Path:
    """The project's guard stack, synthesized (no bundling: the deployed function is not run) and deployed to the
    emulator with the project's CDK CLI; returns the project folder."""
    from rollout_guard_cdk.project import project_context
    from rollout_guard_local import rehearsal

    found = project_context()
    if found is None or not (found[0] / rehearsal.CDK).exists():
        raise RuntimeError("the doctor scene deploys the project's stack: run the drill in the project, after "
                           "`make install` (cdk.json and its CDK CLI)")
    project = found[0]
    rehearsal.synthesize(project, folder / "cdk.out", bundle=False)
    rehearsal.deploy(url, folder / "cdk.out", project)
    return project


def prepare_account(url: str, stack: str = STACK) -> None:
    """What the README asks of an account besides the stack: Jobs events on, a trail of write management events,
    a Device Defender security profile that alerts the guard's topic through the stack's role."""
    iot, cloudformation = client("iot", url), client("cloudformation", url)
    iot.update_event_configurations(eventConfigurations={"JOB": {"Enabled": True}, "JOB_EXECUTION": {"Enabled": True}})
    client("s3", url).create_bucket(Bucket=TRAIL_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    cloudtrail = client("cloudtrail", url)
    cloudtrail.create_trail(Name="management-events", S3BucketName=TRAIL_BUCKET, IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="management-events")
    made = outputs_of(cloudformation.describe_stacks(StackName=stack)["Stacks"][0])
    iot.create_security_profile(securityProfileName="fw-baseline", alertTargets={"SNS": {
        "alertTargetArn": made[outputs.ALERT_TOPIC], "roleArn": made[outputs.DEFENDER_ALERT_ROLE]}})


def _doctor(url: str, folder: Path, env: dict[str, str]) -> list[str]:
    """The guard deployed to the emulated account as a user would, then `rollout-guard doctor` on that account."""
    try:
        project = deploy_guard(url, folder)
    except RuntimeError as error:
        print(f"\nDoctor: {error}")
        return ["the doctor scene (no deploy)"]
    prepare_account(url)
    print(f"\nDoctor: the project's stack deployed to the emulator (cdk deploy), Jobs events on, a trail, a "
          f"security profile alerting the guard; then `rollout-guard doctor --region {REGION}`\n")
    done = subprocess.run([sys.executable, "-m", "rollout_guard_cli.main", "doctor", "--region", REGION], env=env,
                          cwd=project, capture_output=True, text=True, timeout=300)
    print(done.stdout.rstrip() or done.stderr.rstrip())
    return [] if done.returncode == 0 else [f"the emulated account (doctor exit {done.returncode})"]


def run(policy_file: Path | None) -> int:
    if policy_file is None or not policy_file.is_file():
        print(f"rollout-guard drill: policy file {policy_file} not found", file=sys.stderr)
        return 2
    with moto_server() as url, tempfile.TemporaryDirectory(prefix="rollout-guard-drill-") as folder:
        env = {**os.environ, **client_env(url)}
        iot = client("iot", url)
        seed(iot)
        print(f"Local drill on a moto server at {url}, policy {policy_file}")
        init = subprocess.run([sys.executable, "-m", "rollout_guard_cli.main", "state", "init", STATE_TABLE],
                              env=env, capture_output=True, text=True, timeout=120)
        print(f"rollout-guard state init: {(init.stdout or init.stderr).strip()}\n")
        rows = []
        for index, (title, event) in enumerate(ALERTS, start=1):
            rows += _rows(index, title, *run_captured(invoke.main, _arguments(event, policy_file, Path(folder), index), env))
        twice, cancels = _twice_at_once(policy_file, url, Path(folder), len(ALERTS) + 1)
        print(text_table(rows + twice, ["#", "alert", "exit", "job", "action", "reason code", "why"]))
        print(f"\nCancelJob calls for fw-2-5-eu, delivered twice at once: {cancels}")
        late_wrong = _fleet_rollout(policy_file, url, Path(folder), env)
        late_wrong += _replay_report(policy_file, Path(folder))
        late_wrong += _gate(policy_file, url, Path(folder), env)
        late_wrong += _graduated(policy_file, url, Path(folder), env)
        late_wrong += _greengrass(policy_file, url, Path(folder), env)
        late_wrong += _after_rollout(policy_file, url, Path(folder), env)

        print("\nJobs at the end:\n")
        rows, wrong = [], list(late_wrong)
        for job_id, (target, expected) in {**JOBS, **LATE_JOBS}.items():
            job = iot.describe_job(jobId=job_id)["job"]
            status = job["status"]
            active = status not in ("CANCELED", "COMPLETED", "DELETION_IN_PROGRESS")
            ok = (expected == "ACTIVE") == active
            if not ok:
                wrong.append(job_id)
            rows.append([job_id, target, status, job.get("reasonCode", ""), job.get("comment", "")[:60],
                         "ok" if ok else f"WRONG: expected {expected}"])
        print(text_table(rows, ["job", "targets", "status", "reason code", "comment", "check"]))
        wrong += _doctor(url, Path(folder), env)
    print("\nmoto server stopped.")
    if cancels != 1:
        wrong.append(f"fw-2-5-eu (CancelJob called {cancels} times)")
    if wrong:
        print(f"\nDrill FAILED: {', '.join(wrong)} did not end as the policy says.", file=sys.stderr)
        return 1
    print("Drill passed: only the jobs the policy names were cancelled, once each; the rollout was halted by the "
          "casualty that crossed the threshold, not one earlier; the job created under a firing alarm at once; "
          "the warned job throttled, restored, and cancelled when a warning held; the Greengrass deployment "
          "cancelled at its third failed core device, the other left alone; the completed rollout found regressed "
          "and its revert created on approval, once, for exactly the devices that took it; doctor found nothing "
          "missing in the emulated account.")
    return 0

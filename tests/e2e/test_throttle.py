"""The graduated response as an operator sees it: `rollout-guard invoke` against the emulator (whose UpdateJob keeps
the job's configuration, so DescribeJob shows what the guard set), with the state table holding what each
throttled job was."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rollout_guard_cli.drill import ROLLOUT_CONFIG, THROTTLE_RULE, timer_event
from rollout_guard_local import samples
from rollout_guard_local.emulator import client, client_env
from tests import cli

TABLE = "throttle-state"
# The drill's graduated scene's rule, without its escalation here (ESCALATING below puts it back).
WARNING_RULE = THROTTLE_RULE.replace("      escalate_after: 10m\n", "")
assert "escalate_after" not in WARNING_RULE, "the drill's rule changed: drop its escalation here"
CRASH_RULE = """  - name: crash-rate
    match: {alarm_name: "fw-crash-rate-*"}
    jobs: ["fw-*"]
    reason_code: FIRMWARE_CRASH_RATE
"""
POLICY = "rules:\n" + WARNING_RULE + CRASH_RULE
ROLLOUT = ROLLOUT_CONFIG
ABORT = {"criteriaList": [{"failureType": "TIMED_OUT", "action": "CANCEL", "thresholdPercentage": 30.0,
                           "minNumberOfExecutedThings": 10}]}


@pytest.fixture
def fleet(emulator, tmp_path):
    iot = client("iot", emulator)
    thing = iot.create_thing(thingName="dev-1")["thingArn"]
    iot.create_job(jobId="fw-3-2-eu", targets=[thing], document="{}", targetSelection="SNAPSHOT",
                   jobExecutionsRolloutConfig=ROLLOUT, abortConfig=ABORT)
    (tmp_path / "policy.yaml").write_text(POLICY)
    done = run(emulator, tmp_path, "state", "init", TABLE)
    assert done.returncode == 0, done.stderr
    return iot


def run(url: str, folder: Path, *args: str) -> subprocess.CompletedProcess:
    return cli.run(*args, env=client_env(url), cwd=folder)


def invoke(url: str, folder: Path, event: dict, *extra: str) -> subprocess.CompletedProcess:
    path = folder / "event.json"
    path.write_text(json.dumps(event))
    return run(url, folder, "invoke", str(path), "--policy", str(folder / "policy.yaml"), "--state-table", TABLE,
               *extra)


def warning(state: str = "ALARM", previous: str = "OK") -> dict:
    return samples.alarm_eventbridge(job_id="fw-3-2-eu", alarm_name="fw-warn-eu", state=state, previous_state=previous)


def job(iot) -> dict:
    return iot.describe_job(jobId="fw-3-2-eu")["job"]


def decisions(done: subprocess.CompletedProcess) -> list[tuple[str, str]]:
    assert done.returncode == 0, done.stderr + done.stdout
    return [(d["jobId"], d["action"]) for d in json.loads(done.stdout)["decisions"]]


def test_a_warning_throttles_the_job_and_arms_its_own_abort(fleet, emulator, tmp_path):
    done = invoke(emulator, tmp_path, warning())

    assert decisions(done) == [("fw-3-2-eu", "throttled")]
    after = job(fleet)
    assert after["status"] not in ("CANCELED", "COMPLETED")
    assert after["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 5}
    assert after["abortConfig"]["criteriaList"] == [
        *ABORT["criteriaList"],
        {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 10.0, "minNumberOfExecutedThings": 20}]


def test_the_alarms_ok_restores_exactly_what_was_saved(fleet, emulator, tmp_path):
    invoke(emulator, tmp_path, warning())

    done = invoke(emulator, tmp_path, warning(state="OK", previous="ALARM"))

    assert decisions(done) == [("fw-3-2-eu", "restored")]
    after = job(fleet)
    assert after["jobExecutionsRolloutConfig"] == ROLLOUT and after["abortConfig"] == ABORT


def test_an_ok_after_missing_data_restores_and_missing_data_alone_restores_nothing(fleet, emulator, tmp_path):
    invoke(emulator, tmp_path, warning())

    missing = invoke(emulator, tmp_path, warning(state="INSUFFICIENT_DATA", previous="ALARM"))
    still = job(fleet)
    done = invoke(emulator, tmp_path, warning(state="OK", previous="INSUFFICIENT_DATA"))

    assert decisions(missing) == [] and still["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 5}
    assert decisions(done) == [("fw-3-2-eu", "restored")]
    after = job(fleet)
    assert after["jobExecutionsRolloutConfig"] == ROLLOUT and after["abortConfig"] == ABORT


def test_the_restore_holds_when_describejob_answers_the_criteria_in_another_order(fleet, emulator, tmp_path):
    invoke(emulator, tmp_path, warning())
    criteria = job(fleet)["abortConfig"]["criteriaList"]
    fleet.update_job(jobId="fw-3-2-eu", abortConfig={"criteriaList": list(reversed(criteria))})

    done = invoke(emulator, tmp_path, warning(state="OK", previous="ALARM"))

    assert decisions(done) == [("fw-3-2-eu", "restored")]
    assert job(fleet)["jobExecutionsRolloutConfig"] == ROLLOUT


def test_a_second_alarm_while_throttled_changes_nothing(fleet, emulator, tmp_path):
    invoke(emulator, tmp_path, warning())
    throttled = job(fleet)

    done = invoke(emulator, tmp_path, warning())

    assert decisions(done) == [("fw-3-2-eu", "skipped")]
    after = job(fleet)
    assert (after["jobExecutionsRolloutConfig"], after["abortConfig"]) == (
        throttled["jobExecutionsRolloutConfig"], throttled["abortConfig"])


def test_a_cancel_rule_still_cancels_a_throttled_job(fleet, emulator, tmp_path):
    invoke(emulator, tmp_path, warning())

    done = invoke(emulator, tmp_path, samples.alarm_eventbridge(job_id="fw-3-2-eu", alarm_name="fw-crash-rate-eu"))

    assert decisions(done) == [("fw-3-2-eu", "canceled")]
    assert (job(fleet)["status"], job(fleet)["reasonCode"]) == ("CANCELED", "FIRMWARE_CRASH_RATE")


def test_a_job_changed_since_the_throttle_is_left_as_it_is(fleet, emulator, tmp_path):
    invoke(emulator, tmp_path, warning())
    fleet.update_job(jobId="fw-3-2-eu", jobExecutionsRolloutConfig={"maximumPerMinute": 20})

    done = invoke(emulator, tmp_path, warning(state="OK", previous="ALARM"))

    assert decisions(done) == [("fw-3-2-eu", "skipped")]
    assert "changed since the guard throttled it" in json.loads(done.stdout)["decisions"][0]["detail"]
    assert job(fleet)["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 20}


def test_a_dry_run_says_what_it_would_throttle_and_changes_nothing(fleet, emulator, tmp_path):
    done = invoke(emulator, tmp_path, warning(), "--dry-run")

    assert decisions(done) == [("fw-3-2-eu", "would_throttle")]
    assert job(fleet)["jobExecutionsRolloutConfig"] == ROLLOUT


def test_an_ok_of_an_alarm_that_throttled_nothing_is_handled_quietly(fleet, emulator, tmp_path):
    done = invoke(emulator, tmp_path, warning(state="OK", previous="ALARM"))

    assert decisions(done) == []
    assert job(fleet)["jobExecutionsRolloutConfig"] == ROLLOUT


def test_bad_throttle_values_exit_2_naming_the_rule_and_key_and_policy_check_lists_them_all(tmp_path):
    (tmp_path / "policy.yaml").write_text(POLICY.replace("max_per_minute: 5", "max_per_minute: 5000").replace(
        "percent: 10,", "percent: 100.5,").replace("min_executed: 20", "min_executed: 0"))
    (tmp_path / "event.json").write_text(json.dumps(warning()))

    done = cli.run("invoke", str(tmp_path / "event.json"), "--policy", str(tmp_path / "policy.yaml"))
    checked = cli.run("policy", "check", str(tmp_path / "policy.yaml"))

    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "rule 'crash-warning': throttle.max_per_minute 5000" in done.stderr
    assert checked.returncode == 2
    listed = [line.strip() for line in checked.stderr.splitlines() if line.strip().startswith("- ")]
    assert listed == ["- rule 'crash-warning': throttle.max_per_minute 5000 must be a whole number from 1 to 1000",
                      "- rule 'crash-warning': throttle.abort.percent 100.5 must be above 0 and at most 100, with at "
                      "most two decimals",
                      "- rule 'crash-warning': throttle.abort.min_executed 0 must be a whole number from 1 to "
                      "2147483647"]


# --- escalation: an EventBridge Scheduler one-time schedule, delivered as EventBridge would ----------------------

ESCALATING = "rules:\n" + THROTTLE_RULE + CRASH_RULE
BUS = "arn:aws:events:eu-west-1:123456789012:event-bus/default"
ROLE = "arn:aws:iam::123456789012:role/rollout-guard-escalation"
TIMER_DLQ = "arn:aws:sqs:eu-west-1:123456789012:rollout-guard-timer-dlq"


@pytest.fixture
def escalating(fleet, emulator, tmp_path, monkeypatch):
    (tmp_path / "policy.yaml").write_text(ESCALATING)
    monkeypatch.setenv("ROLLOUT_GUARD_ESCALATION_BUS_ARN", BUS)
    monkeypatch.setenv("ROLLOUT_GUARD_ESCALATION_ROLE_ARN", ROLE)
    monkeypatch.setenv("ROLLOUT_GUARD_ESCALATION_DLQ_ARN", TIMER_DLQ)
    cloudwatch = client("cloudwatch", emulator)
    cloudwatch.put_metric_alarm(AlarmName="fw-warn-eu", MetricName="CrashRate", Namespace="Fleet/Firmware",
                                Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=2,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="fw-warn-eu", StateValue="ALARM", StateReason="crash rate 2.5% > 2%")
    return cloudwatch


def due_event(emulator) -> dict:
    """What the next timer puts on the bus when it fires, as the rule hands it to the function (the drill's reading
    of the emulator's schedules, which deletes the one it fires as Scheduler does)."""
    scheduler = client("scheduler", emulator)
    for summary in scheduler.list_schedules()["Schedules"]:
        schedule = scheduler.get_schedule(Name=summary["Name"])
        target = schedule["Target"]
        assert target["Arn"] == BUS and target["RoleArn"] == ROLE and target["DeadLetterConfig"] == {"Arn": TIMER_DLQ}
        assert schedule["ScheduleExpression"].startswith("at(") and schedule["ActionAfterCompletion"] == "DELETE"
    return timer_event(emulator, "fw-3-2-eu")


def pending(emulator) -> list[dict]:
    scheduler = client("scheduler", emulator)
    return [json.loads(scheduler.get_schedule(Name=s["Name"])["Target"]["Input"])
            for s in scheduler.list_schedules()["Schedules"]]


def test_a_warning_that_holds_is_cancelled_when_its_timer_fires(escalating, fleet, emulator, tmp_path):
    throttled = invoke(emulator, tmp_path, warning())
    assert decisions(throttled) == [("fw-3-2-eu", "throttled")]
    assert "cancelled in 600 s if the alarm still fires" in json.loads(throttled.stdout)["decisions"][0]["detail"]

    done = invoke(emulator, tmp_path, due_event(emulator))

    assert decisions(done) == [("fw-3-2-eu", "canceled")]
    assert (job(fleet)["status"], job(fleet)["reasonCode"]) == ("CANCELED", "FIRMWARE_WARNING")


def test_a_restore_before_the_timer_wins(escalating, fleet, emulator, tmp_path):
    invoke(emulator, tmp_path, warning())
    event = due_event(emulator)
    escalating.set_alarm_state(AlarmName="fw-warn-eu", StateValue="OK", StateReason="back under 2%")
    assert decisions(invoke(emulator, tmp_path, warning(state="OK", previous="ALARM"))) == [("fw-3-2-eu", "restored")]

    done = invoke(emulator, tmp_path, event)

    assert decisions(done) == [] and "no longer throttled" in json.loads(done.stdout)["detail"]
    assert job(fleet)["status"] not in ("CANCELED", "COMPLETED")


def test_an_alarm_back_to_ok_when_the_timer_fires_restores_even_before_the_ok_arrives(escalating, fleet, emulator,
                                                                                     tmp_path):
    invoke(emulator, tmp_path, warning())
    escalating.set_alarm_state(AlarmName="fw-warn-eu", StateValue="OK", StateReason="back under 2%")

    done = invoke(emulator, tmp_path, due_event(emulator))

    assert decisions(done) == [("fw-3-2-eu", "restored")]
    assert job(fleet)["jobExecutionsRolloutConfig"] == ROLLOUT and job(fleet)["status"] not in ("CANCELED", "COMPLETED")


def test_missing_data_at_the_timer_neither_restores_nor_escalates_and_sets_the_next_timer(escalating, fleet, emulator,
                                                                                         tmp_path):
    invoke(emulator, tmp_path, warning())
    escalating.set_alarm_state(AlarmName="fw-warn-eu", StateValue="INSUFFICIENT_DATA", StateReason="no data")
    fired = due_event(emulator)

    done = invoke(emulator, tmp_path, fired)

    assert decisions(done) == [] and "looking again at" in json.loads(done.stdout)["detail"]
    assert job(fleet)["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 5}
    [following] = pending(emulator)
    assert following["throttledAt"] == fired["detail"]["throttledAt"] and following["dueAt"] > fired["detail"]["dueAt"]


def test_a_timer_of_a_finished_job_forgets_its_throttle(escalating, fleet, emulator, tmp_path):
    invoke(emulator, tmp_path, warning())
    fleet.cancel_job(jobId="fw-3-2-eu")

    done = invoke(emulator, tmp_path, due_event(emulator))

    assert decisions(done) == [] and "its throttle is forgotten" in json.loads(done.stdout)["detail"]
    assert pending(emulator) == []
    assert decisions(invoke(emulator, tmp_path, warning(state="OK", previous="ALARM"))) == []  # nothing left to restore

"""The fleet signal end to end on moto (in-process): SQS batches of execution and lifecycle events through the
runtime, counted in a real (emulated) state table, the job halted through IoT exactly when the threshold is
crossed."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.models import iot_backends

from rollout_guard.bootstrap import Overrides, build_runtime
from rollout_guard.fleet.events import parse_body
from rollout_guard.handler import invoke_fleet
from rollout_guard.schema import create_state_table
from rollout_guard.settings import Settings
from rollout_guard_local import samples
from rollout_guard_local.context import LocalContext
from tests.integration.test_handler import emf
from tests.unit.fakes import KeptTimers

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000  # events from the past: every dark check is already due
MINUTE = 60_000
THINGS = [f"dev-{n}" for n in range(1, 13)]
POLICY = """
rules:
  - name: fleet
    match: {signal: casualties}
    jobs: ["fw-*"]
    reason_code: FLEET_CASUALTIES
    casualties: {things: 3, within: 10m, dark_after: 2m, fleet_things: 100}
"""


Timers = KeptTimers


class Fleet:
    def __init__(self, runtime, timers):
        self.runtime, self.timers = runtime, timers
        self.iot = boto3.client("iot", region_name="eu-west-1")
        self.backend = iot_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]
        self.reports: list[dict] = []  # the last batch's evaluations

    def send(self, *events) -> dict:
        return self.batch(samples.sqs_batch(*events))

    def batch(self, batch: dict) -> dict:
        """One SQS batch through the handler as the CLI runs it; SQS's answer, and the evaluations kept."""
        handled = invoke_fleet(batch, LocalContext(), runtime=self.runtime)
        self.reports = handled.reports
        return handled.answer

    def deliver_checks(self) -> dict | None:
        checks = [check.message() for check, _ in self.timers.scheduled]
        self.timers.scheduled.clear()
        return self.send(*checks) if checks else None

    def status(self, job_id: str) -> str:
        return self.iot.describe_job(jobId=job_id)["job"]["status"]

    def job(self, job_id: str) -> dict:
        return self.iot.describe_job(jobId=job_id)["job"]

    def executing(self, job_id: str, thing: str, status: str = "IN_PROGRESS") -> None:
        self.backend.job_executions[(job_id, thing)].status = status

    def executed(self, job_id: str, things: int) -> None:
        self.backend.jobs[job_id].job_process_details.update(numberOfSucceededThings=things,
                                                             numberOfQueuedThings=0)


@pytest.fixture
def fleet(tmp_path):
    def build(policy: str = POLICY, jobs=("fw-a", "fw-b", "ops-x")) -> Fleet:
        path = tmp_path / "policy.yaml"
        path.write_text(policy)
        create_state_table(boto3.client("dynamodb", region_name="eu-west-1"), "state")
        iot = boto3.client("iot", region_name="eu-west-1")
        arns = [iot.create_thing(thingName=thing)["thingArn"] for thing in THINGS]
        for job_id in jobs:
            iot.create_job(jobId=job_id, targets=arns, document='{"op": "fw"}', targetSelection="SNAPSHOT")
        timers = Timers()
        runtime = build_runtime(Settings(policy_file=str(path), state_table="state"), Overrides(timers=timers))
        return Fleet(runtime, timers)

    with mock_aws():
        yield build


def failed(thing: str, at: int = HOUR_AGO_MS, job: str = "fw-a", status: str = "FAILED") -> dict:
    return samples.job_execution(job, thing, status, at)


# --- failures -----------------------------------------------------------------------------------------------


def test_the_job_is_cancelled_by_the_failure_that_crosses_the_threshold_and_not_one_earlier(fleet):
    f = fleet()
    f.send(failed("dev-1"), failed("dev-2", HOUR_AGO_MS + 1000, status="REJECTED"))
    assert f.status("fw-a") != "CANCELED"

    answer = f.send(failed("dev-3", HOUR_AGO_MS + 2000, status="TIMED_OUT"))

    job = f.job("fw-a")
    assert answer == {"batchItemFailures": []}
    assert job["status"] == "CANCELED" and job["reasonCode"] == "FLEET_CASUALTIES"
    assert "3 casualties within 600 s, threshold 3" in job["comment"]
    assert "dev-1 failed, dev-2 rejected, dev-3 timed_out" in job["comment"]
    assert f.status("fw-b") != "CANCELED"


def test_duplicate_events_count_their_thing_once(fleet):
    f = fleet()
    f.send(failed("dev-1"), failed("dev-1"), failed("dev-2"))
    f.send(failed("dev-2"), failed("dev-1"))

    assert f.status("fw-a") != "CANCELED"
    assert f.reports[-1]["casualties"] == 2


def test_order_of_arrival_does_not_matter_only_the_events_own_times(fleet):
    f = fleet()
    f.send(failed("dev-3", HOUR_AGO_MS + 5 * MINUTE))
    f.send(failed("dev-1", HOUR_AGO_MS))
    assert f.status("fw-a") != "CANCELED"

    f.send(failed("dev-2", HOUR_AGO_MS + 2 * MINUTE))

    assert f.status("fw-a") == "CANCELED"


def test_failures_further_apart_than_the_window_do_not_cross_it(fleet):
    f = fleet()
    f.send(failed("dev-1", HOUR_AGO_MS), failed("dev-2", HOUR_AGO_MS + 6 * MINUTE),
           failed("dev-3", HOUR_AGO_MS + 12 * MINUTE))

    assert f.status("fw-a") != "CANCELED"
    assert "2 casualties within 600 s, threshold 3" in f.reports[-1]["detail"]


def test_a_job_outside_every_fleet_rule_is_never_touched(fleet):
    f = fleet()
    f.send(*(failed(thing, job="ops-x") for thing in THINGS))

    assert f.status("ops-x") != "CANCELED"


def test_a_message_that_is_not_a_fleet_event_fails_alone(fleet):
    f = fleet()
    batch = samples.sqs_batch(failed("dev-1"), {"eventType": "something-else"})
    batch["Records"].append({**batch["Records"][0], "messageId": "not-json", "body": "{"})

    answer = f.batch(batch)

    bad = {batch["Records"][1]["messageId"], "not-json"}
    assert {item["itemIdentifier"] for item in answer["batchItemFailures"]} == bad
    assert f.reports[-1]["casualties"] == 1


# --- dark things --------------------------------------------------------------------------------------------


def rebooted(thing: str, at: int, back_after_ms: int | None, job: str = "fw-a") -> list[dict]:
    """Reported SUCCEEDED, then rebooted; back after `back_after_ms`, or never (None)."""
    events = [samples.job_execution(job, thing, "SUCCEEDED", at), samples.presence(thing, False, at + 1000)]
    if back_after_ms is not None:
        events.append(samples.presence(thing, True, at + 1000 + back_after_ms))
    return events


def test_things_that_report_success_and_never_come_back_are_dark_casualties(fleet):
    f = fleet()
    f.executed("fw-a", 12)
    f.send(*rebooted("dev-1", HOUR_AGO_MS, None), *rebooted("dev-2", HOUR_AGO_MS, None))
    f.deliver_checks()
    assert f.status("fw-a") != "CANCELED"

    f.send(*rebooted("dev-3", HOUR_AGO_MS, None))
    f.deliver_checks()

    job = f.job("fw-a")
    assert job["status"] == "CANCELED"
    assert "(3 dark)" in job["comment"] and "dev-1 dark" in job["comment"]


def test_a_reconnect_inside_dark_after_is_not_counted_even_when_it_arrives_first(fleet):
    f = fleet()
    f.executed("fw-a", 12)
    back = samples.presence("dev-1", True, HOUR_AGO_MS + 1000 + 90_000)  # 90 s later, inside 2 m
    f.send(back)
    f.send(*rebooted("dev-1", HOUR_AGO_MS, None), *rebooted("dev-2", HOUR_AGO_MS, 30_000),
           *rebooted("dev-3", HOUR_AGO_MS, None))
    f.deliver_checks()

    assert f.status("fw-a") != "CANCELED"
    assert f.reports[-1]["casualties"] == 1  # dev-3 only


def test_a_reconnect_after_dark_after_still_counts_the_thing_dark(fleet):
    f = fleet()
    f.executed("fw-a", 12)
    events = [*rebooted("dev-1", HOUR_AGO_MS, 5 * MINUTE), *rebooted("dev-2", HOUR_AGO_MS, None),
              *rebooted("dev-3", HOUR_AGO_MS, None)]
    f.send(*events)
    f.deliver_checks()

    assert f.status("fw-a") == "CANCELED"


def test_a_thing_dark_while_in_progress_counts_for_the_job_it_was_executing_only(fleet):
    f = fleet()
    f.executed("fw-b", 12)
    for thing in ("dev-1", "dev-2", "dev-3"):
        f.executing("fw-b", thing)  # fw-a stays QUEUED on them: they never started it
    f.send(*(samples.presence(thing, False, HOUR_AGO_MS) for thing in ("dev-1", "dev-2", "dev-3")))
    f.deliver_checks()

    assert f.status("fw-b") == "CANCELED"
    assert f.status("fw-a") != "CANCELED"


def test_a_thing_dark_with_no_job_running_is_not_a_casualty(fleet):
    f = fleet()
    f.send(*(samples.presence(thing, False, HOUR_AGO_MS) for thing in THINGS))
    f.deliver_checks()

    assert f.status("fw-a") != "CANCELED" and f.status("fw-b") != "CANCELED"
    assert f.reports == []


def test_a_client_id_that_is_not_a_thing_name_is_not_counted(fleet, capsys):
    f = fleet()
    f.send(samples.presence("not a thing!", False, HOUR_AGO_MS))
    capsys.readouterr()
    f.deliver_checks()

    assert emf(capsys.readouterr().out).get("UnmappedClients") == 1.0


# --- a network outage ---------------------------------------------------------------------------------------


def outage_rollout(f: Fleet, others: int) -> None:
    """Three of the job's ten executed things go dark; `others` of the rest of the fleet disconnect then too."""
    f.executed("fw-a", 10)
    events = [event for thing in ("dev-1", "dev-2", "dev-3") for event in rebooted(thing, HOUR_AGO_MS, None)]
    events += [samples.presence(f"other-{n}", False, HOUR_AGO_MS + 1000) for n in range(others)]
    for start in range(0, len(events), 10):
        f.send(*events[start:start + 10])
    f.deliver_checks()


def test_in_a_network_outage_dark_things_do_not_count_and_the_guard_says_why(fleet):
    f = fleet()
    outage_rollout(f, others=20)  # 20 of 90 others (22%) against 3 of 10 (30%): comparable

    assert f.status("fw-a") != "CANCELED"
    report = f.reports[-1]
    assert report["discounted"] == 3 and report["casualties"] == 0
    assert "a network outage, not the firmware" in report["detail"]
    assert "20 of the fleet's other 90 things disconnected" in report["detail"]


def test_the_same_dark_things_without_an_outage_halt(fleet):
    f = fleet()
    outage_rollout(f, others=2)  # 2 of 90 (2%) against 30%: the firmware

    assert f.status("fw-a") == "CANCELED"


def test_failures_still_count_during_an_outage(fleet):
    f = fleet()
    outage_rollout(f, others=20)
    f.send(failed("dev-4"), failed("dev-5"))
    assert f.status("fw-a") != "CANCELED"

    f.send(failed("dev-6"))

    assert f.status("fw-a") == "CANCELED"


def test_the_jobs_own_reboots_are_not_counted_as_the_rest_of_the_fleet(fleet):
    f = fleet()
    f.executed("fw-a", 10)
    rebooting = [event for n in range(4, 13) for event in rebooted(f"dev-{n}", HOUR_AGO_MS, 20_000)]
    dark = [event for thing in ("dev-1", "dev-2", "dev-3") for event in rebooted(thing, HOUR_AGO_MS, None)]
    for start in range(0, len(rebooting + dark), 10):
        f.send(*(rebooting + dark)[start:start + 10])
    f.deliver_checks()

    assert f.status("fw-a") == "CANCELED"


# --- percentages --------------------------------------------------------------------------------------------

PERCENT = """
rules:
  - name: share
    match: {signal: casualties}
    jobs: ["fw-*"]
    reason_code: FLEET_SHARE
    casualties: {percent: 20, min_things: 10}
"""


@pytest.mark.parametrize(("executed", "failures", "halted"), [
    (9, 3, False),  # 33%, but fewer executed things than the minimum sample
    (10, 2, True),  # exactly 20% of exactly the minimum
    (11, 2, False),  # 18%
    (20, 4, True),
])
def test_a_percentage_counts_only_from_the_minimum_sample_and_holds_at_the_boundary(fleet, executed, failures,
                                                                                      halted):
    f = fleet(PERCENT)
    f.executed("fw-a", executed)

    f.send(*(failed(f"dev-{n}") for n in range(1, failures + 1)))

    assert (f.status("fw-a") == "CANCELED") is halted


def test_casualties_of_a_job_deleted_meanwhile_are_settled_without_a_halt(fleet):
    f = fleet(PERCENT)

    answer = f.send(failed("dev-1", job="fw-gone"), failed("dev-2", job="fw-gone"))

    assert answer == {"batchItemFailures": []} and f.reports == []


def test_a_fleet_rule_in_dry_run_cancels_nothing_but_says_what_it_would_do(fleet):
    f = fleet(POLICY.replace("reason_code: FLEET_CASUALTIES", "reason_code: FLEET_CASUALTIES\n    dry_run: true"))

    f.send(failed("dev-1"), failed("dev-2"), failed("dev-3"))

    assert f.status("fw-a") != "CANCELED"
    assert f.reports[-1]["outcome"]["decisions"][0]["action"] == "would_cancel"


def test_the_dark_check_message_round_trips():
    check = parse_body(__import__("json").dumps({"rolloutGuard": "dark-check", "darkAfter": 120,
                                                 "disconnects": [["dev-1", HOUR_AGO_MS]]}))
    assert check.message()["disconnects"] == [["dev-1", HOUR_AGO_MS]]


# --- the streams real fleets send (issue 16) ----------------------------------------------------------------


@pytest.mark.parametrize("statuses", [("FAILED", "FAILED"), ("FAILED", "TIMED_OUT")])
def test_two_outcomes_of_one_thing_in_one_batch_settle_and_count_it_once(fleet, statuses):
    f = fleet()
    outcomes = [failed("dev-1", HOUR_AGO_MS + n * 1000, status=status) for n, status in enumerate(statuses)]

    answer = f.send(*outcomes, failed("dev-2"))

    assert answer == {"batchItemFailures": []}
    assert f.reports[-1]["casualties"] == 2 and f.status("fw-a") != "CANCELED"


def test_a_dry_run_rule_keeps_every_item_small_whatever_the_number_of_casualties(fleet):
    f = fleet("""
rules:
  - name: fleet
    match: {signal: casualties}
    jobs: ["fw-*"]
    dry_run: true
    casualties: {things: 100000}
""")
    # Things with the longest names: one item per job held ~150 bytes a thing, 73 KB here and past 400 KB at ~2,700.
    things = [f"{n:05d}".ljust(128, "x") for n in range(500)]

    for start in range(0, len(things), 10):
        answer = f.send(*(failed(thing, HOUR_AGO_MS + n * 1000) for n, thing in enumerate(things[start:start + 10],
                                                                                           start)))
        assert answer == {"batchItemFailures": []}

    assert f.reports[-1]["casualties"] == 500
    items = boto3.client("dynamodb", region_name="eu-west-1").scan(TableName="state")["Items"]
    assert max(len(json.dumps(item)) for item in items) < 20_000

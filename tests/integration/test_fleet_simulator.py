"""The fleet signal against a simulator that knows the truth: small rollouts (clean, bricking, failing with retries
and duplicates, an outage with and without bricking, a backlog drained by four consumers, malformed messages; and a
Greengrass v2 deployment's: clean, a component that breaks, failing with duplicates, bricking, an outage; and after
a completed rollout watched for a day: clean, devices bricking two hours after SUCCEEDED, an outage two hours after)
through a moto SQS queue and the function's own handler. Every scenario: no false halt, no missed halt, a halt
never before the true crossing, nothing valid dead-lettered. The large runs are in `make bench`."""

from __future__ import annotations

import contextlib
import io

import pytest
from moto import mock_aws

from rollout_guard_local.fleet_sim import Scenario, greengrass_scenarios, regression_scenarios, run, scenarios

pytestmark = [pytest.mark.xdist_group("simulator"), pytest.mark.slow]

SCENARIOS = [*scenarios(devices=40, fleet=300, threshold=3, dark_after_s=30, share=0.15, malformed=3),
             *greengrass_scenarios(devices=40, fleet=300, threshold=3, dark_after_s=30, share=0.15),
             # the clean watched row is make bench's: a clean rollout is above, the watch adds nothing to it
             *regression_scenarios(devices=40, fleet=300, threshold=3, dark_after_s=30, share=0.1)[1:]]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    found = {}
    with pytest.MonkeyPatch.context() as env:
        for name, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            env.setenv(name, value)
        for scenario in SCENARIOS:
            with mock_aws(), contextlib.redirect_stdout(io.StringIO()):  # the handler's metrics
                found[scenario.name] = (scenario, run(scenario, tmp_path_factory.mktemp("sim")))
    return found


@pytest.mark.parametrize("name", [scenario.name for scenario in SCENARIOS])
def test_the_detector_halts_exactly_when_the_truth_says(reports, name):
    scenario, report = reports[name]

    assert not report.false_halt and not report.missed_halt, report.row()
    assert report.halted == (report.truly_crossed_at_s is not None)
    if report.halted:
        assert report.delay_s >= 0, "halted before the threshold was truly crossed"
        assert report.halted_with >= scenario.threshold
    assert report.dead_lettered == scenario.malformed  # a malformed message fails alone, nothing valid is lost
    assert report.largest_item_bytes < 100_000


def test_failures_halt_within_seconds_and_count_each_device_once_whatever_the_retries(reports):
    _, report = reports["failing firmware, retries and duplicates"]

    assert report.delay_s <= 3 and report.casualties_counted == report.true_casualties


def test_dark_things_halt_within_dark_after_and_the_watermark(reports):
    scenario, report = reports["bricking firmware (dark after SUCCEEDED)"]

    assert report.delay_s <= scenario.dark_after_s + 30


def test_an_outage_hides_failures_from_no_one_and_bricked_devices_only_until_the_fleet_is_back(reports):
    _, failing = reports["outage with failing firmware"]
    scenario, bricking = reports["outage with bricking"]

    assert failing.delay_s <= 3
    assert bricking.casualties_counted == bricking.true_casualties
    assert bricking.delay_s <= scenario.outage.at_s + scenario.outage.lasts_s + 60 + 4 * scenario.dark_after_s


def test_a_backlog_delays_the_halt_by_the_backlog_not_more(reports):
    scenario, report = reports["5-minute backlog, 4 consumers"]

    assert report.delay_s <= scenario.backlog[0] + scenario.backlog[1] + 60


def test_the_truth_is_the_nth_casualty_by_event_time():
    from rollout_guard_local.fleet_sim import generate

    truth = generate(Scenario("t", devices=50, fleet=50, threshold=3, failing=0.2, bricked=0.1, retries=1))

    failed = sorted(d.outcome_ms for d in truth.devices if d.fate == "failed")
    dark = sorted(d.dark_ms for d in truth.devices if d.fate == "bricked")
    assert len(truth.casualties) == len(failed) + len(dark) > 3
    assert truth.crossing_ms == sorted(failed + dark)[2]
    assert generate(Scenario("t", devices=50, fleet=50, threshold=3)).crossing_ms is None


@pytest.mark.parametrize("name", [scenario.name for scenario in SCENARIOS if not scenario.malformed])
def test_the_replay_of_a_stream_decides_as_the_function_did_on_it(reports, name):
    import yaml

    from rollout_guard.policy import load
    from rollout_guard_cli.replay import replay
    from rollout_guard_local.fleet_sim import DEPLOYMENT, DEPLOYMENT_NAME, generate

    scenario, report = reports[name]
    truth = generate(scenario)

    with contextlib.redirect_stdout(io.StringIO()):
        verdicts = replay(truth.events, load(yaml.safe_load(scenario.policy())), None, {DEPLOYMENT: DEPLOYMENT_NAME})

    verdict = verdicts.get(scenario.subject)
    assert (verdict is not None and verdict.halted) == report.halted
    if report.halted:  # the replay reads the stream in event-time order: the Nth casualty of the truth
        assert verdict.casualty == truth.casualties[scenario.threshold - 1][1]
    if report.halted and scenario.consumers == 1 and not scenario.backlog:
        assert report.crossing_thing == verdict.casualty  # read as it came, the function said the same


def test_devices_bricking_hours_after_success_are_a_regression_at_the_true_crossing_and_the_revert_waits(reports):
    scenario, report = reports["after the rollout: 10% brick 2 h after SUCCEEDED"]

    assert report.regressed and report.truly_crossed_at_s > scenario.late_after_s
    assert 0 <= report.delay_s <= scenario.dark_after_s + 30
    revert = report.revert
    assert revert["prepared"] and revert["created_before_approval"] == 0  # nothing before the operator approves
    assert revert["created"] == ["fw-sim-revert"] and revert["exact"]  # exactly the things that SUCCEEDED
    assert revert["things"] == scenario.devices  # none failed: every device SUCCEEDED, then some bricked
    assert revert["second_approval"] == ["skipped"]


def test_an_outage_hours_after_a_completed_rollout_is_no_regression_and_prepares_no_revert(reports):
    _, report = reports["after the rollout: an outage 2 h after, nothing wrong"]

    assert not report.regressed and report.revert["prepared"] is False and report.revert["created"] == []

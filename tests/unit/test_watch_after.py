"""Watching after success, in memory: given a fleet rule with `watch_after`, when things that SUCCEEDED on a job go
dark hours later (the job COMPLETED meanwhile), then they count for that job within watch_after and the crossing
halts as a regression; past watch_after, or without it, they count for nothing."""

from __future__ import annotations

import json

import pytest

from rollout_guard.adapters.memory_fleet import InMemoryFleetState
from rollout_guard.fleet.detector import Detector
from rollout_guard.fleet.state import watch_key
from rollout_guard.halts.jobs import JobView
from rollout_guard_local import samples
from tests.conftest import make_policy
from tests.unit.fakes import FakeJobs

RULE = """
    rules:
      - name: fleet
        match: {signal: casualties}
        jobs: ["fw-*"]
        dark_after: 60
        %s
        casualties: {things: 2, fleet_things: 1000}
    """
NOW_MS = 1_800_000_000_000
DAY_MS = 86_400_000


def run(watch: str, dark_after_success_ms: int) -> tuple[list, InMemoryFleetState]:
    """Three things SUCCEEDED on fw-1 a day and a half ago; two go dark `dark_after_success_ms` later and stay dark."""
    policy = make_policy(RULE % watch)
    state, halts = InMemoryFleetState(), []
    succeeded_at = NOW_MS - 36 * 3_600_000
    dark_at = succeeded_at + dark_after_success_ms
    jobs = FakeJobs({"fw-1": JobView("fw-1", "COMPLETED", executed=3, succeeded=3)})
    found = Detector(policy, state, jobs, lambda alert, _: halts.append(alert),
                     clock=lambda: (dark_at + 120_000) / 1000)
    reports = [samples.job_execution("fw-1", f"dev-{n}", "SUCCEEDED", succeeded_at + n) for n in range(3)]
    dark = [samples.presence(f"dev-{n}", False, dark_at + n * 1000) for n in range(2)]
    for batch in (reports, dark):
        plan = found.plan([(f"m{n}", json.dumps(event), None) for n, event in enumerate(batch)])
        for n in range(len(batch)):
            plan.settle(f"m{n}")
    return halts, state


def test_things_dark_two_hours_after_success_on_a_completed_job_count_within_watch_after():
    halts, state = run("watch_after: 24h", 2 * 3_600_000)

    (alert,) = halts
    assert alert.job_ids == ("fw-1",) and "2 casualties" in alert.reason
    assert watch_key("dev-0") in state.items  # the success kept past its day, for the watch


@pytest.mark.parametrize(("watch", "after_ms"), [("watch_after: 24h", 25 * 3_600_000), ("", 2 * 3_600_000),
                                                 ("watch_after: 1h", 2 * 3_600_000)])
def test_past_watch_after_or_without_it_nothing_counts(watch, after_ms):
    halts, state = run(watch, after_ms)

    assert halts == []
    assert not any(key.startswith("casualty#") for key in state.items)


def test_without_watch_after_no_success_is_kept_past_its_day():
    _, state = run("", 2 * 3_600_000)

    assert not any(key.startswith("watch#") for key in state.items)


# --- the `$package` shadow: a watched device that runs another version than its job installed ----------------

PACKAGES = ("arn:aws:iot:eu-west-1:123456789012:package/fw/version/2.4.0",
            "arn:aws:iot:eu-west-1:123456789012:package/bootloader/version/1.1")


def reported(watch: str, versions: dict[str, str], things: int = 2) -> list:
    """Three things SUCCEEDED on fw-1 (which installs fw 2.4.0 and bootloader 1.1) an hour ago; `things` of them
    report `versions` in their `$package` shadow now."""
    from rollout_guard_local import samples as made

    policy = make_policy(RULE % watch)
    state, halts = InMemoryFleetState(), []
    succeeded_at = NOW_MS - 3_600_000
    jobs = FakeJobs({"fw-1": JobView("fw-1", "COMPLETED", executed=3, succeeded=3, packages=PACKAGES)})
    found = Detector(policy, state, jobs, lambda alert, _: halts.append(alert), clock=lambda: NOW_MS / 1000)
    batches = [[made.job_execution("fw-1", f"dev-{n}", "SUCCEEDED", succeeded_at + n) for n in range(3)],
               [made.package_report(f"dev-{n}", versions, NOW_MS - 1000 + n) for n in range(things)]]
    for batch in batches:
        plan = found.plan([(f"m{n}", json.dumps(event), None) for n, event in enumerate(batch)])
        for n in range(len(batch)):
            plan.settle(f"m{n}")
    return halts


def test_watched_devices_reporting_another_version_than_their_job_installed_count_and_cross():
    (alert,) = reported("watch_after: 24h", {"fw": "2.3.0", "bootloader": "1.1"})

    assert alert.job_ids == ("fw-1",) and "2 other_version" in alert.reason


@pytest.mark.parametrize(("watch", "versions"), [
    ("watch_after: 24h", {"fw": "2.4.0", "bootloader": "1.1"}),  # what the job installed
    ("watch_after: 24h", {"modem": "9.9"}),  # a package the job does not name says nothing
    ("watch_after: 30m", {"fw": "2.3.0"}),  # past the watch
    ("", {"fw": "2.3.0"}),  # no watch
])
def test_the_version_the_job_installed_another_package_or_no_watch_count_nothing(watch, versions):
    assert reported(watch, versions) == []


def test_a_package_report_is_read_strictly():
    from rollout_guard.fleet.events import NotAFleetEvent, PackagesReported, parse
    from rollout_guard_local import samples as made

    event = made.package_report("dev-1", {"fw": "2.4.0", "boot": "1.0"}, NOW_MS)
    assert parse(event) == PackagesReported("dev-1", NOW_MS // 1000 * 1000, (("boot", "1.0"), ("fw", "2.4.0")))
    event["state"]["reported"]["fw"] = {"version": 3}
    with pytest.raises(NotAFleetEvent, match="state.reported.'fw'.version must be a non-empty string"):
        parse(event)


def test_package_versions_of_a_job():
    from rollout_guard.fleet.packages import job_versions, strays

    installed = job_versions([*PACKAGES, "arn:aws:iot:eu-west-1:123456789012:package/fw"])
    assert installed == {"fw": "2.4.0", "bootloader": "1.1"}
    assert strays((("fw", "2.3.0"), ("bootloader", "1.1"), ("modem", "1")), installed) == [("fw", "2.3.0", "2.4.0")]

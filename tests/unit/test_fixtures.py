"""The test fixtures and the CLI's samples are one source of truth: tests/events is made from the samples."""

import json

import pytest

from rollout_guard_local import samples
from tests.fixtures import EVENTS, FIXTURES, render


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_each_fixture_is_what_its_sample_builder_makes(name):
    assert (EVENTS / f"{name}.json").read_text() == render(name), "run `python -m tests.fixtures` after a sample change"


def test_every_fixture_file_comes_from_a_builder():
    assert {path.stem for path in EVENTS.glob("*.json")} == set(FIXTURES)


def test_every_sample_kind_is_a_fixture_the_tests_load():
    files = [json.loads(path.read_text()) for path in EVENTS.glob("*.json")]

    missing = [kind for kind, build in samples.KINDS.items() if build() not in files]

    assert missing == []


def test_samples_are_stable_and_a_different_alert_has_a_different_id():
    assert samples.alarm_eventbridge() == samples.alarm_eventbridge()
    assert samples.alarm_eventbridge()["id"] != samples.alarm_eventbridge(job_id="fw-2-4-us")["id"]
    first, other = samples.custom_sns(), samples.custom_sns(job_id="fw-9")
    assert first["Records"][0]["Sns"]["MessageId"] != other["Records"][0]["Sns"]["MessageId"]

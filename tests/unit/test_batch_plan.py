"""A fleet batch planned before anything is written (`fleet.batch_plan`), over work that records what it is asked:
shared writes done once, a bad message failing alone with its reason, each message's steps in order."""

import io
import json
import zlib

import pytest

from rollout_guard import telemetry
from rollout_guard.fleet import batch_plan
from rollout_guard.fleet.batch_plan import Once, Work
from rollout_guard.fleet.events import DarkCheck, NotAFleetEvent
from rollout_guard.fleet.state import MINUTE_SHARDS, MinuteCounts
from rollout_guard.observability import Metric
from rollout_guard_local import samples

AT = samples.EPOCH_MS


class Recorded:
    """The detector's work, recorded; `failing` names the thing-day keys whose write fails."""

    def __init__(self, failing: tuple[str, ...] = ()):
        self.calls: list[tuple] = []
        self.failing = failing

    def work(self) -> Work:
        def note_thing(key, connected, succeeded):
            self.calls.append(("thing", key, sorted(connected), sorted(succeeded)))
            if key.startswith(self.failing):
                raise RuntimeError("the table refused")

        return Work(note_thing=note_thing,
                    count_casualties=lambda job_id, found: self.calls.append(("job", job_id, len(found))),
                    count_minute=lambda minute, shard, counts: self.calls.append(("minute", minute)),
                    advance=lambda sent_ms, writes: self.calls.append(("advance", sent_ms)),
                    schedule=lambda checks: self.calls.append(("schedule", len(checks))),
                    judge=lambda checks, in_flight: self.calls.append(("judge", len(checks), in_flight)))


def test_a_message_that_is_no_fleet_event_fails_alone_with_its_reason_and_is_logged(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(telemetry.logger.registered_handler, "stream", stream)
    recorded = Recorded()

    planned = batch_plan.plan([("m1", "not json"), ("m2", json.dumps(samples.presence("dev-1", True, AT)))], (),
                              recorded.work())

    assert planned.problems == {"m1": "the message body is not JSON"}
    with pytest.raises(NotAFleetEvent, match="^the message body is not JSON$"):
        planned.settle("m1")
    planned.settle("m2")
    assert [call[0] for call in recorded.calls] == ["thing"]
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines() if "Unrecognised" in text]
    assert (line["level"], line["message"], line["message_id"], line["problem"]) == (
        "ERROR", "Unrecognised fleet event", "m1", "the message body is not JSON")


def test_a_write_shared_by_messages_is_done_once_and_its_failure_fails_each_of_them():
    recorded = Recorded(failing=("thing#dev-1#",))
    bodies = [json.dumps(samples.presence("dev-1", True, AT)), json.dumps(samples.presence("dev-1", True, AT + 5))]
    planned = batch_plan.plan([("m1", bodies[0], AT), ("m2", bodies[1], AT + 9)], (), recorded.work())
    key = next(step for step in planned.steps["m1"])

    assert planned.steps["m1"][0] is planned.steps["m2"][0] is key  # one write for the thing's day
    for message_id in ("m1", "m2"):
        with pytest.raises(RuntimeError, match="the table refused"):
            planned.settle(message_id)
    assert [call[0] for call in recorded.calls] == ["thing"]  # once, whoever asked first; no mark moved past it


def test_once_hands_its_answer_or_its_error_to_every_caller():
    answers = iter([41, 42])
    once = Once(lambda: next(answers))
    assert (once(), once(), once.failed) == (41, 41, False)

    def refuse():
        raise ValueError("no")

    failing = Once(refuse)
    for _ in range(2):
        with pytest.raises(ValueError, match="no"):
            failing()
    assert failing.failed


class Failing:
    """The detector's work, each kind of write failing for the keys named; every call recorded."""

    def __init__(self, things=(), jobs=(), minutes=()):
        self.calls: list[tuple] = []
        self.things, self.jobs, self.minutes = things, jobs, minutes

    def _write(self, kind, key, refused, *details):
        self.calls.append((kind, key, *details))
        if key in refused:
            raise RuntimeError(f"the table refused {kind} {key}")

    def work(self) -> Work:
        return Work(note_thing=lambda key, connected, succeeded: self._write("thing", key.split("#")[1], self.things,
                                                                             sorted(connected), sorted(succeeded)),
                    count_casualties=lambda job_id, found: self._write("job", job_id, self.jobs, len(found)),
                    count_minute=lambda minute, shard, counts: self._write("minute", minute, self.minutes, shard,
                                                                           counts),
                    advance=lambda sent_ms, writes: self.calls.append(("advance", sent_ms)),
                    schedule=lambda checks: self.calls.append(("schedule", [len(c.disconnects) for c in checks])),
                    judge=lambda checks, in_flight: self.calls.append(("judge", len(checks), in_flight)))


def settled(planned, *message_ids) -> dict[str, str]:
    """Each message's fate: "ok", or the error that fails it."""
    fate = {}
    for message_id in message_ids:
        try:
            planned.settle(message_id)
            fate[message_id] = "ok"
        except Exception as error:  # noqa: BLE001 - the fate under test
            fate[message_id] = str(error)
    return fate


def body(event) -> str:
    return json.dumps(event)


def test_a_success_waits_on_its_own_things_write_and_only_its_own():
    work = Failing(things=("dev-1",))
    planned = batch_plan.plan([("m1", body(samples.job_execution("fw-1", "dev-1", "SUCCEEDED", AT))),
                               ("m2", body(samples.job_execution("fw-1", "dev-2", "SUCCEEDED", AT)))], (), work.work())

    assert settled(planned, "m1", "m2") == {"m1": "the table refused thing dev-1", "m2": "ok"}
    assert sorted(call[:2] for call in work.calls) == [("thing", "dev-1"), ("thing", "dev-2")]
    assert ("thing", "dev-2", [], [(AT - AT % 1000, "fw-1")]) in work.calls  # Jobs events carry seconds


def test_a_failure_waits_on_its_jobs_count_and_only_its_own():
    work = Failing(jobs=("fw-1",))
    planned = batch_plan.plan([("m1", body(samples.job_execution("fw-1", "dev-1", "FAILED", AT))),
                               ("m2", body(samples.job_execution("fw-2", "dev-2", "REJECTED", AT))),
                               ("m3", body(samples.job_execution("fw-1", "dev-3", "TIMED_OUT", AT)))], (),
                              work.work())

    assert settled(planned, "m1", "m2", "m3") == {"m1": "the table refused job fw-1", "m2": "ok",
                                                  "m3": "the table refused job fw-1"}
    assert sorted(call for call in work.calls if call[0] == "job") == [("job", "fw-1", 2), ("job", "fw-2", 1)]


def test_connects_and_disconnects_wait_on_their_minutes_count_and_only_their_own():
    minute = AT // 60_000
    work = Failing(minutes=(minute,))
    events = [("m1", samples.presence("dev-1", True, AT)), ("m2", samples.presence("dev-2", True, AT + 1)),
              ("m3", samples.presence("dev-3", False, AT + 2)), ("m4", samples.presence("dev-4", False, AT + 60_000))]
    planned = batch_plan.plan([(message_id, body(event)) for message_id, event in events], (60,), work.work())

    refused = f"the table refused minute {minute}"
    assert settled(planned, "m1", "m2", "m3", "m4") == {"m1": refused, "m2": refused, "m3": refused, "m4": "ok"}
    shard = zlib.crc32(b"m1") % MINUTE_SHARDS  # the batch's first message's shard
    minutes = sorted(call for call in work.calls if call[0] == "minute")
    assert minutes == [("minute", minute, shard, MinuteCounts(1, 0, 2)),
                       ("minute", minute + 1, shard, MinuteCounts(1, 0, 0))]
    assert ("schedule", [2]) in work.calls  # the disconnects' dark check, once, for both


def test_judging_knows_how_many_messages_the_batch_holds():
    work = Failing()
    check = DarkCheck(60, (("dev-1", AT),))
    planned = batch_plan.plan([("m1", body(check.message())), ("m2", body(samples.presence("dev-2", True, AT))),
                               ("m3", "not json")], (60,), work.work())

    settled(planned, "m1", "m2", "m3")

    assert ("judge", 1, 3) in work.calls  # two fleet events and one that is none: three messages in flight


def test_a_batch_of_nothing_but_bad_messages_writes_nothing(monkeypatch):
    seen = []
    monkeypatch.setattr(batch_plan, "count", lambda metric, value=1: seen.append((metric, value)))
    work = Failing()

    planned = batch_plan.plan([("m1", "{"), ("m2", "[]")], (60,), work.work())

    assert settled(planned, "m1", "m2") == {"m1": "the message body is not JSON",
                                            "m2": "expected a JSON object, got list"}
    assert work.calls == []
    assert seen == [(Metric.FLEET_EVENTS_UNRECOGNISED, 1), (Metric.FLEET_EVENTS_UNRECOGNISED, 1),
                    (Metric.FLEET_EVENTS_RECEIVED, 0)]


def test_the_events_received_are_counted_once_a_batch(monkeypatch):
    seen = []
    monkeypatch.setattr(batch_plan, "count", lambda metric, value=1: seen.append((metric, value)))

    batch_plan.plan([(f"m{n}", body(samples.presence(f"dev-{n}", True, AT))) for n in range(3)], (), Failing().work())

    assert seen == [(Metric.FLEET_EVENTS_RECEIVED, 3)]


def test_once_has_done_nothing_until_asked():
    calls = []
    once = Once(lambda: calls.append(1))
    assert (once.failed, calls) == (False, [])
    assert once() is None and once.failed is False and calls == [1]

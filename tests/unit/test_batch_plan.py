"""A fleet batch planned before anything is written (`fleet.batch_plan`), over work that records what it is asked:
shared writes done once, a bad message failing alone with its reason, each message's steps in order."""

import io
import json

import pytest

from rollout_guard import telemetry
from rollout_guard.fleet import batch_plan
from rollout_guard.fleet.batch_plan import Once, Work
from rollout_guard.fleet.events import NotAFleetEvent
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

"""The pre-start gate, alone: IoT's CreateJob read from CloudTrail's record, and `gate.check` over an alarms port in
memory (which rule's alarm fires, in policy order, for a job its globs allow)."""

import pytest

from rollout_guard.halts import alert_kinds, alerts, gate
from rollout_guard.halts.alert_kinds import JobCreated
from rollout_guard_local import samples
from tests.conftest import make_policy


class Alarms:
    """Alarms in memory: the names in ALARM now."""

    def __init__(self, *firing: str):
        self.firing_now, self.asked = set(firing), []

    def firing(self, glob: str) -> list[str]:
        from fnmatch import fnmatchcase

        self.asked.append(glob)
        return [name for name in self.firing_now if fnmatchcase(name, glob)]

    def state(self, name: str) -> str | None:
        return "ALARM" if name in self.firing_now else None


POLICY = make_policy("""
rules:
  - name: ops
    match: {source: ops}
  - name: crash-eu
    match: {alarm_name: "fw-crash-eu*"}
    jobs: ["fw-*-eu"]
    reason_code: CRASH_EU
  - name: crash-any
    match: {alarm_name: "fw-crash-*"}
    jobs: ["fw-*"]
""")


def created(job_id="fw-2-6-eu") -> JobCreated:
    return JobCreated(job_ids=(job_id,), timestamp="2026-11-29T10:00:00Z", correlation_id="ct-1")


def test_the_first_rule_whose_alarm_fires_and_whose_globs_allow_the_job_acts_with_that_alarm():
    alarms = Alarms("fw-crash-eu-b", "fw-crash-eu-a", "billing")

    alert, rule = gate.check(created(), POLICY, alarms)

    assert rule.name == "crash-eu" and alarms.asked == ["fw-crash-eu*"]  # a rule without alarm_name is not asked
    assert alert == alert_kinds.AlarmAlert(
        via=alert_kinds.Via.GATE, alarm_name="fw-crash-eu-a", state="ALARM", job_ids=("fw-2-6-eu",),
        reason="alarm fw-crash-eu-a was already in ALARM when job fw-2-6-eu was created",
        timestamp="2026-11-29T10:00:00Z", correlation_id="ct-1")


def test_a_job_outside_a_rules_globs_is_judged_by_the_next_rule_and_nothing_fires_nothing_acts():
    assert gate.check(created("fw-2-6-us"), POLICY, Alarms("fw-crash-eu-a"))[1].name == "crash-any"
    assert gate.check(created("ops-x"), POLICY, Alarms("fw-crash-eu-a")) is None
    assert gate.check(created(), POLICY, Alarms("billing")) is None
    assert gate.check(JobCreated(job_ids=(7,)), POLICY, Alarms("fw-crash-eu-a")) is None  # an id that is no id


@pytest.mark.parametrize(("glob", "prefix"), [("fw-crash-*", "fw-crash-"), ("a?b", "a"), ("[ab]x", ""), ("plain", "plain")])
def test_describe_alarms_is_narrowed_by_the_globs_literal_start(glob, prefix):
    assert gate.prefix_of(glob) == prefix


def test_a_created_job_is_read_from_cloudtrails_record():
    from tests.conftest import load_event

    created = alerts.parse(load_event("cloudtrail_create_job"))

    assert (created.kind, created.via, created.job_ids) == (alert_kinds.JOB_CREATED, "cloudtrail", ("fw-2-6-eu",))
    assert created.subject == "the creation of job fw-2-6-eu"


@pytest.mark.parametrize(("change", "problem"), [
    (lambda e: e["detail"].update(errorCode="LimitExceededException"),
     "CreateJob failed ('LimitExceededException'): no job was created"),
    (lambda e: e["detail"].update(eventName="DeleteJob"), "CloudTrail event 'DeleteJob' of aws.iot is not CreateJob"),
    (lambda e: e["detail"].update(requestParameters={}, responseElements=None), "jobId is missing"),
])
def test_a_cloudtrail_record_that_creates_no_job_is_refused(change, problem):

    event = samples.job_created()
    change(event)

    with pytest.raises(alerts.UnrecognisedAlert) as caught:
        alerts.parse(event)
    assert str(caught.value) == problem



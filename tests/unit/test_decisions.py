"""The pure decision functions: given an alert, a rule and confirmed jobs, then these decisions."""

import json

import pytest

from rollout_guard.halts import alert_kinds, alerts, decisions, jobs
from rollout_guard.halts.alert_kinds import AlarmAlert, CustomAlert, DefenderAlert, FleetAlert
from rollout_guard.halts.decisions import CANCELED, FAILED, SKIPPED, WOULD_CANCEL
from rollout_guard.halts.jobs import JobView
from tests.conftest import EVENTS, load_event, make_policy
from tests.unit.fakes import FakeJobs, active

POLICY = make_policy(
    """
    rules:
      - name: crash
        match: {alarm_name: "fw-crash-*"}
        jobs: ["fw-*"]
        reason_code: FIRMWARE_CRASH
        force: true
      - name: monitoring
        match: {source: "com.acme.*", severity: [Critical, high]}
      - name: defender
        match: {security_profile: "fw-*"}
      - name: catch-all-alarms
        match: {alarm_name: "*"}
    """
)


def rule(name):
    return next(r for r in POLICY.rules if r.name == name)


def alarm(name="fw-crash-eu", state="ALARM", previous="OK"):
    return AlarmAlert(via="eventbridge", alarm_name=name, state=state, previous_state=previous)


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ("eventbridge_alarm_ok", "moved to OK, not into ALARM"),
        ("eventbridge_alarm_insufficient", "moved to INSUFFICIENT_DATA"),
        ("eventbridge_alarm_still_alarm", "already in ALARM"),
        ("sns_alarm_ok", "moved to OK"),
        ("sns_defender_cleared", "alarm-cleared, not in-alarm"),
        ("sns_defender_invalidated", "alarm-invalidated"),
        ("eventbridge_alarm_composite_suppressed", "in ALARM with its actions suppressed (WaitPeriod)"),
        ("eventbridge_alarm_composite_suppressed_still", "in ALARM with its actions suppressed (Alarm)"),
    ],
)
def test_only_transitions_into_alarm_act(event, why):
    assert why in decisions.inaction_reason(alerts.parse(load_event(event)))


@pytest.mark.parametrize("event", ["eventbridge_alarm_metric", "sns_alarm", "alarm_action", "sns_defender_in_alarm",
                                   "sns_custom", "eventbridge_alarm_composite_suppression_ended", "sns_alarm_again"])
def test_actionable_alerts(event):
    assert decisions.inaction_reason(alerts.parse(load_event(event))) is None


def test_a_published_lambda_action_at_the_end_of_a_suppression_acts():
    """CloudWatch runs a suppressed composite alarm's actions when the wait period ends with the alarm in ALARM;
    that delivery shows ALARM as the previous state (Powertools' published sample)."""
    event = json.loads((EVENTS / "published" / "cloudwatch_alarm_action_composite_suppression_ended.json").read_text())

    alert = alerts.parse(event)

    assert (alert.via, alert.state, alert.previous_state) == ("alarm_action", "ALARM", "ALARM")
    assert alert.previous_actions_suppressed_by == "WaitPeriod"
    assert decisions.inaction_reason(alert) is None


@pytest.mark.parametrize("via", ["sns", "alarm_action"])
def test_an_alarm_action_in_alarm_acts_whatever_the_previous_state(via):
    again = AlarmAlert(via=via, alarm_name="fw-crash-eu", state="ALARM", previous_state="ALARM")

    assert decisions.inaction_reason(again) is None


def test_an_eventbridge_change_acts_only_on_an_unsuppressed_transition_or_the_end_of_a_suppression():
    def change(previous, suppressed=None, previously_suppressed=None):
        return AlarmAlert(via="eventbridge", alarm_name="a", state="ALARM", previous_state=previous,
                     actions_suppressed_by=suppressed, previous_actions_suppressed_by=previously_suppressed)

    assert decisions.inaction_reason(change("OK")) is None
    assert decisions.inaction_reason(change("ALARM", previously_suppressed="ExtensionPeriod")) is None
    assert "already in ALARM" in decisions.inaction_reason(change("ALARM"))
    assert "suppressed" in decisions.inaction_reason(change("OK", suppressed="WaitPeriod"))
    assert "suppressed" in decisions.inaction_reason(change("ALARM", "Alarm", "WaitPeriod"))


def test_alarm_without_previous_state_acts():
    assert decisions.inaction_reason(alarm(previous=None)) is None


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        (alarm("fw-crash-eu"), "crash"),
        (alarm("billing"), "catch-all-alarms"),
        (CustomAlert(via="sns", source="com.acme.mon", severity="CRITICAL"), "monitoring"),
        (CustomAlert(via="sns", source="com.acme.mon", severity="HIGH"), "monitoring"),
        (CustomAlert(via="sns", source="com.acme.mon", severity="low"), None),
        (CustomAlert(via="sns", source="com.acme.mon"), None),
        (CustomAlert(via="sns", source="org.other", severity="critical"), None),
        (CustomAlert(via="sns", severity="critical"), None),
        (DefenderAlert(via="sns", security_profile="fw-canary", thing_name="t", violation_event_type="in-alarm"), "defender"),
        (DefenderAlert(via="sns", security_profile="net-canary", thing_name="t", violation_event_type="in-alarm"), None),
    ],
)
def test_first_matching_rule_wins_and_every_key_must_hold(alert, expected):
    selected = decisions.select_rule(POLICY, alert)

    assert (selected.name if selected else None) == expected


def test_glob_match_is_case_sensitive():
    assert decisions.select_rule(POLICY, alarm("FW-CRASH-EU")).name == "catch-all-alarms"


def test_rule_without_match_matches_everything():
    assert decisions.select_rule(make_policy("rules: [{name: any}]"), alarm("x")).name == "any"


def test_screen_named_skips_bad_patterns_and_disallowed_ids_but_keeps_the_rest():
    keep, skipped = decisions.screen_named(
        rule("crash"), ("fw-1", "fw 2", "ops-1", "x" * 65, 7, None, "fw-" + "a" * 61, "fw-2")
    )

    assert keep == ["fw-1", "fw-" + "a" * 61, "fw-2"]
    assert [(d.job_id, d.action) for d in skipped] == [
        ("fw 2", SKIPPED), ("ops-1", SKIPPED), ("x" * 65, SKIPPED), (7, SKIPPED), (None, SKIPPED)]
    assert "breaks the API pattern" in skipped[0].detail
    assert "not allowed by the jobs of rule crash" in skipped[1].detail
    assert all(d.reason_code == "FIRMWARE_CRASH" and d.force for d in skipped)


def test_select_from_active_uses_globs_and_nothing_without_them():
    assert decisions.select_from_active(rule("crash"), ["fw-1", "ops-1", "fw-2"]) == ["fw-1", "fw-2"]
    assert decisions.select_from_active(rule("monitoring"), ["fw-1"]) == []


def respond(chosen, job_views, dry_run=False, unreadable=(), running=()):
    """The guard (the one path production takes) with one rule, its match opened, on named jobs."""
    from dataclasses import replace

    from rollout_guard import policy
    from rollout_guard.halts import guard

    chosen = replace(chosen, match=policy.Match())

    fake = FakeJobs({view.job_id: view for view in job_views})
    fake.fail_describe = set(unreadable)
    fake.executions_of.update({(job_id, "dev-1"): "IN_PROGRESS" for job_id in running})
    named = tuple(view.job_id for view in job_views) + tuple(unreadable)
    alert = CustomAlert(via="sns", source="ops", job_ids=named)
    outcome = guard.respond(alert, policy.Policy(rules=(chosen,)), fake, dry_run=dry_run)
    return {d.job_id: d.action for d in outcome.decisions}, outcome, fake


def test_the_guard_skips_inactive_and_fails_unreadable_jobs():
    views = [active("fw-a"), JobView("fw-b", "COMPLETED"), JobView("fw-c", "CANCELED", force_canceled=True),
             JobView("fw-d", "DELETION_IN_PROGRESS"), JobView("fw-f", "SCHEDULED")]

    acted, outcome, _ = respond(rule("crash"), views, unreadable=["fw-e"])

    assert acted == {"fw-a": CANCELED, "fw-b": SKIPPED, "fw-c": SKIPPED, "fw-d": SKIPPED, "fw-e": FAILED,
                     "fw-f": CANCELED}
    assert "ServiceUnavailableException" in next(d.detail for d in outcome.decisions if d.job_id == "fw-e")


def test_a_forcing_rule_escalates_a_job_cancelled_without_force():
    views = [JobView("fw-soft", "CANCELED"), JobView("fw-hard", "CANCELED", force_canceled=True)]
    gentle = make_policy("rules: [{name: gentle}]").rules[0]

    forced, _, fake = respond(rule("crash"), views, running=["fw-soft"])
    dry, outcome, _ = respond(rule("crash"), views[:1], dry_run=True)
    unforced, _, _ = respond(gentle, views[:1])

    assert forced == {"fw-hard": SKIPPED, "fw-soft": decisions.ESCALATED}
    assert ("force_execution", "fw-soft", "dev-1") in fake.calls
    assert dry == {"fw-soft": WOULD_CANCEL}
    assert "force-cancel the IN_PROGRESS executions" in outcome.decisions[0].detail
    assert unforced == {"fw-soft": SKIPPED}


def test_a_dry_run_would_cancel_and_cancels_nothing():
    acted, _, fake = respond(rule("crash"), [active("fw-a")], dry_run=True)

    assert acted == {"fw-a": WOULD_CANCEL} and fake.cancels() == []


def test_thing_group_filter_uses_the_job_targets():
    grouped = make_policy("rules: [{name: eu, thing_group: fleet-eu}]").rules[0]

    acted, outcome, _ = respond(grouped, [active("a", "fleet-eu"), active("b", "fleet-eu-2"), active("c")])

    assert acted == {"a": CANCELED, "b": SKIPPED, "c": SKIPPED}
    assert "does not target thing group fleet-eu" in next(d.detail for d in outcome.decisions if d.job_id == "b")


def test_default_comment_names_rule_alert_and_reason():
    alert = alerts.parse(load_event("eventbridge_alarm_metric"))

    comment = decisions.render_comment(rule("crash"), alert)

    assert comment == "rollout-guard rule crash: alarm fw-crash-rate-eu: Threshold Crossed: CrashRate moved to ALARM"


def test_default_comment_for_defender_names_the_thing():
    alert = alerts.parse(load_event("sns_defender_in_alarm"))

    assert "thing dev-canary-1" in decisions.render_comment(rule("defender"), alert)


def test_template_comment_fills_placeholders_and_blanks_missing_ones():
    templated = make_policy('rules: [{name: t, comment: "{rule}|{alarm_name}|{state}|{reason}|{source}|{thing_name}"}]')
    alert = AlarmAlert(via="sns", alarm_name="fw-a", state="ALARM", reason="why")

    assert decisions.render_comment(templated.rules[0], alert) == "t|fw-a|ALARM|why||"


def test_comment_is_made_safe_for_the_api():
    alert = CustomAlert(via="sns", source="s", reason="line1\nline2\ttab\x00\u200b" + "é" * 3000)

    comment = decisions.render_comment(rule("monitoring"), alert)

    assert "\n" not in comment and "\t" not in comment and "\x00" not in comment and "\u200b" not in comment
    assert "line1 line2 tab" in comment
    assert len(comment) == 2028


def test_comment_limit_counts_utf16_units():
    text = "😀" * 2000  # each is two UTF-16 units

    safe = jobs.safe_comment(text)

    assert jobs.comment_length(safe) <= 2028
    assert len(safe) == 1014


def test_a_comment_that_cleans_down_to_nothing_falls_back_to_the_rule_name():
    rule = make_policy('rules: [{name: quiet, comment: "{reason}"}]').rules[0]
    alert = alert_kinds.CustomAlert(via="sns", reason="\n\t\u200b", job_ids=("fw-1",))

    assert decisions.render_comment(rule, alert) == "rollout-guard rule quiet"




TEMPLATE = make_policy('rules: [{name: every, comment: "{rule}|{alarm_name}|{state}|{reason}|{source}|{thing_name}|'
                       '{job_id}"}]').rules[0]


@pytest.mark.parametrize(("alert", "comment"), [
    (AlarmAlert(via="sns", alarm_name="fw-a", state="ALARM", reason="why", job_ids=("fw-1",)),
     "every|fw-a|ALARM|why|||fw-1"),
    (AlarmAlert(via="sns", alarm_name="fw-a", state="ALARM", job_ids=("fw-1", "fw-2")), "every|fw-a|ALARM||||"),
    (CustomAlert(via="sns", source="ops", reason="r", job_ids=("fw-1",)), "every|||r|ops||fw-1"),
    (CustomAlert(via="sns", reason="r"), "every|||r|||"),
    (DefenderAlert(via="sns", security_profile="p", thing_name="dev-1", violation_event_type="in-alarm", reason="v"),
     "every|||v||dev-1|"),
    (FleetAlert(job_ids=("fw-9",), reason="3 casualties"), "every|||3 casualties|||fw-9"),
])
def test_a_template_fills_each_placeholder_from_the_alerts_own_fields(alert, comment):
    assert decisions.render_comment(TEMPLATE, alert) == comment


def test_the_gates_comment_always_says_why_once():
    why = "alarm fw-a was already in ALARM when job fw-1 was created"
    gated = AlarmAlert(via="gate", alarm_name="fw-a", state="ALARM", reason=why, job_ids=("fw-1",))
    named = make_policy('rules: [{name: n, comment: "{reason}"}]').rules[0]
    bare = make_policy('rules: [{name: b, comment: "halted"}]').rules[0]
    sns = AlarmAlert(via="sns", alarm_name="fw-a", state="ALARM", reason=why)

    assert decisions.render_comment(named, gated) == why
    assert decisions.render_comment(bare, gated) == f"{why}; halted"
    assert decisions.render_comment(bare, sns) == "halted"


def test_an_operators_request_acts_under_its_rule_with_its_own_words():
    from rollout_guard.halts.alert_kinds import HaltRequest, Requested
    from rollout_guard.policy import Throttle

    rule = make_policy('rules: [{name: op, comment: "rule {reason}", reason_code: RULES, max_jobs: 3, '
                       'jobs: ["fw-*"]}]').rules[0]
    halted = decisions.as_requested(rule, HaltRequest(jobs="fw-*", reason_code="MINE", comment="see {ticket}",
                                                      force=True))
    kept = decisions.as_requested(rule, HaltRequest(jobs="fw-*"))
    slowed = decisions.as_requested(rule, HaltRequest(jobs="fw-*", action=Requested.THROTTLE, throttle=Throttle(4)))
    resumed = decisions.as_requested(rule, HaltRequest(jobs="fw-*", action=Requested.RESUME))

    assert (halted.reason_code, halted.force, halted.comment, halted.action) == ("MINE", True, "see {{ticket}}",
                                                                                 "cancel")
    assert (kept.reason_code, kept.force, kept.comment, kept.max_jobs, kept.jobs) == ("RULES", False, "rule {reason}",
                                                                                      3, ("fw-*",))
    assert (slowed.action, slowed.throttle) == ("throttle", Throttle(4))
    assert (resumed.action, resumed.throttle) == ("throttle", None)


# --- Greengrass deployments in a decision -----------------------------------------------------------------------


def test_a_deployments_decision_shows_the_deployment_beside_its_job():
    ref = decisions.DeploymentRef("4f38f1a7", "gg-fw-2-4", "arn:aws:iot:eu-west-1:1:thinggroup/fleet-eu")
    decision = decisions.Decision("job-uuid", CANCELED, "GG_CRASH", False, "cancelled", deployment=ref)
    without_job = decisions.Decision(None, SKIPPED, "GG_CRASH", False, "no such deployment",
                                     deployment=decisions.DeploymentRef("0000"))

    assert decision.to_dict() == {"jobId": "job-uuid", "action": "canceled", "reasonCode": "GG_CRASH",
                                  "force": False, "detail": "cancelled", "deploymentId": "4f38f1a7",
                                  "deploymentName": "gg-fw-2-4",
                                  "targetArn": "arn:aws:iot:eu-west-1:1:thinggroup/fleet-eu"}
    assert without_job.to_dict() == {"jobId": None, "action": "skipped", "reasonCode": "GG_CRASH", "force": False,
                                     "detail": "no such deployment", "deploymentId": "0000", "deploymentName": None,
                                     "targetArn": None}
    assert "deploymentId" not in decisions.Decision("fw-1", CANCELED, "X", False, "d").to_dict()


def test_a_rule_that_names_deployments_only_allows_no_job_and_one_with_neither_any():
    only_deployments = make_policy("rules: [{name: gg, deployments: ['gg-*']}]").rules[0]
    neither = make_policy("rules: [{name: any}]").rules[0]
    both = make_policy("rules: [{name: both, jobs: ['fw-*'], deployments: ['gg-*']}]").rules[0]

    assert not decisions.allowed_by_rule(only_deployments, "fw-1")
    assert decisions.allowed_by_rule(neither, "fw-1")
    assert decisions.allowed_by_rule(both, "fw-1") and not decisions.allowed_by_rule(both, "ops-1")


def test_the_cap_counts_deployments_acted_on_before_the_jobs():
    rule = make_policy("rules: [{name: r, jobs: ['fw-*'], max_jobs: 3}]").rules[0]
    cap = decisions.BlastRadius(rule, 2, already=2)

    assert not cap.safe and not cap.exceeded
    cap.confirmed(decisions.Decision("fw-1", decisions.TO_CANCEL, "X", False, ""))
    assert cap.safe is False and cap.exceeded is False  # 3 acting, 1 unconfirmed: the cap may still be passed
    cap.confirmed(decisions.Decision("fw-2", decisions.TO_CANCEL, "X", False, ""))
    assert cap.exceeded
    assert cap.block("fw-2", None).detail == ("4 active jobs and deployments exceed max_jobs 3 of rule r; nothing "
                                              "cancelled; not confirmed: describing stopped at the cap")
    assert decisions.BlastRadius(rule, 5).block("fw-9", None).detail.startswith("0 active jobs exceed max_jobs 3")


def test_the_fleet_signal_of_a_deployment_is_named_by_it():
    signal = FleetAlert(job_ids=(), deployment_ids=("4f38f1a7",), reason="3 casualties", correlation_id="fleet:x")

    assert signal.subject == "the fleet signal of deployment 4f38f1a7"
    assert signal.summary() == {"kind": "fleet_signal", "via": "detector", "correlationId": "fleet:x",
                                "reason": "3 casualties", "deploymentIds": ["4f38f1a7"]}
    assert FleetAlert(job_ids=("fw-1",)).subject == "the fleet signal of job fw-1"
    assert "deploymentIds" not in FleetAlert(job_ids=("fw-1",)).summary()


def test_a_job_id_that_is_no_string_is_named_shortly():
    long_id = list(range(200))
    assert FleetAlert(job_ids=(long_id,)).subject == f"the fleet signal of job {alert_kinds.show(long_id)}"
    assert len(FleetAlert(job_ids=(long_id,)).subject) < len(str(long_id))

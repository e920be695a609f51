"""`doctor`'s checks against AWS's exact answers (botocore's Stubber), where the emulator cannot say them: a check
that cannot be made is a warning that says why, and a doctor's client never sends a write."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from rollout_guard_cdk.environments import GUARD_STACK
from rollout_guard_cli import doctor
from rollout_guard_cli.everywhere import Target
from tests.conftest import ROOT

CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]["rollout-guard"]
TARGET = Target("eu-west-1", "eu-west-1", GUARD_STACK, ROOT / CONTEXT["policyFile"], CONTEXT)


@pytest.fixture
def account():
    return doctor.Account(TARGET, doctor.guard_config(TARGET))


def stubbed(account: doctor.Account, service: str) -> Stubber:
    stubber = Stubber(account.client(service))
    stubber.activate()
    return stubber


@pytest.mark.parametrize(("code", "says"), [
    ("AccessDeniedException", "not checked: DescribeEventConfigurations was denied (AccessDeniedException)"),
    ("UnknownOperationException", "not checked: this region does not offer DescribeEventConfigurations"),
    ("InternalFailureException", "not checked: InternalFailureException: An error occurred (InternalFailureException)"),
])
def test_a_check_that_cannot_be_made_is_a_warning_saying_why(account, code, says):
    stubber = stubbed(account, "iot")
    stubber.add_client_error("describe_event_configurations", service_error_code=code, http_status_code=403)

    [finding] = doctor.run_check(account, "jobs events", doctor.check_job_events)

    assert finding.verdict == doctor.WARNING
    assert finding.found.startswith(says)


def test_a_denied_check_names_the_permission_that_would_let_it_run(account):
    stubbed(account, "iot").add_client_error("describe_event_configurations", "AccessDeniedException",
                                             http_status_code=403)

    [finding] = doctor.run_check(account, "jobs events", doctor.check_job_events)

    assert finding.fix == ("allow iot:DescribeEventConfigurations to whoever runs doctor (rollout-guard doctor "
                           "--print-policy)")


def test_jobs_events_answered_by_aws(account):
    stubbed(account, "iot").add_response("describe_event_configurations", {"eventConfigurations": {
        "JOB": {"Enabled": True}, "JOB_EXECUTION": {"Enabled": False}}})

    [finding] = doctor.run_check(account, "jobs events", doctor.check_job_events)

    assert (finding.verdict, finding.found.split(" events")[0]) == (doctor.PROBLEM, "JOB_EXECUTION")


@pytest.mark.parametrize("write", [
    ("iot", "update_event_configurations", {"eventConfigurations": {}}),
    ("ssm", "put_parameter", {"Name": "/x", "Value": "on", "Type": "String"}),
    ("cloudwatch", "delete_alarms", {"AlarmNames": ["a"]}),
    ("cloudformation", "create_stack", {"StackName": "s"}),
])
def test_a_doctors_client_refuses_any_write_before_sending_it(monkeypatch, write):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a write that were sent would fail to connect
    account = doctor.Account(TARGET, doctor.guard_config(TARGET))
    service, operation, params = write

    with pytest.raises(doctor.WriteRefused, match="doctor reads only"):
        getattr(account.client(service), operation)(**params)


def test_a_write_refused_is_reported_as_a_warning_not_a_crash(account):
    def writes(acc):
        acc.client("ssm").put_parameter(Name="/x", Value="on", Type="String")
        yield doctor.Finding("x", doctor.OK, "never")

    [finding] = doctor.run_check(account, "x", writes)

    assert finding.verdict == doctor.WARNING and "doctor reads only" in finding.found


@pytest.mark.parametrize(("selectors", "writes"), [
    ({}, True),  # a trail's default: all management events
    ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}, True),
    ({"EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]}, True),
    ({"EventSelectors": [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]}, False),
    ({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": False}]}, False),
    ({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]}, True),
    ({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                     {"Field": "readOnly", "Equals": ["false"]}]}]}, True),
    ({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                     {"Field": "readOnly", "Equals": ["true"]}]}]}, False),
    ({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                     {"Field": "eventSource", "Equals": ["s3.amazonaws.com"]}]}]},
     False),
    ({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                     {"Field": "eventSource",
                                                      "NotEquals": ["iot.amazonaws.com"]}]}]}, False),
    ({"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]}, False),
])
def test_which_trails_record_createjob(selectors, writes):
    assert doctor.logs_write_management(selectors) is writes


def test_a_region_where_no_check_could_be_made_is_a_problem_never_a_pass():
    from botocore.parsers import ResponseParserError

    class Garbled:  # an endpoint whose every answer is unreadable (not AWS, a captive portal, a wrong region)
        def __getattr__(self, name):
            def call(*args, **kwargs):
                raise ResponseParserError("Unable to parse response (syntax error), invalid XML received")
            return call

    services = ("cloudformation", "cloudtrail", "cloudwatch", "dynamodb", "events", "iam", "iot", "lambda",
                "scheduler", "sns", "sqs", "ssm")
    answer = doctor.examine(TARGET, doctor.guard_config(TARGET), {service: Garbled() for service in services})

    first, *rest = answer["checks"]
    assert (first["check"], first["verdict"]) == ("region", doctor.PROBLEM)
    assert first["found"].startswith("no check could be made in eu-west-1: ResponseParserError")
    assert rest and all(check["verdict"] == doctor.WARNING for check in rest)
    assert doctor.failed([{"status": "answered", **answer}])


def test_one_trail_that_cannot_be_read_hides_no_other_that_qualifies(account):
    trails = [{"Name": name, "TrailARN": f"arn:aws:cloudtrail:eu-west-1:123456789012:trail/{name}",
               "HomeRegion": "eu-west-1", "IsMultiRegionTrail": False} for name in ("org-trail", "ours")]
    stubber = stubbed(account, "cloudtrail")
    stubber.add_response("describe_trails", {"trailList": trails})
    stubber.add_client_error("get_trail_status", "TrailNotFoundException", http_status_code=404)
    stubber.add_response("get_trail_status", {"IsLogging": True})
    stubber.add_response("get_event_selectors", {"TrailARN": trails[1]["TrailARN"], "EventSelectors": [
        {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]})

    [finding] = doctor.run_check(account, "trail", doctor.check_trail)

    assert (finding.verdict, finding.found) == (doctor.OK, "ours logs write management events: the gate hears "
                                                           "CreateJob")


def test_a_trail_that_cannot_be_read_is_a_warning_when_no_other_qualifies(account):
    trail = {"Name": "org-trail", "TrailARN": "arn:aws:cloudtrail:eu-west-1:123456789012:trail/org-trail",
             "HomeRegion": "eu-west-1"}
    stubber = stubbed(account, "cloudtrail")
    stubber.add_response("describe_trails", {"trailList": [trail]})
    stubber.add_client_error("get_trail_status", "AccessDeniedException", http_status_code=403)

    [finding] = doctor.run_check(account, "trail", doctor.check_trail)

    assert finding.verdict == doctor.WARNING and "GetTrailStatus was denied" in finding.found
    assert "org-trail" in finding.found


def test_a_stack_deployed_before_an_output_it_now_declares_is_told_to_deploy_again(account):
    from rollout_guard_cdk import outputs

    wanted = doctor.expected_outputs(account.config)
    account.__dict__["stack"] = {"StackStatus": "UPDATE_COMPLETE",
                                 "Outputs": [{"OutputKey": key, "OutputValue": "x"} for key in wanted[:3]]}

    found = [f for f in doctor.check_stack(account) if f.check == "stack outputs"]

    assert {outputs.FLEET_QUEUE, outputs.TIMER_DEAD_LETTER_QUEUE, outputs.ALARM_RULE} <= set(wanted[3:])
    assert [(f.verdict, f.fix) for f in found] == [(doctor.WARNING, f"cdk deploy {account.target.stack}")]
    assert found[0].found.startswith(f"{account.target.stack} has no output {', '.join(wanted[3:])} ")
    account.__dict__["stack"]["Outputs"] = [{"OutputKey": key, "OutputValue": "x"} for key in wanted]
    assert [f for f in doctor.check_stack(account) if f.check == "stack outputs"] == []


def test_a_revert_template_that_does_not_exist_is_a_problem_and_one_that_does_is_ok():
    """A rule's revert names a job template: DescribeJobTemplate's exact answers (the function not deployed here,
    so only the templates are looked at)."""
    from dataclasses import replace

    from rollout_guard.policy import Policy
    from rollout_guard.policy.model import Revert
    from rollout_guard_cli.doctor_reverts import check_reverts

    template = "arn:aws:iot:eu-west-1:123456789012:jobtemplate/fw-previous"
    config = doctor.guard_config(TARGET)
    (fleet,) = [rule for rule in config.policy.rules if rule.revert is not None]
    account = doctor.Account(TARGET, replace(config, policy=Policy((replace(fleet, revert=Revert(
        template_arn=template)),))))
    account.__dict__["function"] = None  # no deployed function here: the role is the e2e test's to look at
    stubber = stubbed(account, "iot")
    stubber.add_client_error("describe_job_template", "ResourceNotFoundException", http_status_code=404,
                             expected_params={"jobTemplateId": "fw-previous"})
    stubber.add_response("describe_job_template", {"jobTemplateId": "fw-previous"},
                         expected_params={"jobTemplateId": "fw-previous"})

    missing = list(check_reverts(account))
    present = list(check_reverts(account))

    assert [(f.check, f.verdict) for f in missing] == [("revert of rule fleet-casualties", doctor.PROBLEM)]
    assert f"job template {template} does not exist" in missing[0].found
    assert [(f.verdict, f.found) for f in present] == [(doctor.OK, f"template {template}; approval required")]

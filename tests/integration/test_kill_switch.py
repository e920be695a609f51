"""The kill switch: an SSM parameter read through Powertools Parameters; failures count as off (the guard acts)."""

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from rollout_guard.adapters.kill_switch import KillSwitch
from tests.conftest import create_jobs, load_event
from tests.integration.test_handler import emf, invoke

PARAMETER = "/rollout-guard/kill-switch"


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.client("iot", region_name="eu-west-1"), boto3.client("ssm", region_name="eu-west-1")


@pytest.mark.parametrize(("value", "action"), [("on", "would_cancel"), ("ON ", "would_cancel"), ("dry-run", "would_cancel"),
                                                ("off", "canceled"), (None, "canceled")])
def test_switch_on_makes_every_action_a_dry_run(aws, lambda_context, value, action):
    iot, ssm = aws
    create_jobs(iot, "fw-2-4-eu")
    if value is not None:
        ssm.put_parameter(Name=PARAMETER, Value=value, Type="String")

    result = invoke(load_event("eventbridge_alarm_metric"), lambda_context, kill_switch_parameter=PARAMETER)

    assert result["decisions"][0]["action"] == action
    assert (iot.describe_job(jobId="fw-2-4-eu")["job"]["status"] == "CANCELED") == (action == "canceled")


def test_a_value_neither_on_nor_off_fails_towards_acting_and_says_so(aws, lambda_context, capfd):
    iot, ssm = aws
    create_jobs(iot, "fw-2-4-eu")
    ssm.put_parameter(Name=PARAMETER, Value="maybe", Type="String")

    result = invoke(load_event("eventbridge_alarm_metric"), lambda_context, kill_switch_parameter=PARAMETER)

    assert result["decisions"][0]["action"] == "canceled"
    assert emf(capfd.readouterr().out)["KillSwitchUnreadable"] == 1.0


def test_an_unreadable_parameter_counts_as_off():
    client = boto3.client("ssm", region_name="eu-west-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("get_parameter", service_error_code="AccessDeniedException", http_status_code=400)

        state = KillSwitch(PARAMETER, client).state()

    assert not state.engaged and "AccessDeniedException" in state.problem


def test_a_missing_parameter_is_simply_off():
    client = boto3.client("ssm", region_name="eu-west-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("get_parameter", service_error_code="ParameterNotFound", http_status_code=400)

        state = KillSwitch(PARAMETER, client).state()

    assert not state.engaged and state.problem is None

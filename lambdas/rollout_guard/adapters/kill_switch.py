"""The kill switch: an SSM parameter that, when set to `on`, turns every action into a dry run at once.

Read through Powertools Parameters with a short cache, so flipping it takes effect within `MAX_AGE` seconds without a
redeploy. When the parameter is absent, or cannot be read, or holds a value that is neither on nor off, the switch
counts as OFF and the guard keeps acting: a kill switch that fails must not silently disable the protection (a missed
halt bricks devices; a false one costs a day). This is the same direction as CodeDeploy's default,
ignorePollAlarmFailure=false, which stops a deployment when it cannot read its alarms. Every such failure is
logged as an error and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_AGE = 30  # seconds
ON = frozenset({"on", "true", "dry-run", "dry_run"})
OFF = frozenset({"off", "false", ""})


@dataclass(frozen=True)
class SwitchState:
    engaged: bool
    problem: str | None = None  # why the switch could not be read, when it could not


class KillSwitch:
    def __init__(self, name: str, client: Any):
        from aws_lambda_powertools.utilities.parameters import SSMProvider

        self.name = name
        self._provider = SSMProvider(boto3_client=client)

    def state(self) -> SwitchState:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self._provider.get(self.name, max_age=MAX_AGE)
        except GetParameterError as error:
            cause = error.__context__
            code = getattr(cause, "response", {}).get("Error", {}).get("Code")
            if code == "ParameterNotFound":
                return SwitchState(engaged=False)
            return SwitchState(engaged=False, problem=f"cannot read {self.name}: {error}")
        normalised = str(value).strip().lower()
        if normalised in ON:
            return SwitchState(engaged=True)
        if normalised in OFF:
            return SwitchState(engaged=False)
        return SwitchState(engaged=False, problem=f"{self.name} holds {value!r}, neither on nor off")

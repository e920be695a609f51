"""The alarms adapter: `gate.AlarmsPort` over CloudWatch DescribeAlarms."""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

KINDS = ["MetricAlarm", "CompositeAlarm"]


class CloudWatchAlarms:
    def __init__(self, client: Callable[[], Any]):
        self._make = client
        self._client: Any = None

    def _described(self) -> Any:
        if self._client is None:  # made at the first use, not at every cold start
            self._client = self._make()
        return self._client

    def state(self, name: str) -> str | None:
        """One alarm of either kind by its exact name (a throttle's timer asks), or None when there is none."""
        page = self._described().describe_alarms(AlarmNames=[name], AlarmTypes=KINDS)
        found = [alarm for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
                 if alarm.get("AlarmName") == name]
        return str(found[0]["StateValue"]) if found else None

    def firing(self, glob: str) -> list[str]:
        """Alarms of both kinds in ALARM whose names match the glob. The state and the glob are checked here
        too: DescribeAlarms narrows by prefix, and an emulator may not filter by state."""
        from rollout_guard.halts.gate import prefix_of

        prefix = prefix_of(glob)
        params: dict[str, Any] = {"StateValue": "ALARM", "AlarmTypes": KINDS, **({"AlarmNamePrefix": prefix}
                                                                                 if prefix else {})}
        names = []
        for page in self._described().get_paginator("describe_alarms").paginate(**params):
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                if alarm.get("StateValue") == "ALARM" and fnmatchcase(alarm.get("AlarmName", ""), glob):
                    names.append(alarm["AlarmName"])
        return names

"""What moto 5.2 lacks of EventBridge's delivery, added to the emulator the drill and the tests start.

moto hands a matched event to log groups, archives, SQS queues and event buses, and fails the whole PutEvents with
an internal error (HTTP 500, which every client retries) when a matching rule has any other target. EventBridge
accepts an event whatever becomes of its delivery: a target that cannot take it is its dead-letter queue's business,
never the sender's. So the emulator:

- delivers to SNS topics too, with the target's input (InputTransformer or constant Input) applied as moto applies
  it to its own targets, so a rule's line reaches the topic's subscribers;
- accepts the event for a target it cannot run (a Lambda function: moto runs code only in Docker) and drops that one
  delivery, as EventBridge would drop it into the target's dead-letter queue.

`install()` is idempotent; the emulator's server entry point calls it before it starts.
"""

from __future__ import annotations

import copy
import json
from typing import Any

_MOTO: dict[str, Any] = {}  # moto's own delivery, called for the targets it handles


def install() -> None:
    from moto.events.models import Rule

    _MOTO.setdefault("send_to_targets", Rule.send_to_targets)
    Rule.send_to_targets = send_to_targets


def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    from moto.utilities.arns import parse_arn

    if not self.event_pattern.matches_event(original_event):
        return
    arns = [parse_arn(target["Arn"]) for target in self.targets]
    handled_by_moto = [target for target, arn in zip(self.targets, arns, strict=True) if _moto_delivers(arn)]
    if handled_by_moto:
        view = copy.copy(self)  # the rule itself is shared by the server's threads: never narrowed in place
        view.targets = handled_by_moto
        _MOTO["send_to_targets"](view, original_event, transform_input)
    for target, arn in zip(self.targets, arns, strict=True):
        if arn.service == "sns":
            _publish(target, arn, original_event, transform_input)


def _moto_delivers(arn: Any) -> bool:
    return arn.service in ("sqs", "events") or (arn.service, arn.resource_type) == ("logs", "log-group")


def _publish(target: dict[str, Any], arn: Any, event: Any, transform_input: bool) -> None:
    from moto.events.utils import EventTemplateParser
    from moto.sns.exceptions import SNSNotFoundError
    from moto.sns.models import sns_backends

    message: Any = event
    if "Input" in target:
        message = json.loads(target["Input"])
    elif transform_input and "InputTransformer" in target:
        transformer = target["InputTransformer"]
        message = EventTemplateParser.parse(input_template=transformer.get("InputTemplate"),
                                            input_paths_map=transformer.get("InputPathsMap", {}), event=event)
    try:
        sns_backends[arn.account][arn.region].publish(
            message=message if isinstance(message, str) else json.dumps(message), arn=target["Arn"])
    except SNSNotFoundError:
        return  # a topic that is gone: EventBridge's delivery fails, the sender's PutEvents does not

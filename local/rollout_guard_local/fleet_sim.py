"""A fleet simulator that knows the truth: what N devices send during a rollout, delivered to the function's own
handler as the SQS event source delivers it, and a verdict on the detector against the ground truth.

Local tooling (tests and `make bench`), never shipped. A scenario generates the fleet's events by the simulation's
clock: execution outcomes (with retries and duplicate deliveries), reboots that reconnect after a delay, bricked
devices that fail or report SUCCEEDED and never come back, a network outage that drops a share of the whole fleet,
a backlog during which no consumer reads. `run` delivers them through a moto SQS queue (in-process: wrap it in
`mock_aws`) to several consumers per tick in batches of up to 10, shuffled across the consumers (at least once,
unordered); a message that fails comes back after its visibility timeout and goes to the dead-letter queue after
the redrive count. The state is the real DynamoDB adapter on moto; IoT is `SimIot`, which answers from the
scenario's truth and logs every call by the simulation's clock. `at_scale` runs the real detector on the in-memory
state (the same items) for a million devices, without SQS.

The ground truth is the event time at which the rule's threshold was truly crossed: the Nth casualty (a failed
device at its first failure, a bricked device when it went dark), or never.
"""

from __future__ import annotations

import bisect
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from rollout_guard.fleet.events import DarkCheck
from rollout_guard.halts.deployments import DeploymentsError, DeploymentView
from rollout_guard.halts.jobs import JobsError, JobView

JOB = "fw-sim"
DEPLOYMENT = "5e1f0c2a-7d41-4b7e-9a3c-00000000d001"  # a Greengrass scenario's deployment, which runs on JOB
DEPLOYMENT_NAME = "gg-fw-sim"
BROKEN_AFTER_S = 45  # a broken component ERRORED this long after its device reported the deployment SUCCEEDED
START_MS = 1_800_000_000_000
EXECUTION_S = 30  # from an execution's start to its outcome
RETRY_GAP_S = 8  # between a failing device's retried outcomes
DISCONNECT_AFTER_S = 2  # a SUCCEEDED device reboots this long after reporting
VISIBILITY_S = 30  # a failed message comes back this long after (the stack sets 6 x the function's timeout)
MAX_RECEIVES = 3  # the fleet queue's redrive count
TICK_S = 1.0
BATCH = 10
BATCHES_A_TICK = 5  # what one consumer settles in a second of the simulation (~200 ms a batch)


@dataclass(frozen=True)
class Outage:
    at_s: float  # from the rollout's start
    lasts_s: float
    share: float  # of the whole fleet (the job's devices among them)


@dataclass(frozen=True)
class Scenario:
    name: str
    devices: int  # the job's things
    fleet: int  # every thing of the fleet (the rule's fleet_things)
    threshold: int  # the rule's `things`
    dark_after_s: int = 30
    per_minute: int = 600
    failing: float = 0.0  # devices whose execution fails
    bricked: float = 0.0  # devices that report SUCCEEDED, reboot and never come back
    retries: int = 0  # further outcomes of each failing device (jobExecutionsRetryConfig)
    duplicates: float = 0.0  # events delivered twice
    outage: Outage | None = None
    backlog: tuple[float, float] | None = None  # (from s, for s): no consumer reads
    consumers: int = 1
    reboot_s: float = 20.0
    reboots: bool = True  # good devices reboot after SUCCEEDED (a disconnect, a connect)
    malformed: int = 0  # messages that are no fleet event, spread over the rollout (each must fail alone)
    seed: int = 1
    # A Greengrass v2 deployment instead of a bare job: its core devices report through Greengrass's EventBridge
    # events (both spellings of the deployment id); `broken` devices report SUCCEEDED, then a component BROKEN.
    greengrass: bool = False
    broken: float = 0.0
    # After the rollout: the rule watches `watch_after_s` after each success (and the job COMPLETES once its last
    # outcome is in; the other scenarios keep it running, a rollout wider than the simulated devices), with a revert
    # that waits for approval; `late` devices report SUCCEEDED, reboot fine, and go dark for good `late_after_s` later.
    watch_after_s: int = 0
    late: float = 0.0
    late_after_s: float = 7200.0

    def policy(self) -> str:
        chosen = 'deployments: ["gg-fw-*"]' if self.greengrass else 'jobs: ["fw-*"]'
        text = (f"rules:\n  - name: fleet\n    match: {{signal: casualties}}\n    {chosen}\n"
                f"    reason_code: FLEET_CASUALTIES\n    dark_after: {self.dark_after_s}\n"
                f"    casualties: {{things: {self.threshold}, fleet_things: {self.fleet}}}\n")
        if self.watch_after_s:
            text += (f"    watch_after: {self.watch_after_s}\n    revert: {{document: {{operation: revert}}}}\n"
                     "  - name: operator\n    match: {source: rollout-guard.operator}\n    jobs: [\"fw-*\"]\n")
        return text

    @property
    def subject(self) -> str:
        """What the detector counts: the job, or the deployment."""
        return f"deployment:{DEPLOYMENT}" if self.greengrass else JOB


def scenarios(devices: int, fleet: int, threshold: int, dark_after_s: int, share: float,
              malformed: int = 0) -> list[Scenario]:
    """The scenarios `make test` (small) and `make bench` (larger) run: `share` of the devices fail or brick."""
    sized = partial(Scenario, devices=devices, fleet=fleet, threshold=threshold, dark_after_s=dark_after_s)
    outage = Outage(45, 120, 0.3)
    found = [
        sized("clean rollout"),
        sized("bricking firmware (dark after SUCCEEDED)", bricked=share),
        sized("failing firmware, retries and duplicates", failing=share, retries=2, duplicates=0.3),
        sized("outage without bricking", outage=outage),
        sized("outage with failing firmware", failing=share, outage=replace(outage, at_s=30)),
        sized("outage with bricking", bricked=share, outage=outage),
        sized("5-minute backlog, 4 consumers", failing=share, outage=replace(outage, lasts_s=60), backlog=(20, 300),
              consumers=4),
    ]
    if malformed:
        found.append(sized("malformed messages", malformed=malformed))
    return found


def regression_scenarios(devices: int, fleet: int, threshold: int, dark_after_s: int, share: float = 0.03,
                         watch_after_s: int = 86400) -> list[Scenario]:
    """After the rollout, the job COMPLETED and watched for a day: `share` of the devices brick two hours after they
    SUCCEEDED; a clean one; an outage two hours after, with nothing wrong."""
    sized = partial(Scenario, devices=devices, fleet=fleet, threshold=threshold, dark_after_s=dark_after_s,
                    watch_after_s=watch_after_s)
    return [
        sized("after the rollout: clean, watched for a day"),
        sized(f"after the rollout: {share:.0%} brick 2 h after SUCCEEDED", late=share),
        sized("after the rollout: an outage 2 h after, nothing wrong", outage=Outage(7200 + 45, 120, 0.3)),
    ]


def greengrass_scenarios(devices: int, fleet: int, threshold: int, dark_after_s: int, share: float) -> list[Scenario]:
    """A Greengrass v2 deployment's rows: a clean one, a bad component version that breaks `share` of the core
    devices after they took it, a failing deployment with duplicates, bricking, and an outage with nothing wrong."""
    sized = partial(Scenario, devices=devices, fleet=fleet, threshold=threshold, dark_after_s=dark_after_s,
                    greengrass=True)
    return [
        sized("greengrass: clean deployment"),
        sized("greengrass: a bad component version breaks core devices", broken=share),
        sized("greengrass: failing deployment, duplicates", failing=share, duplicates=0.3),
        sized("greengrass: bricking (dark after SUCCEEDED)", bricked=share),
        sized("greengrass: outage without breakage", outage=Outage(45, 120, 0.3)),
    ]


@dataclass
class Device:
    name: str
    starts_ms: int
    outcome_ms: int
    fate: str  # good, failed, bricked, broken (a Greengrass component that breaks after the deployment), late
    dark_ms: int | None = None  # a bricked device's last disconnect

    @property
    def broke_ms(self) -> int:
        return self.outcome_ms + BROKEN_AFTER_S * 1000


@dataclass
class Truth:
    """What happened, whatever the detector makes of it."""

    devices: list[Device]
    events: list[tuple[int, dict[str, Any]]]  # (event time ms, body), in time order
    casualties: list[tuple[int, str]]  # (when, thing) of every true casualty, in time order
    threshold: int

    @property
    def crossing_ms(self) -> int | None:
        return self.casualties[self.threshold - 1][0] if len(self.casualties) >= self.threshold else None


def generate(scenario: Scenario) -> Truth:
    rng = random.Random(scenario.seed)  # noqa: S311 - a reproducible simulation, not cryptography
    events: list[tuple[int, dict[str, Any]]] = []
    devices = []
    for n in range(scenario.devices):
        starts = START_MS + int(n * 60_000 / scenario.per_minute)
        fate, roll = "good", rng.random()
        for share, name in ((scenario.failing, "failed"), (scenario.bricked, "bricked"), (scenario.broken, "broken"),
                            (scenario.late, "late")):
            if roll < share:
                fate = name
                break
            roll -= share
        devices.append(Device(f"dev-{n:06d}", starts, starts + int((EXECUTION_S + rng.uniform(-10, 10)) * 1000),
                              fate))
    outage = scenario.outage
    dropped = set()
    if outage:
        dropped = {n for n in range(scenario.fleet) if rng.random() < outage.share}
    for n, device in enumerate(devices):
        events += _device_events(device, scenario, rng, n in dropped)
    for n in range(scenario.devices, scenario.fleet):  # the rest of the fleet: only the outage moves it
        if n in dropped and outage:
            events += _outage_events(f"other-{n:06d}", outage, rng)
    for n in range(scenario.malformed):
        at = START_MS + int(n * 60_000 / max(1, scenario.malformed))
        events.append((at, {"eventType": "connected", "clientId": "", "timestamp": at}))
    events.sort(key=lambda pair: pair[0])
    casualties = sorted((d.outcome_ms if d.fate == "failed" else d.broke_ms if d.fate == "broken" else d.dark_ms or 0,
                         d.name) for d in devices if d.fate != "good")
    return Truth(devices, events, casualties, scenario.threshold)


def _outcome(scenario: Scenario, device: Device, status: str, at: int, rng: random.Random) -> dict[str, Any]:
    """A device's outcome as it arrives: a Jobs execution event, or Greengrass's (either spelling of the id)."""
    from rollout_guard_local.samples import deployment_status, job_execution

    if not scenario.greengrass:
        return job_execution(JOB, device.name, status, at)
    spelling = rng.choice(["deploymentId", "deployment-id"])
    return deployment_status(DEPLOYMENT, device.name, {"TIMED_OUT": "REJECTED"}.get(status, status), at, spelling)


def _device_events(device: Device, scenario: Scenario, rng: random.Random, dropped: bool) -> list[tuple[int, dict]]:
    from rollout_guard_local.samples import component_status, presence

    out: list[tuple[int, dict]] = []
    if device.fate == "failed":
        out.append((device.outcome_ms, _outcome(scenario, device, "FAILED", device.outcome_ms, rng)))
        for retry in range(scenario.retries):
            at = device.outcome_ms + (retry + 1) * RETRY_GAP_S * 1000
            out.append((at, _outcome(scenario, device, rng.choice(["FAILED", "TIMED_OUT"]), at, rng)))
    else:
        out.append((device.outcome_ms, _outcome(scenario, device, "SUCCEEDED", device.outcome_ms, rng)))
        if device.fate == "broken":  # the new component errors (a casualty already), and is BROKEN after retries
            out += [(device.broke_ms, component_status(device.name, "ERRORED", device.broke_ms)),
                    (device.broke_ms + 5_000, component_status(device.name, "BROKEN", device.broke_ms + 5_000))]
        gone = device.outcome_ms + DISCONNECT_AFTER_S * 1000
        if device.fate == "bricked":
            device.dark_ms = gone
            out.append((gone, presence(device.name, False, gone)))
        elif scenario.reboots:
            back = gone + int(scenario.reboot_s * 1000)
            out += [(gone, presence(device.name, False, gone)), (back, presence(device.name, True, back))]
        if device.fate == "late":
            device.dark_ms = device.outcome_ms + int(scenario.late_after_s * 1000)
            out.append((device.dark_ms, presence(device.name, False, device.dark_ms)))
    if dropped and scenario.outage and device.fate != "bricked":
        out += _outage_events(device.name, scenario.outage, rng)
    return out


def _outage_events(name: str, outage: Outage, rng: random.Random) -> list[tuple[int, dict]]:
    from rollout_guard_local.samples import presence

    down = START_MS + int((outage.at_s + rng.uniform(0, 20)) * 1000)
    up = START_MS + int((outage.at_s + outage.lasts_s + rng.uniform(0, 40)) * 1000)
    return [(down, presence(name, False, down)), (up, presence(name, True, up))]


class SimIot:
    """IoT Jobs as the scenario's truth says it stands at the simulation's time; every call logged by that time."""

    def __init__(self, truth: Truth, clock: Callable[[], float], pace: float = 0.0, completes: bool = False):
        self.devices = {device.name: device for device in truth.devices}
        # the job COMPLETES once every outcome is in (the watch scenarios); otherwise it runs on
        self.completes_ms = max((d.outcome_ms for d in truth.devices), default=0) if completes else None
        self.created: list[Any] = []  # revert jobs (`NewJob`) created, by the guard's approval
        self.groups: dict[str, set[str]] = {}  # a revert's static thing group (over 100 things) -> its members
        self.pace = pace  # each consumer's requests a second of each operation (its pacer); 0: unpaced
        self.consumer = 0  # who calls now
        self.next_free: dict[tuple[int, str], float] = {}  # (consumer, operation) -> when its pacer lets it call
        self.by_start = sorted(truth.devices, key=lambda device: device.starts_ms)
        self.starts = [device.starts_ms for device in self.by_start]
        self.clock = clock
        self.calls: list[tuple[float, str]] = []
        self.cancelled_at: float | None = None

    def _call(self, name: str) -> float:
        """Log the call; a paced consumer first waits for its pacer (the clock moves: an attribute `now`)."""
        now = self.clock()
        if self.pace:
            free = self.next_free.get((self.consumer, name), now)
            if free > now and hasattr(self.clock, "now"):
                self.clock.now = now = free
            self.next_free[self.consumer, name] = now + 1 / self.pace
        self.calls.append((now, name))
        return now * 1000

    def describe(self, job_id: str) -> JobView:
        now = self._call("DescribeJob")
        if job_id != JOB:
            raise JobsError("DescribeJob", "ResourceNotFoundException", f"Job {job_id} not found")
        status = "CANCELED" if self.cancelled_at is not None else "IN_PROGRESS"
        if self.cancelled_at is None and self.completes_ms is not None and now >= self.completes_ms:
            status = "COMPLETED"
        return JobView(JOB, status, executed=bisect.bisect_right(self.starts, now))

    def active_job_ids(self) -> list[str]:
        self._call("ListJobs")
        return [] if self.cancelled_at is not None else [JOB]

    def job_ids_on_thing(self, thing_name: str) -> list[str]:
        return self.jobs_in_progress_on_thing(thing_name)

    def _in_progress(self, device: Device | None, now: float) -> bool:
        return device is not None and device.starts_ms <= now < device.outcome_ms and self.cancelled_at is None

    def jobs_in_progress_on_thing(self, thing_name: str) -> list[str]:
        now = self._call("ListJobExecutionsForThing")
        return [JOB] if self._in_progress(self.devices.get(thing_name), now) else []

    def cancel(self, job_id: str, reason_code: str | None, comment: str | None, force: bool) -> dict[str, str]:
        self._call("CancelJob")
        self.cancelled_at = self.clock()
        return {"jobId": job_id, "jobArn": f"arn:aws:iot:eu-west-1:123456789012:job/{job_id}"}

    def things_in_progress(self, job_id: str) -> list[str]:
        now = self._call("ListJobExecutionsForJob")
        started = bisect.bisect_right(self.starts, now)  # an execution lasts EXECUTION_S, give or take 10 s
        recent = bisect.bisect_left(self.starts, now - (EXECUTION_S + 10) * 1000)
        return [d.name for d in self.by_start[recent:started] if self._in_progress(d, now)]

    def force_cancel_execution(self, job_id: str, thing_name: str) -> bool:
        self._call("CancelJobExecution")
        return False

    def update(self, job_id: str, rollout: dict[str, Any], abort: dict[str, Any] | None) -> None:
        self._call("UpdateJob")  # the fleet signal cancels; nothing here throttles

    # --- reverts (`halts.reverts.RevertJobs`) ---

    def succeeded_things(self, job_id: str) -> list[str]:
        now = self._call("ListJobExecutionsForJob")
        return [f"arn:aws:iot:eu-west-1:123456789012:thing/{d.name}" for d in self.by_start
                if d.fate != "failed" and d.outcome_ms <= now]

    def job_exists(self, job_id: str) -> bool:
        self._call("DescribeJob")
        return job_id == JOB or any(job.job_id == job_id for job in self.created)

    def thing_group(self, name: str, thing_arns: list[str]) -> str:
        self._call("CreateThingGroup")
        arn = f"arn:aws:iot:eu-west-1:123456789012:thinggroup/{name}"
        self.groups[arn] = self.groups.get(arn, set()) | set(thing_arns)
        return arn

    def create_job(self, job: Any) -> str:
        self._call("CreateJob")
        if self.job_exists(job.job_id):
            raise JobsError("CreateJob", "ResourceAlreadyExistsException", f"Job {job.job_id} already exists")
        self.created.append(job)
        return f"arn:aws:iot:eu-west-1:123456789012:job/{job.job_id}"

    def peak_per_second(self) -> int:
        """The most calls of one operation in one second."""
        return max(Counter((int(at), name) for at, name in self.calls).values(), default=0)


class SimGreengrass:
    """Greengrass v2 as a Greengrass scenario's truth says it stands: one deployment, ACTIVE until cancelled, which
    runs on the simulated job (`SimIot`, whose executed counts it shares)."""

    def __init__(self, iot: SimIot):
        self.iot = iot

    def _view(self) -> DeploymentView:
        status = "CANCELED" if self.iot.cancelled_at is not None else "ACTIVE"
        return DeploymentView(DEPLOYMENT, DEPLOYMENT_NAME, "arn:aws:iot:eu-west-1:123456789012:thinggroup/sim",
                              status, True, JOB)

    def active(self) -> list[DeploymentView]:
        self.iot._call("ListDeployments")
        return [view for view in [self._view()] if view.active]

    def describe(self, deployment_id: str) -> DeploymentView:
        self.iot._call("GetDeployment")
        if deployment_id != DEPLOYMENT:
            raise DeploymentsError("GetDeployment", "ResourceNotFoundException", f"{deployment_id} not found")
        return self._view()

    def cancel(self, deployment_id: str) -> str:
        self.iot._call("CancelDeployment")
        self.iot.cancelled_at = self.iot.clock()
        return f"Deployment {deployment_id} is CANCELED"


@dataclass
class Clock:
    now: float = START_MS / 1000

    def __call__(self) -> float:
        return self.now


class SimTimers:
    """The detector's dark checks held until their delay passes by the simulation's clock (SQS's DelaySeconds);
    the queue's depth is the simulated fleet queue's (none: never drained)."""

    def __init__(self, clock: Clock, queue: SimQueue | None = None):
        self.clock, self.queue = clock, queue
        self.held: list[tuple[float, dict[str, Any]]] = []

    def schedule(self, check: DarkCheck, delay_s: int) -> None:
        self.held.append((self.clock() + delay_s, check.message()))

    def drained(self, in_flight: int) -> bool:
        return self.queue is not None and self.queue.drained(in_flight)

    def due(self) -> list[dict[str, Any]]:
        ready = [body for at, body in self.held if at <= self.clock()]
        self.held = [(at, body) for at, body in self.held if at > self.clock()]
        return ready


class SimQueue:
    """The fleet queue on moto SQS, read as the event source mapping reads it, with its depth kept by count.

    moto walks every message of a queue at each call, so a backlog is held here, oldest first (SQS's standard
    queues deliver roughly so; the batches of a tick are shuffled), and fed to moto as fast as the consumers read:
    each message keeps the time it was sent (`SentTimestamp` by the simulation's clock)."""

    def __init__(self, sqs: Any, clock: Clock):
        self.sqs, self.clock = sqs, clock
        dead = sqs.create_queue(QueueName="sim-dead")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.dead = dead
        self.url = sqs.create_queue(QueueName="sim-fleet", Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arn, "maxReceiveCount": str(MAX_RECEIVES)})})["QueueUrl"]
        self.unread = self.in_flight = 0
        self.held: list[tuple[str, dict[str, Any]]] = []  # (sent at, body), not yet in moto
        self.waiting: list[tuple[float, str, int]] = []  # (visible again at, receipt handle, receives) of failures

    def drained(self, in_flight: int) -> bool:
        return self.unread == 0 and self.in_flight <= in_flight

    @property
    def idle(self) -> bool:
        return self.unread == 0 and self.in_flight == 0

    def send(self, bodies: list[dict[str, Any]]) -> None:
        sent = str(int(self.clock() * 1000))
        self.held += [(sent, body) for body in bodies]
        self.unread += len(bodies)

    def feed(self, limit: int) -> None:
        fed, self.held = self.held[:limit], self.held[limit:]
        for start in range(0, len(fed), BATCH):
            self.sqs.send_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(n), "MessageBody": json.dumps(body),
                 "MessageAttributes": {"simSent": {"DataType": "Number", "StringValue": sent}}}
                for n, (sent, body) in enumerate(fed[start:start + BATCH])])

    def receive(self, batches: int, rng: random.Random) -> list[dict[str, Any]]:
        """Up to `batches` batches (what the consumers settle this tick), the messages shuffled across them
        (unordered, concurrent)."""
        messages = []
        for _ in range(batches if self.unread else 0):
            self.feed(BATCH)  # moto walks every message it holds at each call: hand it only what is read now
            got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=BATCH, VisibilityTimeout=3600,
                                           MessageAttributeNames=["All"], AttributeNames=["All"]).get("Messages", [])
            messages += got
            if len(got) < BATCH:
                break
        self.unread, self.in_flight = max(0, self.unread - len(messages)), self.in_flight + len(messages)
        rng.shuffle(messages)
        return [{"Records": [_record(message) for message in messages[start:start + BATCH]]}
                for start in range(0, len(messages), BATCH)]

    def settle(self, batch: dict[str, Any], failed: set[str]) -> None:
        done = [r for r in batch["Records"] if r["messageId"] not in failed]
        for start in range(0, len(done), BATCH):
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(done[start:start + BATCH])])
        self.in_flight -= len(done)
        self.waiting += [(self.clock() + VISIBILITY_S, r["receiptHandle"],
                          int(r["attributes"]["ApproximateReceiveCount"]))
                         for r in batch["Records"] if r["messageId"] in failed]

    def release(self) -> None:
        """Failed messages visible again after their visibility timeout; past the redrive count, SQS moves them to
        the dead-letter queue at the next receive."""
        for at, handle, receives in self.waiting:
            if at <= self.clock():
                self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=handle, VisibilityTimeout=0)
                self.in_flight -= 1
                self.unread += 0 if receives >= MAX_RECEIVES else 1
        self.waiting = [entry for entry in self.waiting if entry[0] > self.clock()]

    def dead_lettered(self) -> int:
        self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=BATCH, VisibilityTimeout=0)  # moves them
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.dead, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


class LoggedClient:
    """A DynamoDB client whose writes are logged (item key, simulation time): writes per item a second."""

    def __init__(self, client: Any, clock: Clock):
        self._client, self.clock = client, clock
        self.log: list[tuple[float, str]] = []
        self.exceptions = client.exceptions

    def update_item(self, **request: Any) -> Any:
        self.log.append((self.clock(), next(iter(request["Key"].values()))["S"]))
        return self._client.update_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class Report:
    scenario: str
    events: int
    halted: bool
    false_halt: bool
    missed_halt: bool
    truly_crossed_at_s: float | None  # from the rollout's start, by event time
    delay_s: float | None  # from the true crossing to CancelJob accepted
    casualties_counted: int
    true_casualties: int
    peak_iot_calls_a_second: int
    peak_item_writes_a_second: int
    largest_item_bytes: int
    dead_lettered: int
    checks_without_watermark: int = 0
    halted_with: int | None = None  # casualties counted by the evaluation that crossed the threshold
    crossing_thing: str | None = None  # the casualty the detector said crossed it
    regressed: bool = False  # the halt was a regression (the job had COMPLETED): nothing to cancel
    revert: dict[str, Any] | None = None  # a watch scenario's revert: prepared for, created before / on approval
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "detail"}


def verdict_of(scenario: Scenario, truth: Truth, cancelled_at: float | None, counted: int, **figures: Any) -> Report:
    """`cancelled_at`: when the job was halted (CancelJob accepted, or found regressed), by the simulation's clock."""
    crossing = truth.crossing_ms
    halted = cancelled_at is not None
    return Report(
        scenario=scenario.name, events=len(truth.events), halted=halted, false_halt=halted and crossing is None,
        missed_halt=crossing is not None and not halted,
        truly_crossed_at_s=None if crossing is None else (crossing - START_MS) / 1000,
        delay_s=None if crossing is None or cancelled_at is None else round(cancelled_at - crossing / 1000, 1),
        casualties_counted=counted, true_casualties=len(truth.casualties), **figures)


def run(scenario: Scenario, workdir: Path, region: str = "eu-west-1") -> Report:
    """The scenario through a moto SQS queue and the function's own handler (call inside `mock_aws`)."""
    import boto3

    from rollout_guard.adapters.dynamo_fleet import DynamoFleetState
    from rollout_guard.bootstrap import Overrides, build_runtime
    from rollout_guard.handler import invoke_fleet
    from rollout_guard.schema import create_state_table
    from rollout_guard.settings import Settings
    from rollout_guard_local.context import LocalContext

    truth, clock = generate(scenario), Clock()
    rng = random.Random(scenario.seed + 1)  # noqa: S311 - a reproducible simulation, not cryptography
    dynamodb = boto3.client("dynamodb", region_name=region)
    create_state_table(dynamodb, "sim-state")
    queue = SimQueue(boto3.client("sqs", region_name=region), clock)
    policy = workdir / "policy.yaml"
    policy.write_text(scenario.policy())
    iot, timers = SimIot(truth, clock, completes=bool(scenario.watch_after_s)), SimTimers(clock, queue)
    logged = LoggedClient(dynamodb, clock)
    runtime = build_runtime(Settings(policy_file=str(policy), state_table="sim-state"), Overrides(
        jobs=iot, fleet_jobs=iot, timers=timers, clock=clock, fleet_state=DynamoFleetState("sim-state", lambda: logged),
        deployments=SimGreengrass(iot) if scenario.greengrass else None))
    deliveries = Deliveries(truth, scenario, rng)
    end = (truth.events[-1][0] / 1000 if truth.events else clock.now) + 40 * scenario.dark_after_s
    reports: list[dict[str, Any]] = []
    regressed_at: float | None = None
    while clock.now < end and not (deliveries.done and not timers.held and queue.idle):
        clock.now += TICK_S + _quiet_s(clock, deliveries, timers, queue)
        queue.send(deliveries.until(clock.now * 1000) + timers.due())
        queue.release()
        if scenario.backlog and scenario.backlog[0] <= clock.now - START_MS / 1000 < sum(scenario.backlog):
            continue
        for batch in queue.receive(scenario.consumers * BATCHES_A_TICK, rng):
            handled = invoke_fleet(batch, LocalContext(), runtime=runtime)
            reports += handled.reports
            if regressed_at is None and _regressed(handled.reports):
                regressed_at = clock.now
            queue.settle(batch, {item["itemIdentifier"] for item in handled.answer["batchItemFailures"]})
    counted = max((r["casualties"] for r in reports if r["jobId"] == scenario.subject), default=0)
    crossed = [r for r in reports if r["jobId"] == scenario.subject and r["crossed"]]
    revert = _approved(runtime, iot, truth, clock) if scenario.watch_after_s else None
    return verdict_of(
        scenario, truth, iot.cancelled_at if iot.cancelled_at is not None else regressed_at, counted,
        regressed=regressed_at is not None, revert=revert, peak_iot_calls_a_second=iot.peak_per_second(),
        peak_item_writes_a_second=max(Counter((int(at), key) for at, key in logged.log).values(), default=0),
        largest_item_bytes=_largest(dynamodb), dead_lettered=queue.dead_lettered(),
        checks_without_watermark=sum(1 for r in reports if r.get("judgedWithoutWatermark")),
        halted_with=crossed[0]["casualties"] if crossed else None,
        crossing_thing=crossed[0].get("crossingThing") if crossed else None)


QUIET_S = 600  # a stretch with nothing to deliver, judge or read for this long is skipped, whole ticks at a time


def _quiet_s(clock: Clock, deliveries: Deliveries, timers: SimTimers, queue: SimQueue) -> float:
    """The whole ticks until the next delivery or dark check when nothing moves for over `QUIET_S` (the hours after
    a completed rollout that a watch scenario waits through); 0 otherwise, so that a busy rollout ticks as always."""
    if not queue.idle or queue.waiting:
        return 0.0
    upcoming = [at for at, _ in timers.held]
    if not deliveries.done:
        upcoming.append(deliveries.pending[deliveries.next][0] / 1000)
    gap = min(upcoming, default=clock.now) - clock.now
    return (gap // TICK_S - 1) * TICK_S if gap > QUIET_S else 0.0


def _regressed(reports: list[dict[str, Any]]) -> bool:
    return any(decision.get("action") == "regressed" for report in reports
               for decision in (report.get("outcome") or {}).get("decisions", []))


def _approved(runtime: Any, iot: SimIot, truth: Truth, clock: Clock) -> dict[str, Any]:
    """The revert a watch scenario's rule prepared: jobs created before approval, then an operator's approval (the
    guard's own request event) and a second one; the job created, and whether it targets exactly the things that
    SUCCEEDED on the bad job."""
    from rollout_guard.halts.alert_kinds import OPERATOR_SOURCE, REVERT_REQUESTED
    from rollout_guard.handler import invoke
    from rollout_guard_local.context import LocalContext

    before = len(iot.created)
    answers = []
    for n in range(2):
        request = {"version": "0", "id": f"sim-approval-{n}", "detail-type": REVERT_REQUESTED,
                   "source": OPERATOR_SOURCE, "account": "123456789012", "region": "eu-west-1",
                   "time": "2027-01-15T08:00:00Z", "resources": [], "detail": {"jobId": JOB, "approve": True}}
        answers.append(invoke(request, LocalContext(), runtime=runtime))
    succeeded = sorted(f"arn:aws:iot:eu-west-1:123456789012:thing/{d.name}" for d in truth.devices
                       if d.fate != "failed" and d.outcome_ms <= clock() * 1000)
    created = [(job.job_id, sorted(member for target in job.targets for member in iot.groups.get(target, {target})))
               for job in iot.created]  # a target group stands for its members
    plan = answers[0].get("revert")
    return {"prepared": plan is not None, "things": plan["things"] if plan else 0, "created_before_approval": before,
            "created": [job_id for job_id, _ in created],
            "exact": len(created) == 1 and created[0][1] == succeeded,
            "second_approval": [d["action"] for d in answers[1].get("decisions", [])]}


class Deliveries:
    """(delivery time ms, body) in time order: a topic rule's latency, and some events delivered twice a few
    seconds apart."""

    def __init__(self, truth: Truth, scenario: Scenario, rng: random.Random):
        out = []
        for at, body in truth.events:
            out.append((at + rng.randint(50, 500), body))
            if rng.random() < scenario.duplicates:
                out.append((at + rng.randint(1_000, 5_000), body))
        self.pending = sorted(out, key=lambda pair: pair[0])
        self.next = 0

    @property
    def done(self) -> bool:
        return self.next >= len(self.pending)

    def until(self, now_ms: float) -> list[dict[str, Any]]:
        start = self.next
        while self.next < len(self.pending) and self.pending[self.next][0] <= now_ms:
            self.next += 1
        return [body for _, body in self.pending[start:self.next]]


def _record(message: dict[str, Any]) -> dict[str, Any]:
    sent = message["MessageAttributes"]["simSent"]["StringValue"]
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": message["Attributes"]["ApproximateReceiveCount"],
                           "SentTimestamp": sent},
            "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:1:sim-fleet"}


def _largest(dynamodb: Any) -> int:
    items = dynamodb.scan(TableName="sim-state")["Items"]
    return max((len(json.dumps(item)) for item in items), default=0)


# --- a million devices: the real detector on the in-memory state ---------------------------------------------

BATCH_BASE_MS = 10  # an invocation's own time
STATE_CALL_MS = 5  # one DynamoDB call, as the detector makes them one after another
IOT_CALL_MS = 30


def at_scale(devices: int = 1_000_000, failing: float = 0.1, per_minute: int = 1_000, consumers: int = 5,
             outage_share: float = 0.1, iot_budget: float = 5.0, seed: int = 1, watch_after: str = "24h"
             ) -> dict[str, Any]:
    """A rollout to `devices` with `failing` failing under a dry-run percentage rule, and an outage of
    `outage_share` of the fleet at its middle. The detector is the real one; the state is the in-memory one (the
    same items as the table's); batches go to `consumers` by a modelled processing time (an invocation, each
    DynamoDB write and each IoT call cost fixed milliseconds), which is the clock of the write log. The rule watches
    each device `watch_after` after its success (a `watch#` item per device that SUCCEEDED)."""
    import yaml

    from rollout_guard.adapters.memory_fleet import InMemoryFleetState
    from rollout_guard.fleet.detector import Detector
    from rollout_guard.policy import load

    minutes = devices / per_minute
    scenario = Scenario("a million devices", devices, devices, threshold=devices + 1, per_minute=per_minute,
                        failing=failing, outage=Outage(minutes * 30, 180, outage_share), dark_after_s=120,
                        reboots=False, seed=seed)
    truth = generate(scenario)
    processing = Clock()
    state = InMemoryFleetState(clock=processing)
    iot = SimIot(truth, processing, pace=iot_budget / consumers)
    policy = load(yaml.safe_load(f"""
rules:
  - name: share
    match: {{signal: casualties}}
    jobs: ["fw-*"]
    dry_run: true
    dark_after: 2m
    watch_after: {watch_after}
    casualties: {{percent: 5, min_things: 1000, fleet_things: {devices}}}
"""))
    halts: list[Any] = []
    timers = SimTimers(processing)
    detector = Detector(policy, state, iot, lambda alert, rule: halts.append(alert), timers=timers, clock=processing)
    busy = [processing.now] * consumers  # when each consumer is free, by the processing clock
    for start in range(0, len(truth.events), BATCH):
        batch = truth.events[start:start + BATCH]
        checks = timers.due()
        free = min(range(consumers), key=busy.__getitem__)
        processing.now, iot.consumer = max(busy[free], batch[0][0] / 1000), free
        writes, calls = state.writes, len(iot.calls)
        plan = detector.plan([(f"{start}-{n}", json.dumps(body), at) for n, (at, body) in enumerate(batch)] +
                             [(f"{start}-c{n}", json.dumps(body), None) for n, body in enumerate(checks)])
        for message_id in plan.steps:
            plan.settle(message_id)
        busy[free] = processing.now + (BATCH_BASE_MS + STATE_CALL_MS * (state.writes - writes) +
                                       IOT_CALL_MS * (len(iot.calls) - calls)) / 1000
    per_item = Counter((int(at), key) for at, key in state.log)
    tally = state.tally(JOB)
    return {"devices": devices, "events": len(truth.events), "failing": sum(1 for d in truth.devices
                                                                           if d.fate == "failed"),
            # failures, and dark things confirmed since: what counts whatever an outage says
            "counted": tally.counted("an outage")[0],
            "peak_item_writes_a_second": max(per_item.values(), default=0),
            "hottest_item": max(per_item, key=per_item.__getitem__)[1] if per_item else None,
            "largest_item_bytes": max(state.item_size(key) for key in state.items),
            "largest_item": max(state.items, key=state.item_size),
            "items": len(state.items), "peak_iot_calls_a_second": iot.peak_per_second(),
            "watched": sum(1 for key in state.items if key.startswith("watch#")),
            "state_writes": state.writes, "halts": len(halts)}


def summary(reports: list[Report]) -> dict[str, Any]:
    delays = sorted(r.delay_s for r in reports if r.delay_s is not None)
    return {"false_halts": sum(r.false_halt for r in reports), "missed_halts": sum(r.missed_halt for r in reports),
            "delay_median_s": delays[len(delays) // 2] if delays else None,
            "delay_worst_s": delays[-1] if delays else None,
            "dead_lettered": sum(r.dead_lettered for r in reports)}


"""The function and its IAM: the bundled handler, its log group, and a role that may cancel only the policy's jobs."""

from __future__ import annotations

from aws_cdk import (
    AssetHashType,
    Aws,
    BundlingOptions,
    DockerImage,
    Duration,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from rollout_guard import observability, settings

from .asset import PACKAGE, PLATFORM, POLICY_NAME, PYTHON_VERSION
from .bundling import LocalPipBundling
from .config import GuardConfig
from .delivery import MAX_EVENT_AGE, RETRY_ATTEMPTS
from .findings import acknowledge, skip_checkov
from .state import StateTable

RUNTIME = lambda_.Runtime.PYTHON_3_14  # the asset is built for PYTHON_VERSION: keep the two in step
TIMEOUT = Duration.seconds(60)
# The IoT job a Greengrass v2 deployment runs on has an id Greengrass makes, a UUID: the dependent IoT actions of
# CancelDeployment are held to job ids of that shape (IAM's `?` is one character), never to the project's own jobs.
DEPLOYMENT_JOB_ID = "????????-????-????-????-????????????"
_IOT = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"
DEPLOYMENT_FINDINGS = {
    "IAM5[Resource::arn:<AWS::Partition>:greengrass:<AWS::Region>:<AWS::AccountId>:deployments:*]": (
        "A deployment's ARN carries its id, not its name: the rules name deployments by name globs, which the "
        "function checks on GetDeployment before any CancelDeployment"),
    f"IAM5[Resource::{_IOT}:thing/*]": (
        "CancelDeployment's dependent actions (service authorization reference) on the target's devices and their "
        "reserved AWSManagedGreengrassV2Deployment shadow; a deployment may target any device"),
    f"IAM5[Resource::{_IOT}:thinggroup/*]": (
        "CancelDeployment's dependent DescribeThingGroup on the deployment's target group, any group a deployment "
        "may target"),
}


class GuardFunction:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, config: GuardConfig, dead_letter_queue: sqs.IQueue, state: StateTable) -> None:
        self.scope = scope
        self.config = config
        self.log_group = logs.LogGroup(scope, "Logs", retention=logs.RetentionDays.ONE_MONTH,
                                       removal_policy=RemovalPolicy.RETAIN)
        self.log_group.node.default_child.retention_in_days = config.log_retention_days  # type: ignore[union-attr]
        self.role = iam.Role(scope, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description="rollout-guard: cancel the IoT jobs its policy names, nothing else")
        self.function = lambda_.Function(
            scope, "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="rollout_guard.handler.lambda_handler",
            code=self._code(),
            role=self.role,
            memory_size=256,
            timeout=TIMEOUT,
            tracing=lambda_.Tracing.ACTIVE if config.tracing else lambda_.Tracing.DISABLED,
            log_group=self.log_group,
            # None by default: reserving fails the deploy on accounts whose limit is 10 (Lambda keeps 10
            # unreserved). The function paces itself at IoT's rate; botocore's retries absorb the rest.
            reserved_concurrent_executions=config.reserved_concurrency,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(dead_letter_queue),
            environment=self._environment(dead_letter_queue, state),
        )
        self._grant_least_privilege()
        state.grant_claims(self.role)
        skip_checkov(self.log_group, {
            "CKV_AWS_158": "the logs hold alert summaries and decisions, no secret and no device data; CloudWatch "
                           "Logs encrypts them at rest with its own keys",
        })
        skips = {
            "CKV_AWS_116": "failed asynchronous invocations reach the encrypted dead-letter queue through an "
                           "on-failure destination (EventInvokeConfig), which supersedes DeadLetterConfig",
            "CKV_AWS_117": "the function calls only AWS APIs and reaches no private resource; a VPC would add NAT "
                           "or endpoints and cold-start time for nothing",
            "CKV_AWS_173": "the variables hold no secret (policy path, switches, queue URL, parameter name); Lambda "
                           "encrypts them at rest with an AWS managed key",
        }
        if config.reserved_concurrency is None:
            skips["CKV_AWS_115"] = ("reserved concurrency is opt-in (reservedConcurrency): any reservation fails the "
                                    "deploy on accounts limited to 10; the function paces its IoT calls itself")
        skip_checkov(self.function, skips)
        # The function reaches its role through GetAtt already; CDK's extra DependsOn on the role is redundant
        # (cfn-lint W3005). Keep only the wait for the role's policy, which nothing else orders.
        default_policy = self.role.node.find_child("DefaultPolicy").node.default_child
        self.function.node.default_child.add_override(  # type: ignore[union-attr]
            "DependsOn", [Stack.of(scope).get_logical_id(default_policy)])  # type: ignore[arg-type]
        self._acknowledge_findings()

    def _code(self) -> lambda_.Code:
        return lambda_.Code.from_asset(
            str(PACKAGE),
            asset_hash_type=AssetHashType.OUTPUT,
            bundling=BundlingOptions(
                # Never pulled: local bundling always succeeds or fails the synth.
                image=DockerImage.from_registry("local-bundling-only"),
                local=LocalPipBundling(self.config.policy_document, PYTHON_VERSION, PLATFORM),
            ),
        )

    def _environment(self, dead_letter_queue: sqs.IQueue, state: StateTable) -> dict[str, str]:
        config = self.config
        return {
            settings.POLICY_FILE: f"/var/task/{POLICY_NAME}",
            settings.DRY_RUN: "true" if config.dry_run else "false",
            settings.EVENT_BUS: "default",
            settings.TRACING: "true" if config.tracing else "false",
            settings.DEAD_LETTER_QUEUE: dead_letter_queue.queue_url,
            settings.STATE_TABLE: state.table.table_name,
            **({settings.KILL_SWITCH: config.kill_switch_parameter} if config.kill_switch_parameter else {}),
            # Service and namespace are the function's own constants (rollout_guard.observability); the level is
            # left to this variable so that an operator can raise it without a deploy.
            "POWERTOOLS_LOG_LEVEL": observability.LOG_LEVEL,
        }

    def job_arns(self) -> list[str]:
        globs = self.config.job_globs()
        prefix = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:job/"
        return [prefix + "*"] if globs is None else [prefix + glob for glob in globs]

    def thing_arns(self) -> list[str]:
        return [f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:thing/*"]

    def _allow(self, sid: str, actions: list[str], resources: list[str], conditions: dict | None = None) -> None:
        self.role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources,
                                                    conditions=conditions))

    def _grant_least_privilege(self) -> None:
        config = self.config
        self._allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [self.log_group.log_group_arn])
        self._allow("ConfirmJobs", ["iot:DescribeJob"], self.job_arns())
        conditions = None
        if config.job_tag_key:
            conditions = {"StringEquals": {f"aws:ResourceTag/{config.job_tag_key}": config.job_tag_value}}
        self._allow("CancelPolicyJobs", ["iot:CancelJob"], self.job_arns(), conditions)
        if config.updating_rules():
            globs = config.throttle_job_globs()
            prefix = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}:job/"
            self._allow("ThrottleRuleJobs", ["iot:UpdateJob"],
                        [prefix + "*"] if globs is None else [prefix + glob for glob in globs], conditions)
        if config.needs_listing() or config.counts_dark_things():
            self._allow("ListActiveJobs", ["iot:ListJobs"], ["*"])
        if config.looks_up_things():
            self._allow("JobsOfViolatingThing", ["iot:ListJobExecutionsForThing"], self.thing_arns())
        if config.pre_start_gate:
            # DescribeAlarms authorizes on alarm ARNs; the gate narrows by the rules' globs when it asks.
            self._allow("AlarmsFiringAtJobCreation", ["cloudwatch:DescribeAlarms"],
                        [f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"])
        elif config.watches_throttles():
            # A throttle's timer reads the throttling alarm's state: OK restores, ALARM may escalate.
            self._allow("AlarmsStillFiring", ["cloudwatch:DescribeAlarms"],
                        [f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"])
        if config.escalates() or config.counts_dark_things():
            # a forced escalation finds the executions left running; dark checks list the IN_PROGRESS ones
            self._allow("ListJobExecutions", ["iot:ListJobExecutionsForJob"], self.job_arns())
        if config.escalates():
            self._allow("ForceExecutionsLeftRunning", ["iot:CancelJobExecution"],
                        [*self.job_arns(), *self.thing_arns()])
        if config.kill_switch_parameter:
            self._allow("ReadKillSwitch", ["ssm:GetParameter"],
                        [f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter"
                         f"{config.kill_switch_parameter}"])
        if config.stops_deployments():
            self._grant_deployments()
        if config.revert_rules():
            self._grant_reverts()
        self._allow("AnnounceHalts", ["events:PutEvents"],
                    [f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/default"])

    def _grant_deployments(self) -> None:
        """Greengrass v2 as the service authorization reference asks: ListDeployments on no resource; GetDeployment
        and CancelDeployment on deployment ARNs, which carry the deployment's id, not its name (the rules' globs
        are over names, so the function checks them); and CancelDeployment's dependent IoT actions on what it
        touches: the deployment's job (ids Greengrass makes: UUIDs, matched by shape), its target group and its
        devices' things and shadows (the reserved `AWSManagedGreengrassV2Deployment` shadow of a device)."""
        iot = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        self._allow("ListDeployments", ["greengrass:ListDeployments"], ["*"])
        self._allow("StopDeployments", ["greengrass:GetDeployment", "greengrass:CancelDeployment"],
                    [f"arn:{Aws.PARTITION}:greengrass:{Aws.REGION}:{Aws.ACCOUNT_ID}:deployments:*"])
        self._allow("DeploymentJobs", ["iot:DescribeJob", "iot:CancelJob", "iot:UpdateJob"],
                    [f"{iot}:job/{DEPLOYMENT_JOB_ID}"])
        self._allow("DeploymentTargets", ["iot:DescribeThing", "iot:DescribeThingGroup", "iot:GetThingShadow",
                                          "iot:UpdateThingShadow", "iot:DeleteThingShadow"],
                    [f"{iot}:thing/*", f"{iot}:thinggroup/*"])

    def _grant_reverts(self) -> None:
        """A revert as the service authorization reference asks: ListJobExecutionsForJob on the bad job (the
        revert rules' jobs); DescribeJob (is the id free?) and CreateJob on the revert ids only; CreateJob also on
        its targets (any thing that took the bad job, and the revert's own group) and the rules' job templates;
        the revert's own static group (a revert of over 100 things) made and filled."""
        iot = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        ids = self.config.revert_ids()
        jobs, groups = [f"{iot}:job/{glob}" for glob in ids], [f"{iot}:thinggroup/{glob}" for glob in ids]
        templates = sorted({rule.revert.template_arn for rule in self.config.revert_rules() if rule.revert.template_arn})
        self._allow("ThingsThatSucceeded", ["iot:ListJobExecutionsForJob"],
                    [f"{iot}:job/{glob}" for glob in self.config.revert_job_globs()])
        self._allow("RevertIdsFree", ["iot:DescribeJob"], jobs)
        self._allow("CreateReverts", ["iot:CreateJob"], [*jobs, f"{iot}:thing/*", *groups, *templates])
        self._allow("RevertGroups", ["iot:CreateThingGroup", "iot:DescribeThingGroup"], groups)
        self._allow("RevertGroupMembers", ["iot:AddThingToThingGroup"], [*groups, f"{iot}:thing/*"])

    def _acknowledge_findings(self) -> None:
        """Each cdk-nag finding on the role that is right here, with why."""
        arn = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"
        globs = self.config.job_globs()
        findings = {
            f"IAM5[Resource::{arn}:job/{glob}]": "CancelJob and DescribeJob are limited to the job ARNs that match the "
            "policy's jobs globs, the narrowest way a rule names its rollouts"
            for glob in (globs if globs is not None else ("*",))
        }
        findings["IAM5[Resource::*]"] = (
            "IoT ListJobs (and, with tracing on, X-Ray PutTraceSegments/PutTelemetryRecords) support no "
            "resource-level permissions")
        for action in ("kms:ReEncrypt*", "kms:GenerateDataKey*"):
            findings[f"IAM5[Action::{action}]"] = (
                "CDK's grant to send failed alerts to the dead-letter queue, which this stack's own key encrypts; "
                "the statement names only that key")
        if self.config.pre_start_gate or self.config.watches_throttles():
            findings["IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*]"] = (
                "The pre-start gate and the throttles' timers read the alarms' states "
                "(DescribeAlarms, read only); the alarms they act on are the policy's, chosen in the function")
        if self.config.watches_throttles():
            findings["IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/"
                     "default/rollout-guard-escalate-*]"] = (
                "One timer per throttled job and check, named after the job and its due time: only schedules "
                "of the guard's own prefix in the default group")
        if self.config.looks_up_things() or self.config.escalates():
            findings[f"IAM5[Resource::{arn}:thing/*]"] = (
                "A Device Defender violation, or a job being escalated, can involve any thing of the account; on "
                "things only ListJobExecutionsForThing and CancelJobExecution (on the policy's jobs) are allowed")
        for glob in self.config.revert_ids():
            for kind in ("job", "thinggroup"):
                findings[f"IAM5[Resource::{arn}:{kind}/{glob}]"] = (
                    "A revert job (and, past 100 things, its static group) takes the id <job>-revert[-N] of the bad "
                    "job it reverts: only the revert rules' jobs globs with that suffix")
        if self.config.revert_rules():
            reason = ("A revert targets the things that SUCCEEDED on the bad job (CreateJob and AddThingToThingGroup "
                      "need each target thing): any thing may have taken it")
            found = f"IAM5[Resource::{arn}:thing/*]"
            findings[found] = f"{findings[found]}; {reason}" if found in findings else reason
        if self.config.stops_deployments():
            for finding, reason in DEPLOYMENT_FINDINGS.items():
                findings[finding] = f"{findings[finding]}; {reason}" if finding in findings else reason
        for finding, reason in findings.items():
            acknowledge(self.role, finding, reason)


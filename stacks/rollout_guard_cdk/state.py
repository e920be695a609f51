"""The state table (`rollout_guard.schema`: its key, TTL and item kinds): the function's exactly-once claims and the
fleet signal's counts, on demand, with DynamoDB's TTL removing each item, encrypted with the stack's key. The
function may read and write items only, each use with its own statement."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from rollout_guard.schema import TABLE_KEY, TABLE_TTL

from .findings import acknowledge, skip_checkov

# What Powertools' Idempotency does with a claim: a conditional put, a read of a held claim, the update that marks
# it done and the delete that releases it after a failed action.
CLAIM_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
# The fleet signal's counting: updates (unions, additions, maxima) and batched reads.
FLEET_ACTIONS = ["dynamodb:UpdateItem", "dynamodb:BatchGetItem"]
NO_BACKUP = ("claims live ten minutes and fleet counts a few days, read only by the guard while they matter: a "
             "point-in-time restore would bring back nothing anyone needs")


class StateTable:
    """Not a construct of its own: its resources live in the guard's scope, so their logical ids stay stable."""

    def __init__(self, scope: Construct, key: kms.IKey) -> None:
        self.key = key
        self._key_granted: list[iam.IRole] = []
        self.table = dynamodb.Table(
            scope, "StateTable",
            partition_key=dynamodb.Attribute(name=TABLE_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TABLE_TTL,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
        )
        acknowledge(self.table, "DDB3", NO_BACKUP)
        skip_checkov(self.table, {"CKV_AWS_28": NO_BACKUP})

    def grant_claims(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(iam.PolicyStatement(sid="ExactlyOnceClaims", actions=CLAIM_ACTIONS,
                                                         resources=[self.table.table_arn]))
        self._grant_key(role)

    def grant_fleet_counts(self, role: iam.IRole) -> None:
        role.add_to_principal_policy(iam.PolicyStatement(sid="FleetSignalCounts", actions=FLEET_ACTIONS,
                                                         resources=[self.table.table_arn]))
        self._grant_key(role)

    def _grant_key(self, role: iam.IRole) -> None:
        if role not in self._key_granted:  # one statement on the key, whichever uses the table
            self.key.grant(role, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey")
            self._key_granted.append(role)

"""The template's policy documents made concrete for linters that read plain IAM JSON (parliament): intrinsic
functions become the ARNs they resolve to in an example account and region."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ACCOUNT, REGION, PARTITION, STACK = "123456789012", "eu-west-1", "aws", "RolloutGuard"
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION, "AWS::StackName": STACK,
          "AWS::URLSuffix": "amazonaws.com"}
ARNS = {  # resource type -> its ARN in the example account, given the logical id
    "AWS::SNS::Topic": lambda name: f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-{name}",
    "AWS::SQS::Queue": lambda name: f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-{name}",
    "AWS::KMS::Key": lambda name: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b7e2c1e-0000-4000-8000-{name[-12:].lower():0>12}",
    "AWS::Logs::LogGroup": lambda name: f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{STACK}-{name}:*",
    "AWS::Events::Rule": lambda name: f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-{name}",
    "AWS::IAM::Role": lambda name: f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{name}",
    "AWS::Lambda::Function": lambda name: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-{name}",
    "AWS::DynamoDB::Table": lambda name: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-{name}",
    "AWS::Events::EventBus": lambda name: f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}",
    "AWS::KinesisFirehose::DeliveryStream": lambda name: f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}",
    "AWS::S3::Bucket": lambda name: f"arn:aws:s3:::{STACK.lower()}-{name.lower()}",
}


def concrete(value: Any, template: dict) -> Any:
    """Ref, Fn::GetAtt (Arn) and Fn::Join resolved as CloudFormation would in the example account."""
    resources = template["Resources"]
    if isinstance(value, dict) and len(value) == 1:
        (key, inner), = value.items()
        if key == "Ref":
            if inner in PSEUDO:
                return PSEUDO[inner]
            kind = resources[inner]["Type"]
            return ARNS[kind](inner) if kind == "AWS::SNS::Topic" else inner
        if key == "Fn::GetAtt":
            return ARNS[resources[inner[0]]["Type"]](inner[0])
        if key == "Fn::Join":
            return inner[0].join(str(concrete(part, template)) for part in inner[1])
    if isinstance(value, dict):
        return {key: concrete(inner, template) for key, inner in value.items()}
    if isinstance(value, list):
        return [concrete(inner, template) for inner in value]
    return value


POLICY_PROPERTIES = {
    "AWS::IAM::Policy": "PolicyDocument",
    "AWS::IAM::Role": "AssumeRolePolicyDocument",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::S3::BucketPolicy": "PolicyDocument",
}


def concrete_policies(template: dict) -> Iterator[tuple[str, dict]]:
    """(logical id, concrete policy document) for every IAM, trust, topic, queue and key policy in the template."""
    for logical_id, resource in template["Resources"].items():
        prop = POLICY_PROPERTIES.get(resource["Type"])
        if prop and prop in resource.get("Properties", {}):
            yield logical_id, concrete(resource["Properties"][prop], template)

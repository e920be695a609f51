"""The template checkers' findings that are right here, each acknowledged on its resource with why: cdk-nag's
through CDK's Validations, checkov's as the resource's `Metadata.checkov.skip`."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """A cdk-nag AwsSolutions finding, e.g. `SQS3` or `IAM5[Resource::*]`."""
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::AwsSolutions-{finding}", reason=reason))


def skip_checkov(construct: IConstruct, reasons: dict[str, str]) -> None:
    """checkov's checks (id -> reason), written next to the resource in the template."""
    cfn = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(cfn, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    cfn.add_metadata("checkov", {"skip": [{"id": check, "comment": reason} for check, reason in reasons.items()]})

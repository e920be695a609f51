"""Doctor's look at the rules with a `revert`: can the deployed function create a revert (its role holds CreateJob on
the revert ids, which a stack deployed before the rule lacks), and does each revert job template exist."""

from __future__ import annotations

from collections.abc import Iterator

from .doctor_account import OK, PROBLEM, Account, Finding, role_lacks

CHECK = "reverts"
NEEDED = ("iot:CreateJob", "iot:ListJobExecutionsForJob")


def check_reverts(account: Account) -> Iterator[Finding]:
    rules = [rule for rule in account.config.policy.rules if rule.revert is not None]
    if not rules:
        return
    yield from role_lacks(account, CHECK, NEEDED, lambda r: ":job/" in r, rules,
                          "cannot prepare or create a revert")
    iot = account.client("iot")
    for rule in rules:
        revert = rule.revert
        if revert is None:
            continue
        what = f"revert of rule {rule.name}"
        if revert.template_arn:
            from botocore.exceptions import ClientError

            try:
                iot.describe_job_template(jobTemplateId=revert.template_arn.rsplit("/", 1)[-1])
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                yield Finding(what, PROBLEM, f"job template {revert.template_arn} does not exist: a revert would "
                              "fail", "create the template (aws iot create-job-template) or name another")
                continue
        source = f"template {revert.template_arn}" if revert.template_arn else (
            f"document {revert.document_file}" if revert.document_file else "an inline document")
        yield Finding(what, OK, f"{source}; approval {revert.approval}"
                      + (f"; {revert.max_per_minute} a minute" if revert.max_per_minute else ""))

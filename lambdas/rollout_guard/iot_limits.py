"""What AWS IoT's job APIs accept, once: job ids, reason codes, comments (CancelJob), the rollout rate and abort
criteria (CreateJob/UpdateJob), Greengrass v2's deployment names and ids. A leaf: the policy, the use cases, the CLI
and the stack read it; it imports nothing of the project."""

from __future__ import annotations

import re

JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
JOB_GLOB = re.compile(r"[A-Za-z0-9_*?-]{1,64}")  # a job id with * and ? (policies' jobs, operators' halts)
REASON_CODE = re.compile(r"[A-Z0-9_]{1,128}")
COMMENT_LIMIT = 2028  # characters as the API counts them (UTF-16 code units)
RATE_RANGE = (1, 1000)  # jobExecutionsRolloutConfig.maximumPerMinute
FAILURE_TYPES = ("FAILED", "REJECTED", "TIMED_OUT", "ALL")  # abortConfig.criteriaList[].failureType
# Greengrass v2 (botocore's greengrassv2 model): a deployment's name is 1 to 256 characters of any kind; its id, in
# the EventBridge events and the API's paths, is a UUID.
DEPLOYMENT_NAME_MAX = 256
DEPLOYMENT_ID = re.compile(r"[a-zA-Z0-9-]{1,64}")
# CreateJob (botocore's model): a job document is at most 32,768 characters; a job template's ARN. A job targets
# at most 100 things and groups (the AssociateTargetsWithJob reference: "the total number of targets associated
# with a job must not exceed 100"); a revert of more things targets a static thing group of them.
DOCUMENT_MAX = 32768
TEMPLATE_ARN = re.compile(r"arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:jobtemplate/[a-zA-Z0-9_-]{1,64}")
TARGETS_MAX = 100

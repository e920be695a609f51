"""The baseline: the bare handler a user could write in twenty lines."""

import boto3

iot = boto3.client("iot")


def handler(event, context):
    detail = event["detail"]
    if detail["state"]["value"] != "ALARM":
        return {"cancelled": []}
    cancelled = []
    for metric in detail["configuration"]["metrics"]:
        job_id = metric.get("metricStat", {}).get("metric", {}).get("dimensions", {}).get("JobId")
        if not job_id:
            continue
        job = iot.describe_job(jobId=job_id)["job"]
        if job["status"] in ("COMPLETED", "CANCELED", "DELETION_IN_PROGRESS"):
            continue
        iot.cancel_job(jobId=job_id, reasonCode="ROLLOUT_HALTED", comment=detail["alarmName"], force=False)
        cancelled.append(job_id)
    return {"cancelled": cancelled}

"""Lambda: deploy an approved model version to the project's real-time endpoint.

Target of the `<pipeline>-model-approved` EventBridge rule ("SageMaker Model Package State
Change", ModelApprovalStatus Approved, the project's group). `run_pipeline.py deploy
--target sagemaker` calls `deploy` directly, so the CLI and the Lambda share one code path.

What `deploy` does for a model package version N:
  1. re-reads the package: an event can be stale (approved, then rejected again), so only a
     package that is Approved *now* is deployed;
  2. a SageMaker Model `<endpoint>-v<N>-<hash>` whose container is the model package (image,
     model data and environment come from the registry), and an EndpointConfig of the same
     name with one variant; the hash covers the package ARN, instance type, count and role,
     so a configuration change gets a new config while a re-delivered event finds the
     existing one;
  3. CreateEndpoint if the endpoint does not exist, else UpdateEndpoint (same name, same
     URL for callers: SageMaker swaps instances behind it without downtime), or nothing if
     the endpoint already runs that config.
Everything it creates is tagged with RESOURCE_TAGS (project tags + pipeline-deploy=<name>).

Event-driven calls deploy only the newest Approved version (the champion, as
resolve_champion.py defines it): re-delivered or out-of-order events for an older version
then never roll the endpoint back. An explicit `deploy --model-version N` may.

Environment: MODEL_PACKAGE_GROUP, ENDPOINT_NAME, INSTANCE_TYPE, INSTANCE_COUNT,
EXECUTION_ROLE_ARN (the role the endpoint's model runs with), RESOURCE_TAGS (JSON object).
Self-contained: only the standard library and boto3 (both in the Lambda Python runtime).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

EVENT_TYPE = "SageMaker Model Package State Change"
VARIANT = "AllTraffic"
MAX_NAME = 63
# UpdateEndpoint is refused while the endpoint is in one of these states.
BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class EndpointBusyError(RuntimeError):
    """The endpoint is changing; raising lets Lambda's asynchronous retries try again."""


def handler(event: dict, context: object) -> dict:
    env = os.environ
    group = env["MODEL_PACKAGE_GROUP"]
    reason = ignore_reason(event, group)
    if reason:
        logger.info("ignored event %s: %s", event.get("id"), reason)
        return {"action": "ignored", "reason": reason}
    result = deploy(
        boto3.client("sagemaker"),
        event["detail"]["ModelPackageArn"],
        group=group,
        endpoint_name=env["ENDPOINT_NAME"],
        instance_type=env["INSTANCE_TYPE"],
        instance_count=int(env.get("INSTANCE_COUNT", "1")),
        role_arn=env["EXECUTION_ROLE_ARN"],
        tags=json.loads(env.get("RESOURCE_TAGS", "{}")),
        newest_only=True,
    )
    logger.info("deployment: %s", json.dumps(result))
    return result


def ignore_reason(event: dict, group: str) -> str:
    """Why this event does not call for a deployment ("" when it does)."""
    if event.get("detail-type") != EVENT_TYPE:
        return f"detail-type {event.get('detail-type')!r} is not {EVENT_TYPE!r}"
    detail = event.get("detail") or {}
    if detail.get("ModelPackageGroupName") != group:
        return f"model package group {detail.get('ModelPackageGroupName')!r} is not {group!r}"
    if detail.get("ModelApprovalStatus") != "Approved":
        return f"approval status is {detail.get('ModelApprovalStatus')!r}, not 'Approved'"
    if not detail.get("ModelPackageArn"):
        return "the event names no ModelPackageArn"
    return ""


def newest_approved(sagemaker: Any, group: str) -> dict | None:
    """The newest Approved version's summary, or None."""
    try:
        found = sagemaker.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )["ModelPackageSummaryList"]
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
        found = []
    return found[0] if found else None


def resource_name(endpoint_name: str, version: int, fingerprint: str) -> str:
    """`<endpoint>-v<N>-<hash>`, the endpoint part shortened to fit SageMaker's 63."""
    suffix = f"-v{version}-{fingerprint}"
    return endpoint_name[: MAX_NAME - len(suffix)].rstrip("-") + suffix


def deploy(
    sagemaker: Any,
    model_package_arn: str,
    *,
    group: str,
    endpoint_name: str,
    instance_type: str,
    instance_count: int,
    role_arn: str,
    tags: dict[str, str],
    newest_only: bool = False,
) -> dict:
    """Put the model package on the endpoint. Returns {"action": "created" | "updated" |
    "unchanged" | "ignored", ...}; raises EndpointBusyError while the endpoint is changing."""
    package = sagemaker.describe_model_package(ModelPackageName=model_package_arn)
    arn = package["ModelPackageArn"]
    version = int(package.get("ModelPackageVersion") or 0)
    status = package.get("ModelApprovalStatus")
    if package.get("ModelPackageGroupName") != group:
        return _ignored(f"{arn} is not in group {group}")
    if status != "Approved":
        return _ignored(f"version {version} is {status} now, not Approved")
    if newest_only:
        newest = newest_approved(sagemaker, group)
        if newest and newest["ModelPackageArn"] != arn:
            return _ignored(
                f"version {version} is not the newest Approved version "
                f"(version {newest.get('ModelPackageVersion')} is): the endpoint serves the "
                "champion"
            )
    fingerprint = hashlib.sha256(
        json.dumps([arn, instance_type, instance_count, role_arn]).encode()
    ).hexdigest()[:8]
    name = resource_name(endpoint_name, version, fingerprint)
    tag_list = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    result = {
        "endpoint": endpoint_name,
        "endpoint_config": name,
        "model": name,
        "model_package": arn,
        "version": version,
    }

    if not _exists(lambda: sagemaker.describe_model(ModelName=name)):
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=role_arn,
            Containers=[{"ModelPackageName": arn}],
            Tags=tag_list,
        )
    if not _exists(lambda: sagemaker.describe_endpoint_config(EndpointConfigName=name)):
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": name,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": instance_count,
                    "InitialVariantWeight": 1.0,
                }
            ],
            Tags=tag_list,
        )
    endpoint = _describe_endpoint(sagemaker, endpoint_name)
    if endpoint is None:
        sagemaker.create_endpoint(
            EndpointName=endpoint_name, EndpointConfigName=name, Tags=tag_list
        )
        return {"action": "created", **result}
    result["previous_endpoint_config"] = endpoint["EndpointConfigName"]
    if endpoint["EndpointConfigName"] == name:
        return {"action": "unchanged", **result}
    if endpoint.get("EndpointStatus") in BUSY:
        raise EndpointBusyError(
            f"endpoint {endpoint_name} is {endpoint['EndpointStatus']}; version {version} "
            "is deployed once it is InService again (retry)"
        )
    sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=name)
    return {"action": "updated", **result}


def _ignored(reason: str) -> dict:
    logger.info("not deployed: %s", reason)
    return {"action": "ignored", "reason": reason}


def _describe_endpoint(sagemaker: Any, name: str) -> dict | None:
    try:
        return sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if _not_found(error):
            return None
        raise


def _exists(describe: Any) -> bool:
    try:
        describe()
    except ClientError as error:
        if _not_found(error):
            return False
        raise
    return True


def _not_found(error: ClientError) -> bool:
    # SageMaker reports a missing model, config or endpoint as a ValidationException
    # "Could not find ...".
    details = error.response.get("Error", {})
    return details.get("Code") in ("ValidationException", "ResourceNotFound") and (
        "could not find" in details.get("Message", "").lower()
    )

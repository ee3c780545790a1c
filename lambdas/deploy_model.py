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

Data capture and monitoring (README, "Drift"): with DATA_CAPTURE_S3_URI the endpoint config
captures requests and responses (DataCaptureConfig: JSON Lines under
<uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/, CSV and JSON bodies as text, the share of requests
DATA_CAPTURE_PERCENTAGE), and with MONITORING_BASELINE_URI the deployed version's drift-check
baseline (DriftCheckBaselines.ModelDataQuality) is copied there as statistics.json and
constraints.json, beside a model.json naming the version: the monitoring job's fixed input
always holds the baseline of the model the endpoint serves. A version registered without a
baseline leaves a NO_CHAMPION marker instead, so the job reports "no_baseline" rather than
comparing with another model's data.

Environment: MODEL_PACKAGE_GROUP, ENDPOINT_NAME, INSTANCE_TYPE, INSTANCE_COUNT,
EXECUTION_ROLE_ARN (the role the endpoint's model runs with), RESOURCE_TAGS (JSON object),
DATA_CAPTURE_S3_URI, DATA_CAPTURE_PERCENTAGE, MONITORING_BASELINE_URI (optional).
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
NO_BASELINE_MARKER = "NO_CHAMPION"
BASELINE_FILES = {"Statistics": "statistics.json", "Constraints": "constraints.json"}
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
        data_capture=data_capture_config(env),
        baseline_uri=env.get("MONITORING_BASELINE_URI") or None,
        s3=boto3.client("s3") if env.get("MONITORING_BASELINE_URI") else None,
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


def data_capture_config(env: Any) -> dict | None:
    """DataCaptureConfig for the endpoint config, or None when capture is off."""
    destination = env.get("DATA_CAPTURE_S3_URI")
    if not destination:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": int(env.get("DATA_CAPTURE_PERCENTAGE") or 100),
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        # Bodies of these types are captured as text (encoding CSV / JSON), not BASE64.
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }


def publish_baseline(s3: Any, package: dict, baseline_uri: str) -> dict:
    """The package's data-quality baseline copied to `baseline_uri` (an S3 folder), or a
    NO_CHAMPION marker when it has none; returns what was written."""
    bucket, _, prefix = baseline_uri.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/"
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    sources = {kind: (quality.get(kind) or {}).get("S3Uri") for kind in BASELINE_FILES}
    about = {
        "ModelPackageArn": package["ModelPackageArn"],
        "ModelPackageVersion": package.get("ModelPackageVersion"),
        "DriftCheckBaselines": quality or None,
    }
    s3.put_object(
        Bucket=bucket,
        Key=prefix + "model.json",
        Body=json.dumps(about).encode(),
        ContentType="application/json",
    )
    if not all(sources.values()):
        s3.put_object(Bucket=bucket, Key=prefix + NO_BASELINE_MARKER, Body=b"")
        return {"baseline": None, "marker": f"s3://{bucket}/{prefix}{NO_BASELINE_MARKER}"}
    for kind, name in BASELINE_FILES.items():
        source_bucket, _, source_key = sources[kind].removeprefix("s3://").partition("/")
        s3.copy_object(
            Bucket=bucket,
            Key=prefix + name,
            CopySource={"Bucket": source_bucket, "Key": source_key},
        )
    # Only once both files are in place: a job reading between sees the marker, not a mix.
    s3.delete_object(Bucket=bucket, Key=prefix + NO_BASELINE_MARKER)
    return {"baseline": f"s3://{bucket}/{prefix}", "marker": None}


def prepare_capture_folder(s3: Any, destination: str, endpoint_name: str) -> str:
    """A README in the endpoint's capture folder: the monitoring job's capture input must
    name at least one object before the first request is captured (data_quality.py reads
    only .jsonl files)."""
    bucket, _, prefix = destination.removeprefix("s3://").partition("/")
    key = f"{prefix.rstrip('/')}/{endpoint_name}/README.txt"
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=(
            f"Requests captured by endpoint {endpoint_name} (SageMaker data capture): "
            "<variant>/yyyy/mm/dd/hh/*.jsonl. Read by the drift monitoring job.\n"
        ).encode(),
        ContentType="text/plain",
    )
    return f"s3://{bucket}/{key}"


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
    data_capture: dict | None = None,
    baseline_uri: str | None = None,
    s3: Any = None,
) -> dict:
    """Put the model package on the endpoint. Returns {"action": "created" | "updated" |
    "unchanged" | "ignored", ...}; raises EndpointBusyError while the endpoint is changing.
    With `data_capture` the endpoint config captures requests; with `baseline_uri` (and an
    S3 client) the version's drift baseline is published there for the monitoring job."""
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
    # A changed capture configuration is a new endpoint config (configs are immutable).
    key = [arn, instance_type, instance_count, role_arn] + ([data_capture] if data_capture else [])
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
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
        capture = {"DataCaptureConfig": data_capture} if data_capture else {}
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
            **capture,
            Tags=tag_list,
        )
    if baseline_uri and s3 is not None:
        # Before the endpoint changes: captured requests of the new model are then never
        # compared with the previous model's baseline for long.
        result["monitoring_baseline"] = publish_baseline(s3, package, baseline_uri)
        if data_capture:
            prepare_capture_folder(s3, data_capture["DestinationS3Uri"], endpoint_name)
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

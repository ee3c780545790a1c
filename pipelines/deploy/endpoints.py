"""`endpoints list|cleanup --target sagemaker`: the project's endpoints and idle cleanup.

An endpoint is the project's only if it carries the tag pipeline-deploy=<pipeline> (set by
lambdas/deploy_model.py); nothing else is listed or deleted. It is idle when its
`AWS/SageMaker` `Invocations` metric (per variant) sums to 0 over the last `idle_hours` AND
it has not been created or updated within that window: a just-deployed endpoint has had no
chance to be called yet, and SageMaker publishes no data points at all for an endpoint
nobody calls, so "no data" counts as zero invocations only after the window has passed.
Cleanup deletes the endpoint and the endpoint config and models it ran (when they carry the
same tag); the next approval or `deploy` creates them again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from pipelines.config import ProjectConfig
from pipelines.errors import UsageError
from pipelines.json_output import dumps, iso_time
from pipelines.settings.deployment import MARKER_KEY, load_deployment

NAMESPACE = "AWS/SageMaker"
METRIC = "Invocations"
STABLE = "InService"
Printer = Callable[[str], None]


@dataclass(frozen=True)
class EndpointReport:
    name: str
    status: str
    config_name: str
    last_change: datetime
    variants: tuple[str, ...]
    invocations: float | None
    idle: bool
    reason: str


def _tags(sagemaker: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
    return tags


def project_endpoints(sagemaker: Any, pipeline: str) -> list[dict[str, Any]]:
    """DescribeEndpoint of every endpoint tagged pipeline-deploy=<pipeline>, by name."""
    found = []
    for page in sagemaker.get_paginator("list_endpoints").paginate():
        for summary in page["Endpoints"]:
            if _tags(sagemaker, summary["EndpointArn"]).get(MARKER_KEY) == pipeline:
                found.append(sagemaker.describe_endpoint(EndpointName=summary["EndpointName"]))
    return sorted(found, key=lambda e: e["EndpointName"])


def invocations(
    cloudwatch: Any, endpoint: str, variants: tuple[str, ...], start: datetime, end: datetime
) -> float:
    """Sum of Invocations over [start, end) across the endpoint's variants."""
    hours = (end - start).total_seconds() / 3600
    # At most 1,440 data points per call; hourly periods cover 60 days, daily ones the rest.
    period = 3600 if hours <= 1440 else 86400
    total = 0.0
    for variant in variants:
        datapoints = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=METRIC,
            Dimensions=[
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ],
            StartTime=start,
            EndTime=end,
            Period=period,
            Statistics=["Sum"],
        )["Datapoints"]
        total += sum(point.get("Sum", 0.0) for point in datapoints)
    return total


def assess(
    endpoint: dict[str, Any], cloudwatch: Any, now: datetime, idle_hours: float
) -> EndpointReport:
    window = timedelta(hours=idle_hours)
    last_change = max(endpoint["CreationTime"], endpoint.get("LastModifiedTime") or now)
    variants = tuple(v["VariantName"] for v in endpoint.get("ProductionVariants", []))
    status = endpoint.get("EndpointStatus", "")
    name = endpoint["EndpointName"]
    age_hours = (now - last_change).total_seconds() / 3600
    count: float | None = None
    if status != STABLE:
        idle, reason = False, f"status {status}: left alone until it is {STABLE}"
    elif now - last_change < window:
        idle, reason = (
            False,
            (f"created or updated {age_hours:.1f} h ago, less than the {idle_hours:g} h window"),
        )
    else:
        count = invocations(cloudwatch, name, variants, now - window, now)
        if count > 0:
            idle, reason = False, f"{count:g} invocation(s) in the last {idle_hours:g} h"
        else:
            idle, reason = (
                True,
                (f"no invocations in the last {idle_hours:g} h (unchanged for {age_hours:.1f} h)"),
            )
    return EndpointReport(
        name=name,
        status=status,
        config_name=endpoint.get("EndpointConfigName", ""),
        last_change=last_change,
        variants=variants,
        invocations=count,
        idle=idle,
        reason=reason,
    )


def reports(
    config: ProjectConfig, session: Any, now: datetime, idle_hours: float
) -> list[EndpointReport]:
    sagemaker = session.client("sagemaker")
    cloudwatch = session.client("cloudwatch")
    return [
        assess(endpoint, cloudwatch, now, idle_hours)
        for endpoint in project_endpoints(sagemaker, config.pipeline.name)
    ]


def _settings(config: ProjectConfig, idle_hours: float | None) -> float:
    hours = load_deployment(config).idle_hours if idle_hours is None else idle_hours
    if not (hours > 0 and math.isfinite(hours)):
        raise UsageError(f"--idle-hours must be a positive number of hours, got {hours}")
    return hours


def list_endpoints(
    config: ProjectConfig,
    *,
    idle_hours: float | None = None,
    session: Any = None,
    now: datetime | None = None,
    out: Printer = print,
    as_json: bool = False,
) -> int:
    hours = _settings(config, idle_hours)
    session = session or boto3.Session(region_name=config.aws.region)
    found = reports(config, session, now or datetime.now(UTC), hours)
    if as_json:
        endpoints = [
            {
                "endpoint_name": r.name,
                "status": r.status,
                "endpoint_config_name": r.config_name,
                "last_change_time": iso_time(r.last_change),
                "variants": list(r.variants),
                "invocations": r.invocations,
                "idle": r.idle,
                "reason": r.reason,
            }
            for r in found
        ]
        out(dumps({"idle_hours": hours, "endpoints": endpoints}))
        return 0
    if not found:
        out(f"No endpoints tagged {MARKER_KEY}={config.pipeline.name}.")
        return 0
    for report in found:
        verdict = "IDLE" if report.idle else "in use"
        out(
            f"{report.name}  {report.status}  config {report.config_name}  last change "
            f"{report.last_change:%Y-%m-%d %H:%M} UTC  {verdict}: {report.reason}"
        )
    return 0


def cleanup(
    config: ProjectConfig,
    *,
    idle_hours: float | None = None,
    dry_run: bool = False,
    session: Any = None,
    now: datetime | None = None,
    out: Printer = print,
) -> list[str]:
    """Delete the project's idle endpoints; returns their names (would-be, with dry_run)."""
    hours = _settings(config, idle_hours)
    session = session or boto3.Session(region_name=config.aws.region)
    sagemaker = session.client("sagemaker")
    found = reports(config, session, now or datetime.now(UTC), hours)
    if not found:
        out(f"No endpoints tagged {MARKER_KEY}={config.pipeline.name}: nothing to clean up.")
        return []
    idle = [r for r in found if r.idle]
    for report in found:
        if not report.idle:
            out(f"keep    {report.name}: {report.reason}")
    for report in idle:
        if dry_run:
            out(f"would delete {report.name}: {report.reason}")
            continue
        sagemaker.delete_endpoint(EndpointName=report.name)
        deleted = [f"endpoint {report.name}", *_delete_config(sagemaker, report, config)]
        out(f"deleted {', '.join(deleted)}: {report.reason}")
    verb = "would be deleted (dry run, nothing changed)" if dry_run else "deleted"
    out(f"{len(idle)} idle endpoint(s) {verb}, {len(found) - len(idle)} kept.")
    return [r.name for r in idle]


def _delete_config(sagemaker: Any, report: EndpointReport, config: ProjectConfig) -> list[str]:
    """The endpoint config the endpoint ran and its models, if they are the project's."""
    try:
        described = sagemaker.describe_endpoint_config(EndpointConfigName=report.config_name)
    except ClientError:
        return []
    if _tags(sagemaker, described["EndpointConfigArn"]).get(MARKER_KEY) != config.pipeline.name:
        return []
    sagemaker.delete_endpoint_config(EndpointConfigName=report.config_name)
    deleted = [f"endpoint config {report.config_name}"]
    for variant in described.get("ProductionVariants", []):
        model = variant.get("ModelName")
        try:
            arn = sagemaker.describe_model(ModelName=model)["ModelArn"]
        except ClientError:
            continue
        if _tags(sagemaker, arn).get(MARKER_KEY) == config.pipeline.name:
            sagemaker.delete_model(ModelName=model)
            deleted.append(f"model {model}")
    return deleted

"""`deploy --target sagemaker`: the same create-or-update the approval Lambda runs.

The Lambda file (lambdas/deploy_model.py) is the single implementation; it is loaded from
the project's folder so the CLI can never drift from what runs on AWS Lambda.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3

from pipelines.config import ProjectConfig
from pipelines.project_files import code_folder
from pipelines.settings.deployment import deploy_tags, load_deployment
from pipelines.settings.drift import capture_uri, load_drift, monitoring_uri

Printer = Callable[[str], None]


class NothingToDeployError(LookupError):
    """No Approved version (or not the one asked for) to deploy: a usage error, exit 2."""


def deploy_module(config: ProjectConfig) -> ModuleType:
    path = code_folder(config.root, "lambdas") / "deploy_model.py"
    spec = importlib.util.spec_from_file_location("deploy_model", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_environment(config: ProjectConfig) -> dict[str, str]:
    """What the approval Lambda reads from its environment (see lambdas/deploy_model.py)."""
    settings = load_deployment(config)
    return {
        "MODEL_PACKAGE_GROUP": config.pipeline.model_package_group,
        "ENDPOINT_NAME": settings.endpoint_name,
        "INSTANCE_TYPE": settings.instance_type,
        "INSTANCE_COUNT": str(settings.initial_instance_count),
        "EXECUTION_ROLE_ARN": config.target("sagemaker").role_arn,
        "RESOURCE_TAGS": json.dumps(deploy_tags(config), sort_keys=True),
        **monitoring_environment(config, settings.endpoint_name),
    }


def monitoring_environment(config: ProjectConfig, endpoint: str) -> dict[str, str]:
    """Data capture and the monitoring baseline's location ([drift]), for deploy_model.py."""
    drift = load_drift(config)
    target = config.target("sagemaker")
    env = {}
    if drift.capture_enabled:
        env["DATA_CAPTURE_S3_URI"] = capture_uri(config, target)
        env["DATA_CAPTURE_PERCENTAGE"] = str(drift.capture_sampling_percentage)
    if drift.monitoring_enabled:
        env["MONITORING_BASELINE_URI"] = monitoring_uri(config, target, endpoint, "baseline")
    return env


def find_version(sagemaker: Any, group: str, version: int) -> dict[str, Any]:
    pages = sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group)
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            if int(summary.get("ModelPackageVersion", 0)) == version:
                return summary
    raise NothingToDeployError(f"model package group {group} has no version {version}")


def deploy(
    config: ProjectConfig,
    version: int | None = None,
    *,
    session: boto3.Session | None = None,
    out: Printer = print,
) -> dict[str, Any]:
    """Deploy version N (must be Approved) or, by default, the newest Approved version."""
    session = session or boto3.Session(region_name=config.aws.region)
    env = lambda_environment(config)
    module = deploy_module(config)
    sagemaker = session.client("sagemaker")
    group = config.pipeline.model_package_group
    if version is None:
        summary = module.newest_approved(sagemaker, group)
        if summary is None:
            raise NothingToDeployError(
                f"model package group {group} has no Approved version to deploy; approve one "
                "first (SageMaker Studio or `aws sagemaker update-model-package "
                "--model-approval-status Approved`)"
            )
    else:
        summary = find_version(sagemaker, group, version)
        if summary.get("ModelApprovalStatus") != "Approved":
            raise NothingToDeployError(
                f"version {version} of {group} is {summary.get('ModelApprovalStatus')}; only "
                "Approved versions are deployed"
            )
    result = module.deploy(
        sagemaker,
        summary["ModelPackageArn"],
        group=group,
        endpoint_name=env["ENDPOINT_NAME"],
        instance_type=env["INSTANCE_TYPE"],
        instance_count=int(env["INSTANCE_COUNT"]),
        role_arn=env["EXECUTION_ROLE_ARN"],
        tags=json.loads(env["RESOURCE_TAGS"]),
        data_capture=module.data_capture_config(env),
        baseline_uri=env.get("MONITORING_BASELINE_URI"),
        s3=session.client("s3") if env.get("MONITORING_BASELINE_URI") else None,
    )
    action = result["action"]
    if action == "ignored":
        raise NothingToDeployError(result["reason"])
    if action == "created":
        what = f"created endpoint {result['endpoint']}"
    elif action == "updated":
        what = (
            f"updating endpoint {result['endpoint']} in place "
            f"({result['previous_endpoint_config']} -> {result['endpoint_config']})"
        )
    else:
        what = f"endpoint {result['endpoint']} already serves this version"
    out(
        f"{what}: version {result['version']} ({result['model_package']}), config "
        f"{result['endpoint_config']}, {env['INSTANCE_COUNT']} x {env['INSTANCE_TYPE']}"
    )
    published = result.get("monitoring_baseline")
    if published:
        where = (
            published["baseline"]
            or f"none: the version has no drift baseline ({published['marker']})"
        )
        out(f"monitoring baseline: {where}")
    return result

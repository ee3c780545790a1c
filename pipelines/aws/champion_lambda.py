"""The project's Lambda functions on AWS (ResolveChampion and SnapshotInput): their code and
their least-privilege roles.

`upsert` calls `deploy_project_functions` so every function the definition's LambdaSteps
name exists and runs the project's current code from `lambdas/`. Re-running changes nothing
unless the code or configuration changed. Each function gets its own role (named after it)
unless `[aws].lambda_role_arn` names one role for all of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from pipelines import arns
from pipelines.code_assets import (
    champion_function_name,
    lambda_functions,
    snapshot_function_name,
    snapshots_uri,
    zip_asset,
)
from pipelines.config import ProjectConfig, Target

RUNTIME = "python3.12"
TIMEOUT_SECONDS = 60
_LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class ProjectFunction:
    name: str
    source: Path
    description: str
    policy_name: str
    timeout: int
    # What the function may do besides writing its own logs.
    permissions: Callable[[ProjectConfig, Target], list[dict[str, Any]]]


def _champion_permissions(config: ProjectConfig, target: Target) -> list[dict[str, Any]]:
    """Read the project's model package group; nothing else."""
    group = config.pipeline.model_package_group
    region, account = target.region, target.account_id
    return [
        {
            "Sid": "ReadChampion",
            "Effect": "Allow",
            "Action": ["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
            "Resource": [
                *arns.name_arns(region, account, "model-package-group", group),
                *arns.name_arns(region, account, "model-package", group, "*"),
            ],
        }
    ]


def _snapshot_permissions(config: ProjectConfig, target: Target) -> list[dict[str, Any]]:
    """List the input locations the project knows (its own prefix: the sample, snapshots;
    the data-arrival prefix) and write snapshots; no s3:GetObject, the function never reads
    an object (existence is a listing)."""
    from pipelines.triggers.settings import load_settings

    base = f"{config.pipeline.s3_prefix.strip('/')}/"
    arrivals = load_settings(config).triggers.input_prefix
    readable = [f"{base}*"] + ([] if arrivals.startswith(base) else [f"{arrivals}*"])
    snapshots = snapshots_uri(config, target).removeprefix("s3://")
    return [
        {
            "Sid": "ListInputs",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [arns.arn("s3", target.region, "", target.bucket, regional=False)],
            "Condition": {"StringLike": {"s3:prefix": readable}},
        },
        {
            "Sid": "WriteSnapshots",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [arns.arn("s3", target.region, "", f"{snapshots}*", regional=False)],
        },
    ]


def project_functions(config: ProjectConfig) -> list[ProjectFunction]:
    sources = lambda_functions(config)
    champion, snapshot = champion_function_name(config), snapshot_function_name(config)
    return [
        ProjectFunction(
            name=champion,
            source=sources[champion],
            description=f"Champion of {config.pipeline.model_package_group}",
            policy_name="resolve-champion",
            timeout=TIMEOUT_SECONDS,
            permissions=_champion_permissions,
        ),
        ProjectFunction(
            name=snapshot,
            source=sources[snapshot],
            description=f"Input snapshots of {config.pipeline.name}",
            policy_name="snapshot-input",
            # Listing is paged (1,000 keys a call): minutes cover millions of objects.
            timeout=300,
            permissions=_snapshot_permissions,
        ),
    ]


def role_policy(config: ProjectConfig, target: Target, function: ProjectFunction) -> dict[str, Any]:
    """The function's permissions plus writing its own logs; nothing else."""
    log_group = arns.arn(
        "logs", target.region, target.account_id, f"log-group:/aws/lambda/{function.name}"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            *function.permissions(config, target),
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group, f"{log_group}:*"],
            },
        ],
    }


def _tags(config: ProjectConfig) -> dict[str, str]:
    return dict(sorted(config.aws.tags.items()))


def ensure_role(iam: Any, config: ProjectConfig, target: Target, function: ProjectFunction) -> str:
    """The function's execution role, created or brought up to date; returns its ARN."""
    try:
        arn = iam.get_role(RoleName=function.name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(
            RoleName=function.name,
            AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST),
            Description=f"{function.description}: Lambda of the {config.pipeline.name} pipeline",
            Tags=[{"Key": k, "Value": v} for k, v in _tags(config).items()],
        )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=function.name,
        PolicyName=function.policy_name,
        PolicyDocument=json.dumps(role_policy(config, target, function)),
    )
    return arn


def deploy_project_functions(
    config: ProjectConfig,
    session: boto3.Session,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Create or update every project function: name -> "created", "updated", "unchanged"."""
    return {
        function.name: deploy_function(config, session, function, sleep)
        for function in project_functions(config)
    }


def deploy_function(
    config: ProjectConfig,
    session: boto3.Session,
    function: ProjectFunction,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Create or update one function; returns "created", "updated" or "unchanged"."""
    target = config.target("sagemaker")
    name = function.name
    package = zip_asset(name, function.source)
    role_arn = config.aws.lambda_role_arn or ensure_role(
        session.client("iam"), config, target, function
    )
    handler = f"{function.source.stem}.handler"
    client = session.client("lambda")
    try:
        current = client.get_function(FunctionName=name)["Configuration"]
    except client.exceptions.ResourceNotFoundException:
        current = None
    if current is None:
        # A role created moments ago may not be assumable by Lambda yet (IAM is eventually
        # consistent): that one error is worth waiting out.
        for attempt in range(6):
            try:
                client.create_function(
                    FunctionName=name,
                    Runtime=RUNTIME,
                    Role=role_arn,
                    Handler=handler,
                    Code={"ZipFile": package.data},
                    Timeout=function.timeout,
                    Description=function.description,
                    Tags=_tags(config),
                )
                return "created"
            except client.exceptions.InvalidParameterValueException as exc:
                if "cannot be assumed" not in str(exc) or attempt == 5:
                    raise
                sleep(2**attempt)
    changed = False
    if current["CodeSha256"] != package.lambda_code_sha256:
        client.update_function_code(FunctionName=name, ZipFile=package.data)
        client.get_waiter("function_updated_v2").wait(FunctionName=name)
        changed = True
    wanted = {"Runtime": RUNTIME, "Role": role_arn, "Handler": handler, "Timeout": function.timeout}
    if any(current.get(key) != value for key, value in wanted.items()):
        client.update_function_configuration(FunctionName=name, **wanted)
        changed = True
    return "updated" if changed else "unchanged"

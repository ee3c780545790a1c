"""The ResolveChampion Lambda function on AWS: its least-privilege role and its code.

`upsert` calls `deploy_champion_function` so the function the definition's LambdaStep names
exists and runs the project's current `lambdas/resolve_champion.py`. Re-running changes
nothing unless the code or configuration changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3

from pipelines import arns
from pipelines.code_assets import champion_function_name, lambda_functions, zip_asset
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


def role_policy(config: ProjectConfig, target: Target) -> dict[str, Any]:
    """Read the project's model package group and write the function's own logs; nothing else."""
    group = config.pipeline.model_package_group
    region, account = target.region, target.account_id
    log_group = arns.arn(
        "logs", region, account, f"log-group:/aws/lambda/{champion_function_name(config)}"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadChampion",
                "Effect": "Allow",
                "Action": ["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
                "Resource": [
                    *arns.name_arns(region, account, "model-package-group", group),
                    *arns.name_arns(region, account, "model-package", group, "*"),
                ],
            },
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


def ensure_role(iam: Any, config: ProjectConfig, target: Target) -> str:
    """The function's execution role, created or brought up to date; returns its ARN."""
    name = champion_function_name(config)
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST),
            Description=f"ResolveChampion Lambda of the {config.pipeline.name} pipeline",
            Tags=[{"Key": k, "Value": v} for k, v in _tags(config).items()],
        )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="resolve-champion",
        PolicyDocument=json.dumps(role_policy(config, target)),
    )
    return arn


def deploy_champion_function(
    config: ProjectConfig,
    session: boto3.Session,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Create or update the function; returns "created", "updated" or "unchanged"."""
    target = config.target("sagemaker")
    name = champion_function_name(config)
    source = lambda_functions(config)[name]
    package = zip_asset(name, source)
    role_arn = config.aws.lambda_role_arn or ensure_role(session.client("iam"), config, target)
    handler = f"{source.stem}.handler"
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
                    Timeout=TIMEOUT_SECONDS,
                    Description=f"Champion of {config.pipeline.model_package_group}",
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
    wanted = {"Runtime": RUNTIME, "Role": role_arn, "Handler": handler, "Timeout": TIMEOUT_SECONDS}
    if any(current.get(key) != value for key, value in wanted.items()):
        client.update_function_configuration(FunctionName=name, **wanted)
        changed = True
    return "updated" if changed else "unchanged"

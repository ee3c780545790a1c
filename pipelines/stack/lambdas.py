"""The project's Lambda functions, each with its own least-privilege role and log group.

  <p>-resolve-champion  ResolveChampion and FindRegisteredModel steps: reads the model
                        package group, claims model digests under registry-claims/ and asks
                        whether a claimant execution of the pipeline still runs
  <p>-snapshot-input    SnapshotInput step: lists the input locations, writes snapshots
  <p>-deploy-model      deploys approved models (pipelines/stack/deployment.py wires it)
  <p>-bucket-settings   the custom resource that sets the artifacts bucket's EventBridge
                        notifications and replication (pipelines/stack/bucket.py)

Code comes from content-addressed S3 keys (`stack deploy` uploads the zips first), so a
changed file is a changed `S3Key` and CloudFormation updates the function. Each function
writes to a log group the stack owns (with `[stack].log_retention_days`), so its role may
write that group's streams and nothing else; `[aws].lambda_role_arn` replaces the roles of
the two pipeline steps' functions with one role of your own.
"""

from __future__ import annotations

from typing import Any

from pipelines.code_assets import registry_claims_uri, snapshots_uri
from pipelines.deploy.aws_deploy import lambda_environment
from pipelines.stack import cfn
from pipelines.stack.context import FunctionCode, StackContext
from pipelines.stack.dr import REPLICATION_ROLE
from pipelines.stack.shared_resources import DEAD_LETTER_QUEUE

RUNTIME = "python3.12"
# Listing is paged (1,000 keys a call): minutes cover millions of input objects.
TIMEOUTS = {"snapshot-input": 300}
DEFAULT_TIMEOUT = 60
DESCRIPTIONS = {
    "resolve-champion": "Champion of {group} (ResolveChampion step of {pipeline})",
    "snapshot-input": "Input snapshots of {pipeline} (SnapshotInput step)",
    "deploy-model": "Deploys approved {group} models to {endpoint}",
    "bucket-settings": "EventBridge notifications and replication of s3://{bucket} for {pipeline}",
}
# The functions the pipeline's LambdaSteps call (the rest are the stack's own).
PIPELINE_STEPS = ("resolve-champion", "snapshot-input")


def logical_id(purpose: str, kind: str) -> str:
    """E.g. ("resolve-champion", "Function") -> "ResolveChampionFunction"."""
    return "".join(part.capitalize() for part in purpose.split("-")) + kind


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    for purpose, function in ctx.functions.items():
        _function(template, ctx, purpose, function)


def function_arn(purpose: str) -> dict:
    return cfn.get_att(logical_id(purpose, "Function"), "Arn")


def _function(
    template: cfn.Template, ctx: StackContext, purpose: str, function: FunctionCode
) -> None:
    log_group = template.add(
        logical_id(purpose, "LogGroup"),
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": f"/aws/lambda/{function.name}",
            "RetentionInDays": ctx.settings.stack.log_retention_days,
            "Tags": cfn.tag_list(ctx.tags),
        },
        # Logs go with the stack; retention bounds them while it lives.
        deletion_policy="Delete",
    )
    shared_role = ctx.config.aws.lambda_role_arn if purpose in PIPELINE_STEPS else ""
    if shared_role:
        role: Any = shared_role
    else:
        role_id = template.add(
            logical_id(purpose, "Role"),
            "AWS::IAM::Role",
            {
                "RoleName": function.name,
                "Description": f"Lambda function {function.name}, least privilege",
                "AssumeRolePolicyDocument": cfn.service_trust("lambda.amazonaws.com"),
                "Policies": [
                    {
                        "PolicyName": purpose,
                        "PolicyDocument": cfn.policy(
                            *PERMISSIONS[purpose](ctx), _own_logs(function.name)
                        ),
                    }
                ],
                "Tags": cfn.tag_list(ctx.tags),
            },
        )
        role = cfn.get_att(role_id, "Arn")
    properties: dict[str, Any] = {
        "FunctionName": function.name,
        "Description": DESCRIPTIONS[purpose].format(
            pipeline=ctx.pipeline,
            group=ctx.config.pipeline.model_package_group,
            endpoint=ctx.deployment.endpoint_name,
            bucket=ctx.bucket,
        ),
        "Runtime": RUNTIME,
        "Handler": function.handler,
        "Role": role,
        "Timeout": TIMEOUTS.get(purpose, DEFAULT_TIMEOUT),
        "Code": {"S3Bucket": ctx.bucket, "S3Key": function.key(ctx.s3_prefix)},
        "LoggingConfig": {"LogGroup": cfn.ref(log_group)},
        "Tags": cfn.tag_list(ctx.tags),
    }
    if purpose == "deploy-model":
        properties["Environment"] = {"Variables": lambda_environment(ctx.config)}
    template.add(logical_id(purpose, "Function"), "AWS::Lambda::Function", properties)


def _own_logs(name: str) -> dict[str, Any]:
    return {
        "Sid": "OwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": cfn.arn("logs", f"log-group:/aws/lambda/{name}:*"),
    }


def _champion(ctx: StackContext) -> list[dict[str, Any]]:
    """Read the project's model package group; write and read the registration claims
    (a conditional write with If-Match needs s3:GetObject too: S3 User Guide, conditional
    writes); ask about the pipeline's executions (a claimant still running?). Nothing else."""
    group = ctx.config.pipeline.model_package_group
    claims = registry_claims_uri(ctx.config, ctx.target).removeprefix("s3://")
    return [
        {
            "Sid": "ReadChampion",
            "Effect": "Allow",
            "Action": ["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage"],
            "Resource": [
                *cfn.sagemaker_arns("model-package-group", group),
                *cfn.sagemaker_arns("model-package", group, "*"),
            ],
        },
        {
            "Sid": "ClaimRegistrations",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": cfn.arn("s3", f"{claims}*", regional=False, account=False),
        },
        {
            "Sid": "ReadClaimantExecutions",
            "Effect": "Allow",
            "Action": "sagemaker:DescribePipelineExecution",
            "Resource": cfn.sagemaker_arns("pipeline", ctx.pipeline, "execution", "*"),
        },
    ]


def _snapshot(ctx: StackContext) -> list[dict[str, Any]]:
    """List the input locations the project knows (its own prefix: the sample, snapshots;
    the data-arrival prefix) and write snapshots; no s3:GetObject, the function never reads
    an object (existence is a listing)."""
    base = f"{ctx.s3_prefix.strip('/')}/"
    arrivals = ctx.triggers.input_prefix
    readable = [f"{base}*"] + ([] if arrivals.startswith(base) else [f"{arrivals}*"])
    snapshots = snapshots_uri(ctx.config, ctx.target).removeprefix("s3://")
    return [
        {
            "Sid": "ListInputs",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": cfn.arn("s3", ctx.bucket, regional=False, account=False),
            "Condition": {"StringLike": {"s3:prefix": readable}},
        },
        {
            "Sid": "WriteSnapshots",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": cfn.arn("s3", f"{snapshots}*", regional=False, account=False),
        },
    ]


def _deployer(ctx: StackContext) -> list[dict[str, Any]]:
    """Read the group, create this endpoint's models and configs, create or update this
    endpoint, pass the SageMaker execution role to SageMaker only, and send its failed
    invocations (Lambda's on-failure destination) to the triggers DLQ."""
    group = ctx.config.pipeline.model_package_group
    endpoint = ctx.deployment.endpoint_name
    return [
        {
            "Sid": "ReadModelPackages",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
            "Resource": [
                *cfn.sagemaker_arns("model-package-group", group),
                *cfn.sagemaker_arns("model-package", group, "*"),
            ],
        },
        {
            "Sid": "DeployEndpoint",
            "Effect": "Allow",
            "Action": [
                # AddTags: every Create call passes Tags.
                "sagemaker:AddTags",
                "sagemaker:CreateEndpoint",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:CreateModel",
                "sagemaker:DescribeEndpoint",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DescribeModel",
                "sagemaker:UpdateEndpoint",
            ],
            "Resource": [
                *cfn.sagemaker_arns("model", f"{endpoint}-v*"),
                *cfn.sagemaker_arns("endpoint-config", f"{endpoint}-v*"),
                *cfn.sagemaker_arns("endpoint", endpoint),
            ],
        },
        {
            "Sid": "PassExecutionRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": ctx.target.role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {
            "Sid": "WriteFailedDeployments",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": cfn.get_att(DEAD_LETTER_QUEUE, "Arn"),
        },
    ]


def _bucket_settings(ctx: StackContext) -> list[dict[str, Any]]:
    """Read and write the artifacts bucket's notification, versioning and replication
    configuration, and hand S3 the replication role (PutBucketReplication passes it)."""
    bucket = cfn.arn("s3", ctx.bucket, regional=False, account=False)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "BucketSettings",
            "Effect": "Allow",
            "Action": [
                "s3:GetBucketNotification",
                "s3:PutBucketNotification",
                "s3:GetBucketVersioning",
                "s3:PutBucketVersioning",
                "s3:GetReplicationConfiguration",
                "s3:PutReplicationConfiguration",
            ],
            "Resource": bucket,
        }
    ]
    if ctx.settings.dr.enabled:
        statements.append(
            {
                "Sid": "PassReplicationRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": cfn.get_att(REPLICATION_ROLE, "Arn"),
                "Condition": {"StringEquals": {"iam:PassedToService": "s3.amazonaws.com"}},
            }
        )
    return statements


PERMISSIONS = {
    "resolve-champion": _champion,
    "snapshot-input": _snapshot,
    "deploy-model": _deployer,
    "bucket-settings": _bucket_settings,
}

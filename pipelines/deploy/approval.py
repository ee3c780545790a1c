"""The approval trigger on AWS, as resources of the `triggers` plan.

  iam-role         <p>-deploy-model    the Lambda's role, least privilege
  lambda-function  <p>-deploy-model    lambdas/deploy_model.py, configured by environment,
                                       invocable by the approval rule only
  events-rule      <p>-model-approved  Model Package State Change, Approved, the project's
                                       group -> the function (retries, the triggers DLQ)

They carry the triggers marker tag, so `triggers apply|show|destroy` create, compare and
delete them with the rest, and `[deployment].deploy_on_approval = false` removes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines import arns
from pipelines.code_assets import zip_asset
from pipelines.config import ProjectConfig
from pipelines.deploy.settings import DeploymentSettings, deploy_function_name
from pipelines.triggers import policies
from pipelines.triggers.patterns import MODEL_PACKAGE_STATE_CHANGE, SAGEMAKER_SOURCE, RuleSpec
from pipelines.triggers.plan import Context, Resource

RUNTIME = "python3.12"
# Creating a model, a config and starting an update are quick API calls; the endpoint
# itself comes up asynchronously.
TIMEOUT_SECONDS = 60
RULE_PURPOSE = "model-approved"
TARGET_ID = "deploy-model"


def approval_rule(config: ProjectConfig) -> RuleSpec:
    """Approvals in the project's group; the target receives the whole event."""
    group = config.pipeline.model_package_group
    return RuleSpec(
        purpose=RULE_PURPOSE,
        description=f"{config.pipeline.name}: deploy models approved in {group}",
        pattern={
            "source": [SAGEMAKER_SOURCE],
            "detail-type": [MODEL_PACKAGE_STATE_CHANGE],
            "detail": {
                "ModelPackageGroupName": [group],
                "ModelApprovalStatus": ["Approved"],
                "ModelPackageStatus": ["Completed"],
            },
        },
        input_transformer={},
    )


def function_arn(context: Context, name: str) -> str:
    return context.arn("lambda", f"function:{name}")


def function_permissions(
    config: ProjectConfig, settings: DeploymentSettings, context: Context, dlq_arn: str
) -> dict[str, Any]:
    """Read the group, create this endpoint's models and configs, create or update this
    endpoint, pass the SageMaker execution role to SageMaker only, write its own logs and
    its failed invocations to the triggers DLQ."""
    group = config.pipeline.model_package_group
    endpoint = settings.endpoint_name
    region, account = context.region, context.account
    log_group = context.arn("logs", f"log-group:/aws/lambda/{deploy_function_name(config)}")
    return policies.document(
        {
            "Sid": "ReadModelPackages",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
            "Resource": [
                *arns.name_arns(region, account, "model-package-group", group),
                *arns.name_arns(region, account, "model-package", group, "*"),
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
                *arns.name_arns(region, account, "model", f"{endpoint}-v*"),
                *arns.name_arns(region, account, "endpoint-config", f"{endpoint}-v*"),
                *arns.name_arns(region, account, "endpoint", endpoint),
            ],
        },
        {
            "Sid": "PassExecutionRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": config.target("sagemaker").role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {
            # Lambda sends an on-failure destination record with the function's role.
            "Sid": "WriteFailedDeployments",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": dlq_arn,
        },
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group, f"{log_group}:*"],
        },
    )


def approval_resources(
    config: ProjectConfig,
    settings: DeploymentSettings,
    context: Context,
    tagged: Mapping[str, str],
    retry: Mapping[str, int],
    dead_letter: Mapping[str, str],
) -> list[Resource]:
    from pipelines.deploy.aws_deploy import lambda_environment

    name = deploy_function_name(config)
    rule = approval_rule(config)
    rule_name = rule.name(context.pipeline)
    source = config.root / "lambdas" / "deploy_model.py"
    package = zip_asset(name, source)
    trust = policies.document(
        {
            # No source conditions: Lambda assumes execution roles without them.
            "Sid": "LambdaService",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    return [
        Resource(
            "iam-role",
            name,
            {
                "AssumeRolePolicyDocument": trust,
                "Description": f"Lambda deploying approved {config.pipeline.model_package_group}"
                f" models to {settings.endpoint_name}",
                "InlinePolicies": {
                    name: function_permissions(config, settings, context, dead_letter["Arn"])
                },
                "Tags": dict(tagged),
            },
            "assumed by lambda.amazonaws.com",
        ),
        Resource(
            "lambda-function",
            name,
            {
                "Runtime": RUNTIME,
                "Handler": f"{source.stem}.handler",
                "Role": context.role_arn(name),
                "Timeout": TIMEOUT_SECONDS,
                "Description": f"Deploy approved models to {settings.endpoint_name}",
                "Environment": {"Variables": lambda_environment(config)},
                # What Lambda reports for the uploaded zip: a code change is an update.
                "CodeSha256": package.lambda_code_sha256,
                "InvokePermissions": [context.rule_arn(rule_name)],
                # EventBridge invokes asynchronously; a deployment that still fails after
                # Lambda's retries (e.g. the endpoint stayed busy) lands in the triggers DLQ
                # with its event, for a redrive or a manual `deploy`.
                "EventInvokeConfig": {
                    "MaximumRetryAttempts": 2,
                    "MaximumEventAgeInSeconds": retry["MaximumEventAgeInSeconds"],
                    "DestinationConfig": {"OnFailure": {"Destination": dead_letter["Arn"]}},
                },
                "Tags": dict(tagged),
                # Where the code comes from; handlers echo it back, so it never differs.
                "Source": str(source),
            },
            f"{source.name} -> {settings.endpoint_name} ({settings.instance_type})",
        ),
        Resource(
            "events-rule",
            rule_name,
            {
                "EventPattern": rule.pattern,
                "State": "ENABLED",
                "Description": rule.description,
                "Targets": [
                    {
                        "Id": TARGET_ID,
                        "Arn": function_arn(context, name),
                        "RetryPolicy": dict(retry),
                        "DeadLetterConfig": dict(dead_letter),
                    }
                ],
                "Tags": dict(tagged),
            },
            f"approvals in {config.pipeline.model_package_group} -> {name} Lambda",
        ),
    ]

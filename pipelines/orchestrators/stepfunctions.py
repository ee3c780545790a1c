"""The Standard state machine around the SageMaker pipeline, and the IAM its role needs.

    StartPipelineExecution ─► Wait ─► DescribePipelineExecution ─► still running? ─┐ (loop)
      Succeeded ─► LastStep (ListPipelineExecutionSteps) ─► registered?
          no  ─► NotifyHeldBack ─► HeldBack     (the champion rule held it back, or no drift)
          yes ─► DescribeModelPackage ─► approved?
                   no  ─► NotifyRegistered ─► AwaitingApproval
                   yes ─► Deploy* (CreateModel, CreateEndpointConfig, Create|UpdateEndpoint)
                          ─► NotifyDeployed ─► Deployed
      Failed | Stopped ─► FailedStep ─► NotifyPipelineFailed ─► PipelineFailed (Fail)
    any Task's error (Catch States.ALL) ─► NotifyError ─► OrchestrationFailed (Fail)

Input: `{"PipelineParameters": [{"Name": ..., "Value": ...}]}` (the schedule's), the same record
inside a one-element array (the data-arrival pipe's batch, unwrapped by PipeRecord), or none
(the pipeline's defaults).

Waiting: a Wait/Describe loop rather than a callback. SageMaker pipelines have no
`.waitForTaskToken` integration; a callback would need an EventBridge rule on the execution's
status change and a Lambda calling SendTaskSuccess with a token smuggled through a pipeline
parameter: two more resources and a changed definition, to save one DescribePipelineExecution
call (three state transitions) per `[orchestrator].poll_seconds` while the pipeline runs.

Outcome: the registration step (the definition's `RegisterModel` step) runs last when it runs at
all, so the newest step of a Succeeded execution (ListPipelineExecutionSteps, newest first, one
result) says whether a model was registered; its `Metadata.RegisterModel.Arn` is the version.

Deployment repeats `lambdas/deploy_model.py`'s contract as states: a Model and an EndpointConfig
named `<endpoint>-v<N>-<hash of group, instance type, count and role>` (created unless they
exist), then CreateEndpoint or UpdateEndpoint (in place), or nothing when the endpoint already
runs that config. A busy endpoint (Updating) refuses the update: the execution fails, notified.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pipelines.arns import arn, name_arns
from pipelines.config import ProjectConfig, Target
from pipelines.orchestrators.asl import (
    SAGEMAKER_SDK,
    catch_all,
    notify_state,
    retry,
)
from pipelines.settings.deployment import MARKER_KEY, load_deployment
from pipelines.settings.orchestrator import OrchestratorSettings, load_orchestrator

RUNNING_STATUSES = ("Executing", "Stopping")
VARIANT = "AllTraffic"
NOTIFY_ERROR = "NotifyError"
PIPE_RECORD = "PipeRecord"
MAX_RESOURCE_NAME = 63


def registration_step(definition: Mapping[str, Any]) -> str:
    """The name of the definition's RegisterModel step (searched in condition branches too)."""

    def walk(steps: list[Mapping[str, Any]]):
        for step in steps:
            yield step
            if step["Type"] == "Condition":
                yield from walk(step["Arguments"].get("IfSteps", []))
                yield from walk(step["Arguments"].get("ElseSteps", []))

    found = [step["Name"] for step in walk(definition["Steps"]) if step["Type"] == "RegisterModel"]
    if len(found) != 1:
        raise ValueError(f"the definition has {len(found)} RegisterModel steps; expected one")
    return found[0]


def deployment_fingerprint(config: ProjectConfig, target: Target) -> str:
    """8 hex digits over what a deployment of a version depends on besides the version."""
    deployment = load_deployment(config)
    key = [
        config.pipeline.model_package_group,
        deployment.instance_type,
        deployment.initial_instance_count,
        target.role_arn,
    ]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:8]


class _Builder:
    def __init__(self, config: ProjectConfig, target: Target, definition: Mapping[str, Any]):
        self.config = config
        self.target = target
        self.settings: OrchestratorSettings = load_orchestrator(config, target)
        self.deployment = load_deployment(config)
        self.register_step = registration_step(definition)
        self.states: dict[str, dict[str, Any]] = {}

    def task(self, name: str, resource: str, parameters: dict, nxt: str, **extra: Any) -> None:
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": resource,
            "Parameters": parameters,
            **extra,
            "Retry": [retry(resource, self.config.retry)],
            "Catch": [*extra.pop("Catch", []), catch_all(NOTIFY_ERROR)],
            "Next": nxt,
        }
        self.states[name] = state

    def sagemaker(self, name: str, action: str, parameters: dict, nxt: str, **extra: Any) -> None:
        self.task(name, SAGEMAKER_SDK + action, parameters, nxt, **extra)

    def notify(self, name: str, outcome: str, subject: str, nxt: str) -> None:
        # A failed error notification must not loop back to itself.
        on_error = "OrchestrationFailed" if name == NOTIFY_ERROR else NOTIFY_ERROR
        self.states[name] = notify_state(
            self.settings.notification_topic_arn,
            self.config.pipeline.name,
            outcome,
            subject,
            nxt,
            self.config.retry,
            on_error,
        )

    def build(self) -> dict[str, Any]:
        name = self.config.pipeline.name
        poll = self.settings.poll_seconds
        self.states["Parameters?"] = {
            "Type": "Choice",
            "Comment": (
                'Input: {"PipelineParameters": [{"Name": ..., "Value": ...}]}, optional; from '
                "the data-arrival pipe, a batch holding one such record"
            ),
            "Choices": [
                {
                    "Variable": "$[0].PipelineParameters",
                    "IsPresent": True,
                    "Next": PIPE_RECORD,
                },
                {"Variable": "$.PipelineParameters", "IsPresent": True, "Next": "StartPipeline"},
            ],
            "Default": "NoParameters",
        }
        # EventBridge Pipes hands a Step Functions target the whole batch as a JSON array,
        # "even if the batch size is 1" ("Amazon EventBridge Pipes batching and
        # concurrency"); the pipe reads one message at a time, so the batch is one record.
        self.states[PIPE_RECORD] = {"Type": "Pass", "InputPath": "$[0]", "Next": "StartPipeline"}
        self.states["NoParameters"] = {
            "Type": "Pass",
            "Result": [],
            "ResultPath": "$.PipelineParameters",
            "Next": "StartPipeline",
        }
        self.sagemaker(
            "StartPipeline",
            "startPipelineExecution",
            {
                "PipelineName": name,
                "PipelineParameters.$": "$.PipelineParameters",
                "PipelineExecutionDescription.$": (
                    "States.Format('Started by Step Functions execution {}', $$.Execution.Id)"
                ),
                # 32 hex digits, the same on every attempt: a retried start after a lost
                # response does not start a second execution.
                "ClientRequestToken.$": "States.Hash($$.Execution.Id, 'MD5')",
            },
            "WaitForPipeline",
            ResultSelector={"ExecutionArn.$": "$.PipelineExecutionArn"},
            ResultPath="$.pipeline",
        )
        self.states["WaitForPipeline"] = {
            "Type": "Wait",
            "Seconds": poll,
            "Next": "DescribePipelineExecution",
        }
        self.sagemaker(
            "DescribePipelineExecution",
            "describePipelineExecution",
            {"PipelineExecutionArn.$": "$.pipeline.ExecutionArn"},
            "PipelineStatus?",
            ResultSelector={"Status.$": "$.PipelineExecutionStatus"},
            ResultPath="$.pipeline.describe",
        )
        self.states["PipelineStatus?"] = {
            "Type": "Choice",
            "Choices": [
                *(
                    {
                        "Variable": "$.pipeline.describe.Status",
                        "StringEquals": status,
                        "Next": "WaitForPipeline",
                    }
                    for status in RUNNING_STATUSES
                ),
                {
                    "Variable": "$.pipeline.describe.Status",
                    "StringEquals": "Succeeded",
                    "Next": "LastStep",
                },
            ],
            "Default": "FailedStep",
        }
        newest_step = {
            "PipelineExecutionArn.$": "$.pipeline.ExecutionArn",
            "SortOrder": "Descending",
            "MaxResults": 1,
        }
        self.sagemaker(
            "LastStep",
            "listPipelineExecutionSteps",
            newest_step,
            "Registered?",
            ResultSelector={"Step.$": "$.PipelineExecutionSteps[0]"},
            ResultPath="$.pipeline.last",
        )
        self.states["Registered?"] = {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {
                            "Variable": "$.pipeline.last.Step.StepName",
                            "StringEquals": self.register_step,
                        },
                        {
                            "Variable": "$.pipeline.last.Step.StepStatus",
                            "StringEquals": "Succeeded",
                        },
                    ],
                    "Next": "DescribeModelPackage",
                }
            ],
            "Default": "NotifyHeldBack",
        }
        self.notify(
            "NotifyHeldBack",
            "held_back",
            "no model registered (the champion rule, or no drift: nothing trained)",
            "HeldBack",
        )
        self.states["HeldBack"] = {
            "Type": "Succeed",
            "Comment": "The pipeline succeeded without registering: the champion rule held it back",
        }
        self.sagemaker(
            "DescribeModelPackage",
            "describeModelPackage",
            {"ModelPackageName.$": "$.pipeline.last.Step.Metadata.RegisterModel.Arn"},
            "Approved?",
            ResultSelector={
                "Arn.$": "$.ModelPackageArn",
                "Version.$": "$.ModelPackageVersion",
                "ApprovalStatus.$": "$.ModelApprovalStatus",
            },
            ResultPath="$.model",
        )
        self.states["Approved?"] = {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.model.ApprovalStatus",
                    "StringEquals": "Approved",
                    "Next": "DeployNames",
                }
            ],
            "Default": "NotifyRegistered",
        }
        self.notify("NotifyRegistered", "registered", "new model registered", "AwaitingApproval")
        self.states["AwaitingApproval"] = {
            "Type": "Succeed",
            "Comment": "Registered, awaiting approval (an approval deploys it)",
        }
        self._deploy_states()
        self.notify("NotifyDeployed", "deployed", "approved model deployed", "Deployed")
        self.states["Deployed"] = {"Type": "Succeed"}
        self.sagemaker(
            "FailedStep",
            "listPipelineExecutionSteps",
            newest_step,
            "NotifyPipelineFailed",
            ResultSelector={"Step.$": "$.PipelineExecutionSteps[0]"},
            ResultPath="$.pipeline.last",
        )
        self.notify("NotifyPipelineFailed", "failed", "pipeline execution failed", "PipelineFailed")
        self.states["PipelineFailed"] = {
            "Type": "Fail",
            "Error": "PipelineFailed",
            "CausePath": (
                "States.Format('Pipeline execution {} ended {}; its newest step: {}', "
                "$.pipeline.ExecutionArn, $.pipeline.describe.Status, "
                "$.pipeline.last.Step.StepName)"
            ),
        }
        self.notify(NOTIFY_ERROR, "error", "orchestration error", "OrchestrationFailed")
        self.states["OrchestrationFailed"] = {
            "Type": "Fail",
            "Error": "OrchestrationFailed",
            "CausePath": "$.error.Cause",
        }
        return {
            "Comment": (
                f"Runs the SageMaker pipeline {name}, deploys an approved new model and "
                "notifies on every outcome. Generated by run_pipeline.py export stepfunctions."
            ),
            "StartAt": "Parameters?",
            "TimeoutSeconds": self.settings.timeout_seconds,
            "States": self.states,
        }

    def _deploy_states(self) -> None:
        endpoint = self.deployment.endpoint_name
        suffix = deployment_fingerprint(self.config, self.target)
        tags = [
            {"Key": key, "Value": value}
            for key, value in sorted(
                {**self.config.aws.tags, MARKER_KEY: self.config.pipeline.name}.items()
            )
        ]
        self.states["DeployNames"] = {
            "Type": "Pass",
            "Parameters": {
                # Endpoint names are letters, digits and hyphens: nothing to escape.
                "Name.$": f"States.Format('{endpoint}-v{{}}-{suffix}', $.model.Version)"
            },
            "ResultPath": "$.deploy",
            "Next": "DescribeEndpoint",
        }
        self.sagemaker(
            "DescribeEndpoint",
            "describeEndpoint",
            {"EndpointName": endpoint},
            "AlreadyServing?",
            ResultSelector={"ConfigName.$": "$.EndpointConfigName", "Status.$": "$.EndpointStatus"},
            ResultPath="$.deploy.endpoint",
            Catch=[
                {
                    "ErrorEquals": ["States.TaskFailed"],
                    "ResultPath": "$.error",
                    "Next": "EndpointMissing?",
                }
            ],
        )
        self.states["EndpointMissing?"] = self._error_matches(
            "*Could not find endpoint*", "CreateModel"
        )
        self.states["AlreadyServing?"] = {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.deploy.endpoint.ConfigName",
                    "StringEqualsPath": "$.deploy.Name",
                    "Next": "NotifyDeployed",
                }
            ],
            "Default": "CreateModel",
        }
        exists = {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error"}
        self.sagemaker(
            "CreateModel",
            "createModel",
            {
                "ModelName.$": "$.deploy.Name",
                "ExecutionRoleArn": self.target.role_arn,
                "Containers": [{"ModelPackageName.$": "$.model.Arn"}],
                "Tags": tags,
            },
            "CreateEndpointConfig",
            ResultPath=None,
            Catch=[{**exists, "Next": "ModelExists?"}],
        )
        # SageMaker: "Cannot create already existing model|endpoint configuration": a rerun.
        self.states["ModelExists?"] = self._error_matches("*already exist*", "CreateEndpointConfig")
        self.sagemaker(
            "CreateEndpointConfig",
            "createEndpointConfig",
            {
                "EndpointConfigName.$": "$.deploy.Name",
                "ProductionVariants": [
                    {
                        "VariantName": VARIANT,
                        "ModelName.$": "$.deploy.Name",
                        "InstanceType": self.deployment.instance_type,
                        "InitialInstanceCount": self.deployment.initial_instance_count,
                        "InitialVariantWeight": 1.0,
                    }
                ],
                "Tags": tags,
            },
            "EndpointExists?",
            ResultPath=None,
            Catch=[{**exists, "Next": "ConfigExists?"}],
        )
        self.states["ConfigExists?"] = self._error_matches("*already exist*", "EndpointExists?")
        self.states["EndpointExists?"] = {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.deploy.endpoint.ConfigName",
                    "IsPresent": True,
                    "Next": "UpdateEndpoint",
                }
            ],
            "Default": "CreateEndpoint",
        }
        self.sagemaker(
            "CreateEndpoint",
            "createEndpoint",
            {"EndpointName": endpoint, "EndpointConfigName.$": "$.deploy.Name", "Tags": tags},
            "NotifyDeployed",
            ResultPath=None,
        )
        self.sagemaker(
            "UpdateEndpoint",
            "updateEndpoint",
            {"EndpointName": endpoint, "EndpointConfigName.$": "$.deploy.Name"},
            "NotifyDeployed",
            ResultPath=None,
        )

    @staticmethod
    def _error_matches(pattern: str, nxt: str) -> dict[str, Any]:
        """Continue when the caught error's cause matches `pattern`, else notify the error."""
        return {
            "Type": "Choice",
            "Choices": [{"Variable": "$.error.Cause", "StringMatches": pattern, "Next": nxt}],
            "Default": NOTIFY_ERROR,
        }


def state_machine(
    config: ProjectConfig, target: Target, definition: Mapping[str, Any]
) -> dict[str, Any]:
    """The ASL document of the Standard state machine around the pipeline `definition`."""
    return _Builder(config, target, definition).build()


def iam_statements(config: ProjectConfig, target: Target) -> list[dict[str, Any]]:
    """The policy statements the state machine's execution role needs, least privilege."""
    region, account = target.region, target.account_id
    name = config.pipeline.name
    group = config.pipeline.model_package_group
    endpoint = load_deployment(config).endpoint_name
    settings = load_orchestrator(config, target)
    return [
        {
            "Sid": "RunThePipeline",
            "Effect": "Allow",
            "Action": [
                "sagemaker:StartPipelineExecution",
                "sagemaker:DescribePipelineExecution",
                "sagemaker:ListPipelineExecutionSteps",
            ],
            "Resource": sorted(
                name_arns(region, account, "pipeline", name)
                + name_arns(region, account, "pipeline", name, "execution", "*")
            ),
        },
        {
            "Sid": "ReadRegisteredVersions",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeModelPackage"],
            "Resource": name_arns(region, account, "model-package", group, "*"),
        },
        {
            "Sid": "Deploy",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:AddTags",
            ],
            "Resource": sorted(
                name_arns(region, account, "model", f"{endpoint}-v*")
                + name_arns(region, account, "endpoint-config", f"{endpoint}-v*")
                + name_arns(region, account, "endpoint", endpoint)
            ),
        },
        {
            "Sid": "PassTheModelRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": target.role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        {
            "Sid": "Notify",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": settings.notification_topic_arn,
        },
    ]


def state_machine_arn(config: ProjectConfig, target: Target) -> str:
    settings = load_orchestrator(config, target)
    return arn(
        "states", target.region, target.account_id, f"stateMachine:{settings.state_machine_name}"
    )

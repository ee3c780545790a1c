"""The EventBridge event patterns and input transformers: one definition for AWS and local.

The stack's rules hold these dictionaries verbatim (`pipelines/stack/`), and the local
notifier matches the engine's event log against the very same dictionaries (`matcher.py`)
and renders the same input transformers (`transformer.py`), so a local notification reads
like the SNS message AWS would send.

Event shapes (SageMaker developer guide, "Events that Amazon SageMaker sends to EventBridge";
S3 user guide, "EventBridge event message structure"):
- "Object Created" (aws.s3): detail.bucket.name, detail.object.key, detail.object.size, ...
- "SageMaker Model Building Pipeline Execution Status Change": detail.pipelineArn,
  detail.pipelineExecutionArn, detail.currentPipelineExecutionStatus, ... and no failure
  reason.
- "SageMaker Model Building Pipeline Execution Step Status Change": detail.stepName,
  detail.stepType, detail.currentStepStatus and, when that is Failed, detail.failureReason.
- "SageMaker Model Package State Change": detail is the DescribeModelPackage document
  (ModelPackageGroupName, ModelPackageVersion, ModelApprovalStatus, ModelPackageStatus, ...).
Because only the step event carries the reason, failures are reported by two rules: the
failed step with its reason, and the failed execution (which also catches failures outside
any step); the metric FailStep gets its own rule and message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipelines.arns import sagemaker_arn
from pipelines.config import ProjectConfig

S3_SOURCE = "aws.s3"
SAGEMAKER_SOURCE = "aws.sagemaker"
OBJECT_CREATED = "Object Created"
EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
STEP_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Step Status Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
# The FailStep pipelines/definition.py runs when CheckMetric is False.
METRIC_FAIL_STEP = "MetricBelowThreshold"
INPUT_PARAMETER = "InputDataUrl"
# The data-arrival buffer message is JSON; the pipe reads this path from its body.
PIPE_INPUT_PATH = f"$.body.{INPUT_PARAMETER}"


def pipeline_arn(region: str, account: str, name: str) -> str:
    """The pipeline's ARN as SageMaker spells it (name lower-cased; see pipelines.arns)."""
    return sagemaker_arn(region, account, "pipeline", name)


def pipeline_arn_matcher(region: str, account: str, name: str) -> list[dict[str, str]]:
    """Matches the pipeline's ARN in an event whatever its case: SageMaker lower-cases names
    in ARNs, so a pattern must not depend on the case a user gave the pipeline's name."""
    return [{"equals-ignore-case": pipeline_arn(region, account, name)}]


@dataclass(frozen=True)
class RuleSpec:
    """An EventBridge rule: its name suffix, pattern and the target's input transformer."""

    purpose: str
    description: str
    pattern: dict[str, Any]
    input_transformer: dict[str, Any]

    def name(self, pipeline_name: str) -> str:
        return f"{pipeline_name}-{self.purpose}"

    @property
    def pattern_json(self) -> str:
        return json.dumps(self.pattern, sort_keys=True)


def data_arrival_rule(bucket: str, input_prefix: str) -> RuleSpec:
    """New objects under the input prefix; the target receives {"InputDataUrl": "s3://..."}."""
    return RuleSpec(
        purpose="data-arrival",
        description=f"New data under s3://{bucket}/{input_prefix} starts the pipeline",
        pattern={
            "source": [S3_SOURCE],
            "detail-type": [OBJECT_CREATED],
            "detail": {
                "bucket": {"name": [bucket]},
                "object": {"key": [{"prefix": input_prefix}]},
            },
        },
        # Every placeholder sits inside a JSON string: EventBridge inserts the raw text there.
        input_transformer={
            "InputPathsMap": {
                "bucket": "$.detail.bucket.name",
                "key": "$.detail.object.key",
                "id": "$.id",
                "time": "$.time",
            },
            "InputTemplate": (
                '{"' + INPUT_PARAMETER + '": "s3://<bucket>/<key>", '
                '"sourceEventId": "<id>", "sourceEventTime": "<time>"}'
            ),
        },
    )


def notification_rules(config: ProjectConfig, account: str) -> list[RuleSpec]:
    """The rules whose matches go to the notification topic (locally: the local sinks)."""
    name = config.pipeline.name
    arn = pipeline_arn_matcher(config.aws.region, account, name)
    group = config.pipeline.model_package_group
    return [
        RuleSpec(
            purpose="execution-failed",
            description=f"{name}: a pipeline execution failed",
            pattern={
                "source": [SAGEMAKER_SOURCE],
                "detail-type": [EXECUTION_STATUS_CHANGE],
                "detail": {
                    "pipelineArn": arn,
                    "currentPipelineExecutionStatus": ["Failed"],
                },
            },
            input_transformer=_message(
                {
                    "execution": "$.detail.pipelineExecutionArn",
                    "started": "$.detail.executionStartTime",
                    "ended": "$.detail.executionEndTime",
                },
                f"Pipeline {name}: execution <execution> FAILED (started <started>, ended "
                "<ended>). The failed step and its failure reason follow in a separate "
                "notification; details: run_pipeline.py --target sagemaker status <execution> "
                "(local runs: run_pipeline.py executions describe <execution>)",
            ),
        ),
        RuleSpec(
            purpose="step-failed",
            description=f"{name}: a step failed (with its failure reason)",
            pattern={
                "source": [SAGEMAKER_SOURCE],
                "detail-type": [STEP_STATUS_CHANGE],
                "detail": {
                    "pipelineArn": arn,
                    "currentStepStatus": ["Failed"],
                    "stepName": [{"anything-but": [METRIC_FAIL_STEP]}],
                },
            },
            input_transformer=_message(
                {
                    "step": "$.detail.stepName",
                    "type": "$.detail.stepType",
                    "reason": "$.detail.failureReason",
                    "execution": "$.detail.pipelineExecutionArn",
                    "time": "$.time",
                },
                f"Pipeline {name}: step <step> (<type>) FAILED at <time> in execution "
                "<execution>. Failure reason: <reason>",
            ),
        ),
        RuleSpec(
            purpose="metric-below-threshold",
            description=f"{name}: the metric condition was not met, no model registered",
            pattern={
                "source": [SAGEMAKER_SOURCE],
                "detail-type": [STEP_STATUS_CHANGE],
                "detail": {
                    "pipelineArn": arn,
                    "stepName": [METRIC_FAIL_STEP],
                    "currentStepStatus": ["Failed"],
                },
            },
            input_transformer=_message(
                {
                    "reason": "$.detail.failureReason",
                    "execution": "$.detail.pipelineExecutionArn",
                    "time": "$.time",
                },
                f"Pipeline {name}: metric condition not met at <time> in execution "
                "<execution>. <reason>",
            ),
        ),
        RuleSpec(
            purpose="model-package",
            description=f"{name}: a model package in {group} was registered or its approval "
            "changed",
            pattern={
                "source": [SAGEMAKER_SOURCE],
                "detail-type": [MODEL_PACKAGE_STATE_CHANGE],
                "detail": {
                    "ModelPackageGroupName": [group],
                    # Registration passes through Pending/InProgress; only the settled
                    # state (and every later approval change) is worth a message.
                    "ModelPackageStatus": ["Completed"],
                },
            },
            input_transformer=_message(
                {
                    "group": "$.detail.ModelPackageGroupName",
                    "version": "$.detail.ModelPackageVersion",
                    "approval": "$.detail.ModelApprovalStatus",
                    "arn": "$.detail.ModelPackageArn",
                    "execution": "$.detail.MetadataProperties.GeneratedBy",
                },
                "Model package <group> version <version> is <approval> (<arn>), registered by "
                "<execution>",
            ),
        ),
    ]


def approval_rule(config: ProjectConfig) -> RuleSpec:
    """Approvals in the project's group (`[deployment].deploy_on_approval`); the deploy
    function receives the whole event, so there is no input transformer."""
    group = config.pipeline.model_package_group
    return RuleSpec(
        purpose="model-approved",
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


def _message(paths: dict[str, str], text: str) -> dict[str, Any]:
    """A plain-text message: a JSON string template, which EventBridge sends as-is to SNS."""
    return {"InputPathsMap": paths, "InputTemplate": json.dumps(text)}

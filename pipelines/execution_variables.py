"""Execution variables: every one the SDK's `ExecutionVariables` can emit, as SageMaker
fills them in.

`sagemaker.core.workflow.execution_variables.ExecutionVariables` lists START_DATETIME,
CURRENT_DATETIME, PIPELINE_NAME, PIPELINE_ARN, PIPELINE_EXECUTION_ID, PIPELINE_EXECUTION_ARN,
TRAINING_JOB_NAME and PROCESSING_JOB_NAME; each is `{"Get": "Execution.<Name>"}` and, as the
SDK's `ExecutionVariable.to_string` says, a String at run time. The job names exist only in
the step that creates that job. SageMaker does not document the text of the two times; they
are ISO-8601 UTC with milliseconds and a "Z", the form AWS's JSON APIs give timestamps in.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

START_DATETIME = "StartDateTime"
CURRENT_DATETIME = "CurrentDateTime"
PIPELINE_NAME = "PipelineName"
PIPELINE_ARN = "PipelineArn"
PIPELINE_EXECUTION_ID = "PipelineExecutionId"
PIPELINE_EXECUTION_ARN = "PipelineExecutionArn"
TRAINING_JOB_NAME = "TrainingJobName"
PROCESSING_JOB_NAME = "ProcessingJobName"

NAMES = (
    START_DATETIME,
    CURRENT_DATETIME,
    PIPELINE_NAME,
    PIPELINE_ARN,
    PIPELINE_EXECUTION_ID,
    PIPELINE_EXECUTION_ARN,
    TRAINING_JOB_NAME,
    PROCESSING_JOB_NAME,
)
# The variables only the step that creates the job has: the step type that defines each.
STEP_VARIABLES = {PROCESSING_JOB_NAME: "Processing", TRAINING_JOB_NAME: "Training"}


def timestamp(epoch: float) -> str:
    """2026-11-29T02:00:00.123Z"""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def current_datetime() -> str:
    """CurrentDateTime: the time the expression is evaluated (each step sees its own)."""
    return timestamp(time.time())


def execution_values(
    *,
    execution_id: str,
    execution_arn: str,
    pipeline_name: str,
    pipeline_arn: str,
    start: float,
) -> dict[str, str]:
    """The variables fixed for the whole execution (CurrentDateTime is evaluated per use)."""
    return {
        PIPELINE_EXECUTION_ID: execution_id,
        PIPELINE_EXECUTION_ARN: execution_arn,
        PIPELINE_NAME: pipeline_name,
        PIPELINE_ARN: pipeline_arn,
        START_DATETIME: timestamp(start),
    }


def step_values(step_type: str, job_name: str | None) -> Mapping[str, str]:
    """The job-name variable the step of this type defines, if any."""
    if job_name is None:
        return {}
    return {name: job_name for name, kind in STEP_VARIABLES.items() if kind == step_type}

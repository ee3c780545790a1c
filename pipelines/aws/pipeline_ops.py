"""The pipeline on SageMaker: start, describe, status. (`stack deploy` creates and updates
it, with everything around it: pipelines/stack/.)

All AWS access goes through boto3 with the standard credential chain and endpoint settings
(`AWS_ENDPOINT_URL` included), so the tests point it at moto and users at AWS unchanged.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import boto3

from pipelines.config import ProjectConfig
from pipelines.conformance.preflight import check_start
from pipelines.json_output import print_json, record, records
from pipelines.parameters import ParameterError, resolve_parameters

TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
EXIT_OK, EXIT_FAILED, EXIT_AWS = 0, 1, 3


class PipelineNotFoundError(LookupError):
    """The pipeline has not been deployed (`stack deploy`) in this account and region."""


def aws_session(config: ProjectConfig) -> boto3.Session:
    return boto3.Session(region_name=config.aws.region)


def find_pipeline(sagemaker: Any, name: str) -> dict[str, Any] | None:
    """DescribePipeline output, or None when no pipeline has exactly this name."""
    paginator = sagemaker.get_paginator("list_pipelines")
    for page in paginator.paginate(PipelineNamePrefix=name):
        for summary in page.get("PipelineSummaries", []):
            if summary["PipelineName"] == name:
                return sagemaker.describe_pipeline(PipelineName=name)
    return None


def start_execution(
    config: ProjectConfig,
    overrides: Mapping[str, str],
    session: boto3.Session | None = None,
) -> str:
    """Start an execution of the deployed pipeline; the parameters are checked first."""
    session = session or aws_session(config)
    sagemaker = session.client("sagemaker")
    description = find_pipeline(sagemaker, config.pipeline.name)
    if description is None:
        raise PipelineNotFoundError(
            f"pipeline {config.pipeline.name} does not exist in {config.aws.region}; "
            "run `run_pipeline.py --target sagemaker stack deploy` first"
        )
    deployed = json.loads(description["PipelineDefinition"])
    resolved = resolve_parameters(deployed.get("Parameters", []), overrides)
    data_url = resolved.get("InputDataUrl")
    if isinstance(data_url, str) and not data_url.startswith("s3://"):
        raise ParameterError(
            f"parameter InputDataUrl must be an s3:// URI on SageMaker, got {data_url!r}"
        )
    # What the service would refuse (the start request, or a step's request with these
    # values), refused here before anything starts.
    check_start(
        deployed,
        resolved,
        pipeline_name=config.pipeline.name,
        region=config.aws.region,
        overrides=overrides,
    )
    response = sagemaker.start_pipeline_execution(
        PipelineName=config.pipeline.name,
        PipelineParameters=[
            {"Name": name, "Value": _as_text(resolved[name])} for name in sorted(overrides)
        ],
        ClientRequestToken=str(uuid.uuid4()),
    )
    return response["PipelineExecutionArn"]


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def wait_for_execution(
    sagemaker: Any,
    execution_arn: str,
    poll_seconds: float,
    on_status: Callable[[str], None] = lambda status: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    last = None
    while True:
        description = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
        status = description["PipelineExecutionStatus"]
        if status != last:
            on_status(status)
            last = status
        if status in TERMINAL_STATUSES:
            return description
        sleep(poll_seconds)


def start(
    config: ProjectConfig, overrides: Mapping[str, str], wait: bool, poll_seconds: float = 30
) -> int:
    try:
        arn = start_execution(config, overrides)
    except PipelineNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_AWS
    print(f"started {arn}")
    if not wait:
        return EXIT_OK
    sagemaker = aws_session(config).client("sagemaker")
    description = wait_for_execution(
        sagemaker, arn, poll_seconds, on_status=lambda status: print(f"  status: {status}")
    )
    _print_steps(sagemaker, arn)
    if description["PipelineExecutionStatus"] == "Succeeded":
        return EXIT_OK
    reason = description.get("FailureReason") or "see the failed step above"
    print(f"execution {description['PipelineExecutionStatus']}: {reason}", file=sys.stderr)
    return EXIT_FAILED


def _print_steps(sagemaker: Any, execution_arn: str) -> None:
    try:
        steps = sagemaker.list_pipeline_execution_steps(
            PipelineExecutionArn=execution_arn, SortOrder="Ascending"
        )["PipelineExecutionSteps"]
    except sagemaker.exceptions.ClientError as exc:
        # Listing steps needs its own permission; the execution status above still stands.
        print(f"  steps unavailable: {exc}")
        return
    for step in steps:
        line = f"  {step['StepName']:<24} {step['StepStatus']}"
        if step.get("CacheHitResult"):
            line += " (cache hit)"
        if step.get("FailureReason"):
            line += f": {step['FailureReason']}"
        print(line)


def _latest_execution_arn(sagemaker: Any, pipeline_name: str) -> str | None:
    summaries = sagemaker.list_pipeline_executions(
        PipelineName=pipeline_name, SortBy="CreationTime", SortOrder="Descending", MaxResults=1
    )["PipelineExecutionSummaries"]
    return summaries[0]["PipelineExecutionArn"] if summaries else None


def describe(config: ProjectConfig, as_json: bool = False) -> int:
    sagemaker = aws_session(config).client("sagemaker")
    description = find_pipeline(sagemaker, config.pipeline.name)
    if description is None:
        print(
            f"error: pipeline {config.pipeline.name} does not exist in {config.aws.region}",
            file=sys.stderr,
        )
        return EXIT_AWS
    definition = json.loads(description["PipelineDefinition"])
    executions = sagemaker.list_pipeline_executions(
        PipelineName=config.pipeline.name,
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=5,
    )["PipelineExecutionSummaries"]
    if as_json:
        print_json(
            {
                **record(description),
                "pipeline_definition": definition,
                "executions": records(executions),
            }
        )
        return EXIT_OK
    print(f"pipeline    {description['PipelineName']}")
    print(f"arn         {description['PipelineArn']}")
    print(f"status      {description.get('PipelineStatus', '-')}")
    print(f"role        {description.get('RoleArn', '-')}")
    print(f"modified    {description.get('LastModifiedTime', '-')}")
    print("parameters")
    for parameter in definition.get("Parameters", []):
        default = parameter.get("DefaultValue", "(required)")
        print(f"  {parameter['Name']:<24} {parameter['Type']:<8} {default}")
    print("steps")
    for step in _flatten_steps(definition.get("Steps", [])):
        print(f"  {step['Name']:<24} {step['Type']:<14} {step.get('DisplayName', '')}")
    print("recent executions")
    if not executions:
        print("  (none)")
    for execution in executions:
        print(
            f"  {execution['PipelineExecutionArn'].rsplit('/', 1)[-1]:<14} "
            f"{execution['PipelineExecutionStatus']:<10} {execution.get('StartTime', '')}"
        )
    return EXIT_OK


def _flatten_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for step in steps:
        flat.append(step)
        arguments = step.get("Arguments", {})
        if step.get("Type") == "Condition":
            flat.extend(_flatten_steps(arguments.get("IfSteps", [])))
            flat.extend(_flatten_steps(arguments.get("ElseSteps", [])))
    return flat


def status(config: ProjectConfig, execution_arn: str | None, as_json: bool = False) -> int:
    sagemaker = aws_session(config).client("sagemaker")
    arn = execution_arn or _latest_execution_arn(sagemaker, config.pipeline.name)
    if arn is None:
        print(f"error: pipeline {config.pipeline.name} has no executions", file=sys.stderr)
        return EXIT_AWS
    description = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    state = description["PipelineExecutionStatus"]
    code = EXIT_FAILED if state in ("Failed", "Stopped") else EXIT_OK
    if as_json:
        parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
        document = {
            **record(description),
            "parameters": {p["Name"]: p["Value"] for p in parameters.get("PipelineParameters", [])},
        }
        try:
            steps = sagemaker.list_pipeline_execution_steps(
                PipelineExecutionArn=arn, SortOrder="Ascending"
            )["PipelineExecutionSteps"]
            document["steps"] = records(steps)
        except sagemaker.exceptions.ClientError as exc:
            # As in the text: listing steps needs its own permission; the status still stands.
            document["steps"], document["steps_unavailable"] = None, str(exc)
        print_json(document)
        return code
    print(f"execution   {arn}")
    print(f"status      {state}")
    if description.get("FailureReason"):
        print(f"reason      {description['FailureReason']}")
    parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    print("parameters")
    for parameter in parameters.get("PipelineParameters", []):
        print(f"  {parameter['Name']:<24} {parameter['Value']}")
    print("steps")
    _print_steps(sagemaker, arn)
    return code

"""`view --target sagemaker EXECUTION_ARN`: the execution's page from SageMaker's APIs.

The same view model as a local execution's (`model.build_document`), from:
- DescribePipelineExecution (status, times, failure reason) and
  DescribePipelineDefinitionForExecution (the definition this execution ran: the graph);
- ListPipelineParametersForExecution (the values it ran with);
- ListPipelineExecutionSteps (each step's status, times, attempts, failure reason, cache
  hit and metadata: the job, condition outcome, model package, Lambda outputs);
- DescribeProcessingJob / DescribeTrainingJob (a job step's properties are its Describe
  response, as in the definition's `Get`s), DescribeModelPackage (the registered version);
- ListProcessingJobs / ListTrainingJobs for a retried step: SageMaker starts a new job per
  attempt, named `pipelines-<execution id>-<step name>-<suffix>`, so the earlier attempts'
  jobs (and their FailureReason) are found by name;
- S3 GetObject for the evaluation report and the data snapshot record.

Logs stay in CloudWatch: each job step links to its log streams and its console page.
Every call is read-only. Steps a finished execution never reached are "NotExecuted".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.config import ProjectConfig
from pipelines.local.orchestrator import RETRIED_ATTEMPTS, definition_hash
from pipelines.local.records import ExecutionRecord, ExecutionStatus, StepRecord, StepStatus
from pipelines.local.storage import StoreError
from pipelines.parameters import ParameterError, coerce
from pipelines.view.model import SAGEMAKER, build_document

TERMINAL = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.STOPPED)
JOB_NAME_LIMIT = 63
JOB_SUFFIX = 11  # "-" and the ten characters SageMaker appends to a job's name


class S3Reader:
    """The view's reader for S3 URIs, on S3 itself. Errors are the store's: the view shows
    "no evaluation report" rather than failing the page."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def read_bytes(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.s3.exceptions.ClientError as exc:
            raise StoreError(f"cannot read {uri}: {exc}") from exc

    def path_for(self, uri: str) -> Path:
        raise StoreError(f"{uri} is on S3, not in a local folder")


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def _pages(call: Callable[..., dict[str, Any]], key: str, **request: Any) -> Iterator[Any]:
    token = None
    while True:
        page = call(**request, **({"NextToken": token} if token else {}))
        yield from page.get(key) or []
        token = page.get("NextToken")
        if not token:
            return


def _plain(document: Mapping[str, Any]) -> dict[str, Any]:
    """A Describe* response as the engine's state holds properties: JSON-safe."""
    cleaned = {k: v for k, v in document.items() if k != "ResponseMetadata"}
    return json.loads(json.dumps(cleaned, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def console_links(region: str, kind: str, name: str) -> dict[str, str]:
    """The job's page in the SageMaker console and its CloudWatch log streams."""
    console = f"https://{region}.console.aws.amazon.com"
    page, group = {
        "processing": ("processing-jobs", "/aws/sagemaker/ProcessingJobs"),
        "training": ("jobs", "/aws/sagemaker/TrainingJobs"),
    }[kind]
    return {
        "SageMaker console": f"{console}/sagemaker/home?region={region}#/{page}/{name}",
        "CloudWatch logs": (
            f"{console}/cloudwatch/home?region={region}#logStream:group={group};"
            f"prefix={name}/;streamFilter=typeLogStreamPrefix"
        ),
    }


def _lambda_links(region: str, function_arn: str | None) -> dict[str, str]:
    if not function_arn:
        return {}
    name = function_arn.split(":function:", 1)[-1].split(":", 1)[0]
    console = f"https://{region}.console.aws.amazon.com"
    return {
        "Lambda console": f"{console}/lambda/home?region={region}#/functions/{name}",
        "CloudWatch logs": (
            f"{console}/cloudwatch/home?region={region}#logStream:group=/aws/lambda/{name}"
        ),
    }


def _parameters(definition: Mapping[str, Any], listed: list[dict[str, str]]) -> dict[str, Any]:
    """The values the execution ran with, typed as the definition declares them."""
    values = {p["Name"]: p["Value"] for p in listed}
    typed: dict[str, Any] = {}
    for spec in definition.get("Parameters", []):
        name = spec["Name"]
        if name not in values and "DefaultValue" not in spec:
            continue
        try:
            typed[name] = coerce(name, spec["Type"], values.get(name, spec.get("DefaultValue")))
        except ParameterError:
            typed[name] = values.get(name)
    return {**{k: v for k, v in values.items() if k not in typed}, **typed}


class _Collector:
    def __init__(self, sagemaker: Any, region: str, execution_id: str) -> None:
        self.sagemaker = sagemaker
        self.region = region
        self.execution_id = execution_id

    def job(self, kind: str, arn: str) -> dict[str, Any]:
        name = arn.rsplit("/", 1)[-1]
        if kind == "processing":
            return self.sagemaker.describe_processing_job(ProcessingJobName=name)
        return self.sagemaker.describe_training_job(TrainingJobName=name)

    def earlier_attempts(self, kind: str, step: str, last_job: str) -> list[dict[str, Any]]:
        """The jobs of a retried step's earlier attempts, oldest first, as the engine keeps
        retried attempts (RetriedAttempts)."""
        prefix = f"pipelines-{self.execution_id}-{step}"[: JOB_NAME_LIMIT - JOB_SUFFIX]
        if kind == "processing":
            listed = _pages(
                self.sagemaker.list_processing_jobs,
                "ProcessingJobSummaries",
                NameContains=prefix,
                SortBy="CreationTime",
                SortOrder="Ascending",
            )
            names = [s["ProcessingJobName"] for s in listed]
        else:
            listed = _pages(
                self.sagemaker.list_training_jobs,
                "TrainingJobSummaries",
                NameContains=prefix,
                SortBy="CreationTime",
                SortOrder="Ascending",
            )
            names = [s["TrainingJobName"] for s in listed]
        attempts = []
        for number, name in enumerate(n for n in names if n != last_job):
            described = self.job(kind, name)
            start = described.get("ProcessingStartTime") or described.get("TrainingStartTime")
            end = described.get("ProcessingEndTime") or described.get("TrainingEndTime")
            attempts.append(
                {
                    "Attempt": number + 1,
                    "JobName": name,
                    "FailureReason": described.get("FailureReason"),
                    "ExceptionType": None,
                    "StartTime": _epoch(start or described.get("CreationTime")),
                    "EndTime": _epoch(end or described.get("LastModifiedTime")),
                    "Logs": [],
                }
            )
        return attempts

    def record(
        self, step: Mapping[str, Any], spec: Mapping[str, Any], position: int = 0
    ) -> tuple[StepRecord, dict[str, str]]:
        """A ListPipelineExecutionSteps entry as the engine's step record, and its links."""
        metadata = step.get("Metadata") or {}
        cache = (step.get("CacheHitResult") or {}).get("SourcePipelineExecutionArn")
        record = StepRecord(
            name=step["StepName"],
            type=spec.get("Type") or "",
            position=position,
            status=StepStatus(step["StepStatus"]),
            start=_epoch(step.get("StartTime")),
            end=_epoch(step.get("EndTime")),
            attempts=step.get("AttemptCount") or (1 if step.get("StartTime") else 0),
            failure_reason=step.get("FailureReason"),
            cache_source_arn=cache,
            cache_source_id=cache.rsplit("/", 1)[-1] if cache else None,
        )
        links: dict[str, str] = {}
        for kind, key in (("processing", "ProcessingJob"), ("training", "TrainingJob")):
            arn = (metadata.get(key) or {}).get("Arn")
            if not arn:
                continue
            described = _plain(self.job(kind, arn))
            name = described.get("ProcessingJobName") or described.get("TrainingJobName")
            record.job_name, record.properties, record.arguments = name, described, described
            links = console_links(self.region, kind, name)
            if record.attempts > 1 and not cache:
                record.metadata[RETRIED_ATTEMPTS] = self.earlier_attempts(
                    kind, step["StepName"], name
                )
        if "Condition" in metadata:
            record.properties = {"Outcome": metadata["Condition"].get("Outcome")}
        if "RegisterModel" in metadata and metadata["RegisterModel"].get("Arn"):
            package = self.sagemaker.describe_model_package(
                ModelPackageName=metadata["RegisterModel"]["Arn"]
            )
            record.properties = _plain(package)
        if "Lambda" in metadata:
            outputs = metadata["Lambda"].get("OutputParameters") or []
            record.properties = {"OutputParameters": {o["Name"]: o["Value"] for o in outputs}}
            links = _lambda_links(self.region, metadata["Lambda"].get("Arn"))
        if "Fail" in metadata and not record.failure_reason:
            record.failure_reason = metadata["Fail"].get("ErrorMessage") or None
        if spec.get("Type") == "Lambda" and not links:
            links = _lambda_links(self.region, spec.get("FunctionArn"))
        return record, links


def _specs(definition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}

    def walk(steps: Any) -> None:
        for spec in steps or []:
            found[spec["Name"]] = spec
            if spec.get("Type") == "Condition":
                walk((spec.get("Arguments") or {}).get("IfSteps"))
                walk((spec.get("Arguments") or {}).get("ElseSteps"))

    walk(definition.get("Steps"))
    return found


def collect_sagemaker_execution(
    config: ProjectConfig, execution_arn: str, sagemaker: Any, s3: Any
) -> dict[str, Any]:
    """The view model of one SageMaker pipeline execution (clients: boto3's)."""
    described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    definition = json.loads(
        sagemaker.describe_pipeline_definition_for_execution(PipelineExecutionArn=execution_arn)[
            "PipelineDefinition"
        ]
    )
    listed = list(
        _pages(
            sagemaker.list_pipeline_parameters_for_execution,
            "PipelineParameters",
            PipelineExecutionArn=execution_arn,
        )
    )
    status = described["PipelineExecutionStatus"]
    execution_id = execution_arn.rsplit("/", 1)[-1]
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 5 else config.aws.region
    collector = _Collector(sagemaker, region, execution_id)
    specs = _specs(definition)
    records: dict[str, StepRecord] = {}
    links: dict[str, dict[str, str]] = {}
    for position, step in enumerate(
        _pages(
            sagemaker.list_pipeline_execution_steps,
            "PipelineExecutionSteps",
            PipelineExecutionArn=execution_arn,
            SortOrder="Ascending",
        )
    ):
        record, step_links = collector.record(step, specs.get(step["StepName"]) or {}, position)
        records[record.name] = record
        links[record.name] = step_links
    if status in TERMINAL:
        # SageMaker lists only the steps that started; the rest were never reached.
        for name, spec in specs.items():
            records.setdefault(
                name,
                StepRecord(
                    name, spec.get("Type") or "", len(records), status=StepStatus.NOT_EXECUTED
                ),
            )
    pipeline_arn = described.get("PipelineArn") or execution_arn.split("/execution/")[0]
    execution = ExecutionRecord(
        execution_id=execution_id,
        execution_arn=execution_arn,
        pipeline_name=pipeline_arn.rsplit("/", 1)[-1],
        pipeline_arn=pipeline_arn,
        status=ExecutionStatus(status),
        parameters=_parameters(definition, listed),
        definition_hash=definition_hash(definition),
        start_time=_epoch(described.get("CreationTime")),
        end_time=_epoch(described.get("LastModifiedTime")) if status in TERMINAL else None,
        failure_reason=described.get("FailureReason"),
        display_name=described.get("PipelineExecutionDisplayName"),
    )
    document = build_document(
        config,
        definition,
        execution,
        records,
        S3Reader(s3),
        target=SAGEMAKER,
        links=links,
    )
    document["region"] = region
    return document

"""Step Functions executions on moto's server, with moto's own ASL interpreter.

moto runs a state machine when its `stepfunctions.execute_state_machine` config is on; in
server mode that config is set through the server's `/moto-api/config` endpoint, and the
interpreter calls the services back through `http://localhost:$MOTO_PORT`, so both are set
here. Everything the interpreter does (Choice, Retry with backoff, Catch, ResultPath,
intrinsic functions, the SDK and optimized integrations it supports) is moto's.

What the harness adds, because moto lacks it (each a stand-in for AWS's documented
behaviour, never for the project's code):

- **Pipeline executions.** moto's executions are "Succeeded" the moment they start and moto
  has no ListPipelineExecutionSteps. `PipelineRuns` plays SageMaker's part: each started
  execution goes through the statuses a scenario lists (e.g. Executing, then Succeeded) and
  its steps are listed newest first, in botocore's response shape.
- **UpdateEndpoint**: tests/aws/conftest.py's `moto_update_endpoint`.
- **SDK integration results as Step Functions returns them**: timestamps as ISO-8601 strings
  and a text object's Body as a string (moto hands the interpreter datetime objects and a
  stream, which its own DescribeExecution then cannot serialize).
- **SDK integration error names**: `<ServiceName>.<ErrorCode>Exception`, as documented
  ("Learning to use AWS service SDK integrations": `S3.NoSuchKeyException`); moto reports
  `sagemaker.sagemakerException` for every unmodeled SageMaker error.
- **Lambda functions**: moto invokes functions only in Docker (there is no Docker engine
  here); with `lambda.use_docker` off the harness runs the function's own handler from
  `lambdas/` in-process, against this moto server, as Lambda would run the deployed code.
- **Throttling**: `throttle("StartPipelineExecution", 1)` makes the first call answer
  ThrottlingException (HTTP 400), as SageMaker does over its rate limit.
- **`.sync` SageMaker jobs** (`sagemaker:createProcessingJob.sync`,
  `createTrainingJob.sync`): moto's interpreter supports no `.sync` pattern for SageMaker.
  The harness does what Step Functions documents for it: the Create call (moto records the
  job, "Completed" at once), then the job's Describe output as the task's result. moto runs
  no container, so a processing job's outputs are written from `job_outputs` (e.g. the
  evaluation report an Evaluate job would write), at the S3 URI its request names.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.util
import json
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from waiting import FAILSAFE_SECONDS, wait_until

from pipelines.config import PROJECT_ROOT, load_config

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
BUCKET = "retraining-test-bucket"  # the aws fixture's
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecutionRole"
SERVICE_NAMES = {"sagemaker": "SageMaker", "s3": "S3", "sns": "SNS", "lambda": "Lambda"}


def _set_moto_config(endpoint: str, config: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config", data=json.dumps(config).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=FAILSAFE_SECONDS) as response:
        return json.loads(response.read())


def _plain(value: Any) -> Any:
    """An SDK result as Step Functions passes it on: JSON values only."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if hasattr(value, "read"):
        return value.read().decode("utf-8")
    return value


@functools.cache
def _definition_text() -> str:
    from pipelines.definition_cache import load_definition

    with tempfile.TemporaryDirectory() as home:
        config = load_config(
            environ={"PIPELINE_BUCKET": BUCKET, "PIPELINE_ROLE_ARN": ROLE_ARN},
            overrides={"local": {"home": home}},
        )
        return load_definition(config, "sagemaker")[0]


@pytest.fixture
def definition() -> dict[str, Any]:
    """The SageMaker definition for the aws fixture's bucket and role, built once per run."""
    return json.loads(_definition_text())


def lambda_handler(file_name: str) -> Callable[[dict, object], dict]:
    """The handler of `lambdas/<file_name>`, loaded as Lambda loads it."""
    path = PROJECT_ROOT / "lambdas" / file_name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


class PipelineRuns:
    """SageMaker's side of pipeline executions for moto: statuses and steps per scenario."""

    def __init__(self) -> None:
        self.statuses: list[str] = ["Succeeded"]
        self.steps: list[dict[str, Any]] = []
        self.started: list[dict[str, Any]] = []
        self._remaining: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def scenario(self, statuses: list[str], steps: list[dict[str, Any]]) -> None:
        """Each execution reports `statuses` in turn (the last one stays); `steps` are listed
        newest first, as SageMaker lists them with SortOrder Descending."""
        self.statuses, self.steps = list(statuses), list(steps)

    def on_start(self, arn: str, parameters: list[dict[str, str]] | None) -> None:
        with self._lock:
            self.started.append({"arn": arn, "parameters": parameters or []})
            self._remaining[arn] = list(self.statuses)

    def set_status(self, arn: str, status: str) -> None:
        """`arn` reports `status` from now on (an execution that ended, say)."""
        with self._lock:
            self._remaining[arn] = [status]

    def status(self, arn: str) -> str:
        with self._lock:
            remaining = self._remaining.setdefault(arn, list(self.statuses))
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    def list_steps(self, sort_order: str, max_results: int | None) -> list[dict[str, Any]]:
        steps = list(self.steps if sort_order == "Descending" else reversed(self.steps))
        return steps[:max_results] if max_results else steps


class MotoStepFunctions:
    def __init__(self, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.endpoint = endpoint
        self.runs = PipelineRuns()
        self.lambda_handlers: dict[str, Callable[[dict, object], dict]] = {}
        self.invocations: list[tuple[str, dict]] = []
        self._throttled: dict[str, int] = {}
        # Processing output name -> {file name: bytes} written when a job declaring it runs.
        self.job_outputs: dict[str, dict[str, bytes]] = {}
        self.client = boto3.client("stepfunctions", region_name=REGION)
        self._patch(monkeypatch)

    def throttle(self, operation: str, times: int) -> None:
        """The next `times` calls of the SageMaker `operation` answer ThrottlingException."""
        self._throttled[operation] = times

    def _throttle_check(self, operation: str) -> None:
        from moto.core.exceptions import JsonRESTError

        if self._throttled.get(operation, 0) > 0:
            self._throttled[operation] -= 1
            raise JsonRESTError("ThrottlingException", "Rate exceeded")

    def _patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.responses import ActionResult
        from moto.sagemaker.responses import SageMakerResponse
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_aws_sdk as aws_sdk,
        )

        harness = self
        # SDK integration results and error names as Step Functions reports them.
        original_eval = aws_sdk.StateTaskServiceAwsSdk._eval_service_task

        def eval_service_task(task, env, *args, **kwargs):
            original_eval(task, env, *args, **kwargs)
            env.stack.append(_plain(env.stack.pop()))

        def exception_name(service_name: str, ex: Exception) -> str:
            code = getattr(ex, "response", {}).get("Error", {}).get("Code") or type(ex).__name__
            name = f"{service_name}.{code}"
            return name if name.endswith("Exception") else name + "Exception"

        monkeypatch.setattr(aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", eval_service_task)
        monkeypatch.setattr(
            aws_sdk.StateTaskServiceAwsSdk,
            "_normalise_exception_name",
            staticmethod(exception_name),
        )
        for service, name in SERVICE_NAMES.items():
            monkeypatch.setitem(aws_sdk._SERVICE_ERROR_NAMES, service, name)

        # Lambda: the function's own handler, in-process.
        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            name = function_name.split(":function:")[-1].split(":")[0]
            event = json.loads(body) if body else {}
            harness.invocations.append((name, event))
            result = harness.lambda_handlers[name](event, None)
            return json.dumps(result).encode()

        monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
        self._patch_sync_jobs(monkeypatch)

        # SageMaker pipeline executions.
        original_start = SageMakerResponse.start_pipeline_execution
        original_describe = SageMakerResponse.describe_pipeline_execution

        def start_pipeline_execution(response: SageMakerResponse) -> ActionResult:
            harness._throttle_check("StartPipelineExecution")
            result = original_start(response)
            harness.runs.on_start(
                result.result["PipelineExecutionArn"],
                response._get_param("PipelineParameters"),
            )
            return result

        def describe_pipeline_execution(response: SageMakerResponse) -> ActionResult:
            harness._throttle_check("DescribePipelineExecution")
            result = original_describe(response)
            status = harness.runs.status(result.result["PipelineExecutionArn"])
            result.result["PipelineExecutionStatus"] = status
            if status == "Failed":
                result.result["FailureReason"] = "Step failure: One or multiple steps failed."
            return result

        def list_pipeline_execution_steps(response: SageMakerResponse) -> ActionResult:
            harness._throttle_check("ListPipelineExecutionSteps")
            steps = harness.runs.list_steps(
                response._get_param("SortOrder") or "Descending",
                response._get_param("MaxResults"),
            )
            return ActionResult({"PipelineExecutionSteps": steps})

        monkeypatch.setattr(SageMakerResponse, "start_pipeline_execution", start_pipeline_execution)
        monkeypatch.setattr(
            SageMakerResponse, "describe_pipeline_execution", describe_pipeline_execution
        )
        monkeypatch.setattr(
            SageMakerResponse,
            "list_pipeline_execution_steps",
            list_pipeline_execution_steps,
            raising=False,
        )

    def _patch_sync_jobs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.sagemaker.responses import SageMakerResponse
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            resource,
        )
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_unsupported as unsupported,
        )
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

        harness = self
        original_init = unsupported.StateTaskServiceUnsupported.__init__

        def init(task):
            original_init(task)
            task._supported_integration_patterns = {
                *task._supported_integration_patterns,
                resource.ResourceCondition.Sync,
            }

        def build_sync_resolver(task, env, resource_runtime_part, normalised_parameters, **_):
            action = task.resource.api_action  # createProcessingJob | createTrainingJob
            kind = action.removeprefix("create")
            client = boto_client_for(region=resource_runtime_part.region, service="sagemaker")
            name = normalised_parameters[f"{kind}Name"]

            def resolve():
                described = getattr(client, f"describe_{task._get_boto_service_action()[7:]}")(
                    **{f"{kind}Name": name}
                )
                described.pop("ResponseMetadata", None)
                return _plain(described)

            return resolve

        monkeypatch.setattr(unsupported.StateTaskServiceUnsupported, "__init__", init)
        monkeypatch.setattr(
            unsupported.StateTaskServiceUnsupported, "_build_sync_resolver", build_sync_resolver
        )

        original_create = SageMakerResponse.create_processing_job

        def create_processing_job(response: SageMakerResponse) -> ActionResult:
            result = original_create(response)
            s3 = boto3.client("s3", region_name=REGION)
            for output in response._get_param("ProcessingOutputConfig")["Outputs"]:
                files = harness.job_outputs.get(output["OutputName"], {})
                bucket, _, prefix = output["S3Output"]["S3Uri"].removeprefix("s3://").partition("/")
                for file_name, body in files.items():
                    s3.put_object(Bucket=bucket, Key=f"{prefix}/{file_name}", Body=body)
            return result

        from moto.core.responses import ActionResult

        monkeypatch.setattr(SageMakerResponse, "create_processing_job", create_processing_job)

    def create(self, name: str, definition: dict[str, Any]) -> str:
        return self.client.create_state_machine(
            name=name,
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/StateMachineRole",
            type="STANDARD",
        )["stateMachineArn"]

    def run(self, machine_arn: str, name: str, payload: Any) -> dict[str, Any]:
        """Start an execution (named: moto leaves $$.Execution.Name empty otherwise) with
        `payload` (JSON text as given, or a value to encode) and wait for its end; returns
        DescribeExecution's answer."""
        text = payload if isinstance(payload, str) else json.dumps(payload)
        execution = self.client.start_execution(stateMachineArn=machine_arn, name=name, input=text)[
            "executionArn"
        ]
        describe: dict[str, Any] = {}

        def finished() -> bool:
            describe.update(self.client.describe_execution(executionArn=execution))
            return describe["status"] != "RUNNING"

        wait_until(finished, f"execution {name} ends")
        return describe

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return self.client.get_execution_history(executionArn=execution_arn, maxResults=1000)[
            "events"
        ]

    def entered(self, execution_arn: str) -> list[str]:
        """The names of the states the execution entered, in order."""
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history(execution_arn)
            if "stateEnteredEventDetails" in event
        ]


@contextlib.contextmanager
def executing_state_machines(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MotoStepFunctions]:
    """moto's server runs state machines (and this harness's stand-ins) until the end."""
    port = moto_endpoint.rsplit(":", 1)[1]
    monkeypatch.setenv("MOTO_PORT", port)
    previous = _set_moto_config(moto_endpoint, {})
    _set_moto_config(
        moto_endpoint,
        {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
    )
    try:
        yield MotoStepFunctions(moto_endpoint, monkeypatch)
    finally:
        _set_moto_config(
            moto_endpoint,
            {
                "stepfunctions": {"execute_state_machine": False},
                "lambda": previous.get("lambda", {"use_docker": True}),
            },
        )


@pytest.fixture
def sfn(
    aws: dict[str, str], moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MotoStepFunctions]:
    with executing_state_machines(moto_endpoint, monkeypatch) as harness:
        yield harness


def sns_messages(queue_url: str) -> list[dict[str, Any]]:
    """Every message the SQS queue subscribed (raw delivery off) to the topic holds now."""
    sqs = boto3.client("sqs", region_name=REGION)
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages += [json.loads(message["Body"]) for message in batch]


def subscribed_queue(topic_name: str) -> tuple[str, str]:
    """(topic ARN, queue URL): an SNS topic with an SQS queue subscribed to it."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name=topic_name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{topic_name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url

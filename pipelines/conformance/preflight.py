"""Everything SageMaker would refuse about one start, found before anything runs.

`check_start` runs the definition rules, checks the StartPipelineExecution request (and,
when given, the CreatePipeline request), and walks every step's request against botocore's
shapes with the run's parameter values; other steps' properties are typed placeholders, so
`job_refusal` checks the real request again right before each job starts.

A refused step reads as SageMaker reports it, with the project's explanation beside it:
  step Train (sagemaker:CreateTrainingJob): 1 validation error detected: Value 'foo' at
  'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy enum
  value set: [...]
    the value comes from parameter TrainingInstanceType = 'foo'
A job SageMaker refuses fails its step with "ClientError: Failed to invoke
sagemaker:CreateTrainingJob. Error Details: <the service's message>" (the FailureReason
ListPipelineExecutionSteps shows for a refused job request).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines import execution_variables
from pipelines.conformance import definition_rules, requests, shapes
from pipelines.local.executor import job_name
from pipelines.parameters import ParameterError

FAILURE_REASON_LIMIT = 1024  # sagemaker FailureReason (PipelineExecutionStep) max length
# A placeholder execution id of the form SageMaker gives ids (12 lowercase letters/digits).
PLACEHOLDER_EXECUTION_ID = "preflight000"
_ACCOUNT = "000000000000"


class SageMakerWouldRefuse(ParameterError):
    """The definition, the start request or a step's request is one SageMaker refuses."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"SageMaker would refuse this execution; nothing was started:\n{lines}")


def client_error(operation: str, message: str) -> str:
    """How a step's FailureReason reads when SageMaker Pipelines' call to `operation` fails."""
    return f"ClientError: Failed to invoke {operation}. Error Details: {message}"


def placeholder_execution(
    pipeline_name: str, region: str, account: str = _ACCOUNT
) -> dict[str, str]:
    """Execution variables of the right form for a check before the execution exists."""
    arn = f"arn:aws:sagemaker:{region}:{account}:pipeline/{pipeline_name.lower()}"
    return execution_variables.execution_values(
        execution_id=PLACEHOLDER_EXECUTION_ID,
        execution_arn=f"{arn}/execution/{PLACEHOLDER_EXECUTION_ID}",
        pipeline_name=pipeline_name,
        pipeline_arn=arn,
        start=time.time(),
    )


def check_start(
    definition: Mapping[str, Any],
    parameters: Mapping[str, Any],
    *,
    pipeline_name: str,
    region: str,
    overrides: Mapping[str, Any] | None = None,
    create_request: Mapping[str, Any] | None = None,
) -> None:
    """Raise SageMakerWouldRefuse listing every problem; return if there is none."""
    found = [f"definition: {p}" for p in definition_rules.problems(definition)]
    found += start_request_problems(pipeline_name, overrides or {})
    if create_request is not None:
        operation = requests.StepOperation("sagemaker", "CreatePipeline", None, None)
        found += _request_problems("CreatePipeline", operation, create_request, parameters)
    execution = placeholder_execution(pipeline_name, region)
    for spec in requests.iter_steps(list(definition.get("Steps") or [])):
        found += step_problems(definition, spec, parameters, execution)
    if found:
        raise SageMakerWouldRefuse(found)


def check_upsert(definition: Mapping[str, Any], create_request: Mapping[str, Any]) -> None:
    """What CreatePipeline / UpdatePipeline themselves refuse: the definition rules, the
    request, and arguments of a type their member cannot take. (Job requests' values are only
    checked when an execution starts, as the service checks them.)"""
    found = [f"definition: {p}" for p in definition_rules.problems(definition)]
    operation = requests.StepOperation("sagemaker", "CreatePipeline", None, None)
    request = {"ClientRequestToken": str(uuid.uuid4()), **create_request}
    found += _request_problems("CreatePipeline", operation, request, {})
    execution = placeholder_execution(str(create_request.get("PipelineName")), "us-east-1")
    defaults = {p.get("Name"): p.get("DefaultValue") for p in definition.get("Parameters") or []}
    for spec in requests.iter_steps(list(definition.get("Steps") or [])):
        found += step_problems(definition, spec, defaults, execution, only=shapes.DEFINITION)
    if found:
        raise SageMakerWouldRefuse(found)


def start_request_problems(pipeline_name: str, overrides: Mapping[str, Any]) -> list[str]:
    """StartPipelineExecution with these parameter values (values are sent as text)."""
    request = {
        "PipelineName": pipeline_name,
        "PipelineParameters": [
            {"Name": str(name), "Value": _as_text(value)} for name, value in overrides.items()
        ],
        "ClientRequestToken": str(uuid.uuid4()),
    }
    operation = requests.StepOperation("sagemaker", "StartPipelineExecution", None, None)
    return _request_problems("StartPipelineExecution", operation, request, {})


def step_problems(
    definition: Mapping[str, Any],
    spec: Mapping[str, Any],
    parameters: Mapping[str, Any],
    execution: Mapping[str, str],
    only: str | None = None,
) -> list[str]:
    """The step's unresolvable references and its request's violations (of kind `only`)."""
    name, kind = str(spec.get("Name")), str(spec.get("Type"))
    scope = requests.scope_for(definition, parameters, execution)
    scope.step_type = kind
    operation = requests.STEP_OPERATIONS.get(kind)
    scope.job_name = job_name(PLACEHOLDER_EXECUTION_ID, name) if operation else None
    arguments = spec.get("Arguments") or {}
    if kind == "Condition":
        arguments = {"Conditions": arguments.get("Conditions") or []}
    substituted = requests.substitute(arguments, scope)
    function_arn = requests.substitute(spec.get("FunctionArn"), scope)
    found = [f"step {name}: {p}" for p in dict.fromkeys(scope.problems)]
    built = requests.step_request(spec, substituted, scope.job_name, function_arn)
    if built is not None:
        found += _request_problems(f"step {name}", built[0], built[1], parameters, only)
    return found


def _request_problems(
    where: str,
    operation: requests.StepOperation,
    request: Mapping[str, Any],
    parameters: Mapping[str, Any],
    only: str | None = None,
) -> list[str]:
    violations = requests.violations(operation, request)
    if only is not None:
        violations = [v for v in violations if v.kind == only]
    if not violations:
        return []
    message = shapes.service_error(violations)
    sources = tuple(dict.fromkeys(s for v in _reported(violations) for s in v.sources))
    text = f"{where} ({operation.label}): {message}"
    if sources:
        text += f"\n    the value comes from {requests.describe_sources(sources, parameters)}"
    return [text]


def _reported(violations: list[shapes.Violation]) -> list[shapes.Violation]:
    """The violations the service's answer is about (see shapes.service_error)."""
    for kind in (shapes.DEFINITION, shapes.UNKNOWN_MEMBER, shapes.SERIALIZATION):
        first = [v for v in violations if v.kind == kind][:1]
        if first:
            return first
    return [v for v in violations if v.kind == shapes.VALIDATION]


def job_refusal(
    spec: Mapping[str, Any],
    resolved_arguments: Any,
    job_name: str | None,
    parameters: Mapping[str, Any],
    memo_dir: Path | None = None,
) -> str | None:
    """The FailureReason of a step whose real request SageMaker would refuse, else None.

    A request with no per-run job name in it (a Lambda invocation: never cached, run on every
    execution) that passed before passes again without loading botocore: `memo_dir`."""
    built = requests.runtime_request(spec, resolved_arguments, job_name)
    if built is None:
        return None
    operation, request = built
    key = None
    if memo_dir is not None and operation.name_member is None:
        key = verdict_key(operation.label, _verdict_inputs(request))
        if passed_before(memo_dir, key):
            return None
    violations = requests.violations(operation, request)
    if not violations:
        if key is not None:
            remember_passed(memo_dir, key)
        return None
    reason = client_error(operation.label, shapes.service_error(violations))
    sources = tuple(dict.fromkeys(s for v in _reported(violations) for s in v.sources))
    if not sources:
        return reason[:FAILURE_REASON_LIMIT]
    # The service cuts FailureReason at 1024 characters; keep the local explanation visible.
    note = f" [value from {requests.describe_sources(sources, parameters)}]"
    room = FAILURE_REASON_LIMIT - len(note)
    if len(reason) > room:
        reason = reason[: max(room - 3, 0)] + "..."
    return (reason + note)[:FAILURE_REASON_LIMIT]


def _verdict_inputs(request: Mapping[str, Any]) -> Any:
    """What an invocation's verdict depends on. Its Payload is a blob, which any string
    satisfies, checked only for its size (requests.violations): the size stands for it, so
    a payload naming the execution (FindRegisteredModel's ExecutionArn) does not make every
    execution load botocore again."""
    plain = shapes.plain(request)
    if isinstance(plain.get("Payload"), str):
        plain["Payload"] = {"bytes": len(plain["Payload"].encode())}
    return plain


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- remembering checks that passed -----------------------------------------------------


def verdict_key(*parts: Any) -> str:
    """A key for one check's inputs: the inputs themselves, botocore's version (its models)
    and this package's code. A passed check with the same key passes again."""
    import botocore

    digest = hashlib.sha256()
    for part in (*parts, botocore.__version__, _code_digest()):
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


_CODE_DIGEST: list[str] = []


def _code_digest() -> str:
    if not _CODE_DIGEST:
        digest = hashlib.sha256()
        for path in sorted(Path(__file__).parent.glob("*.py")):
            digest.update(path.read_bytes())
        digest.update(Path(execution_variables.__file__).read_bytes())
        _CODE_DIGEST.append(digest.hexdigest())
    return _CODE_DIGEST[0]


def passed_before(memo_dir: Path, key: str) -> bool:
    return (memo_dir / key).is_file()


def remember_passed(memo_dir: Path, key: str) -> None:
    memo_dir.mkdir(parents=True, exist_ok=True)
    (memo_dir / key).touch()

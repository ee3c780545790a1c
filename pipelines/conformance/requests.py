"""The request each step sends when it runs, built from its definition and checked.

A step's `Arguments` are the request of one API operation (the SDK builds them with the same
request builders as the direct calls): Processing -> CreateProcessingJob, Training ->
CreateTrainingJob, Transform -> CreateTransformJob, Model -> CreateModel, RegisterModel ->
CreateModelPackage. A Lambda step invokes its `FunctionArn` with the Arguments as the JSON
payload (Lambda Invoke, RequestResponse).

SageMaker Pipelines fills in the job's name itself: the SDK pops `ProcessingJobName`,
`TrainingJobName`, `TransformJobName` and `ModelName` from the definition "since it will be
overridden at pipeline execution time" (sagemaker.core.workflow.utilities.trim_request_dict,
ModelStep), and jobs are named `pipelines-<execution id>-<step>-<suffix>`. The check puts
that name in, as the service does.

Before the run, parameters and execution variables have their values; other steps'
properties are `Reference`s typed from the Describe* response that holds them (a Lambda
output from its declared OutputType, a condition's Outcome a Boolean).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines import execution_variables
from pipelines.conformance import shapes
from pipelines.conformance.shapes import UNKNOWN, Reference, Violation
from pipelines.local.expressions import ExpressionError, parse_path, to_text

EXPRESSION_KEYS = ("Get", "Std:Join", "Std:JsonGet")
# Lambda quotas: "Invocation payload (request and response): 6 MB each for request and
# response (synchronous)"; the service's refusal names the exact byte limit.
LAMBDA_PAYLOAD_LIMIT = 6_291_456


@dataclass(frozen=True)
class StepOperation:
    service: str
    operation: str
    name_member: str | None  # the member SageMaker Pipelines fills in
    describe: str | None  # the operation whose response holds the step's properties

    @property
    def label(self) -> str:
        return f"{self.service}:{self.operation}"


STEP_OPERATIONS = {
    "Processing": StepOperation(
        "sagemaker", "CreateProcessingJob", "ProcessingJobName", "DescribeProcessingJob"
    ),
    "Training": StepOperation(
        "sagemaker", "CreateTrainingJob", "TrainingJobName", "DescribeTrainingJob"
    ),
    "Transform": StepOperation(
        "sagemaker", "CreateTransformJob", "TransformJobName", "DescribeTransformJob"
    ),
    "Model": StepOperation("sagemaker", "CreateModel", "ModelName", "DescribeModel"),
    "RegisterModel": StepOperation("sagemaker", "CreateModelPackage", None, "DescribeModelPackage"),
    "Lambda": StepOperation("lambda", "Invoke", None, None),
}


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSION_KEYS


def iter_steps(steps: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Every step of a definition, condition branches included, in definition order."""
    for step in steps:
        yield step
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments") or {}
            yield from iter_steps(arguments.get("IfSteps") or [])
            yield from iter_steps(arguments.get("ElseSteps") or [])


@dataclass
class Scope:
    """What a step's expressions can be resolved against before (or while) it runs."""

    parameters: Mapping[str, Any]
    parameter_types: Mapping[str, str]
    execution: Mapping[str, str]
    steps: Mapping[str, Mapping[str, Any]]  # step name -> its definition
    step_type: str = ""
    job_name: str | None = None
    problems: list[str] = field(default_factory=list)  # references that cannot resolve


def scope_for(definition: Mapping[str, Any], parameters: Mapping[str, Any], execution) -> Scope:
    declared = definition.get("Parameters") or []
    return Scope(
        parameters=parameters,
        parameter_types={p.get("Name"): p.get("Type") for p in declared},
        execution=execution,
        steps={s.get("Name"): s for s in iter_steps(definition.get("Steps") or [])},
    )


def substitute(value: Any, scope: Scope) -> Any:
    """`value` with every expression a `Reference`: its value when known, its type always."""
    if is_expression(value):
        return _reference(value, scope)
    if isinstance(value, Mapping):
        return {k: substitute(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, scope) for v in value]
    return value


def _reference(expression: Mapping[str, Any], scope: Scope) -> Reference:
    kind, body = next(iter(expression.items()))
    if kind == "Get":
        return _get(str(body), scope)
    if kind == "Std:Join":
        parts = [substitute(v, scope) for v in (body or {}).get("Values") or []]
        sources = tuple(dict.fromkeys(s for p in parts if isinstance(p, Reference) for s in _of(p)))
        if all(not isinstance(p, Reference) or p.known for p in parts):
            texts = [to_text(p.value if isinstance(p, Reference) else p) for p in parts]
            return Reference("Std:Join", "string", str(body.get("On", "")).join(texts), sources)
        return Reference("Std:Join", "string", UNKNOWN, sources)
    # Std:JsonGet reads a file written at run time: its type is whatever the JSON holds.
    reference = (body or {}).get("PropertyFile") or (body or {}).get("S3Uri")
    if isinstance(reference, Mapping) and isinstance(reference.get("Get"), str):
        step = reference["Get"].split(".")[1] if reference["Get"].startswith("Steps.") else ""
        return Reference("Std:JsonGet", "any", UNKNOWN, (f"Steps.{step}",) if step else ())
    return Reference("Std:JsonGet", "any", UNKNOWN)


def _of(reference: Reference) -> tuple[str, ...]:
    return reference.sources or (reference.expression,)


def _get(reference: str, scope: Scope) -> Reference:
    namespace, _, rest = reference.partition(".")
    if namespace == "Parameters":
        if rest not in scope.parameter_types:
            scope.problems.append(f"{reference}: the pipeline declares no parameter {rest!r}")
            return Reference(reference, "any", UNKNOWN, (reference,))
        kind = shapes.PARAMETER_TYPES.get(scope.parameter_types[rest], "any")
        value = scope.parameters.get(rest, UNKNOWN)
        return Reference(reference, kind, value, (reference,))
    if namespace == "Execution":
        return _execution_variable(reference, rest, scope)
    if namespace == "Steps":
        step, _, path = rest.partition(".")
        return Reference(reference, property_type(step, path, scope), UNKNOWN, (reference,))
    scope.problems.append(f"{reference}: unknown namespace {namespace!r}")
    return Reference(reference, "any", UNKNOWN, (reference,))


def _execution_variable(reference: str, name: str, scope: Scope) -> Reference:
    if name not in execution_variables.NAMES:
        scope.problems.append(
            f"{reference} is not an execution variable (SageMaker has "
            f"{', '.join(execution_variables.NAMES)})"
        )
        return Reference(reference, "any", UNKNOWN)
    if name in execution_variables.STEP_VARIABLES:
        defined_in = execution_variables.STEP_VARIABLES[name]
        if scope.step_type != defined_in:
            scope.problems.append(
                f"{reference} is only defined in {defined_in} steps (it is the name of the "
                "job that step creates)"
            )
            return Reference(reference, "string", UNKNOWN)
        return Reference(reference, "string", scope.job_name or UNKNOWN)
    if name == execution_variables.CURRENT_DATETIME:
        return Reference(reference, "string", execution_variables.current_datetime())
    return Reference(reference, "string", scope.execution.get(name, UNKNOWN))


def property_type(step: str, path: str, scope: Scope) -> str:
    """The type of `Steps.<step>.<path>`: from the Describe* response that holds it."""
    spec = scope.steps.get(step)
    if spec is None:
        scope.problems.append(f"Steps.{step}.{path}: the pipeline has no step {step!r}")
        return "any"
    step_type = spec.get("Type")
    try:
        tokens = parse_path(path)
    except ExpressionError as exc:
        scope.problems.append(f"Steps.{step}.{path}: {exc}")
        return "any"
    if step_type == "Lambda":
        if tokens[:1] == ["OutputParameters"] and len(tokens) == 2:
            for output in spec.get("OutputParameters") or []:
                if output.get("OutputName") == tokens[1]:
                    return shapes.PARAMETER_TYPES.get(output.get("OutputType", "String"), "any")
        scope.problems.append(
            f"Steps.{step}.{path}: Lambda step {step} declares no such output parameter"
        )
        return "any"
    if step_type == "Condition":
        return "boolean" if tokens == ["Outcome"] else "any"
    operation = STEP_OPERATIONS.get(step_type)
    if operation is None or operation.describe is None:
        return "any"
    shape = shapes.operation_output(operation.service, operation.describe)
    for token in tokens:
        kind = shape.type_name
        if kind == "structure" and isinstance(token, str) and token in shape.members:
            shape = shape.members[token]
        elif kind == "list":
            shape = shape.member  # by index, or by name (Outputs['train'])
        elif kind == "map":
            shape = shape.value
        else:
            scope.problems.append(
                f"Steps.{step}.{path}: {operation.describe} has no property {token!r} there"
            )
            return "any"
    return shape.type_name if shape.type_name in shapes.ACCEPTED_TYPES else "any"


def step_request(
    spec: Mapping[str, Any], arguments: Any, job_name: str | None, function_arn: Any = None
) -> tuple[StepOperation, dict[str, Any]] | None:
    """The operation a step calls and its request (None for steps that call none)."""
    operation = STEP_OPERATIONS.get(str(spec.get("Type")))
    if operation is None:
        return None
    if operation.operation == "Invoke":
        return operation, {
            "FunctionName": function_arn if function_arn is not None else spec.get("FunctionArn"),
            "InvocationType": "RequestResponse",
            "Payload": json.dumps(shapes.plain(arguments or {}), default=str),
        }
    request = dict(arguments or {})
    if operation.name_member and operation.name_member not in request and job_name:
        request[operation.name_member] = job_name
    return operation, request


def violations(operation: StepOperation, request: Mapping[str, Any]) -> list[Violation]:
    found = shapes.check(operation.service, operation.operation, request)
    if operation.operation == "Invoke":
        size = len(str(request.get("Payload", "")).encode())
        if size > LAMBDA_PAYLOAD_LIMIT:
            found.append(
                Violation(
                    ("Payload",),
                    "RequestEntityTooLargeException: Request must be smaller than "
                    f"{LAMBDA_PAYLOAD_LIMIT} bytes for the InvokeFunction operation",
                    shapes.DEFINITION,
                )
            )
    return found


def runtime_request(
    spec: Mapping[str, Any], resolved: Any, job_name: str | None
) -> tuple[StepOperation, dict[str, Any]] | None:
    """The request a step is about to send, from its resolved Arguments; values that came from
    expressions carry where they came from, for the failure reason."""
    return step_request(spec, _attribute(spec.get("Arguments") or {}, resolved), job_name)


def _attribute(template: Any, resolved: Any) -> Any:
    if is_expression(template):
        return Reference(_label(template), "any", resolved, tuple(_references(template)))
    if isinstance(template, Mapping) and isinstance(resolved, Mapping):
        return {k: _attribute(template.get(k), v) for k, v in resolved.items()}
    if isinstance(template, list) and isinstance(resolved, list) and len(template) == len(resolved):
        return [_attribute(t, v) for t, v in zip(template, resolved, strict=True)]
    return resolved


def _label(expression: Mapping[str, Any]) -> str:
    kind, body = next(iter(expression.items()))
    return str(body) if kind == "Get" else kind


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        if isinstance(value.get("Get"), str):
            yield value["Get"]
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def describe_sources(sources: tuple[str, ...], parameters: Mapping[str, Any]) -> str:
    """Where a refused value came from, for the explanation beside SageMaker's words."""
    parts = []
    for source in sources:
        namespace, _, rest = source.partition(".")
        if namespace == "Parameters":
            shown = repr(parameters[rest]) if rest in parameters else "(not set)"
            parts.append(f"parameter {rest} = {shown}")
        elif namespace == "Steps":
            step, _, path = rest.partition(".")
            parts.append(f"step {step}'s {path or 'properties'}")
        elif namespace == "Execution":
            parts.append(f"execution variable {rest}")
        else:
            parts.append(source)
    return "; ".join(parts)

"""Definition-level rules SageMaker enforces that are cheap to check before a run.

Each rule names its source:
- names and lengths: botocore's sagemaker model, the shapes SageMaker gives the same fields
  in its API (PipelineExecutionStep.StepName: 1-64 of [A-Za-z0-9-_], StepDisplayName up to
  256, StepDescription up to 3072; PipelineParameterName: 1-256 of [A-Za-z0-9-_]);
- retry policies: "Retry Policy for Pipeline Steps" (SageMaker developer guide): the step
  types that take them, the exception types, IntervalSeconds up to 43200, MaxAttempts up to
  20, ExpireAfterMin up to 14400, and "Only one of MaxAttempts or ExpireAfterMin can be
  given ... the retry policy will generate a validation error"; BackoffRate and
  IntervalSeconds non-negative, and SageMaker.* types only on steps that run SageMaker jobs,
  as the SDK enforces (sagemaker.mlops.workflow.retry, ModelStep);
- a step may not depend on a Fail step: CreatePipeline answers "<step> can not depends on
  <FailStep>" (the SDK's integration test test_invalid_pipeline_depended_on_fail_step);
- an object with a property the service does not know: "Unable to parse pipeline definition.
  Cannot parse object, unknown property 'Expression'." (CreatePipeline, on a v2 SDK's Not
  condition, sagemaker-python-sdk issue 2746);
- parameters: a type the service knows and a default of that type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pipelines.conformance import shapes
from pipelines.conformance.requests import iter_steps
from pipelines.local.cache import CacheConfigError, parse_expire_after
from pipelines.sagemaker_limits import EXPIRE_AFTER_MIN_MAX, INTERVAL_SECONDS_MAX, MAX_ATTEMPTS_MAX

STEP_NAME_PATTERN = "[A-Za-z0-9\\-_]*"  # sagemaker StepName
STEP_NAME_MAX = 64
STEP_DISPLAY_NAME_MAX = 256  # sagemaker StepDisplayName
STEP_DESCRIPTION_MAX = 3072  # sagemaker StepDescription
PARAMETER_NAME_PATTERN = "[A-Za-z0-9\\-_]*"  # sagemaker PipelineParameterName
PARAMETER_NAME_MAX = 256
PARAMETER_TYPES = {
    "String": (str,),
    "Integer": (int,),
    "Float": (int, float),
    "Boolean": (bool,),
}

RETRY_DOC = "'Retry Policy for Pipeline Steps'"
RETRYABLE_STEP_TYPES = (
    "Processing",
    "Training",
    "Tuning",
    "AutoML",
    "Model",
    "RegisterModel",
    "Transform",
)
JOB_STEP_TYPES = ("Processing", "Training", "Tuning", "AutoML", "Transform")
STEP_EXCEPTION_TYPES = ("Step.SERVICE_FAULT", "Step.THROTTLING")
# The SDK's SageMakerJobExceptionTypeEnum (the developer guide's older text spells the capacity
# type SageMaker.JOB_CAPACITY_ERROR; the SDK, AWS's schema and the service use this one).
JOB_EXCEPTION_TYPES = (
    "SageMaker.JOB_INTERNAL_ERROR",
    "SageMaker.CAPACITY_ERROR",
    "SageMaker.RESOURCE_LIMIT",
)
RETRY_POLICY_KEYS = (
    "ExceptionType",
    "IntervalSeconds",
    "BackoffRate",
    "MaxAttempts",
    "ExpireAfterMin",
)

CONDITION_KEYS = {
    "Equals": ("Type", "LeftValue", "RightValue"),
    "GreaterThan": ("Type", "LeftValue", "RightValue"),
    "GreaterThanOrEqualTo": ("Type", "LeftValue", "RightValue"),
    "LessThan": ("Type", "LeftValue", "RightValue"),
    "LessThanOrEqualTo": ("Type", "LeftValue", "RightValue"),
    "In": ("Type", "QueryValue", "Values"),
    "Not": ("Type", "Condition"),
    "Or": ("Type", "Conditions"),
}
LAMBDA_OUTPUT_TYPES = ("String", "Integer", "Boolean", "Float")


def problems(definition: Mapping[str, Any]) -> list[str]:
    """Everything in `definition` that CreatePipeline (or the run) would refuse."""
    found = list(_parameter_problems(definition.get("Parameters") or []))
    steps = list(iter_steps(definition.get("Steps") or []))
    types = {s.get("Name"): s.get("Type") for s in steps}
    seen: set[str] = set()
    for step in steps:
        name = str(step.get("Name"))
        if name in seen:
            found.append(f"two steps are named {name!r}; step names must be unique")
        seen.add(name)
        found += [f"step {name}: {p}" for p in _step_problems(step, types)]
    return found


def _parameter_problems(parameters: list[Mapping[str, Any]]) -> Iterator[str]:
    seen: set[str] = set()
    for parameter in parameters:
        name = str(parameter.get("Name"))
        if not 1 <= len(name) <= PARAMETER_NAME_MAX or not shapes.pattern_matches(
            PARAMETER_NAME_PATTERN, name
        ):
            yield (
                f"parameter name {name!r} must be 1 to {PARAMETER_NAME_MAX} characters of "
                "letters, digits, '-' and '_'"
            )
        if name in seen:
            yield f"two parameters are named {name!r}"
        seen.add(name)
        kind = parameter.get("Type")
        if kind not in PARAMETER_TYPES:
            yield (
                f"parameter {name} has type {kind!r}; SageMaker knows {', '.join(PARAMETER_TYPES)}"
            )
            continue
        if "DefaultValue" in parameter:
            default = parameter["DefaultValue"]
            bad_bool = isinstance(default, bool) and kind != "Boolean"
            if bad_bool or not isinstance(default, PARAMETER_TYPES[kind]):
                yield f"parameter {name} is {kind} but its DefaultValue {default!r} is not"
            allowed = parameter.get("EnumValues")
            if allowed and default not in allowed:
                yield (
                    f"parameter {name}: DefaultValue {default!r} is not one of its EnumValues "
                    f"{allowed}"
                )


def _step_problems(step: Mapping[str, Any], types: Mapping[str, Any]) -> Iterator[str]:
    name = str(step.get("Name"))
    if not 1 <= len(name) <= STEP_NAME_MAX or not shapes.pattern_matches(STEP_NAME_PATTERN, name):
        yield (
            f"the step name must be 1 to {STEP_NAME_MAX} characters of letters, digits, '-' and '_'"
        )
    display = step.get("DisplayName")
    if isinstance(display, str) and len(display) > STEP_DISPLAY_NAME_MAX:
        yield f"DisplayName is {len(display)} characters; SageMaker allows {STEP_DISPLAY_NAME_MAX}"
    description = step.get("Description")
    if isinstance(description, str) and len(description) > STEP_DESCRIPTION_MAX:
        yield (
            f"Description is {len(description)} characters; SageMaker allows {STEP_DESCRIPTION_MAX}"
        )
    for upstream in step.get("DependsOn") or []:
        if upstream not in types:
            yield f"DependsOn names {upstream!r}, which is not a step of this pipeline"
        elif types[upstream] == "Fail":
            yield f"{name} can not depends on {upstream} (a Fail step ends the execution)"
    yield from _retry_problems(step)
    if step.get("Type") == "Condition":
        for condition in (step.get("Arguments") or {}).get("Conditions") or []:
            yield from _condition_problems(condition)
    if step.get("Type") == "Lambda":
        for output in step.get("OutputParameters") or []:
            kind = output.get("OutputType", "String")
            if kind not in LAMBDA_OUTPUT_TYPES:
                yield (
                    f"output parameter {output.get('OutputName')!r} has OutputType {kind!r}; "
                    f"SageMaker knows {', '.join(LAMBDA_OUTPUT_TYPES)}"
                )
    config = step.get("CacheConfig")
    if isinstance(config, Mapping) and config.get("Enabled") and config.get("ExpireAfter"):
        try:
            parse_expire_after(str(config["ExpireAfter"]))
        except CacheConfigError as exc:
            yield f"CacheConfig: {exc}"


def _retry_problems(step: Mapping[str, Any]) -> Iterator[str]:
    policies = step.get("RetryPolicies")
    if not policies:
        return
    kind = step.get("Type")
    if kind not in RETRYABLE_STEP_TYPES:
        yield (
            f"a {kind} step cannot have RetryPolicies; SageMaker supports them on "
            f"{', '.join(RETRYABLE_STEP_TYPES)} steps only ({RETRY_DOC})"
        )
        return
    for index, policy in enumerate(policies):
        where = f"RetryPolicies[{index}]"
        if not isinstance(policy, Mapping):
            yield f"{where} is not an object"
            continue
        for key in policy:
            if key not in RETRY_POLICY_KEYS:
                yield (
                    f"{where}: Unable to parse pipeline definition. Cannot parse object, "
                    f"unknown property '{key}'."
                )
        yield from (f"{where}: {p}" for p in _policy_problems(policy, kind))


def _policy_problems(policy: Mapping[str, Any], step_type: str) -> Iterator[str]:
    kinds = policy.get("ExceptionType")
    allowed = STEP_EXCEPTION_TYPES + (JOB_EXCEPTION_TYPES if step_type in JOB_STEP_TYPES else ())
    if not isinstance(kinds, list) or not kinds:
        yield f"ExceptionType must be a non-empty list of {', '.join(allowed)} ({RETRY_DOC})"
    else:
        for value in kinds:
            if value in JOB_EXCEPTION_TYPES and step_type not in JOB_STEP_TYPES:
                yield (
                    f"ExceptionType {value} applies to steps that run SageMaker jobs, not to a "
                    f"{step_type} step"
                )
            elif value not in allowed:
                yield f"unknown ExceptionType {value!r}; SageMaker knows {', '.join(allowed)}"
    if "MaxAttempts" in policy and "ExpireAfterMin" in policy:
        yield (
            "sets both MaxAttempts and ExpireAfterMin; SageMaker accepts only one of them in a "
            f"policy and refuses the definition otherwise ({RETRY_DOC})"
        )
    yield from _bounded(policy, "IntervalSeconds", INTERVAL_SECONDS_MAX, integer=True)
    yield from _bounded(policy, "MaxAttempts", MAX_ATTEMPTS_MAX, integer=True)
    yield from _bounded(policy, "ExpireAfterMin", EXPIRE_AFTER_MIN_MAX, integer=True)
    yield from _bounded(policy, "BackoffRate", None, integer=False)


def _bounded(
    policy: Mapping[str, Any], key: str, limit: int | None, integer: bool
) -> Iterator[str]:
    if key not in policy:
        return
    value = policy[key]
    number = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, number):
        yield f"{key} must be {'an integer' if integer else 'a number'}, got {value!r}"
    elif value < 0 or (limit is not None and value > limit):
        bound = f"0 to {limit}" if limit is not None else "0 or more"
        yield f"{key} is {value}; SageMaker allows {bound} ({RETRY_DOC})"


def _condition_problems(condition: Any) -> Iterator[str]:
    if not isinstance(condition, Mapping):
        yield f"a condition must be an object, got {condition!r}"
        return
    kind = condition.get("Type")
    keys = CONDITION_KEYS.get(kind)
    if keys is None:
        yield f"unknown condition type {kind!r}; SageMaker knows {', '.join(CONDITION_KEYS)}"
        return
    for key in condition:
        if key not in keys:
            yield (
                f"condition {kind}: Unable to parse pipeline definition. Cannot parse object, "
                f"unknown property '{key}'."
            )
    for key in keys:
        if key not in condition:
            yield f"condition {kind} needs {key}"
    if kind == "Not" and isinstance(condition.get("Condition"), Mapping):
        yield from _condition_problems(condition["Condition"])
    if kind == "Or":
        for inner in condition.get("Conditions") or []:
            yield from _condition_problems(inner)
    if kind == "In" and not isinstance(condition.get("Values", []), list):
        yield "condition In: Values must be a list"

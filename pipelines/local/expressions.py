"""Pipeline definition expressions: `Get`, `Std:Join`, `Std:JsonGet` and conditions.

A value in a step's Arguments is either a literal or a one-key object naming an expression,
exactly as `Pipeline.definition()` emits them:
  {"Get": "Parameters.X" | "Execution.X" | "Steps.<Name>.<property path>"}
  {"Std:Join": {"On": "/", "Values": [...]}}
  {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.<Name>.PropertyFiles.<File>"}, "Path": "a.b[0]"}}
Conditions are {"Type": ..., "LeftValue"/"RightValue"}, In {"QueryValue", "Values"},
Not {"Condition"} (SageMaker refuses the SDK v2 spelling "Expression"), Or {"Conditions"}.

Conditions compare values of the same type, as SageMaker does: a condition step whose
operands' types differ fails with the reason the SDK's own local mode gives (it mirrors the
service: sagemaker.mlops.local.pipeline._ConditionStepExecutor), e.g. "Condition of type
[GreaterThanOrEqualTo] not supported between [0.95] of type [String] and [0.9] of type
[Float]"; nothing is converted, so "0.95" >= 0.9 is an error, not True. Integers and floats
are both numbers for ordering; Equals needs the same type on both sides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.execution_variables import current_datetime

EXPRESSION_KEYS = ("Get", "Std:Join", "Std:JsonGet")
COMPARISONS = {
    "Equals": lambda a, b: a == b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}
COMPARISON_SYMBOLS = {
    "Equals": "==",
    "GreaterThan": ">",
    "GreaterThanOrEqualTo": ">=",
    "LessThan": "<",
    "LessThanOrEqualTo": "<=",
}
_PATH_TOKEN = re.compile(
    r"""\.?([A-Za-z_][A-Za-z0-9_\-]*)|\[\s*(?:'([^']*)'|"([^"]*)"|(-?\d+))\s*\]"""
)
# Fields a list of named things (outputs, channels, metrics) is indexed by, as Properties do.
_NAME_FIELDS = ("OutputName", "InputName", "ChannelName", "Name", "MetricName", "StepName")


class ExpressionError(ValueError):
    """An expression cannot be resolved; the message says which one and why."""


@dataclass
class Context:
    """What expressions can see while one execution runs."""

    parameters: Mapping[str, Any]
    execution: Mapping[str, Any]
    steps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # (step name, property file name) -> parsed JSON of that file
    property_file: Callable[[str, str], Any] | None = None
    # s3 uri -> parsed JSON (Std:JsonGet with an S3Uri instead of a PropertyFile)
    json_at: Callable[[str], Any] | None = None
    # Execution variables that change per step (ProcessingJobName, TrainingJobName).
    step_variables: Mapping[str, Any] = field(default_factory=dict)


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSION_KEYS


def resolve(value: Any, context: Context) -> Any:
    """`value` with every expression inside it replaced by its value."""
    if isinstance(value, dict):
        if is_expression(value):
            kind, body = next(iter(value.items()))
            if kind == "Get":
                return resolve_get(body, context)
            if kind == "Std:Join":
                return _join(body, context)
            return _json_get(body, context)
        return {k: resolve(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, context) for v in value]
    return value


def resolve_get(reference: str, context: Context) -> Any:
    if not isinstance(reference, str):
        raise ExpressionError(f"Get expects a string reference, got {reference!r}")
    namespace, _, rest = reference.partition(".")
    if namespace == "Parameters":
        if rest not in context.parameters:
            raise ExpressionError(f"{reference}: the pipeline declares no parameter {rest!r}")
        return context.parameters[rest]
    if namespace == "Execution":
        if rest == "CurrentDateTime" and rest not in context.execution:
            return current_datetime()
        if rest in context.step_variables:
            return context.step_variables[rest]
        if rest not in context.execution:
            raise ExpressionError(f"{reference}: unknown execution variable {rest!r}")
        return context.execution[rest]
    if namespace == "Steps":
        step, _, path = rest.partition(".")
        if not step or not path:
            raise ExpressionError(f"{reference}: expected Steps.<StepName>.<property>")
        if path.startswith("PropertyFiles."):
            raise ExpressionError(f"{reference}: a PropertyFile can only be read by Std:JsonGet")
        if step not in context.steps:
            raise ExpressionError(
                f"{reference}: step {step} has not produced its properties (it has not run "
                "successfully before this point)"
            )
        return property_at(context.steps[step], path, f"Steps.{step}")
    raise ExpressionError(f"{reference}: unknown namespace {namespace!r}")


def parse_path(path: str) -> list[str | int]:
    """ "A.B['x'].C[0]" -> ["A", "B", "x", "C", 0]; also JsonGet paths like "a.b[0].c"."""
    tokens: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match or (position == 0 and path.startswith(".")):
            raise ExpressionError(f"cannot parse property path {path!r} at {path[position:]!r}")
        name, quoted1, quoted2, index = match.groups()
        if name is not None:
            tokens.append(name)
        elif index is not None:
            tokens.append(int(index))
        else:
            tokens.append(quoted1 if quoted1 is not None else quoted2)
        position = match.end()
    if not tokens:
        raise ExpressionError("empty property path")
    return tokens


def property_at(document: Any, path: str, where: str) -> Any:
    """Follow a property path through a SageMaker-shaped document."""
    current = document
    walked = where
    for token in parse_path(path):
        current = _step_into(current, token, walked)
        walked += f"[{token!r}]" if not isinstance(token, str) or "." in token else f".{token}"
    return current


def _step_into(current: Any, token: str | int, walked: str) -> Any:
    if isinstance(token, int):
        if isinstance(current, list) and -len(current) <= token < len(current):
            return current[token]
        raise ExpressionError(f"{walked}[{token}]: no such index")
    if isinstance(current, Mapping):
        if token in current:
            return current[token]
        raise ExpressionError(f"{walked}: has no property {token!r}")
    if isinstance(current, list):
        for item in current:
            if isinstance(item, Mapping) and any(item.get(f) == token for f in _NAME_FIELDS):
                return item
        raise ExpressionError(f"{walked}: has no entry named {token!r}")
    raise ExpressionError(f"{walked}: cannot look up {token!r} in a {type(current).__name__}")


def to_text(value: Any) -> str:
    """How the pipeline service prints a value inside Std:Join."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def _join(body: Any, context: Context) -> str:
    if not isinstance(body, Mapping) or "Values" not in body:
        raise ExpressionError(f"Std:Join expects On and Values, got {body!r}")
    separator = body.get("On", "")
    return str(separator).join(to_text(resolve(v, context)) for v in body["Values"])


def _json_get(body: Any, context: Context) -> Any:
    if not isinstance(body, Mapping) or "Path" not in body:
        raise ExpressionError(f"Std:JsonGet expects PropertyFile (or S3Uri) and Path: {body!r}")
    path = body["Path"]
    if "PropertyFile" in body:
        reference = body["PropertyFile"]
        if isinstance(reference, Mapping) and "Get" in reference:
            reference = reference["Get"]
        match = re.fullmatch(r"Steps\.([^.]+)\.PropertyFiles\.(.+)", str(reference))
        if not match:
            raise ExpressionError(f"Std:JsonGet: bad PropertyFile reference {reference!r}")
        step, name = match.groups()
        if step not in context.steps:
            raise ExpressionError(
                f"Std:JsonGet {reference}: step {step} has not produced its properties"
            )
        if context.property_file is None:
            raise ExpressionError(f"Std:JsonGet {reference}: property files are not available")
        document = context.property_file(step, name)
        where = f"{name} (from step {step})"
    elif "S3Uri" in body:
        uri = resolve(body["S3Uri"], context)
        if context.json_at is None:
            raise ExpressionError(f"Std:JsonGet {uri}: JSON files are not available")
        document = context.json_at(uri)
        where = str(uri)
    else:
        raise ExpressionError(f"Std:JsonGet needs a PropertyFile or an S3Uri: {body!r}")
    value = document
    for token in parse_path(path):
        if isinstance(token, int):
            ok = isinstance(value, list) and -len(value) <= token < len(value)
        else:
            ok = isinstance(value, Mapping) and token in value
        if not ok:
            raise ExpressionError(f"Std:JsonGet: {where} has no value at path {path!r}")
        value = value[token]
    return value


# -- conditions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """One evaluated condition: what was compared and the result (for summaries)."""

    type: str
    result: bool
    left: Any = None
    right: Any = None
    left_source: Any = None
    right_source: Any = None
    children: tuple[Evaluation, ...] = ()

    def describe(self) -> str:
        if self.type in COMPARISON_SYMBOLS:
            return (
                f"{_label(self.left_source, self.left)} {COMPARISON_SYMBOLS[self.type]} "
                f"{_label(self.right_source, self.right)} -> {self.result}"
            )
        if self.type == "In":
            return f"{_label(self.left_source, self.left)} in {self.right!r} -> {self.result}"
        if self.type == "Not":
            return f"not ({self.children[0].describe()}) -> {self.result}"
        return " or ".join(f"({c.describe()})" for c in self.children) + f" -> {self.result}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"Type": self.type, "Result": self.result}
        if self.type in COMPARISON_SYMBOLS or self.type == "In":
            data.update(LeftValue=self.left, RightValue=self.right)
            data.update(LeftLabel=_label(self.left_source, self.left))
            data.update(RightLabel=_label(self.right_source, self.right))
        if self.children:
            data["Conditions"] = [c.as_dict() for c in self.children]
        return data


def _label(source: Any, value: Any) -> str:
    """A readable name for an operand: the parameter or JSON path it came from."""
    shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
    if isinstance(source, Mapping):
        if "Get" in source and str(source["Get"]).startswith("Parameters."):
            return f"{source['Get'].split('.', 1)[1]} {shown}"
        if "Get" in source and str(source["Get"]).startswith("Steps."):
            # Steps.ResolveChampion.OutputParameters['X'] -> ResolveChampion.X
            path = source["Get"].split(".", 1)[1]
            step, _, rest = path.partition(".")
            if rest.startswith("OutputParameters['"):
                rest = rest[len("OutputParameters['") :].rstrip("']")
            return f"{step}.{rest} {shown}"
        if "Std:JsonGet" in source:
            return f"{source['Std:JsonGet'].get('Path')} {shown}"
        if "Get" in source and str(source["Get"]).startswith("Execution."):
            return f"{source['Get']} {shown}"  # e.g. Execution.PipelineExecutionArn
    return shown


def evaluate_condition(condition: Mapping[str, Any], context: Context) -> Evaluation:
    kind = condition.get("Type")
    if kind in COMPARISONS:
        left_source, right_source = condition.get("LeftValue"), condition.get("RightValue")
        left, right = resolve(left_source, context), resolve(right_source, context)
        _check_comparable(kind, left, right)
        return Evaluation(
            kind, bool(COMPARISONS[kind](left, right)), left, right, left_source, right_source
        )
    if kind == "In":
        query_source = condition.get("QueryValue")
        query = resolve(query_source, context)
        values = [resolve(v, context) for v in condition.get("Values", [])]
        result = any(type_name(query) == type_name(v) and query == v for v in values)
        return Evaluation(kind, result, query, values, query_source, None)
    if kind == "Not":
        if not isinstance(condition.get("Condition"), Mapping):
            raise ExpressionError(
                f"condition Not needs the condition it negates under 'Condition', got keys "
                f"{sorted(condition)}"
            )
        inner = evaluate_condition(condition["Condition"], context)
        return Evaluation(kind, not inner.result, children=(inner,))
    if kind == "Or":
        children = tuple(evaluate_condition(c, context) for c in condition.get("Conditions", []))
        return Evaluation(kind, any(c.result for c in children), children=children)
    raise ExpressionError(f"unknown condition type {kind!r}")


def evaluate_all(conditions: list[Mapping[str, Any]], context: Context) -> list[Evaluation]:
    """A ConditionStep's Conditions: all must hold (they are ANDed)."""
    return [evaluate_condition(c, context) for c in conditions]


def type_name(value: Any) -> str:
    """A value's pipeline type: String, Integer, Float, Boolean (or its Python type's name)."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    return "Null" if value is None else type(value).__name__


def _check_comparable(kind: str, left: Any, right: Any) -> None:
    a, b = type_name(left), type_name(right)
    if kind == "Equals":
        if a != b:
            raise ExpressionError(
                f"LeftValue [{to_text(left)}] of type [{a}] and RightValue [{to_text(right)}] "
                f"of type [{b}] are not of the same type."
            )
        return
    numbers = ("Integer", "Float")
    if not ((a in numbers and b in numbers) or a == b == "String"):
        raise ExpressionError(
            f"Condition of type [{kind}] not supported between [{to_text(left)}] of type [{a}] "
            f"and [{to_text(right)}] of type [{b}]"
        )


# -- references, for the step graph -----------------------------------------------------


def step_references(value: Any) -> set[str]:
    """Names of the steps an Arguments tree (or condition) reads properties from."""
    found: set[str] = set()
    _collect(value, found)
    return found


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        if "Get" in value and isinstance(value["Get"], str) and value["Get"].startswith("Steps."):
            found.add(value["Get"].split(".", 2)[1])
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)

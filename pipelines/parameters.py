"""Execution parameters: `--param K=V` parsing and type-checking against a definition.

Shared by the local engine and `start --target sagemaker`, so a bad value is refused with
the same message before anything runs, wherever it would run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.errors import UsageError


class ParameterError(UsageError, ValueError):
    """A parameter override is unknown or has a value of the wrong type."""


def parse_assignments(assignments: Iterable[str]) -> dict[str, str]:
    """`["A=1", "B=x=y"]` -> `{"A": "1", "B": "x=y"}`; a repeated name keeps the last value."""
    parsed: dict[str, str] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param {item!r}: expected NAME=VALUE")
        parsed[name.strip()] = value
    return parsed


def coerce(name: str, type_name: str, value: Any) -> Any:
    """A value as the definition's parameter type (String, Integer, Float or Boolean)."""
    text = str(value).strip() if not isinstance(value, str) else value
    try:
        if type_name == "String":
            return str(value)
        if type_name == "Integer":
            if isinstance(value, bool):
                raise ValueError
            number = float(text) if isinstance(value, str) else value
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            return int(number)
        if type_name == "Float":
            if isinstance(value, bool):
                raise ValueError
            number = float(text)
            if not math.isfinite(number):
                raise ValueError
            return number
        if type_name == "Boolean":
            if isinstance(value, bool):
                return value
            lowered = text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            raise ValueError
    except (TypeError, ValueError):
        raise ParameterError(
            f"parameter {name} expects {_article(type_name)} {type_name}, got {value!r}"
        ) from None
    raise ParameterError(f"parameter {name} has unsupported type {type_name!r}")


def resolve_parameters(
    declared: Iterable[Mapping[str, Any]], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """Defaults from the definition's `Parameters` list, overridden and type-checked."""
    declared = list(declared)
    by_name = {p["Name"]: p for p in declared}
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; the pipeline declares "
            f"{', '.join(sorted(by_name))}"
        )
    resolved: dict[str, Any] = {}
    for spec in declared:
        name, type_name = spec["Name"], spec["Type"]
        if name in overrides:
            value = coerce(name, type_name, overrides[name])
        elif "DefaultValue" in spec:
            value = coerce(name, type_name, spec["DefaultValue"])
        else:
            raise ParameterError(f"parameter {name} has no default and was not given")
        allowed = spec.get("EnumValues")
        if allowed and value not in allowed:
            raise ParameterError(
                f"parameter {name} must be one of {', '.join(map(str, allowed))}, got {value!r}"
            )
        resolved[name] = value
    return resolved


def _article(type_name: str) -> str:
    return "an" if type_name[0] in "AEIOU" else "a"

"""What every `pipeline.toml` section model shares: strictness, the reusable field rules,
and the one translation of a pydantic error into a message naming file, section, key and
value (e.g. "pipeline.toml: [retry].max_attempts must be 1 to 20 (SageMaker's limit), got 21").

The section models live next to their users (`pipelines/config.py` for the core sections,
`pipelines/<feature>/settings.py` for the others); `pipelines/config.py` validates them all
when the file loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo

# Unknown keys are refused and nothing is converted: "1" for an int, 1 for a bool or a
# string, are mistakes (an int for a float is not: TOML users write 1 for 1.0).
# defer_build: a model's validator is built when it first validates (load_config builds the
# two top-level ones), not at import: 17 section classes cost every command ~45 ms before,
# `--version` and `--help` included.
SECTION = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class Section(BaseModel):
    """A table of pipeline.toml: immutable once validated."""

    model_config = SECTION


_KINDS = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float",
    "float_parsing": "float",
    "finite_number": "a finite number",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "string_type": "str",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dataclass_type": "a table",
    "dataclass_args_type": "a table",
}
_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")


def between(low: float, high: float, why: str = "") -> AfterValidator:
    """A number from `low` to `high`, both included."""

    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}{why}")
        return value

    return AfterValidator(check)


def at_least(low: float) -> AfterValidator:
    def check(value: float) -> float:
        if value < low:
            raise ValueError(f"must be at least {low}")
        return value

    return AfterValidator(check)


def one_of(choices: Sequence[Any]) -> AfterValidator:
    def check(value: Any) -> Any:
        if value not in choices:
            listed = (f'"{c}"' if isinstance(c, str) else str(c) for c in choices)
            raise ValueError("must be one of " + ", ".join(listed))
        return value

    return AfterValidator(check)


def project(info: ValidationInfo) -> Any:
    """The `ProjectConfig` a section is validated for (its other sections, its root), or None
    when a section object is built directly (tests, command-line overrides)."""
    return (info.context or {}).get("config")


def describe(path: Path, exc: ValidationError, root: type) -> str:
    """One line per problem: "<file>: [section].key <what is wrong>, got <value>"."""
    lines = []
    unknown: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        tables, rest = _split(error["loc"], root)
        if error["type"] in _UNKNOWN and len(rest) == 1:
            unknown.setdefault(".".join(tables), []).append(str(rest[0]))
            continue
        if not tables and rest:  # a section that is a plain table (e.g. [pricing])
            tables, rest = [str(rest[0])], rest[1:]
        text = _text(error)
        if not rest and error["type"] in _KINDS:  # a table that is not one
            lines.append(f"[{'.'.join(tables)}] {text}, got {error['input']!r}")
            continue
        if not rest:  # a rule across keys: its message starts with the key it is about
            lines.append(f"[{'.'.join(tables)}].{text}" if tables else text)
            continue
        key = str(rest[0]) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest[1:])
        value = error.get("input", "")
        # A message that shows the value already (a string, quoted) or the resolved default
        # it checked (the input was empty) is not repeated.
        shown = value in ("", None) or "got " in text
        shown = shown or (isinstance(value, str) and repr(value) in text)
        if error["type"] != "missing" and not shown:
            text += f", got {error['input']!r}"
        lines.append(f"[{'.'.join(tables)}].{key} {text}")
    for table, keys in unknown.items():
        where = f"in [{table}]" if table else "section(s)"
        lines.insert(0, f"unknown key(s) {where}: {', '.join(sorted(keys))}")
    return "\n".join(f"{path}: {line}" for line in lines)


def _text(error: Any) -> str:
    kind = error["type"]
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}"
    if kind == "missing":
        return "is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def _split(loc: tuple[Any, ...], root: type) -> tuple[list[str], list[Any]]:
    """The tables a location passes through ("triggers", "watch") and what follows them
    (the key, then list indices or dict keys)."""
    tables: list[str] = []
    model: Any = root
    for index, part in enumerate(loc):
        fields = getattr(model, "__pydantic_fields__", {})
        field = fields.get(part) if isinstance(part, str) else None
        inner = getattr(field, "annotation", None)
        if field is None or not hasattr(inner, "__pydantic_fields__"):
            return tables, list(loc[index:])
        tables.append(part)
        model = inner
    return tables, []

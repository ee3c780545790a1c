"""Enough TOML writing for test copies of pipeline.toml (the standard library only reads it)."""

from __future__ import annotations

import json
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    # A JSON string literal is a valid TOML basic string.
    return json.dumps(str(value))


def dump_toml(data: dict[str, Any]) -> str:
    """Tables of scalars and lists, with nested tables as [section.name]."""
    lines: list[str] = []

    def table(prefix: str, values: dict[str, Any]) -> None:
        lines.append(f"[{prefix}]")
        lines.extend(
            f"{key} = {toml_value(value)}"
            for key, value in values.items()
            if not isinstance(value, dict)
        )
        lines.append("")
        for key, value in values.items():
            if isinstance(value, dict):
                table(f"{prefix}.{key}", value)

    for section, values in data.items():
        table(section, values)
    return "\n".join(lines)

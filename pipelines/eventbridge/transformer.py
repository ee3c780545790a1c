"""EventBridge input transformers rendered locally (EventBridge user guide, "Transforming
target input"), so local notifications carry the text AWS would send.

- InputPathsMap values are JSON paths in dot notation (`$.detail.object.key`, `$.resources[0]`).
- In InputTemplate, `<name>` inside a JSON string is replaced by the raw value (EventBridge
  does not escape it); outside a string by the value's JSON (strings quoted).
- A path that does not exist defines no variable; its placeholder disappears (empty text
  inside a string, `null` outside).
- Predefined variables: aws.events.rule-name, aws.events.rule-arn, aws.events.event,
  aws.events.event.json, aws.events.event.ingestion-time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_MISSING = object()
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def json_path(event: Any, path: str) -> Any:
    """The value at a dot-notation JSON path, or a private sentinel when absent."""
    if path == "$":
        return event
    if not path.startswith("$."):
        raise ValueError(f"JSON path {path!r} must start with '$.'")
    node = event
    for name, index in _SEGMENT.findall(path[2:]):
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
        else:
            if not isinstance(node, Mapping) or name not in node:
                return _MISSING
            node = node[name]
    return node


def render(
    transformer: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    rule_name: str = "",
    rule_arn: str = "",
    ingestion_time: str | None = None,
) -> str:
    """The text EventBridge would deliver to the target for `event`."""
    variables: dict[str, Any] = {}
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        value = json_path(event, path)
        if value is not _MISSING:
            variables[name] = value
    variables.update(
        {
            "aws.events.rule-name": rule_name,
            "aws.events.rule-arn": rule_arn,
            "aws.events.event": dict(event),
            "aws.events.event.json": json.dumps(event, separators=(",", ":")),
            "aws.events.event.ingestion-time": ingestion_time or event.get("time", ""),
        }
    )
    return _substitute(transformer["InputTemplate"], variables)


def render_text(transformer: Mapping[str, Any], event: Mapping[str, Any], **kwargs: Any) -> str:
    """Like `render`, but a template that is one JSON string comes back as its plain text."""
    output = render(transformer, event, **kwargs)
    try:
        decoded = json.loads(output)
    except ValueError:
        return output
    return decoded if isinstance(decoded, str) else output


def _substitute(template: str, variables: Mapping[str, Any]) -> str:
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        char = template[i]
        if in_string and char == "\\" and i + 1 < len(template):
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<":
            match = _PLACEHOLDER.match(template, i)
            if match and match.group(1) in variables:
                value = variables[match.group(1)]
                out.append(_inside_string(value) if in_string else json.dumps(value))
                i = match.end()
                continue
            if match and in_string:
                # An undefined variable vanishes from the output.
                i = match.end()
                continue
            if match:
                out.append("null")
                i = match.end()
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _inside_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))

"""`--json` output, one convention for every command.

Keys are snake_case: the local engine's records already are, and shell tools (jq, Python)
read them without quoting. SageMaker's API documents (PascalCase: a record's top-level keys
such as `ModelPackageVersion`) become snake_case at the top level; what sits *under* such a
key is kept as SageMaker spells it (a step's `properties`, a package's
`evaluation_metrics`, a pipeline definition), because property paths and the AWS docs name
those fields, and names that are data (parameter names, step names) must not change.

Times are ISO 8601 in UTC with a `Z`, to the millisecond (`2026-12-06T23:40:49.123Z`),
whether the source holds epoch seconds, a datetime or an ISO string.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(key: str) -> str:
    """`ModelPackageVersion` -> `model_package_version`, `S3Uri` -> `s3_uri`,
    `PipelineARN` -> `pipeline_arn`; snake_case keys stay as they are."""
    return _WORD_BOUNDARY.sub("_", key).lower()


def iso_time(value: float | int | str | datetime | None) -> str | None:
    """A time as ISO 8601 UTC (`...Z`); None stays None."""
    if value is None:
        return None
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        moment = value
    if moment.tzinfo is None:  # SageMaker and the engine record UTC
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def is_time_key(key: str) -> bool:
    name = snake_case(key)
    return name == "time" or name.endswith("_time")


def record(document: Mapping[str, Any]) -> dict[str, Any]:
    """One object: snake_case top-level keys, its `*_time` values as ISO 8601 UTC."""
    out = {}
    for key, value in document.items():
        name = snake_case(key)
        out[name] = iso_time(value) if is_time_key(name) and value is not None else value
    return out


def records(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [record(document) for document in documents]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, default=_default, ensure_ascii=False)


def print_json(document: Any) -> None:
    sys.stdout.write(dumps(document) + "\n")

"""How the view writes numbers, times, sizes and statuses: one place for the page, the live
status endpoint and the explanations, so they never disagree.

Numbers are rounded for reading (three significant digits, at most four decimals): the
exact values stay in evaluation.json and the state database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipelines.app.report import format_number, format_seconds, metric_words
from pipelines.local.lineage import format_bytes
from pipelines.local.records import StepStatus
from pipelines.view.cost import format_usd

__all__ = [
    "STATUS_CLASSES",
    "format_bytes",
    "format_number",
    "format_parameter",
    "format_seconds",
    "format_time",
    "format_usd",
    "metric_words",
    "status_class",
    "status_line",
]

# Status -> CSS class; a cache hit gets its own class on top of "succeeded".
STATUS_CLASSES = {
    StepStatus.SUCCEEDED: "succeeded",
    StepStatus.FAILED: "failed",
    StepStatus.EXECUTING: "executing",
    StepStatus.STARTING: "executing",
    StepStatus.STOPPING: "executing",
    StepStatus.STOPPED: "failed",
    StepStatus.NOT_EXECUTED: "notexecuted",
    StepStatus.NOT_STARTED: "notstarted",
}


def format_parameter(value: Any) -> str:
    """A parameter's value as given (up to six significant digits for floats)."""
    if isinstance(value, float):
        return format_number(value, digits=6)
    return value if isinstance(value, str) else json.dumps(value)


def format_time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_class(step: Mapping[str, Any]) -> str:
    if step.get("cache_hit") and step.get("status") == StepStatus.SUCCEEDED:
        return "cached"
    return STATUS_CLASSES.get(step.get("status") or StepStatus.NOT_STARTED, "notstarted")


def status_line(step: Mapping[str, Any]) -> str:
    """The third line of a graph node: status, duration, cache hit, retries."""
    parts = [step["status"]]
    if step.get("duration") is not None:
        parts.append(format_seconds(step["duration"]))
    if step.get("cache_hit"):
        parts.append("⚡ cache hit")
    if step.get("retries"):
        parts.append(f"↻ {step['retries']} {'retry' if step['retries'] == 1 else 'retries'}")
    return " · ".join(parts)

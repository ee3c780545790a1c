"""One execution report, computed once from the engine's records and rendered three ways:
the run's final summary (progress), `executions describe`, and the view's page.

It holds what every rendering says the same way: each step's status, duration, attempts
(and so retries), cache hit or miss, warnings and failure; the execution's status, duration,
SageMaker's FailureReason and the project's explanation of it (which step failed, and why).
Renderings add what only they show (the summary's artifacts, the page's charts).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.app import drift_report
from pipelines.local import failures
from pipelines.local.lineage import describe_lines, load_snapshot
from pipelines.local.records import (
    RUNNING,
    ExecutionRecord,
    ExecutionResult,
    ExecutionStatus,
    StepRecord,
    StepStatus,
)
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

# Step types that run a job: a result they did not reuse is a cache miss.
JOB_TYPES = ("Processing", "Training")
STEP_HEADERS = ("Step", "Type", "Status", "Duration", "Attempts", "Cache")


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


# Numbers rounded for reading (three significant digits, at most four decimals): the
# exact values stay in evaluation.json and the state database.
MAX_DECIMALS = 4


def format_number(value: Any, digits: int = 3) -> str:
    """0.9710666666666666 -> "0.971", 0.04338 -> "0.0434", 0.000999 -> "0.001",
    1234.5 -> "1,234", 12 -> "12"; anything else as text ("-" for None)."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{value:,.0f}"
    decimals = min(MAX_DECIMALS, digits - 1 - magnitude)
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    if text in ("0", "-0"):  # smaller than the decimals shown: keep it visible
        return f"{value:.{digits - 1}g}"
    return text


def metric_words(name: str) -> str:
    """average_precision -> average precision (for sentences; tables keep the key)."""
    return name.replace("_", " ")


@dataclass(frozen=True)
class StepReport:
    name: str
    type: str
    status: StepStatus
    start: float | None
    end: float | None
    duration: float | None  # so far, for a step still running; None if it never started
    attempts: int
    cache_source_id: str | None  # the execution whose result a cache hit reused
    cache_warning: str | None  # a hit whose inputs changed since the reused run
    warnings: tuple[str, ...]  # the stale cache hit's, an unfired fault's
    failure_reason: str | None
    notes: tuple[str, ...]  # describe's lines under the step: failure, job, logs, condition

    @property
    def retries(self) -> int:
        return max(self.attempts - 1, 0)

    @property
    def cache_hit(self) -> bool:
        return self.cache_source_id is not None

    @property
    def cache(self) -> str:
        """The Cache column: the reused execution, "miss" for a job that ran, else empty."""
        if self.cache_source_id:
            stale = ", inputs changed" if self.cache_warning else ""
            return f"hit ({self.cache_source_id}{stale})"
        if self.status == StepStatus.SUCCEEDED and self.type in JOB_TYPES:
            return "miss"
        return ""

    def row(self) -> tuple[str, ...]:
        """The step's row under STEP_HEADERS."""
        return (
            self.name,
            self.type,
            self.status,
            format_seconds(self.duration),
            str(self.attempts) if self.attempts else "-",
            self.cache,
        )


@dataclass(frozen=True)
class ExecutionReport:
    execution_id: str
    status: ExecutionStatus
    duration: float | None
    failure_reason: str | None  # as SageMaker words it (generic for a failed step)
    failure_detail: str | None  # the project's words: which step failed, and why
    steps: tuple[StepReport, ...]

    @property
    def succeeded(self) -> bool:
        return self.status == ExecutionStatus.SUCCEEDED

    @property
    def warnings(self) -> list[str]:
        return [f"WARNING: {warning}" for step in self.steps for warning in step.warnings]

    @property
    def headline(self) -> str:
        """`Execution <id> Failed in 1m02s: <FailureReason> — <which step and why>`."""
        text = f"Execution {self.execution_id} {self.status} in {format_seconds(self.duration)}"
        if self.failure_reason:
            text += f": {self.failure_reason}"
            if self.failure_detail and self.failure_detail != self.failure_reason:
                text += f" — {self.failure_detail}"
        return text

    def rows(self) -> list[tuple[str, ...]]:
        return [step.row() for step in self.steps]


def step_report(record: StepRecord, now: float | None = None) -> StepReport:
    """`now` measures a step still running (None: a running step has no duration yet)."""
    end = record.end
    if end is None and now is not None and record.status in RUNNING:
        end = now
    duration = end - record.start if record.start is not None and end is not None else None
    return StepReport(
        name=record.name,
        type=record.type,
        status=record.status,
        start=record.start,
        end=record.end,
        duration=duration,
        attempts=record.attempts or 0,
        cache_source_id=record.cache_source_id,
        cache_warning=record.cache_warning,
        warnings=tuple(record.warnings),
        failure_reason=record.failure_reason,
        notes=tuple(_notes(record)),
    )


def _notes(record: StepRecord) -> Iterable[str]:
    yield from (f"WARNING: {warning}" for warning in record.warnings)
    if record.failure_reason:
        yield f"failure: {record.failure_reason}"
    if record.job_name and record.status != StepStatus.NOT_EXECUTED:
        yield f"job: {record.job_name}"
    yield from (f"log: {log}" for log in record.logs or [])
    properties = record.properties or {}
    if record.type == "Condition" and properties.get("Summary"):
        yield f"condition: {properties['Summary']}"
    if record.type == "RegisterModel" and properties.get("ModelPackageArn"):
        yield (
            f"model package: version {properties['ModelPackageVersion']} "
            f"{properties['ModelPackageArn']}"
        )


def from_result(result: ExecutionResult) -> ExecutionReport:
    """The report of an execution the engine just finished."""
    return ExecutionReport(
        execution_id=result.execution_id,
        status=ExecutionStatus(result.status),
        duration=result.duration,
        failure_reason=result.failure_reason,
        failure_detail=result.failure_detail,
        steps=tuple(step_report(record) for record in result.steps.values()),
    )


def from_records(
    execution: ExecutionRecord, steps: Iterable[StepRecord], now: float | None = None
) -> ExecutionReport:
    """The report of a stored execution (local, or SageMaker's as the view reads it); `now`
    measures one still running."""
    steps = list(steps)
    running_now = now if execution.running else None
    return ExecutionReport(
        execution_id=execution.execution_id,
        status=ExecutionStatus(execution.status),
        duration=execution.duration(running_now),
        failure_reason=execution.failure_reason,
        failure_detail=failures.explain_from_steps(steps),
        steps=tuple(step_report(record, running_now) for record in steps),
    )


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns, two spaces apart, no trailing blanks."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def format_time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Described:
    """`executions describe`: a stored execution, its report, and the input snapshot and
    drift check it ran on."""

    execution: ExecutionRecord
    steps: tuple[StepRecord, ...]
    report: ExecutionReport
    snapshot: dict[str, Any] | None
    drift: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        """The `--json` document: the stored fields, and the explanation beside
        SageMaker's generic FailureReason."""
        return {
            "execution": {
                **self.execution.to_dict(),
                "failure_detail": self.report.failure_detail,
            },
            "steps": [step.to_dict() for step in self.steps],
            "snapshot": self.snapshot,
            "drift": self.drift,
        }

    def lines(self) -> list[str]:
        execution, report = self.execution, self.report
        lines = [
            f"Execution   {execution.execution_id}",
            f"ARN         {execution.execution_arn}",
            f"Pipeline    {execution.pipeline_name}",
            f"Status      {execution.status}",
            f"Started     {format_time(execution.start_time)}",
            f"Duration    {format_seconds(report.duration)}",
        ]
        if execution.failure_reason:
            lines.append(f"Failure     {execution.failure_reason}")
        if report.failure_detail:
            lines.append(f"Why         {report.failure_detail}")
        options = execution.options or {}
        if options.get("no_cache") or options.get("faults"):
            lines.append(f"Options     {json.dumps(options)}")
        lines.append("Parameters")
        lines += [f"  {name:<24} {value}" for name, value in sorted(execution.parameters.items())]
        if self.snapshot:
            lines.append(f"Data snapshot ({self.snapshot['step']})")
            lines += describe_lines(self.snapshot)
        if self.drift:
            lines += drift_report.summary_lines(self.drift)
        lines.append("Steps")
        lines += ["  " + line for line in table(STEP_HEADERS, report.rows())]
        for step in report.steps:
            if step.notes:
                lines.append(f"{step.name}:")
                lines += [f"  {note}" for note in step.notes]
        return lines


def describe(state: State, store: ArtifactStore, ident: str, now: float | None = None) -> Described:
    """The execution `ident` names (id, ARN or unique prefix); LookupError if none does."""
    execution = state.find_execution(ident)
    steps = tuple(state.list_steps(execution.execution_id))
    drift = drift_report.describe(
        [drift_report.StepView(s.name, s.type, s.status, s.properties) for s in steps],
        drift_report.read_store_json(store),
        execution.parameters,
        finished=not execution.running,
    )
    return Described(
        execution=execution,
        steps=steps,
        report=from_records(execution, steps, time.time() if now is None else now),
        snapshot=load_snapshot(store, ((s.name, s.properties) for s in steps)),
        drift=drift,
    )

"""What a local run shows: live step progress, then a summary.

On a terminal a rich Live table (status, duration, attempt, cache hit) updates in place;
otherwise (CI, pipes, tests) every status change is one plain line, so logs stay readable.
rich is imported only for the terminal case, keeping cached reruns cheap.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.app import drift_report
from pipelines.app.outcome import (
    REGISTERED,
    CacheHit,
    FailedStep,
    HeldBack,
    KnownModels,
    OutcomeFacts,
    Registration,
    held_back_by,
    outcome,
)
from pipelines.app.report import STEP_HEADERS, ExecutionReport, format_seconds, from_result
from pipelines.local.graph import build_graph
from pipelines.local.lineage import load_snapshot, summary_line
from pipelines.local.records import (
    TERMINAL,
    ExecutionResult,
    StepRecord,
    StepStatus,
    StepUpdate,
)
from pipelines.local.storage import ArtifactStore, StoreError, join_uri

_STYLES = {
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "bold red",
    StepStatus.STOPPED: "yellow",
    StepStatus.NOT_EXECUTED: "dim",
    StepStatus.RETRYING: "yellow",
    StepStatus.EXECUTING: "cyan",
    StepStatus.STARTING: "cyan",
}


def _cache_note(record: StepRecord) -> str:
    if not record.cache_source_id:
        return ""
    note = f"cache hit (execution {record.cache_source_id})"
    if record.cache_warning:
        note += f" WARNING: {record.cache_warning}"
    return note


class PlainProgress:
    """One line per status change."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._lock = threading.Lock()

    def execution_started(self, execution_id: str, steps: Sequence[StepRecord]) -> None:
        with self._lock:
            self._write(f"Execution {execution_id} started: {len(steps)} steps")

    def step_changed(self, update: StepUpdate) -> None:
        record = update.step
        if update.status == StepStatus.STARTING:
            return
        parts = [f"  {record.name:<22} {update.status:<12}"]
        if update.status == StepStatus.RETRYING:
            parts.append(
                f"attempt {record.attempts} failed ({update.message}); retrying in "
                f"{format_seconds(update.retry_delay)}"
            )
        elif update.status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.STOPPED):
            parts.append(format_seconds(record.duration))
            if record.attempts > 1:
                parts.append(f"after {record.attempts} attempts")
            if record.cache_source_id:
                parts.append(_cache_note(record))
            if update.status == StepStatus.FAILED and record.failure_reason:
                parts.append(f"- {record.failure_reason}")
        elif update.status == StepStatus.EXECUTING and record.attempts > 1:
            parts.append(f"attempt {record.attempts}")
        with self._lock:
            self._write(" ".join(p for p in parts if p).rstrip())

    def execution_finished(self, result: ExecutionResult) -> None:
        pass


class LiveProgress:
    """A rich Live table, redrawn as steps change and as time passes."""

    def __init__(self, console: Any) -> None:
        self._console = console
        self._records: list[StepRecord] = []
        self._notes: dict[str, str] = {}
        self._live: Any = None
        self._execution_id = ""
        self._lock = threading.Lock()

    def execution_started(self, execution_id: str, steps: Sequence[StepRecord]) -> None:
        from rich.live import Live

        self._execution_id = execution_id
        self._records = list(steps)
        self._live = Live(
            get_renderable=self._render,
            console=self._console,
            refresh_per_second=4,
            transient=True,  # the summary table takes its place
        )
        self._live.start()

    def step_changed(self, update: StepUpdate) -> None:
        with self._lock:
            if update.status == StepStatus.RETRYING:
                self._notes[update.step.name] = (
                    f"attempt {update.step.attempts} failed: {update.message}; retry in "
                    f"{format_seconds(update.retry_delay)}"
                )
            elif update.status in (StepStatus.SUCCEEDED, StepStatus.FAILED):
                record = update.step
                retried = f"after {record.attempts} attempts" if record.attempts > 1 else ""
                self._notes[record.name] = _cache_note(record) or record.failure_reason or retried
        if self._live is not None:
            self._live.refresh()

    def execution_finished(self, result: ExecutionResult) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def _render(self):
        from rich.table import Table

        table = Table(title=f"Execution {self._execution_id}", title_justify="left")
        table.add_column("Step", no_wrap=True)
        for column in ("Type", "Status", "Duration", "Attempt", "Notes"):
            table.add_column(column, overflow="fold")
        with self._lock:
            for record in self._records:
                status = record.status
                style = _STYLES.get(status, "")
                table.add_row(
                    record.name,
                    record.type,
                    f"[{style}]{status}[/]" if style else status,
                    format_seconds(record.duration) if record.start else "",
                    str(record.attempts) if record.attempts else "",
                    self._notes.get(record.name, ""),
                )
        return table


# -- summary ----------------------------------------------------------------------------


@dataclass
class Summary:
    headline: str
    steps: list[tuple[str, ...]]
    details: list[str]
    ok: bool
    report: ExecutionReport


def summarize(
    result: ExecutionResult,
    store: ArtifactStore,
    *,
    events_path: Path | None = None,
    state_path: Path | None = None,
    jobs_root: Path | None = None,
    known: KnownModels | None = None,
) -> Summary:
    """`known` (pipelines.app.outcome.known_models) names a registered model by its version
    rather than its S3 URI, as the page does."""
    report = from_result(result)
    details: list[str] = []
    snapshot = load_snapshot(store, ((r.name, r.properties) for r in result.steps.values()))
    if snapshot:
        details.append(summary_line(snapshot))
    drift = execution_drift(result, store)
    if drift:
        details += drift_report.summary_lines(drift)
    details += report.warnings
    for record in result.steps.values():
        if record.type == "Condition" and record.properties:
            details.append(f"{record.name}: {record.properties.get('Summary', '')}")
    facts = execution_facts(result, store, drift, known)
    said = outcome(facts)
    details.append(f"Outcome: {said.title}")
    details += [f"  {line}" for line in said.details]
    if said.state == REGISTERED and facts.registration:
        # What only a terminal needs: the package to pass to AWS tools, the next command.
        details.append(f"  model package: {facts.registration.arn}")
        details.append(
            f"  approve with: run_pipeline.py registry approve {facts.registration.version}"
        )
    artifacts = list(_artifacts(result, store))
    if artifacts:
        details.append("Artifacts:")
        details += [f"  {label:<22} {where}" for label, where in artifacts]
    logs = [(r.name, r.job_dir) for r in result.steps.values() if r.job_dir]
    if logs:
        details.append("Logs:")
        details += [f"  {name:<22} {Path(job_dir) / 'logs'}" for name, job_dir in logs]
    if events_path:
        details.append(f"Events: {events_path}")
    if state_path:
        details.append(
            f"State: {state_path}  (run_pipeline.py executions describe {result.execution_id})"
        )
    return Summary(report.headline, report.rows(), details, report.succeeded, report)


def execution_drift(result: ExecutionResult, store: ArtifactStore) -> dict[str, Any] | None:
    """The execution's drift check and why it trained or not (pipelines.app.drift_report)."""
    steps = [
        drift_report.StepView(r.name, r.type, r.status, r.properties) for r in result.steps.values()
    ]
    return drift_report.describe(steps, drift_report.read_store_json(store), result.parameters)


def _artifacts(result: ExecutionResult, store: ArtifactStore):
    for record in result.steps.values():
        properties = record.properties or {}
        if record.status != StepStatus.SUCCEEDED:
            continue
        if record.type == "Processing":
            for output in (properties.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
                yield (
                    f"{record.name}/{output['OutputName']}",
                    _where(store, output["S3Output"]["S3Uri"]),
                )
        elif record.type == "Training":
            model = (properties.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
            if model:
                yield f"{record.name}/model", _where(store, model)


def execution_facts(
    result: ExecutionResult,
    store: ArtifactStore,
    drift: dict[str, Any] | None = None,
    known: KnownModels | None = None,
) -> OutcomeFacts:
    """The shared outcome's input from the engine's result (the page builds the same from
    its document: pipelines.view.explain.facts)."""
    specs = {node.name: node.spec for node in build_graph(result.definition)}
    records = [result.steps[name] for name in specs if name in result.steps]
    records += [r for name, r in result.steps.items() if name not in specs]
    decision = next(iter(_decisions(result, store)), None)
    package = next(
        (
            r
            for r in records
            if r.type == "RegisterModel" and r.status == StepStatus.SUCCEEDED and r.properties
        ),
        None,
    )
    registration = None
    if package is not None:
        properties = package.properties or {}
        registration = Registration(
            properties.get("ModelPackageGroupName"),
            properties.get("ModelPackageVersion"),
            properties.get("ModelApprovalStatus"),
            properties.get("ModelPackageArn"),
            ((package.metadata or {}).get("AlreadyRegistered") or {}).get("Message"),
        )
    conditions = [
        {"step": r.name, **(r.properties or {})} for r in records if r.type == "Condition"
    ]
    held = held_back_by(decision or {}, registration is not None, result.succeeded, conditions)
    return OutcomeFacts(
        status=result.status,
        steps=tuple(r.name for r in records),
        finished=sum(1 for r in records if r.status in TERMINAL),
        failure_reason=result.failure_reason,
        failed=tuple(
            FailedStep(
                r.name,
                r.type,
                (specs.get(r.name) or {}).get("DisplayName") or "",
                r.failure_reason,
                r.attempts or 0,
            )
            for r in records
            if r.status == StepStatus.FAILED
        ),
        decision=decision,
        registration=registration,
        held_back=tuple(
            HeldBack(
                c["step"],
                tuple(c.get("Evaluations") or ()),
                (specs.get(c["step"]) or {}).get("Description") or "",
            )
            for c in held or []
        ),
        cache_hits=tuple(CacheHit(r.name, r.cache_source_id) for r in records if r.cache_source_id),
        drift=drift,
        known=known or {},
    )


def _decisions(result: ExecutionResult, store: ArtifactStore):
    """The champion/challenger decisions written to the execution's property files."""
    for node in build_graph(result.definition):
        record = result.steps.get(node.name)
        if record is None or record.status != StepStatus.SUCCEEDED or not record.properties:
            continue
        outputs = (record.properties.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        locations = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in outputs}
        for spec in node.spec.get("PropertyFiles") or []:
            if spec.get("OutputName") not in locations:
                continue
            try:
                uri = join_uri(locations[spec["OutputName"]], spec["FilePath"])
                document = json.loads(store.read_bytes(uri))
            except (StoreError, ValueError):
                continue
            if isinstance(document, dict) and isinstance(document.get("decision"), dict):
                yield document["decision"]


def _where(store: ArtifactStore, uri: str) -> str:
    try:
        return str(store.path_for(uri))
    except StoreError:
        return uri


_HEADERS = STEP_HEADERS


def print_summary(
    summary: Summary, console: Any = None, write: Callable[[str], None] | None = None
) -> None:
    if console is not None and getattr(console, "is_terminal", False):
        from rich.table import Table

        table = Table(title=summary.headline, title_justify="left")
        table.add_column(_HEADERS[0], no_wrap=True)
        for header in _HEADERS[1:]:
            table.add_column(header, overflow="fold")
        for row in summary.steps:
            style = _STYLES.get(row[2], "")
            cells = list(row)
            cells[2] = f"[{style}]{row[2]}[/]" if style else row[2]
            table.add_row(*cells)
        console.print(table)
        for line in summary.details:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    emit = write or (lambda line: print(line, file=sys.stdout))
    emit(summary.headline)
    widths = [max(len(h), *(len(r[i]) for r in summary.steps)) for i, h in enumerate(_HEADERS)]
    emit("  " + "  ".join(h.ljust(w) for h, w in zip(_HEADERS, widths, strict=True)).rstrip())
    for row in summary.steps:
        emit("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for line in summary.details:
        emit(line)

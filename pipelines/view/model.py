"""The view model: everything a page shows about an execution (or the definition alone),
computed once as plain dicts; the templates only format it.

`build_document` is target-agnostic: it takes the engine's typed records (`ExecutionRecord`,
`StepRecord` by step name) and a reader for S3 URIs. The local collection
(`collect_execution`) reads the engine's state database, artifact store and job logs;
`pipelines.view.sagemaker` fills the same records from SageMaker's APIs. Nothing here runs
or changes anything. The graph is the engine's own (`build_graph`) over the definition the
execution ran, so the page and the engine cannot disagree about edges.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pipelines.app import drift_report
from pipelines.app.outcome import held_back_by, known_models
from pipelines.app.report import StepReport, from_records, step_report
from pipelines.app.runner import LocalPaths
from pipelines.config import ProjectConfig, load_pricing
from pipelines.definition_cache import load_definition
from pipelines.local.graph import build_graph
from pipelines.local.lineage import load_snapshot
from pipelines.local.orchestrator import RETRIED_ATTEMPTS, definition_hash
from pipelines.local.records import (
    ExecutionRecord,
    ExecutionStatus,
    StepRecord,
    StepStatus,
)
from pipelines.local.registry import ModelRegistry
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore, StoreError, join_uri
from pipelines.view import explain
from pipelines.view.cost import JOB_TYPES, cost_report
from pipelines.view.formats import format_seconds, status_class, status_line
from pipelines.view.layout import layout_graph
from pipelines.view.svg import NODE_STATE_CHARACTERS, clip

LOG_TAIL_LINES = 50
# Enough bytes for 50 long lines; log files of big jobs are never read whole.
LOG_TAIL_BYTES = 64 * 1024
# A failed step's retried attempts beside its last: enough to see a pattern, bounded.
LOG_FILES_PER_ATTEMPT = 6
LATEST = "latest"
LOCAL, SAGEMAKER = "local", "sagemaker"


class Reader(Protocol):
    """Where the page reads S3 objects from: the local store, or S3 itself."""

    def read_bytes(self, uri: str) -> bytes: ...

    def path_for(self, uri: str) -> Path: ...


def open_state(config: ProjectConfig) -> State:
    return State(LocalPaths(config.local_home).state)


def find_execution(state: State, ident: str | None) -> ExecutionRecord | None:
    """The execution `ident` names ("latest", an id, ARN or unique prefix); None when
    `ident` is None or "latest" and there are no executions. LookupError if unknown."""
    if ident is None or ident == LATEST:
        latest = state.list_executions(1)
        return latest[0] if latest else None
    return state.find_execution(ident)


def _definition_text(config: ProjectConfig, definition_hash: str | None) -> tuple[str, bool]:
    """The definition an execution ran: the current one if its hash matches, else a cached
    build with that hash; else the current one, flagged as possibly different."""
    text, _ = load_definition(config, "local")
    if definition_hash is None or _hash(text) == definition_hash:
        return text, True
    for path in sorted((config.local_home / "definitions").glob("local-*.json")):
        candidate = path.read_text(encoding="utf-8")
        if _hash(candidate) == definition_hash:
            return candidate, True
    return text, False


def _hash(text: str) -> str:
    return definition_hash(json.loads(text))


def _cached_graphs(config: ProjectConfig) -> dict[str, Any]:
    """Definition hash -> step graph, for every local definition build in the cache."""
    graphs = {}
    for path in sorted((config.local_home / "definitions").glob("local-*.json")):
        try:
            definition = json.loads(path.read_text(encoding="utf-8"))
            graphs[definition_hash(definition)] = build_graph(definition)
        except (OSError, ValueError):
            continue  # a build being replaced, or not one this engine can read
    return graphs


def collect_definition(config: ProjectConfig) -> dict[str, Any]:
    """The pipeline's structure alone, as Studio shows it before any run."""
    text, _ = _definition_text(config, None)
    return build_document(config, json.loads(text), execution=None, records={}, reader=None)


def collect_execution(config: ProjectConfig, ident: str | None = LATEST) -> dict[str, Any]:
    """One execution's page data; the definition-only document if there is none yet and
    `ident` is None or "latest". LookupError for an unknown id."""
    state = open_state(config)
    try:
        execution = find_execution(state, ident)
        if execution is None:
            return collect_definition(config)
        records = {s.name: s for s in state.list_steps(execution.execution_id)}
        text, exact = _definition_text(config, execution.definition_hash)
        store = ArtifactStore(LocalPaths(config.local_home).store)
        registry = ModelRegistry(state, config.aws.region)
        document = build_document(
            config,
            json.loads(text),
            execution,
            records,
            store,
            source_duration=lambda record: _source_duration(state, record),
            known_models=known_models(registry.list(config.pipeline.model_package_group)),
        )
        document["definition_matches"] = exact
        return document
    finally:
        state.close()


def build_document(
    config: ProjectConfig,
    definition: Mapping[str, Any],
    execution: ExecutionRecord | None,
    records: Mapping[str, StepRecord],
    reader: Reader | None,
    *,
    target: str = LOCAL,
    source_duration: Callable[[StepRecord], float | None] | None = None,
    known_models: Mapping[str, Mapping[str, Any]] | None = None,
    links: Mapping[str, Mapping[str, str]] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The view model of an execution (its step records by step name) or, with `execution`
    None, of the definition alone. `links` adds per-step links (console, logs)."""
    graph = build_graph(definition)
    layout = layout_graph(graph)
    now = time.time() if now is None else now
    running = execution is not None and execution.running
    # The report the run summary and `executions describe` print, computed once.
    report = from_records(execution, records.values(), now) if execution else None
    reported = {s.name: s for s in report.steps} if report else {}
    steps = []
    for node in graph:
        record = records.get(node.name)
        facts = reported.get(node.name) or step_report(StepRecord(node.name, node.type, 0))
        step = _step(node.name, node.type, node.spec, record, facts, reader)
        if step["cache_hit"] and source_duration is not None and record is not None:
            step["source_duration"] = source_duration(record)
        step["links"] = dict((links or {}).get(node.name) or {})
        step["css"] = status_class(step) if execution else "definition"
        step["state_line"] = status_line(step) if execution else step["type"]
        steps.append(step)
    document: dict[str, Any] = {
        "target": target,
        "pipeline": {
            "name": config.pipeline.name,
            "definition_version": definition.get("Version"),
            "parameters": [
                {"name": p.get("Name"), "type": p.get("Type"), "default": p.get("DefaultValue")}
                for p in definition.get("Parameters", [])
            ],
        },
        "layout": layout.to_dict(),
        "steps": steps,
        "execution": None,
        "definition_matches": True,
        "outcome": None,
        "live": False,
    }
    if execution is None:
        return document
    prices = load_pricing(config)
    document["execution"] = {
        "id": execution.execution_id,
        "arn": execution.execution_arn,
        "status": execution.status,
        "start_time": execution.start_time,
        "end_time": execution.end_time,
        "duration": report.duration,
        "failure_reason": report.failure_reason,
        "failure_detail": report.failure_detail,
        # Every step's warnings (a stale cache hit, an unfired fault), as the summary's.
        "warnings": [warning for step in report.steps for warning in step.warnings],
        "parameters": execution.parameters or {},
        "options": execution.options or {},
        "display_name": execution.display_name,
        "links": {},
    }
    document["live"] = running
    document["snapshot"] = load_snapshot(
        reader, ((name, record.properties) for name, record in records.items())
    )
    document["drift"] = _drift(graph, execution, records, reader, running)
    document["evaluation"] = _evaluation(config, graph, records, reader)
    document["registered_model"] = _registered_model(steps)
    document["held_back_by"] = _held_back_by(document, steps)
    document["cost"] = cost_report(steps, prices)
    names = [s["name"] for s in steps]
    for step in steps:
        condition = step["condition"]
        if condition is not None:
            condition["sentences"] = (
                explain.condition_sentences(condition["evaluations"], names, known_models)
                if condition["outcome"] == "False"
                else []
            )
    document["outcome"] = explain.outcome(document, known_models)
    document["execution"]["why"] = _why(document)
    return document


def _why(document: Mapping[str, Any]) -> str | None:
    """The failure in plain words: the quality gate's failed rules, or which step failed."""
    if document["execution"]["status"] != ExecutionStatus.FAILED:
        return None
    outcome = document.get("outcome") or {}
    if outcome.get("state") == "rejected" and outcome.get("details"):
        return " ".join(outcome["details"])
    return document["execution"]["failure_detail"]


def _step(
    name: str,
    kind: str,
    spec: Mapping[str, Any],
    record: StepRecord | None,
    facts: StepReport,
    reader: Reader | None,
) -> dict[str, Any]:
    record = record or StepRecord(name, kind, position=0)
    resolved = record.arguments
    arguments = resolved if resolved is not None else spec.get("Arguments", {})
    if kind == "Condition":
        # The branch steps are nodes of their own; the arguments panel shows the test.
        arguments = {"Conditions": (arguments or {}).get("Conditions", [])}
    properties = record.properties or {}
    history = attempt_history(record)
    final_logs = history[-1]["logs"] if history else record.logs or []
    step: dict[str, Any] = {
        "name": name,
        "type": kind,
        "display_name": spec.get("DisplayName") or "",
        "description": spec.get("Description") or "",
        "status": facts.status,
        "start_time": facts.start,
        "end_time": facts.end,
        "duration": facts.duration,
        "attempts": facts.attempts,
        "retries": facts.retries,
        "attempt_history": [
            {**attempt, "logs": [_log_tail(Path(p)) for p in attempt["logs"]]}
            for attempt in history
        ]
        if len(history) > 1
        else [],
        "cache_hit": facts.cache_hit,
        "cache_source": facts.cache_source_id,
        # A hit whose inputs changed under the same request (see pipelines/local/cache.py).
        "cache_warning": facts.cache_warning,
        "failure_reason": facts.failure_reason,
        "job_name": record.job_name,
        "job_dir": record.job_dir,
        "arguments": arguments,
        "arguments_source": "resolved" if resolved is not None else "definition",
        "inputs": _inputs(kind, arguments, reader),
        "outputs": _outputs(kind, arguments, properties, reader),
        "logs": [_log_tail(Path(p)) for p in final_logs],
        "condition": None,
        "fail_message": None,
        "model_package": None,
    }
    if kind == "Condition" and properties:
        step["condition"] = {
            "outcome": properties.get("Outcome"),
            "summary": properties.get("Summary"),
            "evaluations": properties.get("Evaluations") or [],
        }
    if kind == "Fail":
        message = (arguments or {}).get("ErrorMessage")
        step["fail_message"] = record.failure_reason or (
            message if isinstance(message, str) else None
        )
    if kind == "RegisterModel" and properties.get("ModelPackageArn"):
        step["model_package"] = {
            "arn": properties.get("ModelPackageArn"),
            "version": properties.get("ModelPackageVersion"),
            "group": properties.get("ModelPackageGroupName"),
            "approval_status": properties.get("ModelApprovalStatus"),
            # The local registry's lock found these files already registered (no new version).
            "already_registered": ((record.metadata or {}).get("AlreadyRegistered") or {}).get(
                "Message"
            ),
        }
    if kind == "Lambda" and properties.get("OutputParameters"):
        step["outputs"] = [
            {"name": key, "uri": str(value), "local": None, "container": None}
            for key, value in sorted(properties["OutputParameters"].items())
        ]
    return step


def attempt_history(record: StepRecord) -> list[dict[str, Any]]:
    """Every attempt of a step, oldest first: the retried ones the engine kept in the
    step's metadata, then the last one (the step's own fields). Log paths, not tails."""
    retried = (record.metadata or {}).get(RETRIED_ATTEMPTS) or []
    if not retried:
        return []
    earlier = {path for attempt in retried for path in attempt.get("Logs") or []}
    history = [
        {
            "attempt": attempt.get("Attempt"),
            "status": "Failed (retried)",
            "job_name": attempt.get("JobName"),
            "failure_reason": attempt.get("FailureReason"),
            "exception_type": attempt.get("ExceptionType"),
            "start_time": attempt.get("StartTime"),
            "end_time": attempt.get("EndTime"),
            "duration": _duration(attempt.get("StartTime"), attempt.get("EndTime")),
            "logs": list(attempt.get("Logs") or [])[-LOG_FILES_PER_ATTEMPT:],
        }
        for attempt in retried
    ]
    # The last attempt started when the previous one's failure was recorded (plus the
    # retry wait); on SageMaker, its own job's times may not be comparable.
    last_start = retried[-1].get("EndTime")
    last_duration = _duration(last_start, record.end)
    history.append(
        {
            "attempt": record.attempts,
            "status": record.status,
            "job_name": record.job_name,
            "failure_reason": record.failure_reason,
            "exception_type": None,
            "start_time": last_start,
            "end_time": record.end,
            "duration": last_duration if last_duration is None or last_duration >= 0 else None,
            "logs": [p for p in record.logs or [] if p not in earlier][-LOG_FILES_PER_ATTEMPT:],
        }
    )
    return history


def _duration(start: float | None, end: float | None) -> float | None:
    return end - start if start is not None and end is not None else None


def _source_duration(state: State, record: StepRecord | None) -> float | None:
    """How long the run a cache hit reused took (following hits of hits)."""
    seen: set[str] = set()
    while record is not None and record.cache_source_id:
        source_id = record.cache_source_id
        if source_id in seen:
            return None
        seen.add(source_id)
        record = state.get_step(source_id, record.name)
    if record is None:
        return None
    return _duration(record.start, record.end)


def _local(reader: Reader | None, uri: Any) -> str | None:
    if reader is None or not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    try:
        return str(reader.path_for(uri))
    except StoreError:
        return None


def _io(name: Any, uri: Any, container: Any, reader: Reader | None) -> dict[str, Any]:
    # Unresolved (definition) values are expressions: show them as JSON, not as a path.
    text = uri if isinstance(uri, str) else json.dumps(uri, sort_keys=True)
    return {"name": name, "uri": text, "local": _local(reader, uri), "container": container}


def _inputs(kind: str, arguments: Any, reader: Reader | None) -> list[dict[str, Any]]:
    arguments = arguments or {}
    if kind == "Processing":
        return [
            _io(
                item.get("InputName"),
                (item.get("S3Input") or {}).get("S3Uri"),
                (item.get("S3Input") or {}).get("LocalPath"),
                reader,
            )
            for item in arguments.get("ProcessingInputs") or []
        ]
    if kind == "Training":
        return [
            _io(
                item.get("ChannelName"),
                ((item.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri"),
                f"/opt/ml/input/data/{item.get('ChannelName')}",
                reader,
            )
            for item in arguments.get("InputDataConfig") or []
        ]
    return []


def _outputs(
    kind: str, arguments: Any, properties: Mapping[str, Any], reader: Reader | None
) -> list[dict[str, Any]]:
    # Properties hold what the job really wrote (for a cache hit: the reused run's outputs).
    source = properties or arguments or {}
    if kind == "Processing":
        return [
            _io(
                item.get("OutputName"),
                (item.get("S3Output") or {}).get("S3Uri"),
                (item.get("S3Output") or {}).get("LocalPath"),
                reader,
            )
            for item in (source.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        ]
    if kind == "Training":
        model = (properties.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if model:
            return [_io("model", model, "/opt/ml/model", reader)]
        path = (source.get("OutputDataConfig") or {}).get("S3OutputPath")
        return [_io("output path", path, "/opt/ml/model", reader)] if path else []
    return []


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return {"path": str(path), "name": path.name, "lines": [], "missing": True}
    text = data.decode("utf-8", errors="replace").splitlines()
    if size > LOG_TAIL_BYTES:
        text = text[1:]  # the first line is probably cut
    return {"path": str(path), "name": path.name, "lines": text[-lines:], "missing": False}


def _evaluation(
    config: ProjectConfig,
    graph: Any,
    records: Mapping[str, StepRecord],
    reader: Reader | None,
) -> dict[str, Any] | None:
    """evaluation.json: the first property file of a step that produced one."""
    for node in graph:
        record = records.get(node.name)
        properties = (record.properties if record else None) or {}
        for spec in node.spec.get("PropertyFiles") or []:
            outputs = (properties.get("ProcessingOutputConfig") or {}).get("Outputs") or []
            prefix = next(
                (
                    (o.get("S3Output") or {}).get("S3Uri")
                    for o in outputs
                    if o.get("OutputName") == spec.get("OutputName")
                ),
                None,
            )
            if not prefix or reader is None:
                continue
            uri = join_uri(prefix, spec.get("FilePath", ""))
            try:
                document = json.loads(reader.read_bytes(uri))
            except (StoreError, OSError, ValueError):
                continue
            if f"{config.pipeline.problem_type}_metrics" not in document:
                continue  # another step's property file (DriftCheck's drift report)
            section = document.get(f"{config.pipeline.problem_type}_metrics") or {}
            metrics = {
                name: value.get("value")
                for name, value in section.items()
                if isinstance(value, Mapping) and isinstance(value.get("value"), int | float)
            }
            champion = document.get("champion") or {}
            group = f"{config.pipeline.problem_type}_metrics"
            positive = str((document.get("evaluation") or {}).get("positive_class"))
            return {
                "step": node.name,
                "property_file": spec.get("PropertyFileName"),
                "uri": uri,
                "local": _local(reader, uri),
                "metric": config.pipeline.metric,
                "metrics": metrics,
                "decision": document.get("decision"),
                "checks": explain.decision_checks(document.get("decision")),
                "champion": document.get("champion"),
                "evidence": {
                    "challenger": quality_evidence(section, positive),
                    "champion": quality_evidence(champion.get(group) or {}, positive),
                },
            }
    return None


def _drift(
    graph: Any,
    execution: ExecutionRecord,
    records: Mapping[str, StepRecord],
    reader: Reader | None,
    running: bool,
) -> dict[str, Any] | None:
    """DriftCheck's report and whether the run trained because of it (pipelines.drift)."""
    if reader is None:
        return None
    steps = []
    for node in graph:
        record = records.get(node.name)
        status, properties = (record.status, record.properties) if record else ("", None)
        steps.append(drift_report.StepView(node.name, node.type, status, properties))
    drift = drift_report.describe(
        steps,
        lambda uri: json.loads(reader.read_bytes(uri)),
        execution.parameters,
        finished=not running,
    )
    if drift is None:
        return None
    report = drift["report"]
    rank = {f["name"]: i for i, f in enumerate(report.get("top_drifting_features") or [])}
    features = sorted(
        report.get("features") or [], key=lambda f: (rank.get(f["name"], len(rank)), f["name"])
    )
    drift["features"] = features
    drift["local"] = _local(reader, drift["report_uri"])
    return drift


def quality_evidence(metrics: Mapping[str, Any], positive: str) -> dict[str, Any] | None:
    """The curves and the confusion matrix of one model (its binary classification metrics
    in SageMaker's model-quality shape, `positive` the positive class), as numbers the page
    can draw; None without them."""
    roc = metrics.get("receiver_operating_characteristic_curve") or {}
    pr = metrics.get("precision_recall_curve") or {}
    matrix = metrics.get("confusion_matrix")
    try:
        curves = {
            "roc": _points(roc.get("false_positive_rates"), roc.get("true_positive_rates")),
            "pr": _points(pr.get("recalls"), pr.get("precisions")),
        }
        cells = {
            str(actual): {str(guess): int(count) for guess, count in row.items()}
            for actual, row in (matrix or {}).items()
        }
    except (TypeError, ValueError, AttributeError):
        return None  # not the shape evaluate.py writes: nothing to draw
    if not (curves["roc"] and curves["pr"]) or len(cells) != 2 or positive not in cells:
        return None
    negative = next(name for name in cells if name != positive)
    negatives, positives = cells[negative], cells[positive]
    rows = sum(negatives.values()) + sum(positives.values())
    flagged_positives, flagged_negatives = positives.get(positive, 0), negatives.get(positive, 0)
    return {
        **curves,
        "classes": [negative, positive],
        "confusion_matrix": cells,
        # Where the model flags: its decision threshold on both curves.
        "operating_point": {
            "false_positive_rate": _share(flagged_negatives, sum(negatives.values())),
            "recall": _share(flagged_positives, sum(positives.values())),
            "precision": _share(flagged_positives, flagged_positives + flagged_negatives),
        },
        "positive_rate": _share(sum(positives.values()), rows),
    }


def _points(xs: Any, ys: Any) -> list[tuple[float, float]]:
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
        return []
    return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _registered_model(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((s["model_package"] for s in steps if s["model_package"]), None)


def _held_back_by(document: Mapping[str, Any], steps: list[dict[str, Any]]) -> list[dict]:
    decision = (document.get("evaluation") or {}).get("decision") or {}
    conditions = [
        {
            "step": s["name"],
            "Outcome": s["condition"]["outcome"],
            "Summary": s["condition"]["summary"],
            "Evaluations": s["condition"]["evaluations"],
        }
        for s in steps
        if s["condition"]
    ]
    held_back = held_back_by(
        decision,
        registered=document["registered_model"] is not None,
        succeeded=document["execution"]["status"] == ExecutionStatus.SUCCEEDED,
        conditions=conditions,
    )
    return [
        {"step": c["step"], "summary": c["Summary"], "evaluations": c["Evaluations"]}
        for c in held_back or []
    ]


def list_executions(config: ProjectConfig, limit: int | None = 100) -> list[dict[str, Any]]:
    """The newest executions for the index, each with what a row shows: status, duration,
    the compared metric and the threshold it was held to, the registered version, and
    (beside SageMaker's generic FailureReason) which step failed and why."""
    state = open_state(config)
    try:
        store = ArtifactStore(LocalPaths(config.local_home).store)
        executions = state.list_executions(limit)
        # Each execution's own definition, from the builds already cached: the index never
        # builds one (that imports the SDK); without it a row shows no metric.
        graphs = _cached_graphs(config) if executions else {}
        now = time.time()
        rows = []
        for execution in executions:
            steps = state.list_steps(execution.execution_id)
            records = {s.name: s for s in steps}
            report = from_records(execution, steps, now)
            row = execution.to_dict()
            row["duration"] = report.duration
            failed = execution.status == ExecutionStatus.FAILED
            row["failure_detail"] = report.failure_detail if failed else None
            graph = graphs.get(execution.definition_hash)
            evaluation = (_evaluation(config, graph, records, store) if graph else None) or {}
            decision = evaluation.get("decision") or {}
            # A quality-gate failure in the rules' plain words, not the Fail step's message.
            failing = [c["text"] for c in evaluation.get("checks") or [] if c["passed"] is False]
            gate = any(s.status == StepStatus.FAILED and s.type == "Fail" for s in steps)
            row["why"] = " ".join(failing) if gate and failing else row["failure_detail"]
            row["metric"] = evaluation.get("metric") or config.pipeline.metric
            row["metric_value"] = (evaluation.get("metrics") or {}).get(row["metric"])
            row["threshold"] = decision.get("threshold")
            row["registered_version"] = next(
                (
                    (s.properties or {}).get("ModelPackageVersion")
                    for s in steps
                    if s.type == "RegisterModel" and s.status == StepStatus.SUCCEEDED
                ),
                None,
            )
            rows.append(row)
        return rows
    finally:
        state.close()


def execution_progress(config: ProjectConfig, ident: str) -> dict[str, Any]:
    """What the live page polls while an execution runs: the execution's and each step's
    status and duration, written as the page writes them. LookupError for an unknown id."""
    state = open_state(config)
    try:
        execution = state.find_execution(ident)
        steps = state.list_steps(execution.execution_id)
    finally:
        state.close()
    now = time.time()
    progress_steps = {}
    for facts in from_records(execution, steps, now).steps:
        attempts = facts.attempts
        step = {
            "status": facts.status,
            "duration": facts.duration,
            "cache_hit": facts.cache_hit,
            "retries": facts.retries,
            "attempts": attempts,
        }
        progress_steps[facts.name] = {
            "status": step["status"],
            "css": status_class(step),
            "state_line": clip(status_line(step), NODE_STATE_CHARACTERS),
            # The step details' live fields, written as the template writes them.
            "fields": {
                "status": step["status"] + (" (cache hit)" if step["cache_hit"] else ""),
                "duration": format_seconds(step["duration"]),
                "attempts": str(attempts)
                + (
                    f" ({step['retries']} {'retry' if step['retries'] == 1 else 'retries'})"
                    if step["retries"]
                    else ""
                ),
            },
        }
    return {
        "execution": execution.execution_id,
        "status": execution.status,
        "css": status_class({"status": execution.status}),
        "duration": format_seconds(execution.duration(now)),
        "running": execution.running,
        "steps": progress_steps,
    }


def job_steps(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in document["steps"] if s["type"] in JOB_TYPES]

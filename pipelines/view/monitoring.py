"""The monitoring page's data: the endpoint's monitoring jobs (`monitor`), the metrics they
published (the CloudWatch Metric Data events of the local event log), the drift alarm's
state, and the latest job's drift report with its charts."""

from __future__ import annotations

import json
from typing import Any

from pipelines.app.runner import LocalPaths
from pipelines.config import ProjectConfig
from pipelines.drift import monitoring
from pipelines.drift.monitor import ALARMS_FILE, METRIC_DATA, load_runs, monitoring_home
from pipelines.local.events import read_events
from pipelines.local.storage import ArtifactStore
from pipelines.settings.drift import load_drift, metric_namespace

RUNS_SHOWN = 20
METRIC_JOBS_SHOWN = 8


def collect_monitoring(config: ProjectConfig) -> dict[str, Any]:
    drift = load_drift(config)
    runs = load_runs(config, RUNS_SHOWN)
    name = monitoring.alarm_name(config)
    try:
        alarms = json.loads((monitoring_home(config) / ALARMS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        alarms = {}
    state = alarms.get(name) or {}
    spec = monitoring.alarm(config, drift)
    alarm = {
        "name": name,
        "state": state.get("state", "INSUFFICIENT_DATA"),
        "reason": state.get("reason"),
        "time": state.get("time"),
        "rule": (
            f"{spec['MetricName']} >= {spec['Threshold']:g} in a window of "
            f"{drift.monitoring_interval_hours} h"
            + (" starts a retraining run" if drift.retrain_on_alarm else "")
        ),
    }
    jobs, metrics = _metrics(config)
    return {
        "pipeline": config.pipeline.name,
        "endpoint": monitoring.endpoint_name(config),
        "namespace": metric_namespace(config, drift),
        "alarm": alarm,
        "runs": runs,
        "metric_jobs": jobs,
        "metrics": metrics,
        "latest": _latest(config, runs),
    }


def _metrics(config: ProjectConfig) -> tuple[list[str], list[tuple[str, list]]]:
    """(job names, newest first; [(feature, [{"psi", "p"} or None per job])])."""
    events, _ = read_events(LocalPaths(config.local_home).events)
    published = [e["detail"] for e in events if e.get("detail-type") == METRIC_DATA]
    published = list(reversed(published))[:METRIC_JOBS_SHOWN]
    jobs = [p.get("jobName", "?") for p in published]
    table: dict[str, list] = {}
    for index, request in enumerate(published):
        for datum in request.get("MetricData") or []:
            dimensions = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
            feature = dimensions.get("Feature")
            if feature is None:
                continue
            row = table.setdefault(feature, [None] * len(published))
            cell = row[index] or {"psi": None, "p": None}
            cell["psi" if datum["MetricName"] == "PSI" else "p"] = datum["Value"]
            row[index] = cell
    ranked = sorted(table.items(), key=lambda item: -((item[1][0] or {}).get("psi") or 0))
    return jobs, ranked


def _latest(config: ProjectConfig, runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    for run in runs:
        if not run.get("report_uri") or run.get("verdict") in (None, "no_data", "no_baseline"):
            continue
        store = ArtifactStore(LocalPaths(config.local_home).store)
        try:
            report = json.loads(store.read_bytes(run["report_uri"]))
        except (OSError, ValueError, LookupError):
            return None
        rank = {f["name"]: i for i, f in enumerate(report.get("top_drifting_features") or [])}
        features = sorted(
            report.get("features") or [], key=lambda f: (rank.get(f["name"], len(rank)), f["name"])
        )
        return {
            "job_name": run["job_name"],
            "report": report,
            "report_uri": run["report_uri"],
            "features": features,
            "headline": f"{report['verdict']}: {'; '.join(report.get('reasons') or [])}",
        }
    return None

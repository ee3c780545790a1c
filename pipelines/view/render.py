"""The pages, rendered from the view model by Jinja2 templates (pipelines/view/templates).

Autoescape is on for every template, so any text that comes from data (parameters, failure
reasons, log lines, class names) is escaped wherever it lands. The CSS and the script are
the package's own files (pipelines/view/static), inlined: a written page is one
self-contained file that needs no network, and a served page loads nothing else either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pipelines.local.records import ExecutionStatus
from pipelines.view import svg
from pipelines.view.formats import (
    STATUS_CLASSES,
    format_bytes,
    format_number,
    format_parameter,
    format_seconds,
    format_time,
    format_usd,
)

SNAPSHOT_OBJECTS_SHOWN = 20
INDEX_STATUSES = (
    ExecutionStatus.EXECUTING,
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.FAILED,
    ExecutionStatus.STOPPED,
)


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("pipelines.view", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        num=format_number,
        seconds=format_seconds,
        usd=format_usd,
        time=format_time,
        bytes=format_bytes,
        status_css=lambda status: STATUS_CLASSES.get(status, "notstarted"),
        parameter=format_parameter,
        pretty_json=lambda value: json.dumps(value, indent=2, sort_keys=True, default=str),
    )
    environment.globals["static_text"] = _static_text
    return environment


@cache
def _static_text(name: str) -> Markup:
    """A file of pipelines/view/static, inlined as is (the project's own CSS and script)."""
    return Markup(resources.files("pipelines.view").joinpath("static", name).read_text("utf-8"))


def _decision_facts(decision: Mapping[str, Any]) -> list[tuple[str, str]]:
    level = decision.get("confidence_level")
    span = f" ({level:.0%} interval)" if isinstance(level, int | float) else ""

    def interval(value: Any) -> str:
        if not isinstance(value, Mapping):
            return "-"
        return f"{format_number(value.get('lower'))} to {format_number(value.get('upper'))}"

    def fact(value: Any) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        return format_number(value)

    return [
        ("Metric", str(decision.get("metric") or "-")),
        ("Threshold", fact(decision.get("threshold"))),
        ("Passes threshold", fact(decision.get("passes_threshold"))),
        ("No-skill baseline", fact(decision.get("baseline"))),
        ("Beats it", fact(decision.get("beats_baseline"))),
        ("Permutation p-value", fact(decision.get("baseline_p_value"))),
        ("Advantage over it" + span, interval(decision.get("baseline_advantage_interval"))),
        ("Challenger", fact(decision.get("challenger"))),
        ("Challenger" + span, interval(decision.get("challenger_interval"))),
        ("Champion", fact(decision.get("champion"))),
        ("Champion version", fact(decision.get("champion_version"))),
        ("Beats champion", fact(decision.get("beats_champion"))),
        ("Improvement", fact(decision.get("improvement"))),
        ("Improvement" + span, interval(decision.get("improvement_interval"))),
        ("Margin", fact(decision.get("margin"))),
        ("Resamples", fact(decision.get("resamples"))),
    ]


def render_page(
    document: Mapping[str, Any],
    nav: Mapping[str, str] | None = None,
    *,
    live_url: str | None = None,
    page_url: str | None = None,
) -> str:
    """An execution's page (or the definition's). `nav` adds links {"label": "href"};
    `live_url` (the server's status endpoint) makes a running execution's page update."""
    execution = document.get("execution")
    pipeline = document["pipeline"]["name"]
    if execution:
        title = f"{pipeline} · execution {execution['id']}"
    else:
        title = f"{pipeline} · pipeline definition"
    evaluation = document.get("evaluation") or {}
    return (
        _environment()
        .get_template("execution.html.j2")
        .render(
            document=document,
            title=title,
            nav=nav or {},
            live_url=live_url if document.get("live") else None,
            page_url=page_url,
            geometry=svg.graph_geometry(document),
            steps_by_name={s["name"]: s for s in document["steps"]},
            costs={line["step"]: line for line in (document.get("cost") or {}).get("steps", [])},
            charts=svg.quality_charts(evaluation) if evaluation else None,
            decision_facts=_decision_facts(evaluation.get("decision") or {}),
            snapshot_objects_shown=SNAPSHOT_OBJECTS_SHOWN,
            drift_charts=_drift_charts(document.get("drift")),
        )
    )


def render_monitoring(document: Mapping[str, Any], nav: Mapping[str, str] | None = None) -> str:
    """The endpoint's monitoring: the alarm, the jobs, their metrics and the latest report."""
    return (
        _environment()
        .get_template("monitoring.html.j2")
        .render(
            document=document,
            title=f"{document['pipeline']} · monitoring of {document['endpoint']}",
            nav=nav or {},
            drift_charts=_drift_charts(document.get("latest")),
        )
    )


def _drift_charts(drift: Mapping[str, Any] | None) -> list[tuple[Mapping[str, Any], dict]]:
    """(feature, chart geometry) for every feature with a distribution, most drifted first."""
    charts = []
    for feature in (drift or {}).get("features") or []:
        chart = svg.drift_chart(feature)
        if chart is not None:
            charts.append((feature, chart))
    return charts


def render_index(
    executions: Iterable[Mapping[str, Any]],
    pipeline: str,
    metric: str,
    query: Mapping[str, str] | None = None,
) -> str:
    """The executions (model.list_executions rows), filterable, with the metric's trend."""
    rows = []
    for execution in executions:
        parameters = " ".join(f"{k}={v}" for k, v in (execution.get("parameters") or {}).items())
        search = " ".join(
            str(part)
            for part in (
                execution["execution_id"],
                execution["status"],
                parameters,
                execution.get("why") or execution.get("failure_reason") or "",
            )
        )
        rows.append({**execution, "search": search.lower()})
    points = [
        {
            "id": row["execution_id"],
            "value": row.get("metric_value"),
            "threshold": row.get("threshold"),
            "css": STATUS_CLASSES.get(row["status"], "notstarted"),
            "start_time": row["start_time"],
        }
        for row in rows
    ]
    return (
        _environment()
        .get_template("index.html.j2")
        .render(
            executions=rows,
            pipeline=pipeline,
            metric=metric,
            nav={},
            query=dict(query or {}),
            statuses=INDEX_STATUSES,
            chart=svg.trend_chart(points, metric, "/executions/{id}.html"),
        )
    )


def render_compare(comparison: Mapping[str, Any], nav: Mapping[str, str] | None = None) -> str:
    return (
        _environment().get_template("compare.html.j2").render(comparison=comparison, nav=nav or {})
    )


def render_message(title: str, message: str) -> str:
    return (
        _environment().get_template("message.html.j2").render(title=title, message=message, nav={})
    )

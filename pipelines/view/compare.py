"""Two or more executions side by side: parameters, data snapshot, metrics, decision,
duration and cost, with the rows (and cells) that differ marked; and the compared metric's
trend across them.

Pure: it takes view models (`model.build_document` output, local or SageMaker) and returns
rows of display texts. Cells are compared as they are shown, so a difference in the sixth
decimal of a metric shown to three is not flagged as a change nobody can see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipelines.view.explain import decision_checks
from pipelines.view.formats import (
    STATUS_CLASSES,
    format_bytes,
    format_number,
    format_parameter,
    format_seconds,
    format_time,
    format_usd,
)
from pipelines.view.svg import trend_chart

MIN_EXECUTIONS = 2


def _row(label: str, cells: Sequence[str], compared: bool = True) -> dict[str, Any]:
    first = cells[0] if cells else ""
    marked = [
        {"text": text, "changed": compared and index > 0 and text != first}
        for index, text in enumerate(cells)
    ]
    return {"label": label, "cells": marked, "differs": any(c["changed"] for c in marked)}


def _group(title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"title": title, "rows": rows, "differs": sum(r["differs"] for r in rows)}


def _each(
    documents: Sequence[Mapping[str, Any]], read: Callable[[Mapping[str, Any]], Any]
) -> list[str]:
    texts = []
    for document in documents:
        try:
            value = read(document)
        except (KeyError, TypeError):
            value = None
        texts.append("-" if value is None or value == "" else str(value))
    return texts


def _check(document: Mapping[str, Any], rule: str) -> str | None:
    decision = (document.get("evaluation") or {}).get("decision")
    found = next((c for c in decision_checks(decision) if c["rule"] == rule), None)
    if found is None:
        return None
    return {True: "passed", False: "failed", None: "not applied"}[found["passed"]]


def compare(documents: Sequence[Mapping[str, Any]], href: str | None = None) -> dict[str, Any]:
    """The comparison of executions' view models, oldest first. `href`: a pattern with
    "{id}" linking each column to its execution's page."""
    if len(documents) < MIN_EXECUTIONS:
        raise ValueError(f"compare needs at least {MIN_EXECUTIONS} executions")
    documents = sorted(documents, key=lambda d: d["execution"]["start_time"] or 0)
    columns = [
        {
            "id": d["execution"]["id"],
            "status": d["execution"]["status"],
            "css": STATUS_CLASSES.get(d["execution"]["status"], "notstarted"),
            "href": href.replace("{id}", d["execution"]["id"]) if href else None,
        }
        for d in documents
    ]
    execution = [
        _row("Status", _each(documents, lambda d: d["execution"]["status"])),
        # Every execution starts at its own time: shown, not flagged.
        _row(
            "Started",
            _each(documents, lambda d: format_time(d["execution"]["start_time"])),
            compared=False,
        ),
        _row("Duration", _each(documents, lambda d: format_seconds(d["execution"]["duration"]))),
        _row("Cost", _each(documents, lambda d: _cost(d.get("cost")))),
        _row("Outcome", _each(documents, lambda d: (d.get("outcome") or {}).get("title"))),
    ]
    names = sorted({name for d in documents for name in d["execution"]["parameters"]})
    parameters = [
        _row(
            name,
            _each(documents, lambda d, n=name: _parameter_of(d, n)),
        )
        for name in names
    ]
    snapshot = [
        _row("Fingerprint", _each(documents, lambda d: d["snapshot"]["fingerprint"])),
        _row("Source", _each(documents, lambda d: d["snapshot"].get("source"))),
        _row("Objects", _each(documents, lambda d: d["snapshot"]["object_count"])),
        _row("Size", _each(documents, lambda d: format_bytes(d["snapshot"]["total_bytes"]))),
    ]
    compared = next((d["evaluation"]["metric"] for d in documents if d.get("evaluation")), None)
    metric_names = sorted(
        {
            name
            for d in documents
            for name in ((d.get("evaluation") or {}).get("metrics") or {})
            if not name.endswith("_best_constant_classifier")
        },
        key=lambda name: (name != compared, name),
    )
    metrics = [
        _row(
            name + (" (compared)" if name == compared else ""),
            _each(documents, lambda d, n=name: format_number(d["evaluation"]["metrics"].get(n))),
        )
        for name in metric_names
    ]
    decision = [
        _row(
            "Threshold",
            _each(documents, lambda d: format_number(d["evaluation"]["decision"]["threshold"])),
        ),
        _row("Passes threshold", _each(documents, lambda d: _check(d, "threshold"))),
        _row("Beats no skill", _each(documents, lambda d: _check(d, "baseline"))),
        _row("Beats champion", _each(documents, lambda d: _check(d, "champion"))),
        _row(
            "Evaluation verdict",
            _each(
                documents,
                lambda d: (
                    "register" if d["evaluation"]["decision"]["register"] else "do not register"
                ),
            ),
        ),
        _row(
            "Registered version",
            _each(documents, lambda d: (d.get("registered_model") or {}).get("version")),
        ),
    ]
    points = [
        {
            "id": d["execution"]["id"],
            "value": ((d.get("evaluation") or {}).get("metrics") or {}).get(compared or ""),
            "threshold": ((d.get("evaluation") or {}).get("decision") or {}).get("threshold"),
            "css": STATUS_CLASSES.get(d["execution"]["status"], "notstarted"),
            "start_time": d["execution"]["start_time"],
        }
        for d in documents
    ]
    return {
        "pipeline": documents[0]["pipeline"]["name"],
        "columns": columns,
        "groups": [
            _group("Execution", execution),
            _group("Parameters", parameters),
            _group("Data snapshot", snapshot),
            _group("Metrics", metrics),
            _group("Decision", decision),
        ],
        "trend": trend_chart(points, compared or "metric", href) if compared else None,
    }


def _parameter_of(document: Mapping[str, Any], name: str) -> str | None:
    parameters = document["execution"]["parameters"]
    return format_parameter(parameters[name]) if name in parameters else None


def _cost(report: Mapping[str, Any] | None) -> str | None:
    if not report:
        return None
    total = format_usd(report["total"])
    return total if report["complete"] else f"{total} + unpriced steps"

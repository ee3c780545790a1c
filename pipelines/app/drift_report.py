"""An execution's drift check, in words and in figures: what DriftCheck found, and whether
the run trained because of it.

Read from what any execution leaves (its steps' properties and the artifact store), so the
run summary, `executions describe` and the view, local or SageMaker, say the same: the
drift_report.json a Processing step wrote beside its outputs, the champion ResolveChampion
named, and whether a Training step ran.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REPORT_FILE = "drift_report.json"
# How many features the summary and `executions describe` list (the view shows them all).
TOP = 5


@dataclass(frozen=True)
class StepView:
    """What this module needs of a step: its name, type, status and properties."""

    name: str
    type: str
    status: str
    properties: Mapping[str, Any] | None


def find_report(
    steps: Iterable[StepView], read_json: Callable[[str], Any]
) -> tuple[str, str, dict[str, Any]] | None:
    """(step name, report URI, drift_report.json) of the Processing step that wrote one, or
    None. `read_json(uri)` raises (any exception) for a missing or unreadable object."""
    for step in steps:
        if step.type != "Processing" or step.status != "Succeeded" or not step.properties:
            continue
        outputs = (step.properties.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        for output in outputs:
            uri = output["S3Output"]["S3Uri"].rstrip("/") + "/" + REPORT_FILE
            try:
                document = read_json(uri)
            except Exception:
                continue
            if isinstance(document, dict) and "verdict" in document:
                return step.name, uri, document
    return None


def champion_version(steps: Iterable[StepView]) -> str | None:
    for step in steps:
        outputs = (step.properties or {}).get("OutputParameters") or {}
        if "ChampionVersion" in outputs:
            return str(outputs["ChampionVersion"])
    return None


def outcome(
    report: Mapping[str, Any],
    *,
    trained: bool,
    forced: bool,
    champion: str | None,
    finished: bool = True,
) -> dict[str, Any]:
    """{"retrain": bool, "why": str, "headline": str}: why the run trained or not."""
    verdict = report.get("verdict")
    against = f"champion version {champion}'s baseline" if champion not in (None, "none") else ""
    reasons = "; ".join(report.get("reasons") or [])
    if verdict == "no_baseline":
        if champion in (None, "none"):
            why = "no approved champion yet, so no baseline to compare with"
        else:
            why = (
                f"the champion (version {champion}) carries no drift baseline (registered "
                "before baselines), so there is nothing to compare with"
            )
        retrain = True
    elif verdict == "drift":
        why = f"the training split drifted from {against or 'the baseline'}: {reasons}"
        retrain = True
    else:
        why = f"no drift from {against or 'the baseline'}: {reasons}"
        retrain = forced
    if verdict == "no_drift" and forced:
        why += "; ForceRetrain=true retrained anyway"
    if retrain:
        headline = f"Retrained: {why}" if trained or not finished else f"Retrain: {why}"
    else:
        headline = (
            f"No drift: training skipped, nothing registered ({why}). Pass ForceRetrain=true "
            "to retrain anyway"
        )
    return {"retrain": retrain, "why": why, "headline": headline, "verdict": verdict}


def describe(
    steps: list[StepView],
    read_json: Callable[[str], Any],
    parameters: Mapping[str, Any] | None,
    *,
    finished: bool = True,
) -> dict[str, Any] | None:
    """The execution's drift check as one JSON-ready document, or None without one."""
    found = find_report(steps, read_json)
    if found is None:
        return None
    step, uri, report = found
    trained = any(s.type == "Training" and s.status == "Succeeded" for s in steps)
    forced = _truthy((parameters or {}).get("ForceRetrain"))
    champion = champion_version(steps)
    return {
        "step": step,
        "report_uri": uri,
        "champion_version": champion,
        "forced": forced,
        "trained": trained,
        **outcome(report, trained=trained, forced=forced, champion=champion, finished=finished),
        "report": report,
    }


def summary_lines(drift: Mapping[str, Any], top: int = TOP) -> list[str]:
    """The run summary's and `executions describe`'s lines: the outcome, then the top
    drifting features with PSI and the test's adjusted p-value."""
    lines = [f"Drift ({drift['step']}): {drift['headline']}"]
    report = drift["report"]
    data = report.get("data") or {}
    if data:
        lines.append(
            f"  {data.get('rows', 0)} rows checked against a baseline of "
            f"{data.get('baseline_rows', 0)}; {report.get('violations', 0)} constraint "
            f"violation(s); report: {drift['report_uri']}"
        )
    for feature in (report.get("top_drifting_features") or [])[:top]:
        lines.append("  " + feature_line(feature))
    return lines


def feature_line(feature: Mapping[str, Any]) -> str:
    test = feature.get("test")
    p_value = feature.get("p_value_adjusted")
    tested = f", {test} adjusted p {p_value:.3g}" if test and p_value is not None else ""
    # Reports from before psi_level was listed here carry no key: nothing is claimed then.
    unjudged = " (not judged: too few rows)" if feature.get("psi_level", "") is None else ""
    return f"{feature['name']}: {feature['status']}, PSI {feature['psi']:.4f}{unjudged}{tested}"


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def read_store_json(store: Any) -> Callable[[str], Any]:
    """read_json for the local artifact store."""
    return lambda uri: json.loads(store.read_bytes(uri))

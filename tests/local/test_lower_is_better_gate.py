"""CheckMetric when lower is better: the definition built from `higher_is_better = false`
compares with <=, and the local engine takes the branch that comparison decides."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from test_orchestrator import definition, processing, script

from pipelines.config import ProjectConfig
from pipelines.definition_cache import load_definition
from pipelines.local.orchestrator import Engine

THRESHOLD = 1000.0
REGRESSION = {
    "problem_type": "regression",
    "label_column": "amount",
    "metric": "mae",
    "higher_is_better": False,
    "metric_threshold": THRESHOLD,
}
# Writes the evaluation report Evaluate would, with the MAE given as its argument.
REPORT = """
import json, pathlib, sys
out = pathlib.Path(sys.argv[1] + "/processing/evaluation")
out.mkdir(parents=True, exist_ok=True)
report = {
    "regression_metrics": {"mae": {"value": float(sys.argv[2])}},
    "decision": {"beats_baseline": True, "reason": "test"},
}
(out / "evaluation.json").write_text(json.dumps(report))
"""


def steps_of(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for step in steps:
        yield step
        arguments = step.get("Arguments") or {}
        if step["Type"] == "Condition":
            yield from steps_of(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))


def step_named(built: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in steps_of(built["Steps"]) if s["Name"] == name)


def test_the_default_metric_gates_with_greater_or_equal(local_definition: str) -> None:
    """The project's default metric is one where higher is better."""
    check = step_named(json.loads(local_definition), "CheckMetric")["Arguments"]
    assert check["Conditions"][0]["Type"] == "GreaterThanOrEqualTo"


def test_lower_is_better_compares_with_less_or_equal_and_the_engine_follows_it(
    make_project: Callable[..., ProjectConfig], engine: Engine
) -> None:
    config = make_project("regression", pipeline=REGRESSION)
    built = json.loads(load_definition(config, "local")[0])
    metric, baseline = step_named(built, "CheckMetric")["Arguments"]["Conditions"]
    assert metric["Type"] == "LessThanOrEqualTo"
    assert metric["LeftValue"]["Std:JsonGet"]["Path"] == "regression_metrics.mae.value"
    assert metric["RightValue"] == {"Get": "Parameters.MetricThreshold"}
    assert baseline["Type"] == "Equals"

    # The real CheckMetric, after an Evaluate that reports the given MAE, with a marker step
    # on each branch: at the threshold and below it passes, above it fails.
    code = script(engine, "report.py", REPORT)
    for mae, passes in ((THRESHOLD, True), (THRESHOLD - 1, True), (THRESHOLD + 0.5, False)):
        evaluate = processing(
            "Evaluate",
            code,
            outputs=["evaluation"],
            args=["/opt/ml", str(mae)],
            PropertyFiles=step_named(built, "Evaluate")["PropertyFiles"],
        )
        check = dict(step_named(built, "CheckMetric"))
        check["Arguments"] = {
            "Conditions": check["Arguments"]["Conditions"],
            "IfSteps": [marker("Passes")],
            "ElseSteps": [marker("Fails")],
        }
        result = engine.run(definition(evaluate, check), "gate", {"MetricThreshold": THRESHOLD})
        assert result.succeeded, result.failure_detail
        taken, skipped = ("Passes", "Fails") if passes else ("Fails", "Passes")
        assert result.steps["CheckMetric"].properties["Outcome"] == str(passes), mae
        assert result.steps[taken].status == "Succeeded", mae
        assert result.steps[skipped].status == "NotExecuted", mae


def marker(name: str) -> dict[str, Any]:
    """A step that does nothing but show its branch was taken."""
    return {"Name": name, "Type": "Condition", "Arguments": {"Conditions": []}}

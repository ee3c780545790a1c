"""Champion/challenger end to end in the local engine: the registry decides what is registered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.app.runner import execute, open_engine
from pipelines.config import ProjectConfig
from pipelines.local.orchestrator import ExecutionResult

pytestmark = pytest.mark.slow

# One boosting round of a two-leaf tree: a single split, far weaker in average precision
# than the default 200 rounds (about 0.11 against 0.38 on the small sample).
WEAK = {"MaxIter": "1", "MaxLeafNodes": "2"}
# Once a champion is approved, the same data has not drifted from its baseline and the
# pipeline would stop after DriftCheck: a challenger on unchanged data is a forced retrain.
FORCED = {"ForceRetrain": "true"}


def run(config: ProjectConfig, data: Path, **params: str) -> ExecutionResult:
    return execute(config, {"InputDataUrl": str(data), **params})


def evaluation(config: ProjectConfig, result: ExecutionResult) -> dict:
    output = result.steps["Evaluate"].properties["ProcessingOutputConfig"]["Outputs"][0]
    uri = output["S3Output"]["S3Uri"] + "/evaluation.json"
    return json.loads(open_engine(config).store.read_bytes(uri))


def registered(result: ExecutionResult) -> int | None:
    step = result.steps["RegisterModel"]
    return step.properties["ModelPackageVersion"] if step.status == "Succeeded" else None


def test_a_challenger_is_registered_only_when_it_beats_the_approved_champion(
    make_project: Callable[..., ProjectConfig], small_sample: Path
) -> None:
    config = make_project("champion", pipeline={"metric_threshold": 0.05})
    registry = open_engine(config).registry
    group = config.pipeline.model_package_group

    first = run(config, small_sample, **WEAK)
    assert first.succeeded, first.failure_reason
    assert registered(first) == 1
    decision = evaluation(config, first)["decision"]
    assert decision["champion_version"] is None and decision["beats_baseline"]
    assert decision["reason"].endswith("no approved champion yet")
    registry.update_approval(1, "Approved", group)

    # No drift since the champion's data: the run ends after DriftCheck, nothing trained.
    steady = run(config, small_sample, **WEAK)
    assert steady.succeeded and steady.steps["Train"].status == "NotExecuted"

    # The same model again: the champion is scored on the same rows and is not beaten.
    again = run(config, small_sample, **WEAK, **FORCED)
    assert again.succeeded, again.failure_reason
    assert again.steps["Train"].cache_source_id == first.execution_id
    assert again.steps["Evaluate"].cache_source_id is None  # the champion input changed
    assert again.steps["CheckChampion"].properties["Outcome"] == "False"
    assert registered(again) is None
    report = evaluation(config, again)
    assert report["champion"]["version"] == "1"
    assert "it is champion v1's own model (identical model files)" in report["decision"]["reason"]

    # Retrained without the cache: a new archive of the same model files (the same content
    # digest). A tie is not a win, and the champion's own model is not registered again.
    equal = execute(config, {"InputDataUrl": str(small_sample), **WEAK, **FORCED}, no_cache=True)
    assert equal.succeeded, equal.failure_reason
    assert equal.steps["Train"].cache_source_id is None
    decision = evaluation(config, equal)["decision"]
    assert decision["improvement_interval"] == {"lower": 0.0, "upper": 0.0}
    assert not decision["beats_champion"] and registered(equal) is None
    assert "it is champion v1's own model (identical model files)" in decision["reason"]
    found = equal.steps["FindRegisteredModel"].properties["OutputParameters"]
    assert found["RegisteredVersion"] == "1"

    # A stronger challenger on the same data beats champion v1 at the lower end of the
    # paired bootstrap interval and becomes version 2.
    stronger = run(config, small_sample, **FORCED)
    assert stronger.succeeded, stronger.failure_reason
    assert registered(stronger) == 2
    report = evaluation(config, stronger)
    ours = report["binary_classification_metrics"]["average_precision"]["value"]
    theirs = report["champion"]["binary_classification_metrics"]["average_precision"]["value"]
    decision = report["decision"]
    assert decision["improvement"] == pytest.approx(ours - theirs)
    assert 0 < decision["improvement_interval"]["lower"] < decision["improvement"]
    assert "it beats champion v1" in decision["reason"]

    # With a margin it cannot reach, the same challenger is not registered, and says why.
    margin = run(config, small_sample, ChampionMargin="0.99", **FORCED)
    assert margin.succeeded
    assert registered(margin) is None
    reason = evaluation(config, margin)["decision"]["reason"]
    assert "short of the margin 0.9900 (ChampionMargin)" in reason
    assert [p["ModelPackageVersion"] for p in registry.list(group)] == [2, 1]


def test_below_the_threshold_the_fail_step_says_which_rule_failed_and_by_how_much(
    make_project: Callable[..., ProjectConfig], small_sample: Path
) -> None:
    config = make_project("threshold", pipeline={"metric_threshold": 0.99})
    result = run(config, small_sample, **WEAK)
    assert result.status == "Failed"
    assert result.steps["MetricBelowThreshold"].status == "Failed"
    assert result.failure_detail.startswith("Model not registered: average_precision 0.")
    assert "below the threshold 0.9900 (MetricThreshold)" in result.failure_detail
    assert open_engine(config).registry.list() == []

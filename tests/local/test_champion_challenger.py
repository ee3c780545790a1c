"""Champion/challenger end to end in the local engine: the registry decides what is registered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.config import ProjectConfig
from pipelines.local.orchestrator import ExecutionResult
from pipelines.local.runner import execute, open_engine

pytestmark = pytest.mark.slow

# One boosting round at a tiny learning rate barely moves from the base rate: a clearly
# weaker model than the default 200 rounds, measured by AUC.
WEAK = {"MaxIter": "1", "LearningRate": "0.01"}


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
    config = make_project("champion", pipeline={"metric": "auc", "metric_threshold": 0.5})
    registry = open_engine(config).registry
    group = config.pipeline.model_package_group

    first = run(config, small_sample, **WEAK)
    assert first.succeeded, first.failure_reason
    assert registered(first) == 1
    decision = evaluation(config, first)["decision"]
    assert decision["champion_version"] is None
    assert "no approved champion yet, so the threshold alone decides" in decision["reason"]
    registry.update_approval(1, "Approved", group)

    # The same model again: the champion is re-scored on the same split and is not beaten.
    again = run(config, small_sample, **WEAK)
    assert again.succeeded, again.failure_reason
    assert again.steps["Train"].cache_source_id == first.execution_id
    assert again.steps["Evaluate"].cache_source_id is None  # the champion input changed
    assert again.steps["CheckChampion"].properties["Outcome"] == "False"
    assert registered(again) is None
    report = evaluation(config, again)
    assert report["champion"]["version"] == "1"
    assert "it is champion v1's own model (identical model.tar.gz)" in report["decision"]["reason"]

    # A stronger challenger on the same data beats champion v1 and becomes version 2.
    stronger = run(config, small_sample)
    assert stronger.succeeded, stronger.failure_reason
    assert registered(stronger) == 2
    report = evaluation(config, stronger)
    ours = report["binary_classification_metrics"]["auc"]["value"]
    theirs = report["champion"]["binary_classification_metrics"]["auc"]["value"]
    assert ours > theirs
    assert report["decision"]["improvement"] == pytest.approx(ours - theirs)
    assert "beats champion v1" in report["decision"]["reason"]

    # With a margin it cannot reach, the same challenger is not registered, and says why.
    margin = run(config, small_sample, ChampionMargin="0.99")
    assert margin.succeeded
    assert registered(margin) is None
    reason = evaluation(config, margin)["decision"]["reason"]
    assert "short of the margin 0.9900 (ChampionMargin)" in reason
    assert [p["ModelPackageVersion"] for p in registry.list(group)] == [2, 1]


def test_below_the_threshold_the_fail_step_says_which_rule_failed_and_by_how_much(
    make_project: Callable[..., ProjectConfig], small_sample: Path
) -> None:
    config = make_project("threshold", pipeline={"metric": "auc", "metric_threshold": 0.99})
    result = run(config, small_sample, **WEAK)
    assert result.status == "Failed"
    assert result.steps["MetricBelowThreshold"].status == "Failed"
    assert result.failure_detail.startswith("Model not registered: auc 0.")
    assert "below the threshold 0.9900 (MetricThreshold)" in result.failure_detail
    assert open_engine(config).registry.list() == []

"""The quality gate end to end in the local engine: a model without signal never registers,
and a metric where lower is better gates the other way."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.app.runner import execute, open_engine
from pipelines.config import ProjectConfig
from pipelines.local.orchestrator import ExecutionResult

pytestmark = pytest.mark.slow


def evaluation(config: ProjectConfig, result: ExecutionResult) -> dict:
    output = result.steps["Evaluate"].properties["ProcessingOutputConfig"]["Outputs"][0]
    return json.loads(
        open_engine(config).store.read_bytes(output["S3Output"]["S3Uri"] + "/evaluation.json")
    )


def test_a_model_without_signal_fails_whatever_the_threshold(
    make_project: Callable[..., ProjectConfig], small_sample: Path, tmp_path: Path
) -> None:
    """Shuffled labels: the features say nothing about them. The old gate (accuracy >= 0.90)
    registered such a model, since flagging nothing is right 97% of the time."""
    frame = pd.read_csv(small_sample)
    frame["is_fraud"] = np.random.default_rng(0).permutation(frame["is_fraud"].to_numpy())
    noise = tmp_path / "noise.csv"
    frame.to_csv(noise, index=False)
    config = make_project()
    result = execute(config, {"InputDataUrl": str(noise), "MetricThreshold": "0.0"})
    assert result.status == "Failed"
    assert result.steps["CheckMetric"].properties["Outcome"] == "False"
    assert result.steps["MetricBelowThreshold"].status == "Failed"
    assert result.steps["RegisterModel"].status == "NotExecuted"
    decision = evaluation(config, result)["decision"]
    assert decision["passes_threshold"] and not decision["beats_baseline"]
    assert "clears the threshold 0.0000" in result.failure_detail
    assert "it does not beat the no-skill baseline" in result.failure_detail
    assert "so the model shows no reliable signal" in result.failure_detail
    assert open_engine(config).registry.list() == []


def test_a_lower_is_better_metric_gates_the_other_way(
    make_project: Callable[..., ProjectConfig], small_sample: Path
) -> None:
    """Regression on the amount, gated on MAE (higher_is_better = false): the definition
    compares with <=, and the model must beat the mean predictor."""
    config = make_project(
        "regression",
        pipeline={
            "problem_type": "regression",
            "label_column": "amount",
            "metric": "mae",
            "higher_is_better": False,
            "metric_threshold": 1000.0,
        },
    )
    result = execute(config, {"InputDataUrl": str(small_sample)})
    assert result.succeeded, result.failure_detail
    summary = result.steps["CheckMetric"].properties["Summary"]
    assert (
        "regression_metrics.mae.value" in summary and "<= MetricThreshold 1000 -> True" in summary
    )
    assert "decision.beats_baseline True == True -> True" in summary
    assert result.steps["RegisterModel"].status == "Succeeded"
    report = evaluation(config, result)
    decision = report["decision"]
    mae = report["regression_metrics"]["mae"]["value"]
    assert decision["challenger"] == mae and decision["baseline"] > mae
    assert decision["beats_baseline"] and decision["baseline_advantage_interval"]["lower"] > 0
    assert "it beats the no-skill baseline" in decision["reason"]
    assert "(always predicting the mean)" in decision["reason"]

    # An MAE ceiling below what the model reaches fails, saying by how much it is above.
    strict = execute(config, {"InputDataUrl": str(small_sample), "MetricThreshold": "1.0"})
    assert strict.status == "Failed"
    assert f"mae {mae:.4f} is {mae - 1:.4f} above the threshold 1.0000" in (strict.failure_detail)

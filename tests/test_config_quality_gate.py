"""pipeline.toml: the gate's metric and direction, and the [quality_gate] section."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from toml_writer import dump_toml

from pipelines.config import PROJECT_ROOT, ConfigError, QualityGateSettings, load_config


def write_config(tmp_path: Path, **sections: dict[str, Any]) -> Path:
    raw = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text())
    for section, values in sections.items():
        if values is None:
            raw.pop(section, None)
        else:
            raw.setdefault(section, {}).update(values)
    path = tmp_path / "pipeline.toml"
    path.write_text(dump_toml(raw))
    return path


def test_the_default_gate_is_average_precision_with_a_bootstrap(tmp_path):
    config = load_config(environ={})
    assert (config.pipeline.metric, config.pipeline.higher_is_better) == (
        "average_precision",
        True,
    )
    gate = config.quality_gate
    assert (gate.confidence_level, gate.resamples, gate.random_seed) == (0.95, 1000, 0)
    assert (gate.min_class_count, gate.threshold_objective) == (10, "f1")
    # Without the section, the same defaults.
    bare = load_config(write_config(tmp_path, quality_gate=None), environ={})
    assert bare.quality_gate == QualityGateSettings()


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        (
            {"metric": "log_loss", "higher_is_better": True},
            "higher_is_better = true contradicts metric 'log_loss', for which a smaller value",
        ),
        (
            {"metric": "average_precision", "higher_is_better": False},
            "higher_is_better = false contradicts metric 'average_precision', for which a larger",
        ),
        ({"metric": "rmse"}, "[pipeline].metric 'rmse' is not a binary_classification metric"),
    ],
)
def test_a_metric_compared_the_wrong_way_is_refused(tmp_path, pipeline, expected):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, pipeline=pipeline), environ={})
    assert str(error.value).startswith(f"{tmp_path / 'pipeline.toml'}: ")
    assert expected in str(error.value)


def test_lower_is_better_metrics_are_accepted(tmp_path):
    path = write_config(tmp_path, pipeline={"metric": "log_loss", "higher_is_better": False})
    assert load_config(path, environ={}).pipeline.metric == "log_loss"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"confidence_level": 1.0}, "[quality_gate].confidence_level must be between 0 and 1"),
        ({"resamples": 10}, "[quality_gate].resamples must be at least 100"),
        ({"min_class_count": 0}, "[quality_gate].min_class_count must be at least 1"),
        (
            {"threshold_objective": "accuracy"},
            '[quality_gate].threshold_objective must be one of "f1", "cost", "min_precision", '
            "got 'accuracy'",
        ),
        ({"cost_ratio": 0.0}, "[quality_gate].cost_ratio must be > 0"),
        ({"min_precision": 1.5}, "[quality_gate].min_precision must be in (0, 1]"),
        (
            {"class_weight": "auto"},
            '[quality_gate].class_weight must be one of "none", "balanced", got ' + repr("auto"),
        ),
        ({"random_seed": "zero"}, "[quality_gate].random_seed must be int, got 'zero'"),
        ({"confidence": 0.9}, "unknown key(s) in [quality_gate]: confidence"),
    ],
)
def test_bad_quality_gate_settings_are_named(tmp_path, values, expected):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, quality_gate=values), environ={})
    assert expected in str(error.value)

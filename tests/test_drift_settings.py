"""pipeline.toml's [drift]: defaults, validation naming the key, and the job arguments and
S3 locations derived from it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from toml_writer import dump_toml

from pipelines.config import PROJECT_ROOT, ConfigError, load_config
from pipelines.settings.drift import (
    DriftSettings,
    capture_uri,
    load_drift,
    metric_namespace,
    monitoring_uri,
)


def config_with(tmp_path: Path, drift: dict[str, Any] | None):
    raw = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text())
    if drift is None:
        raw.pop("drift", None)
    else:
        raw.setdefault("drift", {}).update(drift)
    path = tmp_path / "pipeline.toml"
    path.write_text(dump_toml(raw))
    return load_config(path, environ={})


def test_the_section_is_optional_and_its_defaults_are_the_scripts(tmp_path):
    config = config_with(tmp_path, None)
    settings = load_drift(config)
    assert settings == DriftSettings()
    # The same defaults as processing/data_quality.py's DRIFT_DEFAULTS and --psi-bins.
    assert settings.threshold_arguments() == {
        "--psi-threshold": "0.2",
        "--psi-moderate": "0.1",
        "--alpha": "0.01",
        "--psi-min-rows": "500",
    }
    assert settings.psi_bins == 10
    assert load_drift(load_config(environ={})) == settings  # pipeline.toml states the defaults
    assert metric_namespace(config, settings) == "fraud-detection-retraining/DataDrift"


def test_thresholds_become_the_jobs_literal_arguments(tmp_path):
    config = config_with(
        tmp_path, {"psi_threshold": 0.3, "psi_moderate": 0.15, "alpha": 0, "psi_min_rows": 200}
    )
    assert load_drift(config).threshold_arguments() == {
        "--psi-threshold": "0.3",
        "--psi-moderate": "0.15",
        "--alpha": "0.0",
        "--psi-min-rows": "200",
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"psi_threshold": 0}, "[drift].psi_threshold must be above 0, got 0"),
        ({"psi_moderate": -1}, "[drift].psi_moderate must be above 0"),
        ({"psi_moderate": 0.3}, "[drift].psi_moderate 0.3 is above psi_threshold 0.2"),
        ({"alpha": 1}, "[drift].alpha must be at least 0 and below 1"),
        ({"psi_min_rows": 0}, "[drift].psi_min_rows must be at least 1"),
        ({"psi_bins": 1}, "[drift].psi_bins must be between 2 and 100"),
        ({"capture_sampling_percentage": 0}, "[drift].capture_sampling_percentage must be"),
        ({"monitoring_interval_hours": 25}, "[drift].monitoring_interval_hours must be between"),
        ({"metric_namespace": "AWS/SageMaker"}, "[drift].metric_namespace must be 1-255"),
        ({"alarm_drifted_features": 0}, "[drift].alarm_drifted_features must be at least 1"),
        (
            {"retrain_input": "prefix"},
            '[drift].retrain_input must be one of "capture", "input", got ' + repr("prefix"),
        ),
        ({"retrain_days": 0}, "[drift].retrain_days must be at least 1"),
        ({"psi_bins": "10"}, "[drift].psi_bins must be int, got '10'"),
        ({"sampling": 10}, "unknown key(s) in [drift]: sampling"),
    ],
)
def test_bad_values_name_the_key(tmp_path, values, expected):
    # Refused when the configuration loads, naming the file.
    with pytest.raises(ConfigError) as error:
        config_with(tmp_path, values)
    assert str(error.value).startswith(f"{tmp_path / 'pipeline.toml'}: {expected}")


def test_where_captures_and_monitoring_outputs_live():
    config = load_config(environ={})
    target = config.target("local")
    assert capture_uri(config, target) == (
        "s3://local-pipeline-bucket/fraud-detection-retraining/capture"
    )
    assert monitoring_uri(config, target, "ep", "baseline") == (
        "s3://local-pipeline-bucket/fraud-detection-retraining/monitoring/ep/baseline/"
    )

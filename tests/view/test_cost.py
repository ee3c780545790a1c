"""Pricing arithmetic, cache savings, unpriced instance types and the [pricing] loader."""

from __future__ import annotations

import dataclasses

import pytest

from pipelines.config import ConfigError, load_config, load_pricing
from pipelines.view.cost import (
    billed_seconds,
    cost_report,
    instance_config,
    job_cost,
    report_lines,
    step_cost,
)

PRICES = {"ml.m5.xlarge": 0.23, "ml.c5.xlarge": 0.204}


def processing(
    name: str, seconds: float | None, instance: str = "ml.m5.xlarge", count: int = 1, **extra
):
    return {
        "name": name,
        "type": "Processing",
        "status": "Succeeded",
        "duration": seconds,
        "cache_hit": False,
        "arguments": {
            "ProcessingResources": {
                "ClusterConfig": {"InstanceType": instance, "InstanceCount": count}
            }
        },
        **extra,
    }


def training(name: str, seconds: float, instance: str = "ml.c5.xlarge", count: int = 1, **extra):
    return {
        "name": name,
        "type": "Training",
        "status": "Succeeded",
        "duration": seconds,
        "cache_hit": False,
        "arguments": {"ResourceConfig": {"InstanceType": instance, "InstanceCount": count}},
        **extra,
    }


def test_instance_type_and_count_come_from_the_resolved_arguments() -> None:
    assert instance_config("Processing", processing("P", 1, "ml.m5.2xlarge", 3)["arguments"]) == (
        "ml.m5.2xlarge",
        3,
    )
    assert instance_config("Training", training("T", 1, count=2)["arguments"]) == (
        "ml.c5.xlarge",
        2,
    )
    with pytest.raises(ValueError, match="Condition steps run no SageMaker job"):
        instance_config("Condition", {})


def test_price_is_count_times_hourly_price_times_seconds_rounded_up() -> None:
    assert billed_seconds(0.2) == 1
    assert billed_seconds(25.0) == 25
    assert billed_seconds(0) == 0
    assert job_cost(0.23, 2, 3600) == pytest.approx(0.46)
    line = step_cost(processing("P", 1799.01, count=2), PRICES)
    assert line["billed_seconds"] == 1800
    assert line["cost"] == pytest.approx(0.23 * 2 * 0.5)
    assert line["priced"]


def test_cache_hits_cost_nothing_and_save_the_original_run() -> None:
    steps = [
        processing("Preprocess", 0.01, cache_hit=True, source_duration=600.0),
        training("Train", 0.01, cache_hit=True, source_duration=3600.0, count=2),
        processing("Evaluate", 60.0),
        {"name": "CheckMetric", "type": "Condition", "status": "Succeeded", "duration": 0.0},
        processing("Never", None, status="NotExecuted"),
    ]
    report = cost_report(steps, PRICES)
    assert [line["step"] for line in report["steps"]] == ["Preprocess", "Train", "Evaluate"]
    preprocess, train, _ = report["steps"]
    assert preprocess["cost"] == 0 and train["cost"] == 0
    assert preprocess["savings"] == pytest.approx(0.23 / 6)
    assert train["savings"] == pytest.approx(0.204 * 2)
    assert report["total"] == pytest.approx(0.23 / 60)
    assert report["savings"] == pytest.approx(0.23 / 6 + 0.408)
    assert report["complete"]


def test_a_missing_price_is_unpriced_and_named() -> None:
    report = cost_report([processing("P", 10.0, "ml.p3.2xlarge"), training("T", 36.0)], PRICES)
    line = report["steps"][0]
    assert not line["priced"] and line["cost"] is None
    assert '"ml.p3.2xlarge"' in line["note"] and "[pricing]" in line["note"]
    assert report["missing_prices"] == ["ml.p3.2xlarge"]
    assert not report["complete"] and report["unpriced_steps"] == ["P"]
    assert report["total"] == pytest.approx(0.204 / 100)  # the priced step still counts
    text = "\n".join(report_lines(report))
    assert "unpriced" in text and "+ unpriced steps (P)" in text
    assert 'add "ml.p3.2xlarge" = <USD per instance-hour> to [pricing] in pipeline.toml' in text


def test_the_projects_pricing_covers_the_instance_types_it_uses() -> None:
    config = load_config(environ={})
    prices = load_pricing(config)
    for instance_type in (config.instances.processing_type, config.instances.training_type):
        assert prices[instance_type] > 0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"ml.m5.large": -1}, 'pricing]."ml.m5.large" must be a non-negative number'),
        ({"ml.m5.large": True}, "must be a non-negative number"),
        ({"ml.m5.large": "0.1"}, "must be a non-negative number"),
        ({"ml.m5.large": float("nan")}, "must be a non-negative number"),
        ({"m5.large": 0.1}, "is not a SageMaker instance type"),
    ],
)
def test_invalid_pricing_is_refused(table: dict, message: str) -> None:
    config = load_config(environ={})
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_pricing(dataclasses.replace(config, extra={**config.extra, "pricing": table}))


def test_bare_dotted_keys_are_instance_types_too() -> None:
    # `ml.m5.large = 0.1` without quotes is a nested table in TOML.
    config = load_config(environ={})
    nested = {"ml": {"m5": {"large": 0.1, "xlarge": 0.2}}, "ml.c5.xlarge": 0.3}
    prices = load_pricing(dataclasses.replace(config, extra={"pricing": nested}))
    assert prices == {"ml.m5.large": 0.1, "ml.m5.xlarge": 0.2, "ml.c5.xlarge": 0.3}


def test_no_pricing_table_means_no_prices() -> None:
    config = load_config(environ={})
    extra = {k: v for k, v in config.extra.items() if k != "pricing"}
    assert load_pricing(dataclasses.replace(config, extra=extra)) == {}
    assert load_pricing(
        dataclasses.replace(config, extra={**extra, "pricing": {"ml.m5.large": 0}})
    ) == {"ml.m5.large": 0.0}

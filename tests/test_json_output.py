"""The `--json` convention: snake_case keys, ISO 8601 UTC times, SageMaker's nested
documents untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipelines.json_output import dumps, iso_time, record, snake_case


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ModelPackageVersion", "model_package_version"),
        ("PipelineExecutionArn", "pipeline_execution_arn"),
        ("S3Uri", "s3_uri"),
        ("PipelineARN", "pipeline_arn"),
        ("execution_id", "execution_id"),
        ("CreationTime", "creation_time"),
    ],
)
def test_snake_case(key, expected):
    assert snake_case(key) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, "1970-01-01T00:00:00.500Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), "2026-01-02T03:04:05.678Z"),
        # Another zone: the same instant in UTC.
        (
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.000Z",
        ),
        ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000Z"),
        ("2026-01-02T03:04:05.678+00:00", "2026-01-02T03:04:05.678Z"),
        (None, None),
    ],
)
def test_iso_time(value, expected):
    assert iso_time(value) == expected


def test_record_converts_top_level_keys_and_times_only():
    package = {
        "ModelPackageVersion": 3,
        "CreationTime": "2026-01-02T03:04:05.678+00:00",
        "EvaluationMetrics": {"binary_classification_metrics": {"AUC": {"value": 0.9}}},
        "CustomerMetadataProperties": {"MetricThreshold": "0.5"},
        "end_time": None,
    }
    assert record(package) == {
        "model_package_version": 3,
        "creation_time": "2026-01-02T03:04:05.678Z",
        "evaluation_metrics": {"binary_classification_metrics": {"AUC": {"value": 0.9}}},
        "customer_metadata_properties": {"MetricThreshold": "0.5"},
        "end_time": None,
    }


def test_datetimes_anywhere_are_written_as_iso_utc():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert json.loads(dumps({"steps": [{"StartTime": moment}]})) == {
        "steps": [{"StartTime": "2026-01-02T03:04:05.000Z"}]
    }

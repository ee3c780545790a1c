"""The monitoring job's PutMetricData (processing/data_quality.py publish_metrics) sent with
boto3 to moto's CloudWatch: botocore accepts the request, the alarm's metric arrives with its
dimension, per-feature metrics with theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import data_quality

NAMESPACE = "fraud-detection-retraining/DataDrift"
ENDPOINT = [{"Name": "Endpoint", "Value": "fraud-detection-retraining-endpoint"}]


def report(features: int) -> dict:
    rows = [
        {
            "name": f"feature_{i}",
            "status": "drift" if i < 2 else "stable",
            "psi": 0.5 if i < 2 else 0.01,
            "test": {"name": "kolmogorov_smirnov", "p_value_adjusted": 1e-300 if i < 2 else 0.9},
        }
        for i in range(features)
    ]
    return {
        "verdict": "drift",
        "drift_detected": True,
        "drifted_features": ["feature_0", "feature_1"],
        "violations": 2,
        "data": {"rows": 2500},
        "features": rows,
    }


def test_the_metrics_reach_cloudwatch(aws) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # 600 features: 1,204 metrics, more than one PutMetricData request holds.
    request = data_quality.metric_request(report(600), NAMESPACE, ENDPOINT, now)
    cloudwatch = boto3.client("cloudwatch")
    assert data_quality.publish_metrics(request, cloudwatch) == 2
    statistics = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="DriftedFeatures",
        Dimensions=ENDPOINT,
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(hours=1),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [point["Maximum"] for point in statistics] == [2.0]
    pages = cloudwatch.get_paginator("list_metrics").paginate(Namespace=NAMESPACE, MetricName="PSI")
    listed = [metric for page in pages for metric in page["Metrics"]]
    features = {
        next(d["Value"] for d in metric["Dimensions"] if d["Name"] == "Feature")
        for metric in listed
    }
    assert len(features) == 600

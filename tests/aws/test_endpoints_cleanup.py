"""`endpoints list|cleanup` against moto: only the project's tagged endpoints, idle means no
Invocations over the window AND no change within it; dry runs delete nothing.

Time is injected (`now`) instead of slept: moto stamps endpoints with the real clock, so
"two days later" is 48 h after the idle endpoint's last change as moto recorded it (not
after the test module was imported: a long run made that 47.9 h), and invocations are
put_metric_data points inside that window."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import boto3
import pytest

from pipelines.cli import main as cli_main
from pipelines.config import load_config
from pipelines.deploy import endpoints
from pipelines.deploy.aws_deploy import deploy_module
from pipelines.settings.deployment import deploy_tags

GROUP = "fraud-detection-models"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"

ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
def config(aws):
    return load_config()


@pytest.fixture
def sagemaker(aws):
    return boto3.client("sagemaker")


@pytest.fixture
def deployed(config, sagemaker) -> dict[str, str]:
    """Three project endpoints (idle, busy, other pipeline's) and one without the tag."""
    module = deploy_module(config)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    configs = {}
    for name, tags in (
        ("idle-endpoint", deploy_tags(config)),
        ("busy-endpoint", deploy_tags(config)),
        ("other-pipeline-endpoint", {"pipeline-deploy": "other-pipeline"}),
        ("hand-made-endpoint", {"project": config.pipeline.name}),
    ):
        result = module.deploy(
            sagemaker,
            arn,
            group=GROUP,
            endpoint_name=name,
            instance_type="ml.m5.large",
            instance_count=1,
            role_arn=ROLE_ARN,
            tags=tags,
        )
        configs[name] = result["endpoint_config"]
    later = two_days_after_the_idle_endpoint_changed(sagemaker)
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": "busy-endpoint"},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Value": 5.0,
                "Timestamp": later - timedelta(hours=3),
            },
            {
                # Outside the 24 h window: does not make the idle endpoint busy.
                "MetricName": "Invocations",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": "idle-endpoint"},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Value": 9.0,
                "Timestamp": later - timedelta(hours=30),
            },
        ],
    )
    return configs


def two_days_after_the_idle_endpoint_changed(sagemaker) -> datetime:
    endpoint = sagemaker.describe_endpoint(EndpointName="idle-endpoint")
    return max(endpoint["CreationTime"], endpoint["LastModifiedTime"]) + timedelta(hours=48)


@pytest.fixture
def later(sagemaker, deployed) -> datetime:
    return two_days_after_the_idle_endpoint_changed(sagemaker)


def names(sagemaker) -> list[str]:
    return sorted(e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"])


def test_cleanup_deletes_only_the_projects_idle_endpoint(
    config, sagemaker, deployed, later
) -> None:
    lines: list[str] = []

    deleted = endpoints.cleanup(config, now=later, out=lines.append)

    assert deleted == ["idle-endpoint"]
    assert names(sagemaker) == ["busy-endpoint", "hand-made-endpoint", "other-pipeline-endpoint"]
    text = "\n".join(lines)
    idle_config = deployed["idle-endpoint"]
    assert re.search(
        rf"deleted endpoint idle-endpoint, endpoint config {idle_config}, model {idle_config}: "
        r"no invocations in the last 24 h \(unchanged for 48\.0 h\)",
        text,
    )
    assert "keep    busy-endpoint: 5 invocation(s) in the last 24 h" in text
    assert "1 idle endpoint(s) deleted, 1 kept." in text
    remaining_configs = {
        c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
    }
    assert idle_config not in remaining_configs
    assert deployed["busy-endpoint"] in remaining_configs
    assert idle_config not in {m["ModelName"] for m in sagemaker.list_models()["Models"]}


def test_dry_run_deletes_nothing(config, sagemaker, deployed, later) -> None:
    lines: list[str] = []

    assert endpoints.cleanup(config, now=later, dry_run=True, out=lines.append) == ["idle-endpoint"]

    assert "would delete idle-endpoint: no invocations in the last 24 h" in "\n".join(lines)
    assert lines[-1] == "1 idle endpoint(s) would be deleted (dry run, nothing changed), 1 kept."
    assert len(names(sagemaker)) == 4
    assert len(sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 4


def test_a_recently_deployed_endpoint_is_not_idle(config, sagemaker, deployed, later) -> None:
    lines: list[str] = []

    assert endpoints.cleanup(config, now=later, idle_hours=72, out=lines.append) == []

    assert "keep    idle-endpoint: created or updated 48.0 h ago, less than the 72 h window" in (
        lines
    )
    assert len(names(sagemaker)) == 4


def test_list_reports_each_project_endpoint(config, deployed, later) -> None:
    lines: list[str] = []

    assert endpoints.list_endpoints(config, now=later, out=lines.append) == 0

    assert len(lines) == 2
    assert lines[0].startswith("busy-endpoint  InService  config ")
    assert "in use: 5 invocation(s)" in lines[0]
    assert lines[1].startswith("idle-endpoint  InService") and "IDLE: no invocations" in lines[1]


def test_cli(config, sagemaker, deployed, capsys) -> None:
    # The real clock: every endpoint was deployed moments ago, so none is idle yet.
    assert cli_main(["endpoints", "cleanup", "--target", "sagemaker", "--idle-hours", "1"]) == 0
    assert "0 idle endpoint(s) deleted, 2 kept." in capsys.readouterr().out
    assert len(names(sagemaker)) == 4
    assert cli_main(["endpoints", "list", "--target", "sagemaker"]) == 0
    assert "busy-endpoint" in capsys.readouterr().out
    assert cli_main(["endpoints", "list", "--target", "sagemaker", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(e["endpoint_name"] for e in listed["endpoints"]) == [
        "busy-endpoint",
        "idle-endpoint",
    ]
    assert all(re.fullmatch(ISO_UTC, e["last_change_time"]) for e in listed["endpoints"])
    assert not any(e["idle"] for e in listed["endpoints"])
    assert cli_main(["endpoints", "cleanup"]) == 2
    assert "add --target sagemaker" in capsys.readouterr().err
    assert cli_main(["endpoints", "cleanup", "--target", "sagemaker", "--idle-hours", "0"]) == 2
    assert "--idle-hours must be a positive number" in capsys.readouterr().err

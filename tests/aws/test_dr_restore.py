"""`dr restore` on moto: a replicated model registered (and served) in the DR region from the
replica alone, the primary region out of reach.

The replica is filled as S3 replication fills it: the same keys as in the artifacts bucket
(moto stores replication rules but copies nothing)."""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest

from pipelines.cli import main as cli_main
from pipelines.config import load_config
from pipelines.stack.restore import restore

DR_REGION = "us-west-2"
REPLICA = "retraining-test-replica"
GROUP = "fraud-detection-models"
EXECUTIONS = "fraud-detection-retraining/executions"
# The scikit-learn image of the configured version in us-west-2 (the SDK's image table).
DR_IMAGE = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"


@pytest.fixture
def config(aws):
    config = load_config()
    extra = {**config.extra, "dr": {"region": DR_REGION, "bucket": REPLICA}}
    return dataclasses.replace(config, extra=extra)


@pytest.fixture
def replica(config):
    """The replica as the `<stack>-dr` stack and replication leave it: the bucket, the
    restore's model package group, and three executions' outputs."""
    s3 = boto3.client("s3", region_name=DR_REGION)
    s3.create_bucket(Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": DR_REGION})
    boto3.client("sagemaker", region_name=DR_REGION).create_model_package_group(
        ModelPackageGroupName=GROUP
    )

    def execution(name: str, register: bool, model: bool = True) -> None:
        decision = {"metric": "average_precision", "challenger": 0.41, "register": register}
        s3.put_object(
            Bucket=REPLICA,
            Key=f"{EXECUTIONS}/{name}/Evaluate/evaluation.json",
            Body=json.dumps({"decision": decision}).encode(),
        )
        s3.put_object(
            Bucket=REPLICA, Key=f"{EXECUTIONS}/{name}/Evaluate/model_quality.json", Body=b"{}"
        )
        if model:
            s3.put_object(
                Bucket=REPLICA,
                Key=f"{EXECUTIONS}/{name}/Train/pipelines-{name}-Train/output/model.tar.gz",
                Body=b"model",
            )
            for baseline in ("statistics.json", "constraints.json"):
                s3.put_object(
                    Bucket=REPLICA, Key=f"{EXECUTIONS}/{name}/Baseline/{baseline}", Body=b"{}"
                )

    execution("a1b2c3", register=True)
    execution("heldback", register=False)  # the champion rule kept it out of the registry
    execution("nomodel", register=True, model=False)  # its model was not replicated (yet)
    return s3


def test_list_shows_only_registered_models_the_replica_holds(config, replica) -> None:
    lines: list[str] = []
    assert restore(config, list_only=True, out=lines.append) == 0
    assert (
        lines[0] == f"Registered models in the replica s3://{REPLICA} ({DR_REGION}), newest first:"
    )
    (candidate,) = lines[1:]
    assert candidate.split()[:3] == ["a1b2c3", "average_precision", "0.4100"]
    assert candidate.endswith(
        f"s3://{REPLICA}/{EXECUTIONS}/a1b2c3/Train/pipelines-a1b2c3-Train/output/model.tar.gz"
    )


def test_restore_registers_the_replica_in_the_dr_region(config, replica) -> None:
    lines: list[str] = []
    assert restore(config, out=lines.append) == 0

    sagemaker = boto3.client("sagemaker", region_name=DR_REGION)
    (summary,) = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)[
        "ModelPackageSummaryList"
    ]
    package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    (container,) = package["InferenceSpecification"]["Containers"]
    assert container["Image"] == DR_IMAGE
    assert container["ModelDataUrl"] == (
        f"s3://{REPLICA}/{EXECUTIONS}/a1b2c3/Train/pipelines-a1b2c3-Train/output/model.tar.gz"
    )
    assert container["Environment"]["SAGEMAKER_REGION"] == DR_REGION
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == (
        f"s3://{REPLICA}/{EXECUTIONS}/a1b2c3/Evaluate/model_quality.json"
    )
    # Its drift-check baseline: the replica's copy (the next run's DriftCheck there reads it).
    assert package["DriftCheckBaselines"]["ModelDataQuality"]["Statistics"]["S3Uri"] == (
        f"s3://{REPLICA}/{EXECUTIONS}/a1b2c3/Baseline/statistics.json"
    )
    assert package["CustomerMetadataProperties"] == {
        "restored-from-execution": "a1b2c3",
        "source-region": "us-east-1",
    }
    assert lines[0].startswith(f"Registered {summary['ModelPackageArn']} (PendingManualApproval)")


def test_restore_with_deploy_serves_it_from_the_dr_region(config, replica) -> None:
    lines: list[str] = []
    assert restore(config, execution="a1b2c3", deploy=True, out=lines.append) == 0

    sagemaker = boto3.client("sagemaker", region_name=DR_REGION)
    endpoint = sagemaker.describe_endpoint(EndpointName="fraud-detection-retraining-endpoint")
    model = sagemaker.describe_model(ModelName=endpoint["EndpointConfigName"])
    (summary,) = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)[
        "ModelPackageSummaryList"
    ]
    assert summary["ModelApprovalStatus"] == "Approved"
    assert model["Containers"][0]["ModelPackageName"] == summary["ModelPackageArn"]
    assert lines[-1].startswith(
        f"Endpoint fraud-detection-retraining-endpoint in {DR_REGION}: created"
    )
    # Nothing was asked of the primary region.
    assert boto3.client("sagemaker", region_name="us-east-1").list_endpoints()["Endpoints"] == []


def test_an_execution_without_a_registered_model_is_refused(config, replica) -> None:
    from pipelines.errors import UsageError

    with pytest.raises(UsageError, match="execution heldback has no registered model"):
        restore(config, execution="heldback", out=lambda line: None)


def test_an_empty_replica_restores_nothing(config) -> None:
    boto3.client("s3", region_name=DR_REGION).create_bucket(
        Bucket=REPLICA, CreateBucketConfiguration={"LocationConstraint": DR_REGION}
    )
    lines: list[str] = []
    assert restore(config, out=lines.append) == 1
    assert "(none: no replicated execution holds a registered model yet)" in lines[-1]


def test_restore_needs_dr_configured(aws, capsys) -> None:
    assert cli_main(["--target", "sagemaker", "dr", "restore"]) == 2
    assert "dr restore needs [dr] in pipeline.toml" in capsys.readouterr().err

"""lambdas/resolve_champion.py against moto's SageMaker (the local registry answers the same)."""

from __future__ import annotations

import importlib.util

import boto3
import pytest

from pipelines.config import PROJECT_ROOT

GROUP = "fraud-detection-models"
NO_CHAMPION = "s3://bucket/prefix/registry/no-champion/"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"


@pytest.fixture
def resolve_champion():
    spec = importlib.util.spec_from_file_location(
        "resolve_champion", PROJECT_ROOT / "lambdas" / "resolve_champion.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def register(sagemaker, status: str, version: int) -> str:
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [
                {"Image": IMAGE, "ModelDataUrl": f"s3://bucket/models/v{version}/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def test_the_newest_approved_version_is_the_champion(aws, resolve_champion):
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arns = {
        version: register(sagemaker, status, version)
        for version, status in enumerate(
            ["Approved", "PendingManualApproval", "Approved", "Rejected"], start=1
        )
    }
    result = resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)
    assert result == {
        "ChampionModelDataUrl": "s3://bucket/models/v3/model.tar.gz",
        "ChampionVersion": "3",
        "ChampionArn": arns[3],
        # The newest version whatever its status (here Rejected): the rerun guard.
        "LatestModelDataUrl": "s3://bucket/models/v4/model.tar.gz",
        "LatestVersion": "4",
    }


@pytest.mark.parametrize("group_exists", [True, False])
def test_without_an_approved_version_the_marker_stands_in(aws, resolve_champion, group_exists):
    sagemaker = boto3.client("sagemaker")
    if group_exists:
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        register(sagemaker, "PendingManualApproval", 1)
    result = resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)
    assert result == {
        "ChampionModelDataUrl": NO_CHAMPION,
        "ChampionVersion": "none",
        "ChampionArn": "none",
        "LatestModelDataUrl": "s3://bucket/models/v1/model.tar.gz" if group_exists else "none",
        "LatestVersion": "1" if group_exists else "none",
    }

"""lambdas/resolve_champion.py against moto's SageMaker (the local registry answers the same):
the champion lookup, and the lookup of a version holding the same model files."""

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


def baselines(folder: str, statistics: str = "statistics.json") -> dict:
    """DriftCheckBaselines as the pipeline's RegisterModel step sends them."""
    return {
        "ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": folder + statistics},
            "Constraints": {
                "ContentType": "application/json",
                "S3Uri": folder + "constraints.json",
            },
        }
    }


def register(
    sagemaker, status: str, version: int, digest: str | None = None, baseline: dict | None = None
) -> str:
    extra = {"CustomerMetadataProperties": {"ModelContentDigest": digest}} if digest else {}
    if baseline:
        extra["DriftCheckBaselines"] = baseline
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        **extra,
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
        version: register(
            sagemaker, status, version, baseline=baselines(f"s3://bucket/runs/{version}/Baseline/")
        )
        for version, status in enumerate(
            ["Approved", "PendingManualApproval", "Approved", "Rejected"], start=1
        )
    }
    result = resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)
    assert result == {
        "ChampionModelDataUrl": "s3://bucket/models/v3/model.tar.gz",
        "ChampionVersion": "3",
        "ChampionArn": arns[3],
        # The folder of its DriftCheckBaselines.ModelDataQuality: DriftCheck's input.
        "ChampionBaselineUrl": "s3://bucket/runs/3/Baseline/",
    }


def test_a_champion_without_a_baseline_gets_the_marker_as_its_baseline(aws, resolve_champion):
    # Registered before baselines existed: DriftCheck reports no_baseline and the run retrains.
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register(sagemaker, "Approved", 1)
    result = resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)
    assert (result["ChampionVersion"], result["ChampionBaselineUrl"]) == ("1", NO_CHAMPION)


def test_a_baseline_driftcheck_cannot_read_as_one_folder_is_refused(aws, resolve_champion):
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    register(sagemaker, "Approved", 1, baseline=baselines("s3://bucket/b/", "stats.json"))
    with pytest.raises(ValueError, match=r"must be statistics\.json and constraints\.json in one"):
        resolve_champion({"ModelPackageGroupName": GROUP, "NoChampionUri": NO_CHAMPION}, None)


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
        "ChampionBaselineUrl": NO_CHAMPION,
    }


def test_the_version_holding_the_same_model_files_is_found(aws, resolve_champion):
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arns = {
        version: register(sagemaker, status, version, digest)
        for version, (status, digest) in enumerate(
            [("Rejected", "a" * 64), ("Approved", None), ("PendingManualApproval", "b" * 64)],
            start=1,
        )
    }
    # Any status: a rejected model is the same model, registering it again adds nothing.
    for digest, version in (("a" * 64, 1), ("b" * 64, 3)):
        event = {"ModelPackageGroupName": GROUP, "ModelContentDigest": digest}
        assert resolve_champion(event, None) == {
            "RegisteredVersion": str(version),
            "RegisteredArn": arns[version],
        }
    unknown = {"ModelPackageGroupName": GROUP, "ModelContentDigest": "c" * 64}
    assert resolve_champion(unknown, None) == {"RegisteredVersion": "none", "RegisteredArn": "none"}


def test_a_group_that_does_not_exist_holds_no_copy(aws, resolve_champion):
    event = {"ModelPackageGroupName": GROUP, "ModelContentDigest": "a" * 64}
    assert resolve_champion(event, None) == {"RegisteredVersion": "none", "RegisteredArn": "none"}

"""lambdas/deploy_model.py (the approval Lambda) and `deploy --target sagemaker` against
moto: create on the first approval, update the same endpoint in place on the next, ignore
what is not an approval of this group, and treat re-deliveries as no-ops."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import boto3
import pytest
from moto.sagemaker.models import sagemaker_backends

from pipelines.cli import main as cli_main
from pipelines.config import PROJECT_ROOT, load_config
from pipelines.deploy.aws_deploy import deploy_module, lambda_environment

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecutionRole"  # the aws fixture's
GROUP = "fraud-detection-models"
ENDPOINT = "fraud-detection-retraining-endpoint"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
SAMPLE = (
    Path(__file__).resolve().parents[1] / "triggers" / "samples" / "model_package_approved.json"
)


@pytest.fixture
def lambda_env(aws, monkeypatch) -> dict[str, str]:
    env = lambda_environment(load_config())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def deploy_model(lambda_env, moto_update_endpoint):
    return deploy_module(load_config(PROJECT_ROOT / "pipeline.toml"))


@pytest.fixture
def sagemaker(aws):
    client = boto3.client("sagemaker")
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    # The project's bucket: the baselines the registered versions carry, and where the
    # monitoring job's baseline is published on deployment.
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=aws["PIPELINE_BUCKET"])
    for version in range(1, 4):
        for name in ("statistics.json", "constraints.json"):
            body = json.dumps({"version": version, "file": name}).encode()
            s3.put_object(Bucket=aws["PIPELINE_BUCKET"], Key=f"runs/{version}/{name}", Body=body)
    return client


def register(
    sagemaker, status: str = "Approved", group: str = GROUP, baseline: str | None = None
) -> str:
    extra = {}
    if baseline:
        extra["DriftCheckBaselines"] = {
            "ModelDataQuality": {
                kind: {"ContentType": "application/json", "S3Uri": f"{baseline}{name}"}
                for kind, name in (
                    ("Statistics", "statistics.json"),
                    ("Constraints", "constraints.json"),
                )
            }
        }
    return sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://bucket/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        **extra,
    )["ModelPackageArn"]


def published(bucket: str) -> dict[str, bytes]:
    """The monitoring job's baseline folder: file name -> content."""
    s3 = boto3.client("s3")
    prefix = f"fraud-detection-retraining/monitoring/{ENDPOINT}/baseline/"
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        o["Key"].removeprefix(prefix): s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for o in listing
    }


def approval_event(arn: str, status: str = "Approved", group: str = GROUP) -> dict:
    """The sample EventBridge event, pointed at a package that exists in moto."""
    event = copy.deepcopy(json.loads(SAMPLE.read_text()))
    event["detail"].update(
        ModelPackageArn=arn,
        ModelPackageVersion=int(arn.rsplit("/", 1)[1]),
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
    )
    event["resources"] = [arn]
    return event


def tags(sagemaker, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def test_the_first_approval_creates_the_endpoint(deploy_model, sagemaker) -> None:
    arn = register(sagemaker)

    result = deploy_model.handler(approval_event(arn), None)

    assert result["action"] == "created"
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    config_name = endpoint["EndpointConfigName"]
    assert config_name.startswith(f"{ENDPOINT}-v1-") and config_name == result["endpoint_config"]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    (variant,) = config["ProductionVariants"]
    assert (variant["VariantName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        "AllTraffic",
        "ml.m5.large",
        1,
    )
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["Containers"] == [{"ModelPackageName": arn}]
    assert model["ExecutionRoleArn"] == ROLE_ARN
    for resource_arn in (endpoint["EndpointArn"], config["EndpointConfigArn"], model["ModelArn"]):
        assert tags(sagemaker, resource_arn) == {
            "pipeline-deploy": "fraud-detection-retraining",
            "project": "fraud-detection-retraining",
            "managed-by": "run_pipeline.py",
        }


def test_the_endpoint_captures_requests_and_the_monitoring_job_gets_its_baseline(
    deploy_model, sagemaker, aws
) -> None:
    bucket = aws["PIPELINE_BUCKET"]
    first = register(sagemaker, baseline=f"s3://{bucket}/runs/1/")
    result = deploy_model.handler(approval_event(first), None)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=result["endpoint_config"])
    # DataCaptureConfig ("Capture data from real-time endpoint"): requests and responses as
    # JSON Lines under s3://<bucket>/<prefix>/capture/<endpoint>/<variant>/yyyy/mm/dd/hh/.
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{bucket}/fraud-detection-retraining/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }
    readme = f"fraud-detection-retraining/capture/{ENDPOINT}/README.txt"
    assert boto3.client("s3").head_object(Bucket=bucket, Key=readme)["ContentLength"] > 0
    files = published(bucket)
    assert json.loads(files["statistics.json"]) == {"version": 1, "file": "statistics.json"}
    assert json.loads(files["constraints.json"]) == {"version": 1, "file": "constraints.json"}
    assert json.loads(files["model.json"])["ModelPackageArn"] == first
    assert "NO_CHAMPION" not in files

    # A version registered without a baseline: the job must not compare with version 1's.
    second = register(sagemaker)
    deploy_model.handler(approval_event(second), None)
    files = published(bucket)
    assert files["NO_CHAMPION"] == b""
    assert json.loads(files["model.json"])["ModelPackageArn"] == second
    # ... and the next version with one replaces the marker.
    third = register(sagemaker, baseline=f"s3://{bucket}/runs/3/")
    deploy_model.handler(approval_event(third), None)
    files = published(bucket)
    assert "NO_CHAMPION" not in files
    assert json.loads(files["statistics.json"])["version"] == 3


def test_a_capture_change_is_a_new_endpoint_config(deploy_model, sagemaker, monkeypatch):
    arn = register(sagemaker)
    before = deploy_model.handler(approval_event(arn), None)["endpoint_config"]
    monkeypatch.setenv("DATA_CAPTURE_PERCENTAGE", "10")
    after = deploy_model.handler(approval_event(arn), None)
    assert after["action"] == "updated" and after["endpoint_config"] != before
    config = sagemaker.describe_endpoint_config(EndpointConfigName=after["endpoint_config"])
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 10
    monkeypatch.delenv("DATA_CAPTURE_S3_URI")
    plain = deploy_model.handler(approval_event(arn), None)["endpoint_config"]
    # moto answers an empty DataCaptureConfig for a config created without one.
    assert not sagemaker.describe_endpoint_config(EndpointConfigName=plain).get("DataCaptureConfig")


def test_a_newer_approval_updates_the_same_endpoint_in_place(deploy_model, sagemaker) -> None:
    first = register(sagemaker)
    deploy_model.handler(approval_event(first), None)
    before = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    second = register(sagemaker)

    result = deploy_model.handler(approval_event(second), None)

    assert result["action"] == "updated"
    assert result["previous_endpoint_config"] == before["EndpointConfigName"]
    (only,) = sagemaker.list_endpoints()["Endpoints"]
    after = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert only["EndpointName"] == ENDPOINT
    assert after["EndpointArn"] == before["EndpointArn"]
    assert after["EndpointConfigName"] != before["EndpointConfigName"]
    assert after["EndpointConfigName"].startswith(f"{ENDPOINT}-v2-")
    model_name = sagemaker.describe_endpoint_config(EndpointConfigName=after["EndpointConfigName"])[
        "ProductionVariants"
    ][0]["ModelName"]
    assert sagemaker.describe_model(ModelName=model_name)["Containers"] == [
        {"ModelPackageName": second}
    ]


def test_a_redelivered_event_changes_nothing(deploy_model, sagemaker) -> None:
    event = approval_event(register(sagemaker))
    deploy_model.handler(event, None)

    again = deploy_model.handler(event, None)

    assert again["action"] == "unchanged"
    assert len(sagemaker.list_endpoints()["Endpoints"]) == 1
    assert len(sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1
    assert len(sagemaker.list_models()["Models"]) == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"detail-type": "SageMaker Endpoint State Change"}, "detail-type"),
        ({"status": "PendingManualApproval"}, "approval status is 'PendingManualApproval'"),
        ({"status": "Rejected"}, "approval status is 'Rejected'"),
        ({"group": "someone-elses-models"}, "group 'someone-elses-models' is not"),
    ],
    ids=["other-event", "pending", "rejected", "other-group"],
)
def test_other_events_are_ignored_with_a_reason(deploy_model, sagemaker, change, reason) -> None:
    arn = register(sagemaker)
    event = approval_event(
        arn, status=change.get("status", "Approved"), group=change.get("group", GROUP)
    )
    if "detail-type" in change:
        event["detail-type"] = change["detail-type"]

    result = deploy_model.handler(event, None)

    assert result["action"] == "ignored" and reason in result["reason"]
    assert sagemaker.list_endpoints()["Endpoints"] == []


def test_a_stale_approval_is_not_deployed(deploy_model, sagemaker) -> None:
    """Approved, then rejected again before the event arrived: the registry decides."""
    arn = register(sagemaker)
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")

    result = deploy_model.handler(approval_event(arn), None)

    assert result == {"action": "ignored", "reason": "version 1 is Rejected now, not Approved"}
    assert sagemaker.list_endpoints()["Endpoints"] == []


def test_a_late_event_for_an_older_version_does_not_roll_back(deploy_model, sagemaker) -> None:
    older, newer = register(sagemaker), register(sagemaker)
    deploy_model.handler(approval_event(newer), None)

    result = deploy_model.handler(approval_event(older), None)

    assert result["action"] == "ignored"
    assert "version 2 is" in result["reason"]
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"].startswith(f"{ENDPOINT}-v2-")


def test_an_endpoint_that_is_changing_is_retried_later(deploy_model, sagemaker) -> None:
    deploy_model.handler(approval_event(register(sagemaker)), None)
    sagemaker_backends[ACCOUNT_ID][REGION].endpoints[ENDPOINT].endpoint_status = "Updating"

    with pytest.raises(deploy_model.EndpointBusyError, match="is Updating"):
        deploy_model.handler(approval_event(register(sagemaker)), None)


def test_long_endpoint_names_still_fit(deploy_model) -> None:
    name = deploy_model.resource_name("e" * 63, 12345, "abcdef12")
    assert len(name) == 63 and name.endswith("-v12345-abcdef12")


class TestCli:
    @pytest.fixture(autouse=True)
    def shim(self, moto_update_endpoint) -> None:
        pass

    def test_deploy_the_newest_then_roll_back_explicitly(self, sagemaker, capsys) -> None:
        register(sagemaker)
        register(sagemaker)
        register(sagemaker, "PendingManualApproval")

        assert cli_main(["deploy", "--target", "sagemaker"]) == 0
        out = capsys.readouterr().out
        assert f"created endpoint {ENDPOINT}: version 2" in out
        assert "1 x ml.m5.large" in out

        assert cli_main(["deploy", "--target", "sagemaker"]) == 0
        assert "already serves this version" in capsys.readouterr().out

        assert cli_main(["deploy", "--target", "sagemaker", "--model-version", "1"]) == 0
        assert f"updating endpoint {ENDPOINT} in place" in capsys.readouterr().out
        endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        assert endpoint["EndpointConfigName"].startswith(f"{ENDPOINT}-v1-")
        assert len(sagemaker.list_endpoints()["Endpoints"]) == 1

    def test_only_approved_versions_are_deployed(self, sagemaker, capsys) -> None:
        assert cli_main(["deploy", "--target", "sagemaker"]) == 2
        assert "has no Approved version to deploy" in capsys.readouterr().err
        register(sagemaker, "PendingManualApproval")
        assert cli_main(["deploy", "--target", "sagemaker", "--model-version", "1"]) == 2
        assert "version 1 of fraud-detection-models is PendingManualApproval" in (
            capsys.readouterr().err
        )
        assert cli_main(["deploy", "--target", "sagemaker", "--model-version", "7"]) == 2
        assert sagemaker.list_endpoints()["Endpoints"] == []

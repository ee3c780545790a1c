"""upsert / start / describe / status against moto's server standing in for SageMaker and S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from waiting import FAILSAFE_SECONDS

from pipelines.aws import pipeline_ops
from pipelines.code_assets import code_uri, project_code, sample_data_uri
from pipelines.config import PROJECT_ROOT, load_config
from pipelines.parameters import ParameterError

REGION = "us-east-1"
BUCKET = "retraining-test-bucket"  # the `aws` fixture's PIPELINE_BUCKET


@pytest.fixture
def config(aws):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    return load_config()


def run_cli(aws_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "run_pipeline.py", "--target", "sagemaker", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **aws_env},
        capture_output=True,
        text=True,
        timeout=FAILSAFE_SECONDS,
    )


def s3_keys() -> set[str]:
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)
    return {item["Key"] for item in listing.get("Contents", [])}


def test_upsert_creates_the_pipeline_with_code_and_sample_data_in_s3(config, aws):
    result = pipeline_ops.upsert_pipeline(config)

    assert result.created
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    described = sagemaker.describe_pipeline(PipelineName=config.pipeline.name)
    assert described["RoleArn"] == aws["PIPELINE_ROLE_ARN"]
    assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
    definition = json.loads(described["PipelineDefinition"])
    assert [step["Name"] for step in definition["Steps"]] == [
        "ResolveChampion",
        "SnapshotInput",
        "Preprocess",
        "Train",
        "Evaluate",
        "CheckMetric",
    ]
    target = config.target("sagemaker")
    expected = {
        code_uri(asset, config, target).removeprefix(f"s3://{BUCKET}/")
        for asset in project_code(config).all()
    }
    expected.add(sample_data_uri(config, target).removeprefix(f"s3://{BUCKET}/"))
    assert expected <= s3_keys()
    # The definition points at exactly the uploaded code.
    text = described["PipelineDefinition"]
    for key in expected - {sample_data_uri(config, target).removeprefix(f"s3://{BUCKET}/")}:
        assert f"s3://{BUCKET}/{key}" in text
    groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in groups] == ["fraud-detection-models"]
    assert "fraud-detection-retraining/registry/no-champion/NO_CHAMPION" in s3_keys()


CHAMPION = "fraud-detection-retraining-resolve-champion"
SNAPSHOT = "fraud-detection-retraining-snapshot-input"


def test_upsert_deploys_the_champion_lambda_with_a_least_privilege_role(config):
    assert pipeline_ops.upsert_pipeline(config).functions == {
        CHAMPION: "created",
        SNAPSHOT: "created",
    }

    function = boto3.client("lambda", region_name=REGION).get_function(
        FunctionName="fraud-detection-retraining-resolve-champion"
    )["Configuration"]
    assert function["Handler"] == "resolve_champion.handler"
    assert function["Runtime"] == "python3.12"
    # The definition's LambdaStep names exactly this function.
    definition = json.loads(
        boto3.client("sagemaker", region_name=REGION).describe_pipeline(
            PipelineName=config.pipeline.name
        )["PipelineDefinition"]
    )
    assert definition["Steps"][0]["FunctionArn"] == function["FunctionArn"]
    iam = boto3.client("iam", region_name=REGION)
    role_name = function["Role"].rsplit("/", 1)[-1]
    policy = iam.get_role_policy(RoleName=role_name, PolicyName="resolve-champion")
    statements = policy["PolicyDocument"]["Statement"]
    actions = sorted(a for statement in statements for a in statement["Action"])
    assert actions == [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
    ]
    assert all(resource != "*" for st in statements for resource in st["Resource"])

    assert pipeline_ops.upsert_pipeline(config).functions == {
        CHAMPION: "unchanged",
        SNAPSHOT: "unchanged",
    }


def test_upsert_deploys_the_snapshot_lambda_allowed_to_list_inputs_and_write_snapshots(config):
    pipeline_ops.upsert_pipeline(config)
    function = boto3.client("lambda", region_name=REGION).get_function(FunctionName=SNAPSHOT)[
        "Configuration"
    ]
    assert function["Handler"] == "snapshot_input.handler"
    assert function["Timeout"] == 300
    definition = json.loads(
        boto3.client("sagemaker", region_name=REGION).describe_pipeline(
            PipelineName=config.pipeline.name
        )["PipelineDefinition"]
    )
    step = next(s for s in definition["Steps"] if s["Name"] == "SnapshotInput")
    assert step["FunctionArn"] == function["FunctionArn"]
    assert step["Arguments"]["SnapshotPrefix"] == (
        f"s3://{BUCKET}/fraud-detection-retraining/snapshots/"
    )
    iam = boto3.client("iam", region_name=REGION)
    role = function["Role"].rsplit("/", 1)[-1]
    assert role == SNAPSHOT  # its own role, not the champion's
    statements = {
        st["Sid"]: st
        for st in iam.get_role_policy(RoleName=role, PolicyName="snapshot-input")["PolicyDocument"][
            "Statement"
        ]
    }
    assert statements["ListInputs"]["Action"] == ["s3:ListBucket"]
    assert statements["ListInputs"]["Resource"] == [f"arn:aws:s3:::{BUCKET}"]
    # Only the project's prefix (the sample, snapshots and, by default, incoming/).
    assert statements["ListInputs"]["Condition"] == {
        "StringLike": {"s3:prefix": ["fraud-detection-retraining/*"]}
    }
    assert statements["WriteSnapshots"] == {
        "Sid": "WriteSnapshots",
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": [f"arn:aws:s3:::{BUCKET}/fraud-detection-retraining/snapshots/*"],
    }
    actions = {a for st in statements.values() for a in st["Action"]}
    assert "s3:GetObject" not in actions and not any(a.endswith("*") for a in actions)


def test_upsert_twice_updates_instead_of_duplicating(config):
    first = pipeline_ops.upsert_pipeline(config)
    second = pipeline_ops.upsert_pipeline(config)

    assert first.created and not second.created
    assert first.pipeline_arn == second.pipeline_arn
    assert second.uploaded == ()  # content-addressed objects already there
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert len(sagemaker.list_pipelines()["PipelineSummaries"]) == 1
    assert len(sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]) == 1


def test_start_passes_parameters_that_describe_then_shows(config):
    pipeline_ops.upsert_pipeline(config)
    arn = pipeline_ops.start_execution(
        config, {"MetricThreshold": "0.95", "InputDataUrl": f"s3://{BUCKET}/new/data.csv"}
    )
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert {p["Name"]: p["Value"] for p in parameters["PipelineParameters"]} == {
        "InputDataUrl": f"s3://{BUCKET}/new/data.csv",
        "MetricThreshold": "0.95",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MetricThreshold": "high"}, "MetricThreshold expects a Float"),
        ({"MaxIter": "2.5"}, "MaxIter expects an Integer"),
        ({"ModelApprovalStatus": "Maybe"}, "must be one of Approved"),
        ({"Thresold": "0.9"}, r"unknown parameter\(s\) Thresold"),
        ({"InputDataUrl": "data/local.csv"}, "must be an s3:// URI"),
        # What SageMaker itself would refuse in a step's request, in its words.
        (
            {"TrainingInstanceType": "foo"},
            r"step Train \(sagemaker:CreateTrainingJob\): 1 validation error detected: Value "
            r"'foo' at 'resourceConfig.instanceType' failed to satisfy constraint: Member must "
            r"satisfy enum value set: \[ml\.",
        ),
        (
            {"ProcessingInstanceCount": "0"},
            r"Value '0' at 'processingResources.clusterConfig.instanceCount' failed to satisfy "
            r"constraint: Member must have value greater than or equal to 1",
        ),
    ],
)
def test_start_refuses_bad_parameters_before_starting(config, overrides, message):
    pipeline_ops.upsert_pipeline(config)
    with pytest.raises(ParameterError, match=message):
        pipeline_ops.start_execution(config, overrides)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    executions = sagemaker.list_pipeline_executions(PipelineName=config.pipeline.name)
    assert executions["PipelineExecutionSummaries"] == []


def test_upsert_refuses_what_create_pipeline_would_refuse_before_uploading(config, aws):
    from pipelines.conformance.preflight import SageMakerWouldRefuse

    underscored = load_config(overrides={"pipeline": {"name": "fraud_detection_retraining"}})
    with pytest.raises(SageMakerWouldRefuse, match="at 'pipelineName' failed to satisfy"):
        pipeline_ops.upsert_pipeline(underscored)
    assert s3_keys() == set()
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []


def test_cli_round_trip_with_exit_codes(config, aws):
    upsert = run_cli(aws, "upsert")
    assert upsert.returncode == 0, upsert.stderr
    assert "pipeline fraud-detection-retraining created" in upsert.stdout
    again = run_cli(aws, "upsert")
    assert "updated" in again.stdout and "uploaded" not in again.stdout

    started = run_cli(aws, "start", "--param", "MaxIter=50", "--wait", "--poll-seconds", "0")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("started arn:aws:sagemaker:")
    assert "status: Succeeded" in started.stdout

    described = run_cli(aws, "describe")
    assert described.returncode == 0, described.stderr
    assert "MetricThreshold" in described.stdout and "0.2" in described.stdout
    assert "RegisterModel" in described.stdout
    as_json = json.loads(run_cli(aws, "describe", "--json").stdout)
    assert as_json["PipelineName"] == "fraud-detection-retraining"
    assert len(as_json["Executions"]) == 1

    status = run_cli(aws, "status")
    assert status.returncode == 0, status.stderr
    assert "Succeeded" in status.stdout and "MaxIter" in status.stdout

    bad = run_cli(aws, "start", "--param", "MaxIter=lots")
    assert bad.returncode == 2
    assert "MaxIter expects an Integer" in bad.stderr


def test_cli_reports_missing_pipeline_and_missing_settings(aws):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    missing = run_cli(aws, "start")
    assert missing.returncode == 3
    assert "does not exist" in missing.stderr and "upsert" in missing.stderr

    no_role = run_cli({**aws, "PIPELINE_ROLE_ARN": ""}, "upsert")
    assert no_role.returncode == 2
    assert "role_arn" in no_role.stderr and "PIPELINE_ROLE_ARN" in no_role.stderr


def test_cli_maps_aws_errors_to_exit_code_3(aws):
    # No bucket was created: the upload fails on the AWS side.
    result = run_cli(aws, "upsert")
    assert result.returncode == 3
    assert "AWS error" in result.stderr and "NoSuchBucket" in result.stderr


def test_the_snapshot_lambda_may_also_list_a_data_arrival_prefix_elsewhere(aws):
    from pipelines.aws.champion_lambda import project_functions, role_policy

    config = load_config(overrides={"triggers": {"input_prefix": "landing/fraud/"}})
    snapshot = next(f for f in project_functions(config) if f.name == SNAPSHOT)
    policy = role_policy(config, config.target("sagemaker"), snapshot)
    listing = next(st for st in policy["Statement"] if st["Sid"] == "ListInputs")
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": ["fraud-detection-retraining/*", "landing/fraud/*"]}
    }

"""start / describe / status against moto's server standing in for SageMaker and S3.

The pipeline is made as the stack's resources make it: moto's CloudFormation skips
AWS::SageMaker::Pipeline and ::ModelPackageGroup, so their equivalent create calls stand in
(tests/cloudformation_equivalents.py; the stack itself is tested in test_stack_*.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from botocore import xform_name
from cloudformation_equivalents import PlaceholderResolver, calls
from moto_account import ACCOUNT_ID
from waiting import FAILSAFE_SECONDS

from pipelines.aws import pipeline_ops
from pipelines.config import PROJECT_ROOT, load_config
from pipelines.parameters import ParameterError
from pipelines.stack import package
from pipelines.stack.context import build_context
from pipelines.stack.template import build

REGION = "us-east-1"
BUCKET = "retraining-test-bucket"  # the `aws` fixture's PIPELINE_BUCKET


def deploy_pipeline(config) -> None:
    """Code and sample uploaded, the group and the pipeline created, as `stack deploy` does."""
    ctx = build_context(config)
    package.upload(boto3.client("s3", region_name=REGION), package.artifacts(ctx))
    body = build(ctx).body()
    for logical_id, (service, operation, request) in calls(
        body, PlaceholderResolver(body, ACCOUNT_ID, REGION)
    ):
        if logical_id in ("ModelPackageGroup", "Pipeline"):
            getattr(boto3.client(service, region_name=REGION), xform_name(operation))(**request)


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


def test_start_passes_parameters_that_describe_then_shows(config):
    deploy_pipeline(config)
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
    deploy_pipeline(config)
    with pytest.raises(ParameterError, match=message):
        pipeline_ops.start_execution(config, overrides)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    executions = sagemaker.list_pipeline_executions(PipelineName=config.pipeline.name)
    assert executions["PipelineExecutionSummaries"] == []


def test_cli_round_trip_with_exit_codes(config, aws):
    deploy_pipeline(config)

    started = run_cli(aws, "start", "--param", "MaxIter=50", "--wait", "--poll-seconds", "0")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("started arn:aws:sagemaker:")
    assert "status: Succeeded" in started.stdout

    described = run_cli(aws, "describe")
    assert described.returncode == 0, described.stderr
    assert "MetricThreshold" in described.stdout and "0.2" in described.stdout
    assert "RegisterModel" in described.stdout
    as_json = json.loads(run_cli(aws, "describe", "--json").stdout)
    assert as_json["pipeline_name"] == "fraud-detection-retraining"
    assert len(as_json["executions"]) == 1
    assert as_json["executions"][0]["start_time"].endswith("Z")

    status = run_cli(aws, "status")
    assert status.returncode == 0, status.stderr
    assert "Succeeded" in status.stdout and "MaxIter" in status.stdout
    status = run_cli(aws, "status", "--json")
    assert status.returncode == 0, status.stderr
    as_json = json.loads(status.stdout)
    assert as_json["pipeline_execution_status"] == "Succeeded"
    assert as_json["parameters"]["MaxIter"] == "50"
    assert as_json["creation_time"].endswith("Z")
    # moto answers ListPipelineExecutionSteps with a 500: the status stands without them.
    assert as_json["steps"] is None and "ListPipelineExecutionSteps" in as_json["steps_unavailable"]

    bad = run_cli(aws, "start", "--param", "MaxIter=lots")
    assert bad.returncode == 2
    assert "MaxIter expects an Integer" in bad.stderr


def test_cli_reports_a_missing_pipeline(aws):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    missing = run_cli(aws, "start")
    assert missing.returncode == 3
    assert "does not exist" in missing.stderr and "stack deploy" in missing.stderr

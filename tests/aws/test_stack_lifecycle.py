"""`stack plan|deploy|destroy` through the command line on moto: the round trip, a failed
creation that CloudFormation rolls back (and the command naming the resource and why), and
the mistakes refused before anything is uploaded."""

from __future__ import annotations

import json

import boto3
import pytest
from moto_account import (
    ACCOUNT_ID,
    BUCKET,
    REGION,
    cloudformation_rolls_back,
    create_execution_role,
)

from pipelines.cli import main as cli_main

NAME = "fraud-detection-retraining"
SAGEMAKER = ["--target", "sagemaker"]


@pytest.fixture
def bucket(aws):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    create_execution_role()


def stack_status() -> str | None:
    try:
        (stack,) = boto3.client("cloudformation", region_name=REGION).describe_stacks(
            StackName=NAME
        )["Stacks"]
    except boto3.client("cloudformation", region_name=REGION).exceptions.ClientError:
        return None
    return None if stack["StackStatus"] == "DELETE_COMPLETE" else stack["StackStatus"]


def project_queues() -> list[str]:
    urls = boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", [])
    return sorted(url.rsplit("/", 1)[-1] for url in urls if f"/{NAME}-" in url)


def project_roles() -> list[str]:
    roles = boto3.client("iam").list_roles()["Roles"]
    return sorted(r["RoleName"] for r in roles if r["RoleName"].startswith(NAME))


def project_functions() -> list[str]:
    functions = boto3.client("lambda", region_name=REGION).list_functions()["Functions"]
    return sorted(f["FunctionName"] for f in functions)


def test_plan_deploy_and_destroy(bucket, capsys) -> None:
    assert cli_main(["stack", "plan", *SAGEMAKER]) == 0
    out = capsys.readouterr().out
    assert f"Plan for stack {NAME} (pipeline, {REGION}): create" in out
    assert "Dry run: nothing was changed" in out
    assert stack_status() is None  # the plan's change set and its empty stack are gone

    assert cli_main([*SAGEMAKER, "stack", "deploy", "--poll-seconds", "0"]) == 0
    assert f"Stack {NAME}: CREATE_COMPLETE" in capsys.readouterr().out
    assert project_queues() == [f"{NAME}-data-arrival", f"{NAME}-triggers-dlq"]

    assert cli_main([*SAGEMAKER, "stack", "destroy", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "delete AWS::SQS::Queue" in out and "TriggersDeadLetterQueue" in out
    assert "Dry run: nothing was deleted." in out
    assert stack_status() == "CREATE_COMPLETE"

    assert cli_main([*SAGEMAKER, "stack", "destroy", "--poll-seconds", "0"]) == 0
    assert f"Stack {NAME}: deleted" in capsys.readouterr().out
    assert stack_status() is None
    assert project_queues() == project_roles() == project_functions() == []
    # The bucket is the user's: the code and the sample stay (content-addressed).
    keys = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)["KeyCount"]
    assert keys > 0

    assert cli_main([*SAGEMAKER, "stack", "destroy"]) == 0
    assert "does not exist: nothing to delete" in capsys.readouterr().out


def test_a_failing_resource_rolls_the_stack_back_and_is_named(bucket, capsys) -> None:
    # A role left over from an earlier setup holds the name the stack's role needs.
    iam = boto3.client("iam")
    iam.create_role(
        RoleName=f"{NAME}-scheduler",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )

    with cloudformation_rolls_back():
        assert cli_main([*SAGEMAKER, "stack", "deploy", "--poll-seconds", "0"]) == 3

    captured = capsys.readouterr()
    assert f"error: stack {NAME} failed and CloudFormation rolled it back (ROLLBACK_COMPLETE):" in (
        captured.err
    )
    assert (
        f"  SchedulerRole (AWS::IAM::Role): EntityAlreadyExists: Role with name {NAME}-scheduler "
        "already exists." in captured.err
    )
    # Streamed while it happened: the failure, the rollback and what it undid.
    assert "CREATE_FAILED                AWS::IAM::Role" in captured.out
    assert "DELETE_COMPLETE              AWS::SQS::Queue" in captured.out
    assert stack_status() == "ROLLBACK_COMPLETE"
    # Nothing the failed creation made is left; the role it collided with is untouched.
    assert project_queues() == project_functions() == []
    assert project_roles() == [f"{NAME}-scheduler"]

    iam.delete_role(RoleName=f"{NAME}-scheduler")
    with cloudformation_rolls_back():
        assert cli_main([*SAGEMAKER, "stack", "deploy", "--poll-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert f"Stack {NAME} is ROLLBACK_COMPLETE (an earlier creation failed" in out
    assert f"Stack {NAME}: CREATE_COMPLETE" in out


@pytest.mark.parametrize(
    ("argv", "environment", "code", "message"),
    [
        (["stack", "deploy"], {}, 2, "stack manages AWS resources: add --target sagemaker"),
        ([*SAGEMAKER, "stack", "deploy"], {"PIPELINE_ROLE_ARN": ""}, 2, "PIPELINE_ROLE_ARN"),
        (
            [*SAGEMAKER, "stack", "deploy"],
            {"PIPELINE_ROLE_ARN": "arn:aws:iam::111122223333:role/SageMakerExecutionRole"},
            2,
            f"the credentials are for account {ACCOUNT_ID}, but the SageMaker execution role",
        ),
        (
            [*SAGEMAKER, "stack", "deploy"],
            {"PIPELINE_NAME": "fraud_detection_retraining"},
            2,
            "[deployment].endpoint_name 'fraud_detection_retraining-endpoint' (from "
            "[pipeline].name; set endpoint_name to choose another) is not a usable",
        ),
        (
            [*SAGEMAKER, "stack", "deploy"],
            {"PIPELINE_BUCKET": "no-such-bucket-here"},
            3,
            "NoSuchBucket",
        ),
    ],
    ids=["local-target", "no-role", "other-account", "bad-name", "no-bucket"],
)
def test_mistakes_are_refused_before_anything_is_deployed(
    bucket, monkeypatch, capsys, argv, environment, code, message
) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)

    assert cli_main(argv) == code

    assert message in capsys.readouterr().err
    assert stack_status() is None
    if code == 2:
        assert (
            boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
        )


def test_what_create_pipeline_would_refuse_is_refused_before_uploading(bucket) -> None:
    from pipelines.config import load_config
    from pipelines.conformance.preflight import SageMakerWouldRefuse
    from pipelines.stack import deploy

    config = load_config(
        overrides={
            "pipeline": {"name": "fraud_detection_retraining"},
            "deployment": {"endpoint_name": "fraud-endpoint"},
        }
    )
    with pytest.raises(SageMakerWouldRefuse, match="at 'pipelineName' failed to satisfy"):
        deploy.deploy(config, out=lambda line: None)
    assert boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert stack_status() is None

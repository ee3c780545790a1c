"""`[orchestrator].kind = "stepfunctions"` on moto: the stack deploys the state machine, and
both triggers' targets start executions of it that run the pipeline (one small deployment
shared by the module: no disaster recovery, no deploy function).

moto's CloudFormation creates the state machine and its role; the schedule and the pipe are
made by their equivalent calls (tests/cloudformation_equivalents.py), and since moto runs
neither, each one's start is made as the service documents it: Scheduler's StartExecution
with the target's Input, the pipe's from the queued message through its InputTemplate
(pipes_target.py). moto's interpreter then runs the machine (sfn_harness.py); it reads its
own backend, not the one moto's CloudFormation creates state machines in, so the machine
CloudFormation deployed (its definition and role, as DescribeStateMachine returns them) is
created there under the same name before the runs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from cloudformation_equivalents import complete_on_moto
from moto_account import (
    ACCOUNT_ID,
    BUCKET,
    REGION,
    create_execution_role,
    enter_account,
    run_lambda_without_docker,
    s3_reports_bucket_settings,
)
from pipes_target import sqs_record, step_functions_input
from sfn_harness import executing_state_machines
from waiting import wait_until

from pipelines.config import load_config
from pipelines.orchestrators import stepfunctions
from pipelines.stack import deploy
from pipelines.stack.context import build_context

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "triggers"))
from trigger_samples import load_sample

NAME = "fraud-detection-retraining"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{NAME}-orchestrator"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{NAME}-notifications"
INCOMING = f"{NAME}/incoming/"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"


def configured() -> Any:
    config = load_config()
    extra = dict(config.extra)
    for name, values in {
        # One-second polls: moto's interpreter waits for real.
        "orchestrator": {"kind": "stepfunctions", "poll_seconds": 1},
        "deployment": {"deploy_on_approval": False},
    }.items():
        extra[name] = {**extra.get(name, {}), **values}
    return dataclasses.replace(config, extra=extra)


@dataclasses.dataclass
class Deployed:
    config: Any
    # DescribeStateMachine of the machine moto's CloudFormation created.
    machine: dict[str, Any]
    sfn: Any
    # A queue subscribed to the stack's topic: what the state machine published.
    inbox: str


def client(service: str):
    return boto3.client(service, region_name=REGION)


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str):
    with pytest.MonkeyPatch.context() as patch:
        enter_account(moto_endpoint, patch)
        run_lambda_without_docker(moto_endpoint, patch)
        s3_reports_bucket_settings(patch)
        s3 = client("s3")
        s3.create_bucket(Bucket=BUCKET)
        # The stack attaches the drift-metrics policy to the execution role, which (as in a
        # real account) exists before the stack does.
        create_execution_role()
        config = configured()
        errors: list[str] = []
        assert deploy.deploy(config, out=lambda _: None, err=errors.append, poll_seconds=0) == 0, (
            errors
        )

        def notifying() -> bool:
            found = s3.get_bucket_notification_configuration(Bucket=BUCKET)
            return "EventBridgeConfiguration" in found

        # The custom resource runs asynchronously (its function answers CloudFormation).
        wait_until(notifying, "the bucket-settings custom resource turned notifications on")
        complete_on_moto(NAME, REGION, ACCOUNT_ID)
        sqs = client("sqs")
        inbox = sqs.create_queue(QueueName="notifications-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        client("sns").subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=inbox_arn)
        machine = client("stepfunctions").describe_state_machine(stateMachineArn=MACHINE_ARN)
        with executing_state_machines(moto_endpoint, patch) as sfn:
            created = sfn.client.create_state_machine(
                name=machine["name"],
                definition=machine["definition"],
                roleArn=machine["roleArn"],
                type=machine["type"],
            )
            assert created["stateMachineArn"] == MACHINE_ARN
            yield Deployed(config, machine, sfn, inbox)


def published(queue_url: str) -> list[dict[str, Any]]:
    sqs, found = client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def outcomes(queue_url: str) -> list[str]:
    return [m["MessageAttributes"]["outcome"]["Value"] for m in published(queue_url)]


def test_the_state_machine_is_the_generated_one(deployed) -> None:
    described = deployed.machine
    assert described["name"] == f"{NAME}-orchestrator"

    ctx = build_context(deployed.config)
    generated = stepfunctions.state_machine(deployed.config, ctx.target, json.loads(ctx.definition))
    # moto's CloudFormation put the topic's ARN in for ${NotificationTopic}.
    assert json.loads(described["definition"]) == generated
    assert generated["States"]["NotifyError"]["Parameters"]["TopicArn"] == TOPIC_ARN
    assert described["roleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{NAME}-state-machine"
    role = client("iam").get_role(RoleName=f"{NAME}-state-machine")["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}


def test_the_schedule_starts_the_state_machine_with_the_configured_input(deployed) -> None:
    target = client("scheduler").get_schedule(Name=f"{NAME}-nightly", GroupName=f"{NAME}-triggers")[
        "Target"
    ]
    assert target["Arn"] == MACHINE_ARN
    assert target["RoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{NAME}-scheduler"
    sfn = deployed.sfn
    sfn.runs.scenario(
        ["Executing", "Succeeded"],
        [{"StepName": "CheckChampion", "StepStatus": "Succeeded", "Metadata": {}}],
    )

    # What Scheduler's Step Functions target does: StartExecution with the target's Input.
    run = sfn.run(target["Arn"], "nightly", target["Input"])

    assert run["status"] == "SUCCEEDED", run
    assert sfn.runs.started[-1]["parameters"] == [
        {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{INCOMING}"},
        {"Name": "InputPartitionWindow", "Value": "0"},
    ]
    assert sfn.entered(run["executionArn"])[-2:] == ["NotifyHeldBack", "HeldBack"]
    assert outcomes(deployed.inbox) == ["held_back"]


def test_a_data_arrival_starts_the_state_machine_with_the_arrived_object(deployed) -> None:
    sqs = client("sqs")
    queue = sqs.get_queue_url(QueueName=f"{NAME}-data-arrival")["QueueUrl"]
    sample = load_sample("s3_object_created")
    response = client("events").put_events(
        Entries=[
            {
                "Source": sample["source"],
                "DetailType": sample["detail-type"],
                "Detail": json.dumps(sample["detail"]),
                "Resources": sample["resources"],
            }
        ]
    )
    assert response["FailedEntryCount"] == 0
    # The rule's input transformer wrote the message the pipe reads (one at a time).
    (message,) = sqs.receive_message(QueueUrl=queue, AttributeNames=["All"])["Messages"]
    pipe = client("pipes").describe_pipe(Name=f"{NAME}-data-arrival")
    assert pipe["Target"] == MACHINE_ARN
    assert pipe["SourceParameters"]["SqsQueueParameters"]["BatchSize"] == 1
    parameters = pipe["TargetParameters"]
    assert parameters["StepFunctionStateMachineParameters"]["InvocationType"] == "FIRE_AND_FORGET"
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{NAME}-data-arrival"

    payload = step_functions_input(
        parameters["InputTemplate"], [sqs_record(message, queue_arn, REGION)]
    )

    arrived = f"s3://{BUCKET}/{sample['detail']['object']['key']}"
    assert json.loads(payload) == [
        {"PipelineParameters": [{"Name": "InputDataUrl", "Value": arrived}]}
    ]
    version = client("sagemaker").create_model_package(
        ModelPackageGroupName="fraud-detection-models",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    sfn = deployed.sfn
    sfn.runs.scenario(
        ["Succeeded"],
        [
            {
                "StepName": "RegisterModel",
                "StepStatus": "Succeeded",
                "Metadata": {"RegisterModel": {"Arn": version}},
            }
        ],
    )

    run = sfn.run(pipe["Target"], "data-arrival", payload)

    assert run["status"] == "SUCCEEDED", run
    assert sfn.runs.started[-1]["parameters"] == [{"Name": "InputDataUrl", "Value": arrived}]
    path = sfn.entered(run["executionArn"])
    assert path[:3] == ["Parameters?", "PipeRecord", "StartPipeline"]
    assert path[-2:] == ["NotifyRegistered", "AwaitingApproval"]
    assert outcomes(deployed.inbox) == ["registered"]

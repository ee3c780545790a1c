"""The Standard state machine around the pipeline, executed by moto's ASL interpreter against
moto's SageMaker and SNS (see sfn_harness.py for what the harness stands in for): every
outcome is notified, an approved model is deployed (created, then updated in place), a
throttled start is absorbed by the Retry, and errors end in the notify-and-fail path."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from sfn_harness import (  # noqa: F401  (sfn and definition are fixtures)
    ACCOUNT_ID,
    REGION,
    definition,
    sfn,
    sns_messages,
    subscribed_queue,
)

from pipelines.config import load_config
from pipelines.orchestrators import asl, stepfunctions

ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecutionRole"  # the aws fixture's
GROUP = "fraud-detection-models"
PIPELINE = "fraud-detection-retraining"
ENDPOINT = "fraud-detection-retraining-endpoint"
TOPIC = f"{PIPELINE}-notifications"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"


def machine_config(tmp_path):
    # One-second retries and polls: moto's interpreter waits for real.
    return load_config(
        environ={"PIPELINE_BUCKET": "retraining-test-bucket", "PIPELINE_ROLE_ARN": ROLE_ARN},
        overrides={
            "retry": {"interval_seconds": 1, "backoff_rate": 2.0, "max_attempts": 3},
            "orchestrator": {"poll_seconds": 1},
            "local": {"home": str(tmp_path)},
        },
    )


@pytest.fixture
def deployed(aws, sfn, definition, tmp_path):  # noqa: F811
    """The pipeline, its group, the topic (with a queue reading it) and the state machine."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_pipeline(
        PipelineName=PIPELINE, PipelineDefinition=json.dumps(definition), RoleArn=ROLE_ARN
    )
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    topic, queue = subscribed_queue(TOPIC)
    config = machine_config(tmp_path)
    machine = stepfunctions.state_machine(config, config.target("sagemaker"), definition)
    assert machine["States"]["NotifyError"]["Parameters"]["TopicArn"] == topic
    return {"arn": sfn.create("retraining", machine), "queue": queue, "machine": machine}


def register(status: str) -> str:
    return boto3.client("sagemaker", region_name=REGION).create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def step(name: str, status: str = "Succeeded", **metadata: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"StepName": name, "StepStatus": status, "Metadata": metadata}
    if status == "Failed":
        record["FailureReason"] = f"{name} failed"
    return record


def outcomes(queue: str) -> list[str]:
    return [message["MessageAttributes"]["outcome"]["Value"] for message in sns_messages(queue)]


def test_an_approved_model_is_deployed_then_updated_in_place(
    sfn,  # noqa: F811
    deployed,
    moto_update_endpoint,
):
    first = register("Approved")
    sfn.runs.scenario(
        ["Executing", "Succeeded"], [step("RegisterModel", RegisterModel={"Arn": first})]
    )
    run = sfn.run(
        deployed["arn"],
        "first",
        {"PipelineParameters": [{"Name": "MetricThreshold", "Value": "0.3"}]},
    )
    assert run["status"] == "SUCCEEDED", run
    path = sfn.entered(run["executionArn"])
    # The Wait/Describe loop went round once while the pipeline was Executing.
    assert path.count("DescribePipelineExecution") == 2
    assert path[-4:] == ["EndpointExists?", "CreateEndpoint", "NotifyDeployed", "Deployed"]
    assert sfn.runs.started[0]["parameters"] == [{"Name": "MetricThreshold", "Value": "0.3"}]

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    config_name = endpoint["EndpointConfigName"]
    assert config_name.startswith(f"{ENDPOINT}-v1-")
    model = sagemaker.describe_model(ModelName=config_name)
    assert model["Containers"][0]["ModelPackageName"] == first
    assert outcomes(deployed["queue"]) == ["deployed"]

    second = register("Approved")
    sfn.runs.scenario(["Succeeded"], [step("RegisterModel", RegisterModel={"Arn": second})])
    run = sfn.run(deployed["arn"], "second", {})
    assert run["status"] == "SUCCEEDED", run
    assert "UpdateEndpoint" in sfn.entered(run["executionArn"])
    updated = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert updated["EndpointArn"] == endpoint["EndpointArn"]
    assert updated["EndpointConfigName"].startswith(f"{ENDPOINT}-v2-")
    # The pipeline started without parameters: its defaults.
    assert sfn.runs.started[1]["parameters"] == []

    # The same version again: the endpoint already serves it, nothing is created.
    run = sfn.run(deployed["arn"], "again", {})
    path = sfn.entered(run["executionArn"])
    assert run["status"] == "SUCCEEDED"
    assert "AlreadyServing?" in path and "CreateModel" not in path
    assert outcomes(deployed["queue"]) == ["deployed", "deployed"]


def test_a_registered_version_awaiting_approval_is_notified_not_deployed(sfn, deployed):  # noqa: F811
    package = register("PendingManualApproval")
    sfn.runs.scenario(["Succeeded"], [step("RegisterModel", RegisterModel={"Arn": package})])
    run = sfn.run(deployed["arn"], "pending", {})
    assert run["status"] == "SUCCEEDED"
    assert sfn.entered(run["executionArn"])[-2:] == ["NotifyRegistered", "AwaitingApproval"]
    [message] = sns_messages(deployed["queue"])
    body = json.loads(message["Message"])
    assert body["model"] == {
        "Arn": package,
        "Version": 1,
        "ApprovalStatus": "PendingManualApproval",
    }
    with pytest.raises(boto3.client("sagemaker", region_name=REGION).exceptions.ClientError):
        boto3.client("sagemaker", region_name=REGION).describe_endpoint(EndpointName=ENDPOINT)


def test_the_champion_hold_back_succeeds_without_registering(sfn, deployed):  # noqa: F811
    sfn.runs.scenario(
        ["Succeeded"], [step("CheckChampion", Condition={"Outcome": "False"}), step("Evaluate")]
    )
    run = sfn.run(deployed["arn"], "held-back", {})
    assert run["status"] == "SUCCEEDED"
    assert sfn.entered(run["executionArn"])[-2:] == ["NotifyHeldBack", "HeldBack"]
    [message] = sns_messages(deployed["queue"])
    assert message["MessageAttributes"]["outcome"]["Value"] == "held_back"
    assert json.loads(message["Message"])["pipeline"]["last"]["Step"]["StepName"] == "CheckChampion"


def test_a_failed_pipeline_is_notified_and_fails_the_execution(sfn, deployed):  # noqa: F811
    sfn.runs.scenario(
        ["Executing", "Executing", "Failed"],
        [step("MetricBelowThreshold", "Failed"), step("CheckMetric")],
    )
    run = sfn.run(deployed["arn"], "failed", {})
    assert run["status"] == "FAILED"
    assert run["error"] == "PipelineFailed"
    assert "ended Failed" in run["cause"] and "MetricBelowThreshold" in run["cause"]
    assert sfn.entered(run["executionArn"]).count("WaitForPipeline") == 3
    [message] = sns_messages(deployed["queue"])
    assert message["MessageAttributes"]["outcome"]["Value"] == "failed"
    last = json.loads(message["Message"])["pipeline"]["last"]["Step"]
    assert last["FailureReason"] == "MetricBelowThreshold failed"


def test_a_throttled_start_is_retried_with_backoff(sfn, deployed):  # noqa: F811
    sfn.throttle("StartPipelineExecution", 1)
    sfn.runs.scenario(["Succeeded"], [step("CheckChampion")])
    run = sfn.run(deployed["arn"], "throttled", {})
    assert run["status"] == "SUCCEEDED", run
    events = sfn.history(run["executionArn"])
    failures = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["SageMaker.ThrottlingException"]
    # One pipeline execution: the retried start reused the same ClientRequestToken.
    assert len(sfn.runs.started) == 1
    assert outcomes(deployed["queue"]) == ["held_back"]


def test_an_error_outside_the_retries_takes_the_notify_and_fail_path(sfn, deployed):  # noqa: F811
    boto3.client("sagemaker", region_name=REGION).delete_pipeline(PipelineName=PIPELINE)
    run = sfn.run(deployed["arn"], "no-pipeline", {})
    assert run["status"] == "FAILED"
    assert run["error"] == "OrchestrationFailed"
    assert sfn.entered(run["executionArn"])[-2:] == ["NotifyError", "OrchestrationFailed"]
    assert outcomes(deployed["queue"]) == ["error"]


def test_the_machine_passes_cfn_lint_and_the_project_rules(deployed):
    machine = deployed["machine"]
    assert asl.cfn_lint_problems(machine) == []
    assert asl.structure_problems(machine) == []
    # Every Task retries with backoff and catches States.ALL.
    tasks = [state for _, state, _ in asl.states(machine) if state["Type"] == "Task"]
    assert len(tasks) >= 12
    assert all(task["Catch"][-1]["ErrorEquals"] == ["States.ALL"] for task in tasks)

"""`stack deploy` on moto's CloudFormation, one deployment shared by every test here (with
notifications, a SageMaker project and disaster recovery, the richest configuration).

moto deploys the roles, functions, log groups, queues, topic, rules, the replica bucket and
the custom resource (its Lambda runs without Docker, see conftest.run_lambda_without_docker);
the types it skips are then made by their equivalent API calls (tests/cloudformation_
equivalents.py), so these tests see the whole project as AWS would: the schedule's target,
the pipe, events flowing from the bus and from S3 into the data-arrival queue, the bucket's
replication rules, a pipeline that starts.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from cloudformation_equivalents import complete_on_moto
from moto_account import (
    ACCOUNT_ID,
    BUCKET,
    REGION,
    ROLE_ARN,
    create_execution_role,
    enter_account,
    run_lambda_without_docker,
    s3_reports_bucket_settings,
)
from waiting import wait_until

from pipelines.aws import pipeline_ops
from pipelines.config import load_config
from pipelines.eventbridge.patterns import approval_rule, data_arrival_rule, notification_rules
from pipelines.eventbridge.transformer import render
from pipelines.stack import deploy
from pipelines.stack.context import build_context
from pipelines.stack.template import build

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "triggers"))
from trigger_samples import load_sample

NAME = "fraud-detection-retraining"
DR_REGION = "us-west-2"
REPLICA = "retraining-test-replica"
INCOMING = f"{NAME}/incoming/"
EMAIL = "ml-oncall@example.com"


def configured(**sections: dict) -> Any:
    config = load_config()
    extra = dict(config.extra)
    for name, values in {
        "notifications": {"emails": [EMAIL]},
        "stack": {"sagemaker_project_name": "fraud", "sagemaker_project_id": "p-abc123"},
        "dr": {"region": DR_REGION, "bucket": REPLICA},
        **sections,
    }.items():
        extra[name] = {**extra.get(name, {}), **values}
    return dataclasses.replace(config, extra=extra)


@dataclasses.dataclass
class Deployed:
    config: Any
    lines: list[str]
    made: list


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str):
    with pytest.MonkeyPatch.context() as patch:
        enter_account(moto_endpoint, patch)
        run_lambda_without_docker(moto_endpoint, patch)
        s3_reports_bucket_settings(patch)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        create_execution_role()
        config = configured()
        lines: list[str] = []
        errors: list[str] = []
        assert deploy.deploy(config, out=lines.append, err=errors.append, poll_seconds=0) == 0, (
            errors
        )
        s3 = boto3.client("s3", region_name=REGION)

        def replicated() -> bool:
            try:
                return bool(s3.get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"])
            except s3.exceptions.ClientError:
                return False

        # The custom resource runs asynchronously (its function answers CloudFormation).
        wait_until(replicated, "the bucket-settings custom resource set the replication rules")
        made = complete_on_moto(NAME, REGION, ACCOUNT_ID)
        made += complete_on_moto(f"{NAME}-dr", DR_REGION, ACCOUNT_ID)
        yield Deployed(config, lines, made)


def client(service: str, region: str = REGION):
    return boto3.client(service, region_name=region)


def tags(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in pairs}


def queue_url(name: str) -> str:
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def drain(url: str) -> list[dict]:
    sqs, bodies = client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_deploy_planned_both_stacks_then_created_them(deployed) -> None:
    text = "\n".join(deployed.lines)
    dr_plan = text.index(f"Plan for stack {NAME}-dr (disaster recovery, {DR_REGION}): create")
    main_plan = text.index(f"Plan for stack {NAME} (pipeline, {REGION}): create")
    assert dr_plan < main_plan  # the replica exists before the rules that write to it
    assert "+ Add     AWS::Scheduler::Schedule" in text
    assert "+ Add     Custom::BucketSettings" in text
    assert f"Stack {NAME}: CREATE_COMPLETE" in text
    assert "Email subscribers: confirm the subscription" in text
    stack = client("cloudformation").describe_stacks(StackName=NAME)["Stacks"][0]
    assert tags(stack["Tags"]) == {
        "project": NAME,
        "managed-by": "run_pipeline.py",
        "sagemaker:project-name": "fraud",
        "sagemaker:project-id": "p-abc123",
    }


def test_the_functions_run_the_uploaded_zips(deployed) -> None:
    ctx = build_context(deployed.config)
    lam = client("lambda")
    for function in ctx.functions.values():
        found = lam.get_function(FunctionName=function.name)
        configuration = found["Configuration"]
        assert configuration["CodeSha256"] == function.package.lambda_code_sha256
        assert configuration["Handler"] == function.handler
        assert configuration["Role"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{function.name}"
        with zipfile.ZipFile(io.BytesIO(function.package.data)) as archive:
            assert archive.read(function.source.name) == function.source.read_bytes()
    variables = lam.get_function_configuration(FunctionName=f"{NAME}-deploy-model")["Environment"][
        "Variables"
    ]
    assert variables["EXECUTION_ROLE_ARN"] == ROLE_ARN
    policy = json.loads(lam.get_policy(FunctionName=f"{NAME}-deploy-model")["Policy"])
    (grant,) = policy["Statement"]
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"].endswith(f"rule/{NAME}-model-approved")
    invoke = lam.get_function_event_invoke_config(FunctionName=f"{NAME}-deploy-model")
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"].endswith(f":{NAME}-triggers-dlq")
    groups = client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")
    assert {g["retentionInDays"] for g in groups["logGroups"]} == {30}


def test_the_roles_carry_their_least_privilege_policies(deployed) -> None:
    iam = client("iam")
    role = iam.get_role(RoleName=f"{NAME}-scheduler")["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert iam.list_role_policies(RoleName=f"{NAME}-scheduler")["PolicyNames"] == ["start-run"]
    # moto keeps a CloudFormation role's inline policy as Python text, not JSON; the grants
    # themselves are checked on the template (tests/stack/test_template.py).
    document = str(
        iam.get_role_policy(RoleName=f"{NAME}-scheduler", PolicyName="start-run")["PolicyDocument"]
    )
    assert f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:pipeline/{NAME}" in document
    assert f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{NAME}-triggers-dlq" in document
    replication = iam.get_role(RoleName=f"{NAME}-replication")["Role"]
    assert replication["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "s3.amazonaws.com"
    }


def test_the_rules_queues_and_topic_on_moto_are_the_templates(deployed) -> None:
    events = client("events")
    config = deployed.config
    specs = [data_arrival_rule(BUCKET, INCOMING), approval_rule(config)]
    for spec in [*specs, *notification_rules(config, ACCOUNT_ID)]:
        rule = events.describe_rule(Name=spec.name(NAME))
        assert json.loads(rule["EventPattern"]) == spec.pattern
        (target,) = events.list_targets_by_rule(Rule=spec.name(NAME))["Targets"]
        assert target["DeadLetterConfig"]["Arn"].endswith(f":{NAME}-triggers-dlq")
        if spec.input_transformer:
            assert target["InputTransformer"] == spec.input_transformer
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=queue_url(f"{NAME}-data-arrival"), AttributeNames=["All"]
    )["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 5
    policy = json.loads(attributes["Policy"])  # set by the QueuePolicy's equivalent call
    assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{NAME}-data-arrival"
    ]
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{NAME}-notifications"
    (subscription,) = client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", EMAIL)
    (alarm,) = client("cloudwatch").describe_alarms(AlarmNames=[f"{NAME}-execution-failed"])[
        "MetricAlarms"
    ]
    assert alarm["AlarmActions"] == [topic]


def test_the_schedule_starts_the_pipeline_with_the_configured_parameters(deployed) -> None:
    schedule = client("scheduler").get_schedule(
        Name=f"{NAME}-nightly", GroupName=f"{NAME}-triggers"
    )
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["Target"]["Arn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:pipeline/{NAME}"
    assert schedule["Target"]["RoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{NAME}-scheduler"
    assert schedule["Target"]["SageMakerPipelineParameters"] == {
        "PipelineParameterList": [
            {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{INCOMING}"},
            {"Name": "InputPartitionWindow", "Value": "0"},
        ]
    }
    pipe = client("pipes").describe_pipe(Name=f"{NAME}-data-arrival")
    assert pipe["Source"] == f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{NAME}-data-arrival"
    assert pipe["TargetParameters"]["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "InputDataUrl", "Value": "$.body.InputDataUrl"}
    ]
    # The pipeline those targets start exists, with the definition the template holds.
    described = client("sagemaker").describe_pipeline(PipelineName=NAME)
    body = build(build_context(deployed.config)).body()
    assert (
        described["PipelineDefinition"]
        == (
            body["Resources"]["Pipeline"]["Properties"]["PipelineDefinition"][
                "PipelineDefinitionBody"
            ]
        )
    )
    arn = pipeline_ops.start_execution(deployed.config, {"MetricThreshold": "0.3"})
    assert arn.startswith(f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:pipeline/{NAME}/execution/")


def test_the_drift_monitoring_on_moto(deployed) -> None:
    """The schedule (made by CreateSchedule: moto skips the type) sends the monitoring job,
    the alarm watches its metric, the rule on the alarm starts the pipeline with the
    captured windows, and the execution role may publish the metrics."""
    from pipelines.drift.monitoring import EXECUTION_ID, SCHEDULED_TIME
    from pipelines.stack.monitoring import schedule_request

    schedule = client("scheduler").get_schedule(
        Name=f"{NAME}-drift-monitor", GroupName=f"{NAME}-monitoring"
    )
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    target = schedule["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob"
    assert target["RoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{NAME}-drift-monitor"
    request = json.loads(target["Input"])
    assert request == schedule_request(build_context(deployed.config))
    assert request["ProcessingJobName"] == f"{NAME}-drift-{EXECUTION_ID}"
    assert SCHEDULED_TIME in request["AppSpecification"]["ContainerArguments"]

    (alarm,) = client("cloudwatch").describe_alarms(AlarmNames=[f"{NAME}-data-drift"])[
        "MetricAlarms"
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == (f"{NAME}/DataDrift", "DriftedFeatures")

    from pipelines.drift.monitoring import retrain_rule

    events = client("events")
    rule = events.describe_rule(Name=f"{NAME}-drift-retrain")
    # Matching is tested through moto's EventBridge in test_triggers_patterns.py.
    assert json.loads(rule["EventPattern"]) == retrain_rule(deployed.config, ACCOUNT_ID).pattern
    (retrain,) = events.list_targets_by_rule(Rule=f"{NAME}-drift-retrain")["Targets"]
    assert retrain["Arn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:pipeline/{NAME}"
    assert retrain["RoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{NAME}-drift-retrain"
    assert retrain["SageMakerPipelineParameters"]["PipelineParameterList"][0] == {
        "Name": "InputDataUrl",
        "Value": f"s3://{BUCKET}/{NAME}/monitoring/{NAME}-endpoint/windows/",
    }
    document = client("iam").get_role_policy(
        RoleName="SageMakerExecutionRole", PolicyName=f"{NAME}-drift-metrics"
    )["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document["Statement"][0]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": f"{NAME}/DataDrift"}
    }


def test_an_s3_sample_event_on_the_bus_reaches_the_queue_as_the_pipeline_input(deployed):
    url = queue_url(f"{NAME}-data-arrival")
    drain(url)
    sample = load_sample("s3_object_created")
    miss = json.loads(json.dumps(sample).replace(INCOMING, f"{NAME}/data/sample/"))
    for event in (sample, miss):
        response = client("events").put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )
        assert response["FailedEntryCount"] == 0

    (delivered,) = drain(url)

    # This body is what the pipe reads with $.body.InputDataUrl: the arrived object.
    key = sample["detail"]["object"]["key"]
    assert delivered["InputDataUrl"] == f"s3://{BUCKET}/{key}"
    local = json.loads(render(data_arrival_rule(BUCKET, INCOMING).input_transformer, sample))
    assert delivered.keys() == local.keys()  # moto stamps its own event id and time


def test_an_object_landing_in_s3_reaches_the_queue(deployed) -> None:
    """The custom resource turned the bucket's EventBridge notifications on."""
    url = queue_url(f"{NAME}-data-arrival")
    drain(url)
    s3 = client("s3")
    s3.put_object(Bucket=BUCKET, Key=f"{INCOMING}2026-12-06/part-0.csv", Body=b"a,b\n")
    s3.put_object(Bucket=BUCKET, Key=f"{NAME}/executions/x/out.csv", Body=b"a,b\n")

    # moto hands S3's own events to the rule's target without the input transformer (the
    # test above checks the transformed message); the key shows which object arrived.
    assert [body["detail"]["object"]["key"] for body in drain(url)] == [
        f"{INCOMING}2026-12-06/part-0.csv"
    ]


def test_the_model_and_data_prefixes_replicate_to_the_dr_region(deployed) -> None:
    s3 = client("s3")
    configuration = s3.get_bucket_replication(Bucket=BUCKET)["ReplicationConfiguration"]
    assert configuration["Role"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{NAME}-replication"
    assert sorted(r["Filter"]["Prefix"] for r in configuration["Rules"]) == [
        f"{NAME}/data/",
        f"{NAME}/executions/",
        INCOMING,
        f"{NAME}/snapshots/",
    ]
    assert {r["Destination"]["Bucket"] for r in configuration["Rules"]} == {
        f"arn:aws:s3:::{REPLICA}"
    }
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    # The replica's versioning is the template's (tests/stack/test_dr_template.py): moto's
    # CloudFormation creates the bucket without it.
    replica = client("s3", DR_REGION)
    assert replica.get_bucket_location(Bucket=REPLICA)["LocationConstraint"] == DR_REGION
    groups = client("sagemaker", DR_REGION).list_model_package_groups()
    assert [g["ModelPackageGroupName"] for g in groups["ModelPackageGroupSummaryList"]] == [
        "fraud-detection-models"
    ]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model, **kwargs) -> None:
        self.calls.append(model.name)


def test_a_second_deploy_uploads_nothing_and_executes_nothing(deployed) -> None:
    recorder = Recorder()
    session = boto3.Session(region_name=REGION)
    session.events.register("before-call.*.*", recorder)
    lines: list[str] = []

    assert deploy.deploy(deployed.config, session=session, out=lines.append, poll_seconds=0) == 0

    text = "\n".join(lines)
    assert "0 uploaded" in text
    assert text.count("No changes: the stack already matches the template.") == 2
    assert "ExecuteChangeSet" not in recorder.calls
    assert "PutObject" not in recorder.calls


def test_a_configuration_change_is_planned_and_nothing_changes(deployed) -> None:
    changed = configured(
        triggers={"timezone": "Europe/Paris"}, notifications={"emails": ["data@example.com"]}
    )
    lines: list[str] = []

    assert deploy.deploy(changed, dry_run=True, out=lines.append, poll_seconds=0) == 0

    text = "\n".join(lines)
    assert "~ Modify  AWS::Scheduler::Schedule" in text
    assert "+ Add     AWS::SNS::Subscription" in text
    assert "- Remove  AWS::SNS::Subscription" in text
    assert "Dry run: nothing was changed" in text
    pending = [
        summary
        for summary in client("cloudformation").list_change_sets(StackName=NAME)["Summaries"]
        if summary["ExecutionStatus"] != "EXECUTE_COMPLETE"
    ]
    assert pending == []
    schedule = client("scheduler").get_schedule(
        Name=f"{NAME}-nightly", GroupName=f"{NAME}-triggers"
    )
    assert schedule["ScheduleExpressionTimezone"] == "UTC"

"""`triggers apply|show|destroy` against moto: the resources and their wiring, idempotency
(a second apply makes no mutating call), drift, and a destroy that spares everything else.

moto 5.2 stores a bucket's EventBridgeConfiguration (and emits S3 events to EventBridge
with it) but never returns it from GetBucketNotificationConfiguration. The `session` fixture
adds it back to that response from moto's own backend state, as AWS would report it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.s3.models import s3_backends

from pipelines.cli import main as cli_main
from pipelines.config import load_config
from pipelines.triggers import aws_apply
from pipelines.triggers.matcher import matches
from pipelines.triggers.patterns import data_arrival_rule, notification_rules
from pipelines.triggers.plan import MARKER_KEY

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "retraining-test-bucket"
NAME = "fraud-detection-retraining"
PIPELINE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{NAME}"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAME}-triggers-dlq"
BUFFER_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAME}-data-arrival"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{NAME}-notifications"
PURPOSES = ("execution-failed", "step-failed", "metric-below-threshold", "model-package")
RULE_NAMES = [f"{NAME}-data-arrival", f"{NAME}-model-approved"] + [f"{NAME}-{p}" for p in PURPOSES]
MUTATING = re.compile(
    r"^(Create|Put|Update|Delete|Tag|Untag|Set|Subscribe|Unsubscribe|Remove|Start|Stop|"
    r"Attach|Detach|Add)"
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model, **kwargs) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    @property
    def mutating(self) -> list[str]:
        return [c for c in self.calls if MUTATING.match(c.split(".", 1)[1])]


def instrumented_session(recorder: Recorder | None = None) -> boto3.Session:
    session = boto3.Session(region_name=REGION)
    asked: dict[str, str] = {}

    def remember(params, **kwargs):
        asked["bucket"] = params.get("Bucket", "")

    def add_eventbridge(parsed, **kwargs):
        bucket = s3_backends[ACCOUNT]["aws"].buckets.get(asked.get("bucket", ""))
        notifications = getattr(bucket, "notification_configuration", None)
        if notifications is not None and notifications.event_bridge is not None:
            parsed["EventBridgeConfiguration"] = {}

    session.events.register("provide-client-params.s3.GetBucketNotificationConfiguration", remember)
    session.events.register("after-call.s3.GetBucketNotificationConfiguration", add_eventbridge)
    if recorder is not None:
        session.events.register("before-call.*.*", recorder)
    return session


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def session(aws, recorder) -> boto3.Session:
    session = instrumented_session(recorder)
    session.client("s3").create_bucket(Bucket=BUCKET)
    recorder.calls.clear()
    return session


def with_sections(config, **sections):
    extra = dict(config.extra)
    for name, values in sections.items():
        extra[name] = {**extra.get(name, {}), **values}
    return dataclasses.replace(config, extra=extra)


@pytest.fixture
def config(aws):
    return with_sections(load_config(), notifications={"emails": ["ml-oncall@example.com"]})


def apply(config, session, **kwargs) -> list[str]:
    lines: list[str] = []
    assert aws_apply.apply(config, session=session, out=lines.append, **kwargs) == 0
    return lines


def tags_of(client, **kwargs) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.list_tags_for_resource(**kwargs)["Tags"]}


def queue_attributes(sqs, name: str) -> dict[str, Any]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def statement(policy: dict, sid: str) -> dict:
    return next(s for s in policy["Statement"] if s["Sid"] == sid)


def test_dry_run_prints_the_plan_and_changes_nothing(config, session, recorder) -> None:
    lines = apply(config, session, dry_run=True)

    text = "\n".join(lines)
    assert "19 to create, 0 to update, 0 to delete, 0 unchanged" in text
    assert "Dry run: nothing was changed." in text
    for kind, name in (
        ("sqs-queue", f"{NAME}-triggers-dlq"),
        ("schedule", f"{NAME}-nightly"),
        ("events-rule", f"{NAME}-step-failed"),
        ("pipe", f"{NAME}-data-arrival"),
        ("cloudwatch-alarm", f"{NAME}-execution-failed"),
        ("s3-eventbridge", BUCKET),
    ):
        assert re.search(rf"\+ create\s+{kind}\s+{re.escape(name)}", text), (kind, name)
    assert recorder.mutating == []
    assert session.client("events").list_rules()["Rules"] == []


def test_apply_creates_the_schedule_with_retries_and_dlq(config, session) -> None:
    apply(config, session)
    scheduler = session.client("scheduler")

    schedule = scheduler.get_schedule(Name=f"{NAME}-nightly", GroupName=f"{NAME}-triggers")

    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"] == {
        "Arn": PIPELINE_ARN,
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{NAME}-scheduler",
        "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": DLQ_ARN},
        # The configured input location, never the definition's default (the sample).
        "SageMakerPipelineParameters": {
            "PipelineParameterList": [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
                {"Name": "InputPartitionWindow", "Value": "0"},
            ]
        },
    }
    group_arn = scheduler.get_schedule_group(Name=f"{NAME}-triggers")["Arn"]
    group_tags = tags_of(scheduler, ResourceArn=group_arn)
    assert group_tags == {"project": NAME, "managed-by": "run_pipeline.py", MARKER_KEY: NAME}


def test_apply_creates_least_privilege_roles(config, session) -> None:
    apply(config, session)
    iam = session.client("iam")

    scheduler_role = iam.get_role(RoleName=f"{NAME}-scheduler")["Role"]
    (trust,) = scheduler_role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["scheduler.amazonaws.com"]}
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": [ACCOUNT],
            "aws:SourceArn": [
                f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{NAME}-triggers"
            ],
        }
    }
    permissions = iam.get_role_policy(RoleName=f"{NAME}-scheduler", PolicyName=f"{NAME}-scheduler")
    assert {
        (s["Sid"], tuple(s["Action"]), tuple(s["Resource"]))
        for s in permissions["PolicyDocument"]["Statement"]
    } == {
        ("StartPipeline", ("sagemaker:StartPipelineExecution",), (PIPELINE_ARN,)),
        ("WriteDeadLetters", ("sqs:SendMessage",), (DLQ_ARN,)),
    }

    pipe_role = iam.get_role(RoleName=f"{NAME}-pipe")["Role"]
    (trust,) = pipe_role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["pipes.amazonaws.com"]}
    assert trust["Condition"]["StringEquals"]["aws:SourceArn"] == [
        f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{NAME}-data-arrival"
    ]
    permissions = iam.get_role_policy(RoleName=f"{NAME}-pipe", PolicyName=f"{NAME}-pipe")
    assert {
        (s["Sid"], tuple(s["Action"]), tuple(s["Resource"]))
        for s in permissions["PolicyDocument"]["Statement"]
    } == {
        (
            "ReadDataArrivals",
            ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"),
            (BUFFER_ARN,),
        ),
        ("StartPipeline", ("sagemaker:StartPipelineExecution",), (PIPELINE_ARN,)),
    }
    assert MARKER_KEY in {t["Key"] for t in pipe_role["Tags"]}


def test_apply_wires_the_queues_and_their_policies(config, session) -> None:
    apply(config, session)
    sqs = session.client("sqs")

    dlq = queue_attributes(sqs, f"{NAME}-triggers-dlq")
    assert dlq["MessageRetentionPeriod"] == "1209600"
    policy = json.loads(dlq["Policy"])
    rules = statement(policy, "EventBridgeRules")
    assert rules["Principal"] == {"Service": ["events.amazonaws.com"]}
    assert rules["Action"] == ["sqs:SendMessage"]
    assert sorted(rules["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{n}" for n in RULE_NAMES
    )
    scheduler = statement(policy, "SchedulerSchedules")
    assert scheduler["Principal"] == {"Service": ["scheduler.amazonaws.com"]}
    assert scheduler["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{NAME}-triggers/{NAME}-nightly"
    ]

    buffer = queue_attributes(sqs, f"{NAME}-data-arrival")
    assert json.loads(buffer["RedrivePolicy"]) == {
        "deadLetterTargetArn": DLQ_ARN,
        "maxReceiveCount": 5,
    }
    (only,) = json.loads(buffer["Policy"])["Statement"]
    assert only["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAME}-data-arrival"
    ]
    url = sqs.get_queue_url(QueueName=f"{NAME}-data-arrival")["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"][MARKER_KEY] == NAME


def test_apply_creates_the_rules_with_the_shared_patterns_and_transformers(config, session):
    apply(config, session)
    events = session.client("events")

    data = events.describe_rule(Name=f"{NAME}-data-arrival")
    expected = data_arrival_rule(BUCKET, f"{NAME}/incoming/")
    assert json.loads(data["EventPattern"]) == expected.pattern
    (target,) = events.list_targets_by_rule(Rule=f"{NAME}-data-arrival")["Targets"]
    assert target["Arn"] == BUFFER_ARN
    assert target["InputTransformer"] == expected.input_transformer
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN}

    for spec in notification_rules(config, ACCOUNT):
        rule = events.describe_rule(Name=f"{NAME}-{spec.purpose}")
        assert json.loads(rule["EventPattern"]) == spec.pattern
        (target,) = events.list_targets_by_rule(Rule=f"{NAME}-{spec.purpose}")["Targets"]
        assert target["Arn"] == TOPIC_ARN
        assert target["InputTransformer"] == spec.input_transformer
        assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN}
        assert tags_of(events, ResourceARN=rule["Arn"])[MARKER_KEY] == NAME


def test_apply_creates_the_pipe_that_passes_the_uri_to_the_pipeline(config, session) -> None:
    apply(config, session)

    pipe = session.client("pipes").describe_pipe(Name=f"{NAME}-data-arrival")

    assert pipe["Source"] == BUFFER_ARN
    assert pipe["SourceParameters"] == {"SqsQueueParameters": {"BatchSize": 1}}
    assert pipe["Target"] == PIPELINE_ARN
    assert pipe["TargetParameters"] == {
        "SageMakerPipelineParameters": {
            "PipelineParameterList": [{"Name": "InputDataUrl", "Value": "$.body.InputDataUrl"}]
        }
    }
    assert pipe["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{NAME}-pipe"
    assert pipe["DesiredState"] == "RUNNING"
    assert pipe["Tags"][MARKER_KEY] == NAME


@pytest.mark.parametrize(
    ("triggers", "pipe_parameters", "schedule_parameters"),
    [
        (
            {"data_arrival_input": "prefix", "input_prefix": "landing/fraud/"},
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/landing/fraud/"},
                {"Name": "InputPartitionWindow", "Value": "0"},
            ],
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/landing/fraud/"},
                {"Name": "InputPartitionWindow", "Value": "0"},
            ],
        ),
        (
            {
                "data_arrival_input": "partitions",
                "input_partition_window": 7,
                "schedule_parameters": {"MetricThreshold": 0.8},
            },
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
                {"Name": "InputPartitionWindow", "Value": "7"},
            ],
            [
                {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/{NAME}/incoming/"},
                {"Name": "InputPartitionWindow", "Value": "7"},
                {"Name": "MetricThreshold", "Value": "0.8"},
            ],
        ),
    ],
)
def test_both_triggers_pass_the_configured_input_location(
    config, session, triggers, pipe_parameters, schedule_parameters
) -> None:
    apply(with_sections(config, triggers=triggers), session)

    pipe = session.client("pipes").describe_pipe(Name=f"{NAME}-data-arrival")
    assert pipe["TargetParameters"] == {
        "SageMakerPipelineParameters": {"PipelineParameterList": pipe_parameters}
    }
    schedule = session.client("scheduler").get_schedule(
        Name=f"{NAME}-nightly", GroupName=f"{NAME}-triggers"
    )
    assert schedule["Target"]["SageMakerPipelineParameters"] == {
        "PipelineParameterList": schedule_parameters
    }


def test_apply_creates_the_topic_subscription_and_alarm(config, session) -> None:
    apply(config, session)
    sns = session.client("sns")
    cloudwatch = session.client("cloudwatch")

    policy = json.loads(sns.get_topic_attributes(TopicArn=TOPIC_ARN)["Attributes"]["Policy"])
    publishers = statement(policy, "EventBridgeRules")
    assert publishers["Action"] == ["sns:Publish"]
    assert sorted(publishers["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NAME}-{p}" for p in PURPOSES
    )
    alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{NAME}-execution-failed"
    assert statement(policy, "CloudWatchAlarms")["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        alarm_arn
    ]
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == (
        "email",
        "ml-oncall@example.com",
    )

    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[f"{NAME}-execution-failed"])["MetricAlarms"]
    assert alarm["Namespace"] == "AWS/Sagemaker/ModelBuildingPipeline"
    assert alarm["MetricName"] == "ExecutionFailed"
    assert alarm["Dimensions"] == [{"Name": "PipelineName", "Value": NAME}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1.0,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["AlarmActions"] == [TOPIC_ARN]
    assert alarm["TreatMissingData"] == "notBreaching"
    assert tags_of(cloudwatch, ResourceARN=alarm_arn)[MARKER_KEY] == NAME


def test_new_objects_under_the_prefix_reach_the_data_arrival_queue(config, session) -> None:
    s3 = session.client("s3")
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "someone-elses",
                    "QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:unrelated",
                    "Events": ["s3:ObjectRemoved:*"],
                }
            ]
        },
    )
    apply(config, session)
    sqs = session.client("sqs")
    url = sqs.get_queue_url(QueueName=f"{NAME}-data-arrival")["QueueUrl"]

    # The existing notification survived the merge.
    merged = s3.get_bucket_notification_configuration(Bucket=BUCKET)
    assert [q["Id"] for q in merged["QueueConfigurations"]] == ["someone-elses"]
    assert "EventBridgeConfiguration" in merged

    s3.put_object(Bucket=BUCKET, Key=f"{NAME}/incoming/2024-06-01.csv", Body=b"a,b\n")
    s3.put_object(Bucket=BUCKET, Key=f"{NAME}/data/sample/transactions.csv", Body=b"a,b\n")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])

    # moto forwards S3's own events untransformed; the key shows which object arrived.
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in messages] == [
        f"{NAME}/incoming/2024-06-01.csv"
    ]


def test_a_matching_event_lands_in_the_buffer_as_the_pipeline_input(config, session) -> None:
    apply(config, session)
    events = session.client("events")
    sqs = session.client("sqs")
    key = f"{NAME}/incoming/2024/06/01/transactions.csv"

    events.put_events(
        Entries=[
            {
                "Source": "aws.s3",
                "DetailType": "Object Created",
                "Detail": json.dumps({"bucket": {"name": BUCKET}, "object": {"key": key}}),
            }
        ]
    )

    url = sqs.get_queue_url(QueueName=f"{NAME}-data-arrival")["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    # This body is what the pipe reads with $.body.InputDataUrl.
    assert json.loads(message["Body"])["InputDataUrl"] == f"s3://{BUCKET}/{key}"


def test_a_second_apply_changes_nothing_and_says_so(config, session, recorder) -> None:
    apply(config, session)
    recorder.calls.clear()

    lines = apply(config, session)

    assert lines[-1] == "No changes: all 19 resources are up to date."
    assert recorder.mutating == []
    assert recorder.calls  # it did read everything


def test_drift_and_configuration_changes_are_updated_in_place(config, session, recorder):
    apply(config, session)
    events = session.client("events")
    iam = session.client("iam")
    events.put_rule(Name=f"{NAME}-step-failed", EventPattern=json.dumps({"source": ["aws.s3"]}))
    # Someone widens a role by hand: apply narrows it again.
    iam.put_role_policy(
        RoleName=f"{NAME}-pipe",
        PolicyName=f"{NAME}-pipe",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}],
            }
        ),
    )
    changed = with_sections(
        config,
        triggers={"timezone": "Europe/Paris", "max_retry_attempts": 3, "max_receive_count": 7},
        notifications={"alarm_period_seconds": 600, "emails": ["data-team@example.com"]},
    )
    recorder.calls.clear()

    text = "\n".join(apply(changed, session))

    for pattern in (
        rf"~ update\s+schedule\s+{NAME}-nightly\s+\(changes: ScheduleExpressionTimezone, Target\)",
        rf"~ update\s+events-rule\s+{NAME}-step-failed\s+\(changes: EventPattern, [^)]*Targets\)",
        rf"~ update\s+events-rule\s+{NAME}-model-package\s+\(changes: Targets\)",
        rf"~ update\s+events-rule\s+{NAME}-model-approved\s+\(changes: Targets\)",
        rf"~ update\s+iam-role\s+{NAME}-pipe\s+\(changes: InlinePolicies\)",
        rf"~ update\s+sqs-queue\s+{NAME}-data-arrival\s+\(changes: Attributes\)",
        rf"~ update\s+cloudwatch-alarm\s+{NAME}-execution-failed\s+\(changes: Period\)",
        r"\+ create\s+sns-subscription\s+data-team@example.com",
        r"- delete\s+sns-subscription\s+ml-oncall@example.com",
    ):
        assert re.search(pattern, text), pattern
    assert "1 to create, 10 to update, 1 to delete" in text
    schedule = session.client("scheduler").get_schedule(
        Name=f"{NAME}-nightly", GroupName=f"{NAME}-triggers"
    )
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert schedule["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 3
    policy = iam.get_role_policy(RoleName=f"{NAME}-pipe", PolicyName=f"{NAME}-pipe")
    assert "sagemaker:*" not in json.dumps(policy["PolicyDocument"])
    buffer = queue_attributes(session.client("sqs"), f"{NAME}-data-arrival")
    assert json.loads(buffer["RedrivePolicy"])["maxReceiveCount"] == 7
    endpoints = [
        s["Endpoint"]
        for s in session.client("sns").list_subscriptions_by_topic(TopicArn=TOPIC_ARN)[
            "Subscriptions"
        ]
    ]
    assert endpoints == ["data-team@example.com"]
    assert apply(changed, session)[-1].startswith("No changes")


def test_removing_a_feature_from_the_configuration_deletes_its_resources(config, session):
    apply(config, session)
    quieter = with_sections(config, notifications={"enabled": False})

    text = "\n".join(apply(quieter, session))

    for kind, name in (
        ("cloudwatch-alarm", f"{NAME}-execution-failed"),
        ("events-rule", f"{NAME}-model-package"),
        ("sns-topic", f"{NAME}-notifications"),
    ):
        assert re.search(rf"- delete\s+{kind}\s+{name}", text), name
    names = [r["Name"] for r in session.client("events").list_rules()["Rules"]]
    assert names == [f"{NAME}-data-arrival", f"{NAME}-model-approved"]
    assert session.client("sns").list_topics()["Topics"] == []


def test_destroy_removes_what_apply_created_and_nothing_else(config, session) -> None:
    events = session.client("events")
    sqs = session.client("sqs")
    sns = session.client("sns")
    s3 = session.client("s3")
    unrelated_queue = sqs.create_queue(QueueName="unrelated-queue")["QueueUrl"]
    sns.create_topic(Name="unrelated-topic")
    events.put_rule(Name="unrelated-rule", EventPattern=json.dumps({"source": ["aws.s3"]}))
    # Our naming, but not our marker; and our marker key, but another pipeline.
    events.put_rule(Name=f"{NAME}-hand-made", EventPattern=json.dumps({"source": ["x"]}))
    events.put_rule(
        Name="other-pipeline-step-failed",
        EventPattern=json.dumps({"source": ["x"]}),
        Tags=[{"Key": MARKER_KEY, "Value": "other-pipeline"}],
    )
    sqs.create_queue(QueueName=f"{NAME}-scratch", tags={"project": NAME})
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "keep-me",
                    "QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:unrelated-queue",
                    "Events": ["s3:ObjectCreated:*"],
                }
            ]
        },
    )
    apply(config, session)
    lines: list[str] = []

    assert aws_apply.destroy(config, session=session, out=lines.append) == 0

    assert lines[-1] == "Destroyed 19 resource(s)."
    assert sorted(r["Name"] for r in events.list_rules()["Rules"]) == [
        f"{NAME}-hand-made",
        "other-pipeline-step-failed",
        "unrelated-rule",
    ]
    assert sorted(u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]) == [
        f"{NAME}-scratch",
        "unrelated-queue",
    ]
    assert [t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics()["Topics"]] == [
        "unrelated-topic"
    ]
    iam_roles = [r["RoleName"] for r in session.client("iam").list_roles()["Roles"]]
    assert not [r for r in iam_roles if r.startswith(NAME)]
    assert session.client("scheduler").list_schedule_groups(NamePrefix=NAME)["ScheduleGroups"] == []
    assert session.client("pipes").list_pipes()["Pipes"] == []
    assert session.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    remaining = s3.get_bucket_notification_configuration(Bucket=BUCKET)
    assert [q["Id"] for q in remaining["QueueConfigurations"]] == ["keep-me"]
    assert "EventBridgeConfiguration" not in remaining  # apply turned it on, destroy off
    assert sqs.get_queue_attributes(QueueUrl=unrelated_queue)["ResponseMetadata"]

    lines.clear()
    aws_apply.destroy(config, session=session, out=lines.append)
    assert lines[-1] == "Nothing to destroy: no resources carry this pipeline's marker tag."


def test_destroy_leaves_bucket_eventbridge_on_if_it_was_on_before(config, session) -> None:
    s3 = session.client("s3")
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    plan = "\n".join(apply(config, session, dry_run=True))
    assert re.search(rf"= ok\s+s3-eventbridge\s+{BUCKET}", plan)
    apply(config, session)

    aws_apply.destroy(config, session=session, out=lambda line: None)

    assert "EventBridgeConfiguration" in s3.get_bucket_notification_configuration(Bucket=BUCKET)


def test_show_reports_what_exists(config, session) -> None:
    apply(config, session)
    events = session.client("events")
    events.remove_targets(Rule=f"{NAME}-model-package", Ids=["notifications"])
    events.delete_rule(Name=f"{NAME}-model-package")
    lines: list[str] = []

    assert aws_apply.show(config, session=session, out=lines.append) == 0

    text = "\n".join(lines)
    assert re.search(
        rf"present\s+schedule\s+{NAME}-nightly\s+cron\(0 2 \* \* \? \*\) UTC, ENABLED", text
    )
    assert re.search(rf"present\s+sqs-queue\s+{NAME}-triggers-dlq\s+0 message\(s\) waiting", text)
    assert re.search(rf"missing\s+events-rule\s+{NAME}-model-package", text)
    assert re.search(r"present\s+sns-subscription\s+ml-oncall@example.com", text)
    assert "1 resource(s) differ from the configuration" in text
    assert "warning: pipeline fraud-detection-retraining does not exist" in text


DEPLOYER = f"{NAME}-deploy-model"
DEPLOYER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{DEPLOYER}"
APPROVED_RULE = f"{NAME}-model-approved"
SAMPLES = Path(__file__).resolve().parents[1] / "triggers" / "samples"


def test_apply_wires_approvals_to_the_deploy_lambda(config, session) -> None:
    apply(config, session)
    events = session.client("events")
    lam = session.client("lambda")
    iam = session.client("iam")

    rule = events.describe_rule(Name=APPROVED_RULE)
    pattern = json.loads(rule["EventPattern"])
    approved = json.loads((SAMPLES / "model_package_approved.json").read_text())
    assert matches(pattern, approved)
    for change in (
        {"ModelApprovalStatus": "PendingManualApproval"},
        {"ModelApprovalStatus": "Rejected"},
        {"ModelPackageGroupName": "someone-elses-models"},
    ):
        assert not matches(pattern, {**approved, "detail": {**approved["detail"], **change}})
    assert not matches(pattern, json.loads((SAMPLES / "model_package_registered.json").read_text()))
    (target,) = events.list_targets_by_rule(Rule=APPROVED_RULE)["Targets"]
    assert target["Arn"] == DEPLOYER_ARN
    assert "InputTransformer" not in target  # the Lambda reads the whole event
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN}

    function = lam.get_function(FunctionName=DEPLOYER)
    configuration = function["Configuration"]
    assert (configuration["Handler"], configuration["Runtime"]) == (
        "deploy_model.handler",
        "python3.12",
    )
    assert configuration["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{DEPLOYER}"
    variables = configuration["Environment"]["Variables"]
    assert variables["ENDPOINT_NAME"] == f"{NAME}-endpoint"
    assert variables["INSTANCE_TYPE"] == "ml.m5.large"
    assert variables["MODEL_PACKAGE_GROUP"] == "fraud-detection-models"
    assert variables["EXECUTION_ROLE_ARN"] == f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"
    assert json.loads(variables["RESOURCE_TAGS"])["pipeline-deploy"] == NAME
    assert function["Tags"][MARKER_KEY] == NAME
    (grant,) = json.loads(lam.get_policy(FunctionName=DEPLOYER)["Policy"])["Statement"]
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]

    document = iam.get_role_policy(RoleName=DEPLOYER, PolicyName=DEPLOYER)["PolicyDocument"]
    grants = {s["Sid"]: s for s in document["Statement"]}
    assert set(grants) == {
        "ReadModelPackages",
        "DeployEndpoint",
        "PassExecutionRole",
        "WriteFailedDeployments",
        "OwnLogs",
    }
    assert grants["WriteFailedDeployments"]["Resource"] == [DLQ_ARN]
    invoke_config = lam.get_function_event_invoke_config(FunctionName=DEPLOYER)
    assert invoke_config["MaximumRetryAttempts"] == 2
    assert invoke_config["DestinationConfig"] == {"OnFailure": {"Destination": DLQ_ARN}}
    assert grants["DeployEndpoint"]["Resource"] == [
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{NAME}-endpoint-v*",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{NAME}-endpoint",
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{NAME}-endpoint-v*",
    ]
    assert "sagemaker:DeleteEndpoint" not in grants["DeployEndpoint"]["Action"]
    assert grants["PassExecutionRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["sagemaker.amazonaws.com"]}
    }


def test_deployment_configuration_changes_update_the_lambda(config, session, recorder) -> None:
    apply(config, session)
    moved = with_sections(
        config, deployment={"endpoint_name": "fraud-scoring", "instance_type": "ml.c5.xlarge"}
    )

    text = "\n".join(apply(moved, session))

    assert re.search(
        rf"~ update\s+lambda-function\s+{DEPLOYER}\s+\(changes: Description, Environment\)", text
    )
    assert re.search(
        rf"~ update\s+iam-role\s+{DEPLOYER}\s+\(changes: Description, InlinePolicies\)", text
    )
    variables = session.client("lambda").get_function_configuration(FunctionName=DEPLOYER)[
        "Environment"
    ]["Variables"]
    assert (variables["ENDPOINT_NAME"], variables["INSTANCE_TYPE"]) == (
        "fraud-scoring",
        "ml.c5.xlarge",
    )
    recorder.calls.clear()
    assert apply(moved, session)[-1] == "No changes: all 19 resources are up to date."
    assert recorder.mutating == []


def test_turning_deploy_on_approval_off_removes_the_deployer(config, session) -> None:
    apply(config, session)
    manual = with_sections(config, deployment={"deploy_on_approval": False})

    text = "\n".join(apply(manual, session))

    for kind, name in (
        ("events-rule", APPROVED_RULE),
        ("lambda-function", DEPLOYER),
        ("iam-role", DEPLOYER),
    ):
        assert re.search(rf"- delete\s+{kind}\s+{name}", text), name
    assert session.client("lambda").list_functions()["Functions"] == []
    dlq = queue_attributes(session.client("sqs"), f"{NAME}-triggers-dlq")
    sources = statement(json.loads(dlq["Policy"]), "EventBridgeRules")["Condition"]["ArnEquals"]
    assert f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{APPROVED_RULE}" not in json.dumps(sources)


def test_destroy_spares_lambda_functions_that_are_not_ours(config, session) -> None:
    """The champion Lambda shares the name prefix but not the triggers marker."""
    iam = session.client("iam")
    role = iam.create_role(RoleName="someone", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    session.client("lambda").create_function(
        FunctionName=f"{NAME}-resolve-champion",
        Runtime="python3.12",
        Role=role,
        Handler="resolve_champion.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Tags={"project": NAME},
    )
    apply(config, session)

    aws_apply.destroy(config, session=session, out=lambda line: None)

    functions = session.client("lambda").list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions] == [f"{NAME}-resolve-champion"]


class TestCli:
    @pytest.fixture(autouse=True)
    def sessions(self, aws, monkeypatch):
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        monkeypatch.setattr(aws_apply, "new_session", lambda config: instrumented_session())

    def test_apply_twice_show_and_destroy(self, capsys) -> None:
        assert cli_main(["triggers", "apply", "--dry-run", "--target", "sagemaker"]) == 0
        assert "Dry run: nothing was changed." in capsys.readouterr().out

        assert cli_main(["--target", "sagemaker", "triggers", "apply"]) == 0
        assert "Applied: 18 created" in capsys.readouterr().out

        assert cli_main(["--target", "sagemaker", "triggers", "apply"]) == 0
        assert "No changes: all 18 resources are up to date." in capsys.readouterr().out

        assert cli_main(["--target", "sagemaker", "triggers", "show"]) == 0
        assert "All 18 resources match the configuration." in capsys.readouterr().out

        assert cli_main(["--target", "sagemaker", "triggers", "destroy", "--dry-run"]) == 0
        assert "18 resource(s) would be deleted" in capsys.readouterr().out
        assert cli_main(["--target", "sagemaker", "triggers", "destroy"]) == 0
        assert "Destroyed 18 resource(s)." in capsys.readouterr().out

    def test_triggers_need_the_sagemaker_target(self, capsys) -> None:
        assert cli_main(["triggers", "apply"]) == 2
        assert "add --target sagemaker" in capsys.readouterr().err

    def test_a_missing_bucket_is_an_aws_error(self, capsys, monkeypatch) -> None:
        monkeypatch.setenv("PIPELINE_BUCKET", "no-such-bucket-here")
        assert cli_main(["--target", "sagemaker", "triggers", "apply"]) == 3
        assert "NoSuchBucket" in capsys.readouterr().err

"""The change-set driver against CloudFormation's own responses, through botocore's Stubber
(which checks every request and response against the service's shapes): what it plans,
when it refuses, and how it names a failure."""

from __future__ import annotations

import datetime

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.stack.cloudformation import (
    ChangeSet,
    CloudFormation,
    StackBusyError,
    StackFailedError,
    format_changes,
    root_causes,
)

STACK = "fraud-detection-retraining"
STACK_ID = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/0b0c"
CHANGE_SET = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/run-pipeline-1/9d3e"
NOW = datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC)


def event(logical_id: str, kind: str, status: str, reason: str = "", n: int = 0) -> dict:
    found = {
        "StackId": STACK_ID,
        "EventId": f"{logical_id}-{status}-{n}",
        "StackName": STACK,
        "LogicalResourceId": logical_id,
        "ResourceType": kind,
        "ResourceStatus": status,
        "Timestamp": NOW + datetime.timedelta(seconds=n),
    }
    if reason:
        found["ResourceStatusReason"] = reason
    return found


def stack(status: str, reason: str = "") -> dict:
    found = {"StackName": STACK, "StackId": STACK_ID, "StackStatus": status, "CreationTime": NOW}
    if reason:
        found["StackStatusReason"] = reason
    return {"Stacks": [found]}


@pytest.fixture
def client():
    client = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_a_failure_is_named_by_the_resource_that_started_it() -> None:
    events = [
        event(STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated", 0),
        event("TriggersDeadLetterQueue", "AWS::SQS::Queue", "CREATE_COMPLETE", n=1),
        event(
            "SchedulerRole",
            "AWS::IAM::Role",
            "CREATE_FAILED",
            'Resource handler returned message: "Role with name fraud-detection-retraining-'
            'scheduler already exists."',
            2,
        ),
        event(
            "DataArrivalQueue", "AWS::SQS::Queue", "CREATE_FAILED", "Resource creation cancelled", 3
        ),
        event(
            STACK,
            "AWS::CloudFormation::Stack",
            "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [SchedulerRole, DataArrivalQueue].",
            4,
        ),
        event("TriggersDeadLetterQueue", "AWS::SQS::Queue", "DELETE_COMPLETE", n=5),
    ]
    assert root_causes(events, None) == [
        'SchedulerRole (AWS::IAM::Role): Resource handler returned message: "Role with name '
        'fraud-detection-retraining-scheduler already exists."'
    ]
    # No resource event (a stack-level refusal): the stack's own reason.
    assert root_causes([], stack("ROLLBACK_COMPLETE", "Template error")["Stacks"][0]) == [
        "Template error"
    ]


def test_execute_streams_events_and_raises_with_the_root_cause(client) -> None:
    cfn, stubber = client
    started = [
        event(STACK, "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS", "User Initiated", 0)
    ]
    failed = [
        event(STACK, "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", n=4),
        event(STACK, "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS", "failed", 3),
        event("PipeRole", "AWS::IAM::Role", "CREATE_FAILED", "Access denied for iam:CreateRole", 2),
        event(STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated", 1),
        *started,
    ]
    stubber.add_response("describe_stack_events", {"StackEvents": started}, {"StackName": STACK})
    stubber.add_response(
        "execute_change_set", {}, {"ChangeSetName": CHANGE_SET, "StackName": STACK}
    )
    stubber.add_response("describe_stacks", stack("CREATE_IN_PROGRESS"), {"StackName": STACK})
    stubber.add_response("describe_stack_events", {"StackEvents": failed}, {"StackName": STACK_ID})
    stubber.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"), {"StackName": STACK_ID})
    lines: list[str] = []

    with pytest.raises(StackFailedError) as failure:
        CloudFormation(cfn, out=lines.append, sleep=lambda s: None).execute(
            ChangeSet(STACK, CHANGE_SET, "CREATE", [{}])
        )

    assert failure.value.status == "ROLLBACK_COMPLETE"
    assert failure.value.failures == ["PipeRole (AWS::IAM::Role): Access denied for iam:CreateRole"]
    # Events since the execution, oldest first.
    assert [line.split()[0] for line in lines] == [
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_COMPLETE",
    ]
    assert lines[1].endswith("PipeRole: Access denied for iam:CreateRole")


def test_a_stack_busy_with_another_operation_is_refused(client) -> None:
    cfn, stubber = client
    stubber.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"), {"StackName": STACK})
    with pytest.raises(StackBusyError, match="UPDATE_IN_PROGRESS: another operation is running"):
        CloudFormation(cfn).create_change_set(STACK, template_body="{}", tags={})


def test_a_stack_stuck_in_a_failed_state_is_refused_with_what_to_do(client) -> None:
    cfn, stubber = client
    stubber.add_response("describe_stacks", stack("UPDATE_ROLLBACK_FAILED"), {"StackName": STACK})
    with pytest.raises(StackFailedError, match="aws cloudformation delete-stack"):
        CloudFormation(cfn).create_change_set(STACK, template_body="{}", tags={})


def test_an_unchanged_template_is_an_empty_change_set(client) -> None:
    cfn, stubber = client
    stubber.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK})
    stubber.add_response("create_change_set", {"Id": CHANGE_SET, "StackId": STACK_ID})
    stubber.add_response(
        "describe_change_set",
        {
            "ChangeSetName": "run-pipeline-1",
            "ChangeSetId": CHANGE_SET,
            "StackName": STACK,
            "Status": "FAILED",
            "ExecutionStatus": "UNAVAILABLE",
            "StatusReason": "The submitted information didn't contain changes. Submit "
            "different information to create a change set.",
            "Changes": [],
        },
        {"ChangeSetName": CHANGE_SET, "StackName": STACK},
    )
    change_set = CloudFormation(cfn).create_change_set(
        STACK, template_body="{}", tags={"project": "p"}
    )
    assert change_set.empty and change_set.kind == "UPDATE"


def test_the_plan_lists_each_change_and_flags_replacements() -> None:
    change_set = ChangeSet(
        STACK,
        CHANGE_SET,
        "UPDATE",
        [
            {
                "Action": "Modify",
                "LogicalResourceId": "NightlySchedule",
                "ResourceType": "AWS::Scheduler::Schedule",
                "Replacement": "False",
                "Scope": ["Properties"],
                "Details": [
                    {"Target": {"Attribute": "Properties", "Name": "ScheduleExpressionTimezone"}}
                ],
            },
            {
                "Action": "Modify",
                "LogicalResourceId": "DataArrivalQueue",
                "ResourceType": "AWS::SQS::Queue",
                "Replacement": "True",
                "Scope": ["Properties"],
                "Details": [{"Target": {"Attribute": "Properties", "Name": "QueueName"}}],
            },
            {
                "Action": "Add",
                "LogicalResourceId": "NotificationEmailab12",
                "ResourceType": "AWS::SNS::Subscription",
            },
            {
                "Action": "Remove",
                "LogicalResourceId": "NotificationEmailcd34",
                "ResourceType": "AWS::SNS::Subscription",
            },
        ],
    )
    lines = format_changes(change_set)
    assert lines[0].split() == ["+", "Add", "AWS::SNS::Subscription", "NotificationEmailab12"]
    assert "(changes: QueueName)  REPLACED" in lines[1]
    assert lines[2].endswith("NightlySchedule  (changes: ScheduleExpressionTimezone)")
    assert lines[3].split()[:2] == ["-", "Remove"]
    assert lines[-1] == "1 to add, 2 to modify, 1 to remove (1 replaced or possibly replaced)"

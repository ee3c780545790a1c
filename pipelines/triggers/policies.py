"""The IAM trust and permission policies and the SQS/SNS resource policies, least privilege.

Every grant names the exact resource and, for service principals, the exact source (rule,
schedule group, pipe or alarm ARN, and the account), so no other rule, schedule or account
can use these roles or write to these queues and this topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

VERSION = "2012-10-17"


def document(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return canonical({"Version": VERSION, "Statement": list(statements)})


def canonical(policy: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A policy with scalar-or-list fields as sorted lists and statements sorted by Sid, so a
    document AWS hands back in another (equivalent) layout compares equal."""
    if policy is None:
        return None
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return {
        "Version": policy.get("Version", VERSION),
        "Statement": sorted(
            (_statement(s) for s in statements), key=lambda s: (s.get("Sid", ""), repr(s))
        ),
    }


def _statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Action", "NotAction", "Resource", "NotResource"):
            out[key] = _sorted_list(value)
        elif key == "Principal" and isinstance(value, Mapping):
            out[key] = {k: _sorted_list(v) for k, v in value.items()}
        elif key == "Condition":
            out[key] = {
                op: {k: _sorted_list(v) for k, v in conditions.items()}
                for op, conditions in value.items()
            }
        else:
            out[key] = value
    return out


def _sorted_list(value: Any) -> list[Any]:
    return sorted(value) if isinstance(value, list) else [value]


def service_trust(service: str, account: str, source_arn: str) -> dict[str, Any]:
    """Only `service`, acting for `source_arn` in this account, may assume the role (the
    confused-deputy guard AWS recommends for EventBridge Scheduler and Pipes roles)."""
    return document(
        {
            "Sid": "TrustedService",
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account, "aws:SourceArn": source_arn}
            },
        }
    )


def scheduler_permissions(pipeline_arns: list[str], dlq_arn: str) -> dict[str, Any]:
    return document(
        {
            "Sid": "StartPipeline",
            "Effect": "Allow",
            "Action": "sagemaker:StartPipelineExecution",
            "Resource": pipeline_arns,
        },
        {
            # Scheduler writes undeliverable invocations to the DLQ with the schedule's role.
            "Sid": "WriteDeadLetters",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": dlq_arn,
        },
    )


def pipe_permissions(pipeline_arns: list[str], buffer_arn: str) -> dict[str, Any]:
    return document(
        {
            "Sid": "ReadDataArrivals",
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": buffer_arn,
        },
        {
            "Sid": "StartPipeline",
            "Effect": "Allow",
            "Action": "sagemaker:StartPipelineExecution",
            "Resource": pipeline_arns,
        },
    )


def queue_policy(
    queue_arn: str,
    account: str,
    rule_arns: Iterable[str] = (),
    schedule_arns: Iterable[str] = (),
) -> dict[str, Any] | None:
    """EventBridge (for the listed rules) and Scheduler (for the listed schedules) may send."""
    statements = []
    for sid, service, arns in (
        ("EventBridgeRules", "events.amazonaws.com", sorted(rule_arns)),
        ("SchedulerSchedules", "scheduler.amazonaws.com", sorted(schedule_arns)),
    ):
        if arns:
            statements.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": arns},
                        "StringEquals": {"aws:SourceAccount": account},
                    },
                }
            )
    return document(*statements) if statements else None


def topic_policy(
    topic_arn: str, account: str, rule_arns: Iterable[str], alarm_arns: Iterable[str]
) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            # What SNS's default policy grants the owner; a custom policy replaces it.
            "Sid": "OwnerManagesTopic",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition_of(topic_arn)}:iam::{account}:root"},
            "Action": [
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
                "sns:AddPermission",
                "sns:RemovePermission",
                "sns:DeleteTopic",
                "sns:Subscribe",
                "sns:ListSubscriptionsByTopic",
                "sns:Publish",
            ],
            "Resource": topic_arn,
        }
    ]
    for sid, service, arns in (
        ("EventBridgeRules", "events.amazonaws.com", sorted(rule_arns)),
        ("CloudWatchAlarms", "cloudwatch.amazonaws.com", sorted(alarm_arns)),
    ):
        if arns:
            statements.append(
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "ArnEquals": {"aws:SourceArn": arns},
                        "StringEquals": {"aws:SourceAccount": account},
                    },
                }
            )
    return document(*statements)


def partition_of(arn: str) -> str:
    return arn.split(":", 2)[1]

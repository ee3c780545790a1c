"""Who hears about failures and new models: an SNS topic, its subscriptions, the rules that
feed it readable messages, and a CloudWatch alarm on failed executions.

  <p>-notifications                SNS topic (+ one email subscription per address)
  <p>-execution-failed, <p>-step-failed, <p>-metric-below-threshold, <p>-model-package
                                   EventBridge rules -> the topic, with the input
                                   transformers the local notifier renders too
  <p>-execution-failed             CloudWatch alarm: ExecutionFailed >= 1 -> the topic

The topic's policy lets exactly these rules and this alarm publish.
"""

from __future__ import annotations

import hashlib

from pipelines.eventbridge.patterns import notification_rules
from pipelines.stack import cfn
from pipelines.stack.context import StackContext
from pipelines.stack.triggers import dead_letter_config, retry_policy

TOPIC = "NotificationTopic"
ALARM = "ExecutionFailedAlarm"
ALARM_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
ALARM_METRIC = "ExecutionFailed"


def rule_logical_id(purpose: str) -> str:
    return "".join(part.capitalize() for part in purpose.split("-")) + "Rule"


def subscription_logical_id(email: str) -> str:
    # SNS compares addresses case-insensitively; so does the logical ID.
    return "NotificationEmail" + hashlib.sha256(email.lower().encode()).hexdigest()[:10]


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    if not ctx.notifications.enabled:
        return
    template.add(
        TOPIC,
        "AWS::SNS::Topic",
        {
            "TopicName": ctx.name("notifications"),
            "DisplayName": ctx.pipeline[:100],
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    for email in ctx.notifications.emails:
        template.add(
            subscription_logical_id(email),
            "AWS::SNS::Subscription",
            {"TopicArn": cfn.ref(TOPIC), "Protocol": "email", "Endpoint": email},
        )
    rules = []
    for spec in notification_rules(ctx.config, ctx.account):
        rules.append(
            template.add(
                rule_logical_id(spec.purpose),
                "AWS::Events::Rule",
                {
                    "Name": spec.name(ctx.pipeline),
                    "Description": spec.description,
                    "EventPattern": spec.pattern,
                    "State": "ENABLED",
                    "Targets": [
                        {
                            "Id": "notifications",
                            "Arn": cfn.ref(TOPIC),
                            "InputTransformer": spec.input_transformer,
                            "RetryPolicy": retry_policy(ctx),
                            "DeadLetterConfig": dead_letter_config(),
                        }
                    ],
                    "Tags": cfn.tag_list(ctx.tags),
                },
            )
        )
    template.add(
        ALARM,
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": ctx.name("execution-failed"),
            "AlarmDescription": f"A {ctx.pipeline} pipeline execution failed",
            "ActionsEnabled": True,
            "AlarmActions": [cfn.ref(TOPIC)],
            "Namespace": ALARM_NAMESPACE,
            "MetricName": ALARM_METRIC,
            "Dimensions": [{"Name": "PipelineName", "Value": ctx.pipeline}],
            "Statistic": "Sum",
            "Period": ctx.notifications.alarm_period_seconds,
            "EvaluationPeriods": ctx.notifications.alarm_evaluation_periods,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            # No executions is not a failure.
            "TreatMissingData": "notBreaching",
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    template.add(
        "NotificationTopicPolicy",
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [cfn.ref(TOPIC)],
            "PolicyDocument": cfn.policy(
                {
                    "Sid": "EventBridgeRules",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": cfn.ref(TOPIC),
                    "Condition": cfn.from_this_account([cfn.get_att(r, "Arn") for r in rules]),
                },
                {
                    "Sid": "CloudWatchAlarms",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": cfn.ref(TOPIC),
                    "Condition": cfn.from_this_account(
                        [cfn.arn("cloudwatch", f"alarm:{ctx.name('execution-failed')}")]
                    ),
                },
            ),
        },
    )
    template.output("NotificationTopicArn", cfn.ref(TOPIC), "Failures and new models")

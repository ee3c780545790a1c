"""Scheduled and data-arrival runs, and the dead-letter queue every hop shares.

  <p>-triggers-dlq     SQS  dead letters of the schedule, of every rule target and of the
                            deploy function's failed invocations
  <p>-triggers/<p>-nightly  EventBridge Scheduler schedule (cron, time zone, retries, DLQ)
                            starting the run target with the configured input location
  <p>-data-arrival     EventBridge rule: S3 "Object Created" under the input prefix ->
                       the buffer queue, through an input transformer
  <p>-data-arrival     SQS buffer (redrives to the DLQ after max_receive_count failed starts)
  <p>-data-arrival     EventBridge Pipe: buffer -> the run target, InputDataUrl from the body
  <p>-scheduler, <p>-pipe   their roles: start the run target, and only from this schedule
                            group / this pipe in this account

Why a buffer queue and a pipe between the S3 rule and the pipeline: the pipeline needs
InputDataUrl = "s3://<bucket>/<key>", built from two event fields. A SageMaker target takes
each parameter value as a constant or as one whole JSON path into the event ("$.detail.
object.key"), never a mix, and those paths read the event itself, not the input
transformer's output (stated outright for Pipes: "Dynamic path parameters can't reference
new or transformed values resulting from input transformation"). So the rule's input
transformer writes {"InputDataUrl": "s3://<bucket>/<key>"} to the queue, and the pipe reads
it with `$.body.InputDataUrl`, the documented dynamic path for an SQS source whose body is
JSON. The queue also holds arrivals while the pipeline cannot start, so none is lost.

What the triggers start is `orchestrator.run_target()`: the pipeline, or the state machine
around it (`[orchestrator].kind = "stepfunctions"`).
"""

from __future__ import annotations

from typing import Any

from pipelines.eventbridge.patterns import data_arrival_rule
from pipelines.stack import cfn
from pipelines.stack.context import StackContext
from pipelines.stack.orchestrator import RunTarget, run_target
from pipelines.stack.shared_resources import DEAD_LETTER_QUEUE
from pipelines.triggers import inputs

DATA_ARRIVAL_QUEUE = "DataArrivalQueue"
DATA_ARRIVAL_RULE = "DataArrivalRule"
DATA_ARRIVAL_PIPE = "DataArrivalPipe"
SCHEDULE = "NightlySchedule"
SCHEDULE_GROUP = "TriggersScheduleGroup"
# SQS keeps a message 4 days by default; the buffer keeps arrivals no longer than the DLQ
# keeps dead letters (expiry counts from the first enqueue, also once moved to the DLQ).
BUFFER_RETENTION_SECONDS = 345_600


def retry_policy(ctx: StackContext) -> dict[str, int]:
    return {
        "MaximumRetryAttempts": ctx.triggers.max_retry_attempts,
        "MaximumEventAgeInSeconds": ctx.triggers.max_event_age_seconds,
    }


def dead_letter_config() -> dict[str, Any]:
    return {"Arn": cfn.get_att(DEAD_LETTER_QUEUE, "Arn")}


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    target = run_target(ctx)
    template.add(
        DEAD_LETTER_QUEUE,
        "AWS::SQS::Queue",
        {
            "QueueName": ctx.name("triggers-dlq"),
            "MessageRetentionPeriod": ctx.triggers.dlq_retention_seconds,
            "SqsManagedSseEnabled": True,
            "Tags": cfn.tag_list(ctx.tags),
        },
        # Undelivered events only matter while the triggers exist.
        deletion_policy="Delete",
    )
    template.output(
        "DeadLetterQueueUrl", cfn.ref(DEAD_LETTER_QUEUE), "Runs and deployments that never started"
    )
    if ctx.triggers.schedule_enabled:
        _schedule(template, ctx, target)
    if ctx.triggers.data_arrival_enabled:
        _data_arrival(template, ctx, target)


def _schedule(template: cfn.Template, ctx: StackContext, target: RunTarget) -> None:
    trig = ctx.triggers
    group = ctx.name("triggers")
    role = template.add(
        "SchedulerRole",
        "AWS::IAM::Role",
        {
            "RoleName": ctx.name("scheduler"),
            "Description": f"EventBridge Scheduler starts the {target.description}",
            "AssumeRolePolicyDocument": cfn.service_trust(
                "scheduler.amazonaws.com",
                {
                    "StringEquals": {
                        "aws:SourceAccount": cfn.ref("AWS::AccountId"),
                        "aws:SourceArn": cfn.arn("scheduler", f"schedule-group/{group}"),
                    }
                },
            ),
            "Policies": [
                {
                    "PolicyName": "start-run",
                    "PolicyDocument": cfn.policy(
                        target.permission(),
                        {
                            # Scheduler writes undeliverable invocations to the DLQ with
                            # the schedule's role.
                            "Sid": "WriteDeadLetters",
                            "Effect": "Allow",
                            "Action": "sqs:SendMessage",
                            "Resource": cfn.get_att(DEAD_LETTER_QUEUE, "Arn"),
                        },
                    ),
                }
            ],
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    template.add(
        SCHEDULE_GROUP,
        "AWS::Scheduler::ScheduleGroup",
        # Schedules cannot be tagged; their group can.
        {"Name": group, "Tags": cfn.tag_list(ctx.tags)},
    )
    scheduled = inputs.schedule_parameters(trig, inputs.input_location(ctx.bucket, trig))
    template.add(
        SCHEDULE,
        "AWS::Scheduler::Schedule",
        {
            "Name": ctx.name("nightly"),
            "GroupName": group,
            "Description": f"Nightly run of {ctx.pipeline}",
            "ScheduleExpression": trig.schedule,
            "ScheduleExpressionTimezone": trig.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            # The configured input location, never the definition's default (the sample).
            "Target": {
                **target.schedule_target(scheduled),
                "RoleArn": cfn.get_att(role, "Arn"),
                "RetryPolicy": retry_policy(ctx),
                "DeadLetterConfig": dead_letter_config(),
            },
        },
        depends_on=[SCHEDULE_GROUP, *target.depends_on],
    )


def _data_arrival(template: cfn.Template, ctx: StackContext, target: RunTarget) -> None:
    trig = ctx.triggers
    rule = data_arrival_rule(ctx.bucket, trig.input_prefix)
    pipe_name = ctx.name("data-arrival")
    template.add(
        DATA_ARRIVAL_QUEUE,
        "AWS::SQS::Queue",
        {
            "QueueName": ctx.name("data-arrival"),
            "MessageRetentionPeriod": min(BUFFER_RETENTION_SECONDS, trig.dlq_retention_seconds),
            # Longer than one start attempt by the pipe, so a message is not handed out twice.
            "VisibilityTimeout": 60,
            "RedrivePolicy": {
                "deadLetterTargetArn": cfn.get_att(DEAD_LETTER_QUEUE, "Arn"),
                "maxReceiveCount": trig.max_receive_count,
            },
            "SqsManagedSseEnabled": True,
            "Tags": cfn.tag_list(ctx.tags),
        },
        deletion_policy="Delete",
    )
    template.add(
        DATA_ARRIVAL_RULE,
        "AWS::Events::Rule",
        {
            "Name": rule.name(ctx.pipeline),
            "Description": rule.description,
            "EventPattern": rule.pattern,
            "State": "ENABLED",
            "Targets": [
                {
                    "Id": "data-arrival-buffer",
                    "Arn": cfn.get_att(DATA_ARRIVAL_QUEUE, "Arn"),
                    "InputTransformer": rule.input_transformer,
                    "RetryPolicy": retry_policy(ctx),
                    "DeadLetterConfig": dead_letter_config(),
                }
            ],
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    template.add(
        "DataArrivalQueuePolicy",
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [cfn.ref(DATA_ARRIVAL_QUEUE)],
            "PolicyDocument": cfn.policy(
                _send_from_rules(
                    cfn.get_att(DATA_ARRIVAL_QUEUE, "Arn"),
                    [cfn.get_att(DATA_ARRIVAL_RULE, "Arn")],
                )
            ),
        },
    )
    role = template.add(
        "PipeRole",
        "AWS::IAM::Role",
        {
            "RoleName": ctx.name("pipe"),
            "Description": f"EventBridge Pipe: data arrivals start the {target.description}",
            "AssumeRolePolicyDocument": cfn.service_trust(
                "pipes.amazonaws.com",
                {
                    "StringEquals": {
                        "aws:SourceAccount": cfn.ref("AWS::AccountId"),
                        "aws:SourceArn": cfn.arn("pipes", f"pipe/{pipe_name}"),
                    }
                },
            ),
            "Policies": [
                {
                    "PolicyName": "read-arrivals-start-run",
                    "PolicyDocument": cfn.policy(
                        {
                            "Sid": "ReadDataArrivals",
                            "Effect": "Allow",
                            "Action": [
                                "sqs:ReceiveMessage",
                                "sqs:DeleteMessage",
                                "sqs:GetQueueAttributes",
                            ],
                            "Resource": cfn.get_att(DATA_ARRIVAL_QUEUE, "Arn"),
                        },
                        target.permission(),
                    ),
                }
            ],
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    arrival = inputs.pipe_parameters(trig, inputs.input_location(ctx.bucket, trig))
    template.add(
        DATA_ARRIVAL_PIPE,
        "AWS::Pipes::Pipe",
        {
            "Name": pipe_name,
            "Description": f"Data arrivals start the {target.description}",
            "DesiredState": "RUNNING",
            "Source": cfn.get_att(DATA_ARRIVAL_QUEUE, "Arn"),
            "SourceParameters": {"SqsQueueParameters": {"BatchSize": 1}},
            "Target": target.arn,
            "TargetParameters": target.pipe_target_parameters(arrival),
            "RoleArn": cfn.get_att(role, "Arn"),
            # Pipes take their tags as a map.
            "Tags": dict(ctx.tags),
        },
        depends_on=list(target.depends_on),
    )
    template.output(
        "DataArrivalQueueUrl",
        cfn.ref(DATA_ARRIVAL_QUEUE),
        "Data arrivals waiting for the pipe to start a run",
    )


def _send_from_rules(queue_arn: Any, rule_arns: list[Any]) -> dict[str, Any]:
    return {
        "Sid": "EventBridgeRules",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": cfn.from_this_account(rule_arns),
    }


def add_dead_letter_policy(template: cfn.Template) -> None:
    """The DLQ's resource policy: every rule in the template whose target dead-letters into
    it may send, and nothing else. Run last, once every module has added its rules."""
    senders = [
        logical_id
        for logical_id, resource in template.resources.items()
        if resource["Type"] == "AWS::Events::Rule"
        and any(
            target.get("DeadLetterConfig") == dead_letter_config()
            for target in resource["Properties"].get("Targets", [])
        )
    ]
    if not senders:
        return
    template.add(
        "TriggersDeadLetterQueuePolicy",
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [cfn.ref(DEAD_LETTER_QUEUE)],
            "PolicyDocument": cfn.policy(
                _send_from_rules(
                    cfn.get_att(DEAD_LETTER_QUEUE, "Arn"),
                    [cfn.get_att(rule, "Arn") for rule in senders],
                )
            ),
        },
    )

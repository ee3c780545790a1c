"""The AWS resources the configuration asks for, and the plan that converges to them.

`desired_resources` is pure (configuration + account in, resource specs out) and
`differences` compares one desired spec with what AWS reports. Specs hold exactly the
properties this project manages, in the shape the read calls return, so an unchanged
resource compares equal and a second `apply` makes no mutating call.

Resources (every name is `<pipeline>-<purpose>`, every taggable one carries the project tags
and the marker tag `pipeline-triggers=<pipeline>`):
  sqs-queue         <p>-triggers-dlq        dead letters of the schedule and of every rule
  sqs-queue         <p>-data-arrival        buffer between the S3 rule and the pipe
  iam-role          <p>-scheduler           Scheduler: start the pipeline, write the DLQ
  iam-role          <p>-pipe                Pipe: read the buffer, start the pipeline
  schedule-group    <p>-triggers            holds the schedule (schedules cannot be tagged)
  schedule          <p>-nightly             cron -> StartPipelineExecution (templated target)
  events-rule       <p>-data-arrival        S3 Object Created -> buffer, InputTransformer
  pipe              <p>-data-arrival        buffer -> StartPipelineExecution(InputDataUrl)
  sns-topic         <p>-notifications       (+ one sns-subscription per configured email)
  events-rule       <p>-execution-failed, <p>-step-failed, <p>-metric-below-threshold,
                    <p>-model-package       -> topic, InputTransformer (readable text)
  cloudwatch-alarm  <p>-execution-failed    ExecutionFailed >= 1 -> topic
  iam-role, lambda-function <p>-deploy-model, events-rule <p>-model-approved
                                            approvals -> deploy Lambda (pipelines/deploy/)
  s3-eventbridge    <bucket>                the bucket's EventBridge notifications on

Why a buffer queue and a pipe between the S3 rule and the pipeline: the pipeline needs
InputDataUrl = "s3://<bucket>/<key>", built from two event fields. A SageMaker target takes
each parameter value as a constant or as one whole JSON path into the event payload
("$.detail.object.key"), never a mix, and those paths read the event itself, not the input
transformer's output (stated outright for Pipes: "Dynamic path parameters can't reference
new or transformed values resulting from input transformation"). So no rule can hand the
pipeline the full URI directly. Instead the rule's input transformer writes
{"InputDataUrl": "s3://<bucket>/<key>"} to the buffer queue, and the pipe reads it with
`$.body.InputDataUrl`, the documented dynamic path for an SQS source whose body is JSON.
The queue also holds arrivals while the pipeline cannot start (after `max_receive_count`
failed starts a message moves to the DLQ), so no trigger event is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines import arns
from pipelines.config import ProjectConfig
from pipelines.triggers import inputs, policies
from pipelines.triggers.patterns import (
    RuleSpec,
    data_arrival_rule,
    notification_rules,
)
from pipelines.triggers.settings import Settings

MARKER_KEY = "pipeline-triggers"
# Set on the DLQ when `apply` turned on the bucket's EventBridge notifications, so `destroy`
# turns them off again only if it was this project that turned them on.
S3_MARKER_KEY = "pipeline-triggers-enabled-s3-eventbridge"
ALARM_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
ALARM_METRIC = "ExecutionFailed"
# Compared for equality, not containment: an extra condition in a pattern is drift.
EXACT_FIELDS = frozenset({"EventPattern"})
# Kinds in creation order; deletion runs in reverse.
KINDS = (
    "sqs-queue",
    "iam-role",
    "schedule-group",
    "schedule",
    "sns-topic",
    "sns-subscription",
    "lambda-function",
    "events-rule",
    "pipe",
    "cloudwatch-alarm",
    "s3-eventbridge",
)


@dataclass(frozen=True)
class Context:
    """Where the resources live."""

    account: str
    region: str
    pipeline: str
    bucket: str

    @property
    def partition(self) -> str:
        return arns.partition(self.region)

    def name(self, purpose: str) -> str:
        return f"{self.pipeline}-{purpose}"

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account}:{resource}"

    def queue_arn(self, name: str) -> str:
        return self.arn("sqs", name)

    def role_arn(self, name: str) -> str:
        return self.arn("iam", f"role/{name}", region=False)

    def rule_arn(self, name: str) -> str:
        return self.arn("events", f"rule/{name}")

    def topic_arn(self, name: str) -> str:
        return self.arn("sns", name)

    def alarm_arn(self, name: str) -> str:
        return self.arn("cloudwatch", f"alarm:{name}")

    def pipe_arn(self, name: str) -> str:
        return self.arn("pipes", f"pipe/{name}")

    def schedule_group_arn(self, name: str) -> str:
        return self.arn("scheduler", f"schedule-group/{name}")

    def schedule_arn(self, group: str, name: str) -> str:
        return self.arn("scheduler", f"schedule/{group}/{name}")

    @property
    def pipeline_arn(self) -> str:
        """The target ARN, with the name as the user spelled it (StartPipelineExecution
        accepts the name or the ARN)."""
        return self.arn("sagemaker", f"pipeline/{self.pipeline}")

    @property
    def pipeline_arns(self) -> list[str]:
        """What IAM must allow: the pipeline's ARN in both spellings (see pipelines.arns)."""
        return arns.name_arns(self.region, self.account, "pipeline", self.pipeline)

    @property
    def marker(self) -> dict[str, str]:
        return {MARKER_KEY: self.pipeline}


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    spec: Mapping[str, Any]
    summary: str = ""


@dataclass(frozen=True)
class Change:
    action: str  # "create" | "update" | "no-op" | "delete"
    kind: str
    name: str
    fields: tuple[str, ...] = ()
    resource: Resource | None = None
    summary: str = ""


@dataclass
class Plan:
    context: Context
    changes: list[Change] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def mutating(self) -> list[Change]:
        return [c for c in self.changes if c.action != "no-op"]


_SYMBOLS = {"create": "+", "update": "~", "no-op": "=", "delete": "-"}


def format_plan(plan: Plan, *, title: str) -> list[str]:
    lines = [title]
    for change in plan.changes:
        symbol = _SYMBOLS[change.action]
        label = "ok" if change.action == "no-op" else change.action
        line = f"  {symbol} {label:<7} {change.kind:<17} {change.name}"
        if change.fields:
            line += f"  (changes: {', '.join(change.fields)})"
        elif change.summary and change.action != "delete":
            line += f"  {change.summary}"
        lines.append(line)
    lines.append(
        f"{plan.count('create')} to create, {plan.count('update')} to update, "
        f"{plan.count('delete')} to delete, {plan.count('no-op')} unchanged"
    )
    return lines


def tags(config: ProjectConfig, context: Context) -> dict[str, str]:
    return {**config.aws.tags, **context.marker}


def desired_resources(
    config: ProjectConfig, settings: Settings, context: Context
) -> list[Resource]:
    """Every resource the configuration asks for, in creation (dependency) order."""
    trig, notes = settings.triggers, settings.notifications
    tagged = tags(config, context)
    dlq = context.name("triggers-dlq")
    buffer = context.name("data-arrival")
    scheduler_role = context.name("scheduler")
    pipe_role = context.name("pipe")
    group = context.name("triggers")
    schedule = context.name("nightly")
    topic = context.name("notifications")
    alarm = context.name("execution-failed")
    data_rule = data_arrival_rule(context.bucket, trig.input_prefix)
    note_rules = notification_rules(config, context.account) if notes.enabled else []
    rule_arns = [context.rule_arn(r.name(context.pipeline)) for r in note_rules]
    if trig.data_arrival_enabled:
        rule_arns.append(context.rule_arn(data_rule.name(context.pipeline)))
    schedule_arns = [context.schedule_arn(group, schedule)] if trig.schedule_enabled else []
    from pipelines.deploy.approval import RULE_PURPOSE, approval_resources
    from pipelines.deploy.settings import load_deployment

    deployment = load_deployment(config)
    if deployment.deploy_on_approval:
        rule_arns.append(context.rule_arn(context.name(RULE_PURPOSE)))
    retry = {
        "MaximumRetryAttempts": trig.max_retry_attempts,
        "MaximumEventAgeInSeconds": trig.max_event_age_seconds,
    }
    dead_letter = {"Arn": context.queue_arn(dlq)}

    resources: list[Resource] = []
    if not (rule_arns or schedule_arns):
        return resources
    resources.append(
        Resource(
            "sqs-queue",
            dlq,
            {
                "Attributes": _queue_attributes(
                    retention=trig.dlq_retention_seconds,
                    policy=policies.queue_policy(
                        context.queue_arn(dlq), context.account, rule_arns, schedule_arns
                    ),
                ),
                "Tags": tagged,
            },
            "dead-letter queue for the schedule and every rule target",
        )
    )
    if trig.data_arrival_enabled:
        resources.append(
            Resource(
                "sqs-queue",
                buffer,
                {
                    "Attributes": _queue_attributes(
                        # Expiry counts from the first enqueue, also in the DLQ: keep the
                        # buffer's retention no longer than the DLQ's.
                        retention=min(345_600, trig.dlq_retention_seconds),
                        policy=policies.queue_policy(
                            context.queue_arn(buffer),
                            context.account,
                            [context.rule_arn(data_rule.name(context.pipeline))],
                        ),
                        redrive={
                            "deadLetterTargetArn": context.queue_arn(dlq),
                            "maxReceiveCount": trig.max_receive_count,
                        },
                        visibility=60,
                    ),
                    "Tags": tagged,
                },
                f"data arrivals waiting for the pipe (to the DLQ after "
                f"{trig.max_receive_count} failed starts)",
            )
        )
    if trig.schedule_enabled:
        resources.append(
            _role(
                scheduler_role,
                "scheduler.amazonaws.com",
                context.schedule_group_arn(group),
                policies.scheduler_permissions(context.pipeline_arns, context.queue_arn(dlq)),
                f"EventBridge Scheduler starts {context.pipeline} and writes its DLQ",
                context,
                tagged,
            )
        )
    if trig.data_arrival_enabled:
        resources.append(
            _role(
                pipe_role,
                "pipes.amazonaws.com",
                context.pipe_arn(buffer),
                policies.pipe_permissions(context.pipeline_arns, context.queue_arn(buffer)),
                f"EventBridge Pipe reads data arrivals and starts {context.pipeline}",
                context,
                tagged,
            )
        )
    if trig.schedule_enabled:
        resources.append(Resource("schedule-group", group, {"Tags": tagged}))
        scheduled = inputs.schedule_parameters(trig, inputs.input_location(context.bucket, trig))
        target: dict[str, Any] = {
            "Arn": context.pipeline_arn,
            "RoleArn": context.role_arn(scheduler_role),
            "RetryPolicy": retry,
            "DeadLetterConfig": dead_letter,
            # The configured input location, never the definition's default (the sample).
            "SageMakerPipelineParameters": {
                "PipelineParameterList": [
                    {"Name": k, "Value": v} for k, v in sorted(scheduled.items())
                ]
            },
        }
        resources.append(
            Resource(
                "schedule",
                schedule,
                {
                    "GroupName": group,
                    "ScheduleExpression": trig.schedule,
                    "ScheduleExpressionTimezone": trig.timezone,
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "State": "ENABLED",
                    "Description": f"Nightly run of {context.pipeline}",
                    "Target": target,
                },
                f"{trig.schedule} {trig.timezone}",
            )
        )
    if note_rules:
        topic_arn = context.topic_arn(topic)
        resources.append(
            Resource(
                "sns-topic",
                topic,
                {
                    "Attributes": {
                        "DisplayName": context.pipeline[:100],
                        "Policy": policies.topic_policy(
                            topic_arn,
                            context.account,
                            rule_arns=[
                                context.rule_arn(r.name(context.pipeline)) for r in note_rules
                            ],
                            alarm_arns=[context.alarm_arn(alarm)],
                        ),
                    },
                    "Tags": tagged,
                },
            )
        )
        for email in notes.emails:
            resources.append(
                Resource(
                    "sns-subscription",
                    # SNS compares addresses case-insensitively; so does the plan.
                    email.lower(),
                    {"TopicArn": topic_arn, "Protocol": "email", "Endpoint": email},
                )
            )
    if trig.data_arrival_enabled:
        resources.append(
            _rule(
                data_rule,
                context,
                tagged,
                {
                    "Id": "data-arrival-buffer",
                    "Arn": context.queue_arn(buffer),
                    "InputTransformer": data_rule.input_transformer,
                    "RetryPolicy": retry,
                    "DeadLetterConfig": dead_letter,
                },
                f"s3://{context.bucket}/{trig.input_prefix}* -> {buffer} queue",
            )
        )
    for rule in note_rules:
        resources.append(
            _rule(
                rule,
                context,
                tagged,
                {
                    "Id": "notifications",
                    "Arn": context.topic_arn(topic),
                    "InputTransformer": rule.input_transformer,
                    "RetryPolicy": retry,
                    "DeadLetterConfig": dead_letter,
                },
                f"-> {topic} topic",
            )
        )
    if trig.data_arrival_enabled:
        arrival = inputs.pipe_parameters(trig, inputs.input_location(context.bucket, trig))
        resources.append(
            Resource(
                "pipe",
                buffer,
                {
                    "Description": f"Data arrivals start {context.pipeline}",
                    "DesiredState": "RUNNING",
                    "Source": context.queue_arn(buffer),
                    "SourceParameters": {"SqsQueueParameters": {"BatchSize": 1}},
                    "Target": context.pipeline_arn,
                    "TargetParameters": {
                        "SageMakerPipelineParameters": {"PipelineParameterList": arrival}
                    },
                    "RoleArn": context.role_arn(pipe_role),
                    "Tags": tagged,
                },
                f"{buffer} queue -> " + ", ".join(f"{p['Name']}={p['Value']}" for p in arrival),
            )
        )
    if note_rules:
        resources.append(
            Resource(
                "cloudwatch-alarm",
                alarm,
                {
                    "AlarmDescription": f"A {context.pipeline} pipeline execution failed",
                    "ActionsEnabled": True,
                    "AlarmActions": [context.topic_arn(topic)],
                    "Namespace": ALARM_NAMESPACE,
                    "MetricName": ALARM_METRIC,
                    "Dimensions": [{"Name": "PipelineName", "Value": context.pipeline}],
                    "Statistic": "Sum",
                    "Period": notes.alarm_period_seconds,
                    "EvaluationPeriods": notes.alarm_evaluation_periods,
                    "Threshold": 1.0,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    # No executions is not a failure.
                    "TreatMissingData": "notBreaching",
                    "Tags": tagged,
                },
                f"{ALARM_NAMESPACE} {ALARM_METRIC} >= 1 -> {topic} topic",
            )
        )
    if deployment.deploy_on_approval:
        resources.extend(
            approval_resources(config, deployment, context, tagged, retry, dead_letter)
        )
    if trig.data_arrival_enabled:
        resources.append(
            Resource(
                "s3-eventbridge",
                context.bucket,
                {"EventBridgeConfiguration": {}},
                "bucket notifications to EventBridge on",
            )
        )
    return resources


def _queue_attributes(
    *,
    retention: int,
    policy: Mapping[str, Any] | None,
    redrive: Mapping[str, Any] | None = None,
    visibility: int = 30,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "MessageRetentionPeriod": str(retention),
        "VisibilityTimeout": str(visibility),
        "SqsManagedSseEnabled": "true",
    }
    if policy:
        attributes["Policy"] = policy
    if redrive:
        attributes["RedrivePolicy"] = dict(redrive)
    return attributes


def _role(
    name: str,
    service: str,
    source_arn: str,
    permissions: Mapping[str, Any],
    description: str,
    context: Context,
    tagged: Mapping[str, str],
) -> Resource:
    return Resource(
        "iam-role",
        name,
        {
            "AssumeRolePolicyDocument": policies.service_trust(
                service, context.account, source_arn
            ),
            "Description": description,
            "InlinePolicies": {name: permissions},
            "Tags": dict(tagged),
        },
        f"assumed by {service}",
    )


def _rule(
    rule: RuleSpec,
    context: Context,
    tagged: Mapping[str, str],
    target: Mapping[str, Any],
    summary: str,
) -> Resource:
    return Resource(
        "events-rule",
        rule.name(context.pipeline),
        {
            "EventPattern": rule.pattern,
            "State": "ENABLED",
            "Description": rule.description,
            "Targets": [dict(target)],
            "Tags": dict(tagged),
        },
        summary,
    )


def differences(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> tuple[str, ...]:
    """Top-level fields of `desired` that `actual` does not satisfy (extra keys AWS adds, such
    as defaults or other tags, are not differences)."""
    return tuple(
        key
        for key, value in desired.items()
        if not (
            actual.get(key) == value if key in EXACT_FIELDS else contains(actual.get(key), value)
        )
    )


def contains(actual: Any, desired: Any) -> bool:
    if isinstance(desired, Mapping) and "Statement" in desired:
        # Policies are compared whole: an extra grant is drift, not a harmless default.
        return actual == desired
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            contains(actual.get(k), v) for k, v in desired.items()
        )
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        return (
            isinstance(actual, Sequence)
            and not isinstance(actual, str)
            and len(actual) == len(desired)
            and all(contains(a, d) for a, d in zip(actual, desired, strict=True))
        )
    if isinstance(desired, bool) or isinstance(actual, bool):
        return actual is desired
    return actual == desired

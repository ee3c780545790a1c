"""The endpoint's drift monitoring on AWS ([drift], README "Drift").

  <p>-monitoring/<p>-drift-monitor  EventBridge Scheduler schedule: every
                          monitoring_interval_hours, a universal target calling
                          sagemaker:CreateProcessingJob with the monitoring job's request
                          (pipelines/drift/monitoring.py), named from the schedule's
                          <aws.scheduler.execution-id>, its window ending at the
                          <aws.scheduler.scheduled-time>; its role may create only those jobs
                          and pass only the execution role to SageMaker
  <p>-drift-metrics       an inline policy on the SageMaker execution role (the job's role):
                          cloudwatch:PutMetricData in the drift namespace only
  <p>-data-drift          CloudWatch alarm: DriftedFeatures >= alarm_drifted_features
  <p>-drift-retrain       EventBridge rule on the alarm entering ALARM -> the run target
                          (the pipeline) with the captured windows as InputDataUrl; retries
                          and the triggers DLQ
  <p>-deploy-model-baselines  the deploy function's extra permissions: read the registered
                          baselines, publish the deployed one (and the capture README)

Why a schedule calling CreateProcessingJob rather than a SageMaker monitoring schedule: a
monitoring schedule runs Model Monitor's analyzer, or a container image of one's own whose code
is baked in (its inputs are only the endpoint's captures and the baseline: no code input), so
the same data_quality.py the pipeline and `monitor` run would need an image built and pushed
to ECR; and Model Monitor is closed to new customers. A processing job runs the script from
S3 in the scikit-learn image, exactly as DriftCheck does, and the same request runs locally.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.code_assets import code_uri
from pipelines.drift import monitoring
from pipelines.settings.deployment import load_deployment
from pipelines.settings.drift import (
    endpoint_capture_uri,
    load_drift,
    metric_namespace,
    monitoring_uri,
)
from pipelines.stack import cfn
from pipelines.stack.context import StackContext
from pipelines.stack.lambdas import logical_id
from pipelines.stack.orchestrator import run_target
from pipelines.stack.shared_resources import DEAD_LETTER_QUEUE
from pipelines.stack.triggers import dead_letter_config, retry_policy

SCHEDULE_GROUP = "MonitoringScheduleGroup"
SCHEDULE = "DriftMonitoringSchedule"
SCHEDULER_ROLE = "DriftMonitoringSchedulerRole"
METRICS_POLICY = "DriftMetricsPolicy"
ALARM = "DataDriftAlarm"
RULE = "DriftRetrainRule"
RULE_ROLE = "DriftRetrainRole"
DEPLOYER_POLICY = "DeployModelBaselinesPolicy"
# EventBridge Scheduler's universal target for SageMaker's CreateProcessingJob.
CREATE_PROCESSING_JOB = "arn:${AWS::Partition}:scheduler:::aws-sdk:sagemaker:createProcessingJob"


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    drift = load_drift(ctx.config)
    if not drift.monitoring_enabled:
        return
    _schedule(template, ctx)
    _metrics_permission(template, ctx)
    template.add(ALARM, "AWS::CloudWatch::Alarm", monitoring.alarm(ctx.config, drift))
    if drift.retrain_on_alarm:
        _retrain_rule(template, ctx)
    if ctx.deployment.deploy_on_approval:
        _deployer_permissions(template, ctx)


def schedule_request(ctx: StackContext) -> dict[str, Any]:
    """The CreateProcessingJob request the schedule sends, with Scheduler's placeholders."""
    return monitoring.job_request(
        ctx.config,
        ctx.target,
        code=ctx.job_code.data_quality,
        image_uri=_image_uri(ctx),
        role_arn=ctx.target.role_arn,
        job_name=f"{monitoring.job_prefix(ctx.config)}-{monitoring.EXECUTION_ID}",
        end_time=monitoring.SCHEDULED_TIME,
        publish_metrics=True,
    )


def _image_uri(ctx: StackContext) -> str:
    """The scikit-learn image of the pipeline's own processing jobs in this region."""
    for step in json.loads(ctx.definition)["Steps"]:
        image = ((step.get("Arguments") or {}).get("AppSpecification") or {}).get("ImageUri")
        if image:
            return image
    raise ValueError("the pipeline definition names no processing image")


def _schedule(template: cfn.Template, ctx: StackContext) -> None:
    drift = load_drift(ctx.config)
    group = ctx.name("monitoring")
    prefix = monitoring.job_prefix(ctx.config)
    role = template.add(
        SCHEDULER_ROLE,
        "AWS::IAM::Role",
        {
            "RoleName": ctx.name("drift-monitor"),
            "Description": f"EventBridge Scheduler starts {ctx.pipeline}'s drift monitoring jobs",
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
                    "PolicyName": "start-monitoring-jobs",
                    "PolicyDocument": cfn.policy(
                        {
                            "Sid": "CreateMonitoringJobs",
                            "Effect": "Allow",
                            "Action": "sagemaker:CreateProcessingJob",
                            # SageMaker writes names lower-cased in ARNs (pipelines/arns.py).
                            "Resource": [
                                cfn.arn("sagemaker", f"processing-job/{spelling}-*")
                                for spelling in sorted({prefix, prefix.lower()})
                            ],
                        },
                        {
                            "Sid": "PassExecutionRole",
                            "Effect": "Allow",
                            "Action": "iam:PassRole",
                            "Resource": ctx.target.role_arn,
                            "Condition": {
                                "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
                            },
                        },
                        {
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
        {"Name": group, "Tags": cfn.tag_list(ctx.tags)},
    )
    hours = drift.monitoring_interval_hours
    template.add(
        SCHEDULE,
        "AWS::Scheduler::Schedule",
        {
            "Name": ctx.name("drift-monitor"),
            "GroupName": group,
            "Description": (
                f"Drift check of the requests {load_deployment(ctx.config).endpoint_name} "
                f"captured in the last {hours} h, against the deployed model's baseline"
            ),
            "ScheduleExpression": f"rate({hours} hour{'s' if hours > 1 else ''})",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": cfn.sub(CREATE_PROCESSING_JOB),
                "RoleArn": cfn.get_att(role, "Arn"),
                "Input": json.dumps(schedule_request(ctx), sort_keys=True),
                "RetryPolicy": retry_policy(ctx),
                "DeadLetterConfig": dead_letter_config(),
            },
        },
        depends_on=[SCHEDULE_GROUP],
    )
    template.output(
        "DriftMonitoringCode",
        code_uri(ctx.job_code.data_quality, ctx.config, ctx.target),
        "The monitoring job's script (processing/data_quality.py)",
    )


def _metrics_permission(template: cfn.Template, ctx: StackContext) -> None:
    """PutMetricData has no resource type: its only scope is the namespace condition."""
    namespace = metric_namespace(ctx.config, load_drift(ctx.config))
    template.add(
        METRICS_POLICY,
        "AWS::IAM::Policy",
        {
            "PolicyName": ctx.name("drift-metrics"),
            "Roles": [ctx.target.role_arn.rsplit("/", 1)[-1]],
            "PolicyDocument": cfn.policy(
                {
                    "Sid": "PutDriftMetrics",
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}},
                }
            ),
        },
    )


def retrain_target(ctx: StackContext) -> dict[str, Any]:
    """The rule's target besides its role: the run target with the retraining parameters."""
    parameters = monitoring.retrain_parameters(ctx.config, ctx.target)
    return {
        "Id": "retrain",
        **run_target(ctx).schedule_target(parameters),
        "RetryPolicy": retry_policy(ctx),
        "DeadLetterConfig": dead_letter_config(),
    }


def _retrain_rule(template: cfn.Template, ctx: StackContext) -> None:
    target = run_target(ctx)
    rule = monitoring.retrain_rule(ctx.config, ctx.account)
    name = rule.name(ctx.pipeline)
    role = template.add(
        RULE_ROLE,
        "AWS::IAM::Role",
        {
            "RoleName": ctx.name("drift-retrain"),
            "Description": f"The drift alarm's rule starts the {target.description}",
            "AssumeRolePolicyDocument": cfn.service_trust(
                "events.amazonaws.com",
                cfn.from_this_account([cfn.arn("events", f"rule/{name}")]),
            ),
            "Policies": [
                {
                    "PolicyName": "start-run",
                    "PolicyDocument": cfn.policy(target.permission()),
                }
            ],
            "Tags": cfn.tag_list(ctx.tags),
        },
    )
    template.add(
        RULE,
        "AWS::Events::Rule",
        {
            "Name": name,
            "Description": rule.description,
            "EventPattern": rule.pattern,
            "State": "ENABLED",
            "Targets": [{**retrain_target(ctx), "RoleArn": cfn.get_att(role, "Arn")}],
        },
        depends_on=[ALARM, *target.depends_on],
    )


def _deployer_permissions(template: cfn.Template, ctx: StackContext) -> None:
    """What deploy_model.py's baseline publishing adds to the deploy function's role."""
    endpoint = ctx.deployment.endpoint_name
    base = f"{ctx.bucket}/{ctx.s3_prefix}"
    published = monitoring_uri(ctx.config, ctx.target, endpoint, "baseline").removeprefix("s3://")
    readme = endpoint_capture_uri(ctx.config, ctx.target, endpoint).removeprefix("s3://")
    template.add(
        DEPLOYER_POLICY,
        "AWS::IAM::Policy",
        {
            "PolicyName": ctx.name("deploy-model-baselines"),
            "Roles": [cfn.ref(logical_id("deploy-model", "Role"))],
            "PolicyDocument": cfn.policy(
                {
                    "Sid": "ReadRegisteredBaselines",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": cfn.arn(
                        "s3", f"{base}/executions/*/Baseline/*", regional=False, account=False
                    ),
                },
                {
                    "Sid": "PublishDeployedBaseline",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:DeleteObject"],
                    "Resource": [
                        cfn.arn("s3", f"{published}*", regional=False, account=False),
                        cfn.arn("s3", f"{readme}README.txt", regional=False, account=False),
                    ],
                },
            ),
        },
    )

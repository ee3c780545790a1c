"""The endpoint's monitoring job, its metrics' alarm and what the alarm starts: one
definition for AWS (pipelines/stack/monitoring.py puts them in the stack) and for the local
`monitor` command (pipelines/drift/monitor.py runs them on the local engine).

The job is a CreateProcessingJob request running processing/data_quality.py check in the
scikit-learn image over the endpoint's captured requests of the last
`[drift].monitoring_interval_hours` hours, against the deployed model's baseline (which
deploy_model.py, or `serve`, copies to a fixed location). On AWS an EventBridge Scheduler
schedule sends it as a universal target, with the schedule's own placeholders for the job
name and the window's end; locally `monitor` fills them in.
"""

from __future__ import annotations

import re
from typing import Any

from pipelines import arns
from pipelines.code_assets import CodeAsset, code_uri
from pipelines.config import ProjectConfig, Target
from pipelines.eventbridge.patterns import RuleSpec
from pipelines.settings.deployment import load_deployment
from pipelines.settings.drift import (
    DriftSettings,
    endpoint_capture_uri,
    load_drift,
    metric_namespace,
    monitoring_uri,
)
from pipelines.settings.triggers import load_settings
from pipelines.triggers import inputs
from pipelines.triggers.rules import PipelineRule

PROCESSING = "/opt/ml/processing"
# EventBridge Scheduler's context attributes, replaced in the target's input at each run
# ("Adding context attributes in EventBridge Scheduler").
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
EXECUTION_ID = "<aws.scheduler.execution-id>"
# SageMaker processing job names: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; the id takes 16.
_JOB_PREFIX_LENGTH = 46
ALARM_METRIC = "DriftedFeatures"
CLOUDWATCH_SOURCE = "aws.cloudwatch"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"


def endpoint_name(config: ProjectConfig) -> str:
    return load_deployment(config).endpoint_name


def job_prefix(config: ProjectConfig) -> str:
    """`<pipeline>-drift`, made a valid job name prefix (letters, digits, hyphens)."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", f"{config.pipeline.name}-drift").strip("-")
    return cleaned[:_JOB_PREFIX_LENGTH].rstrip("-")


def job_request(
    config: ProjectConfig,
    target: Target,
    *,
    code: CodeAsset,
    image_uri: str,
    role_arn: str,
    job_name: str,
    end_time: str,
    publish_metrics: bool,
    settings: DriftSettings | None = None,
    window_hours: float | None = None,
) -> dict[str, Any]:
    """CreateProcessingJob for one monitoring window ending at `end_time` (ISO 8601), of
    `window_hours` (default: the monitoring interval)."""
    drift = settings or load_drift(config)
    hours = drift.monitoring_interval_hours if window_hours is None else window_hours
    endpoint = endpoint_name(config)
    arguments = [
        "check",
        "--data-dir",
        f"{PROCESSING}/input/capture",
        "--baseline-dir",
        f"{PROCESSING}/input/baseline",
        "--output-dir",
        f"{PROCESSING}/report",
        "--end-time",
        end_time,
        "--window-hours",
        f"{hours:g}",
        "--export-dir",
        f"{PROCESSING}/window",
        "--no-data-ok",
        "--metrics-namespace",
        metric_namespace(config, drift),
        "--metrics-dimension",
        f"Endpoint={endpoint}",
        "--exit-message-file",
        "/opt/ml/output/message",
    ]
    for name, value in drift.threshold_arguments().items():
        arguments += [name, value]
    if publish_metrics:
        arguments.append("--publish-metrics")
    return {
        "ProcessingJobName": job_name,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": config.instances.processing_type,
                "VolumeSizeInGB": 30,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": config.pipeline.max_runtime_seconds},
        "AppSpecification": {
            "ImageUri": image_uri,
            "ContainerEntrypoint": ["python3", f"{PROCESSING}/input/code/{code.filename}"],
            "ContainerArguments": arguments,
        },
        "ProcessingInputs": [
            _input("code", code_uri(code, config, target), f"{PROCESSING}/input/code"),
            # The endpoint's whole capture folder; the script keeps the window's requests.
            _input(
                "capture",
                endpoint_capture_uri(config, target, endpoint),
                f"{PROCESSING}/input/capture",
            ),
            _input(
                "baseline",
                monitoring_uri(config, target, endpoint, "baseline"),
                f"{PROCESSING}/input/baseline",
            ),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                _output(
                    "report",
                    monitoring_uri(config, target, endpoint, "reports") + job_name,
                    f"{PROCESSING}/report",
                ),
                # Dated folders under a fixed prefix: the retraining run's input.
                _output(
                    "window",
                    monitoring_uri(config, target, endpoint, "windows").rstrip("/"),
                    f"{PROCESSING}/window",
                ),
            ]
        },
        "Environment": {"AWS_DEFAULT_REGION": target.region},
        "RoleArn": role_arn,
    }


def _input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _output(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "OutputName": name,
        "S3Output": {"S3Uri": uri, "LocalPath": local_path, "S3UploadMode": "EndOfJob"},
    }


def alarm_name(config: ProjectConfig) -> str:
    return f"{config.pipeline.name}-data-drift"


def alarm_arn(config: ProjectConfig, account: str) -> str:
    return arns.arn("cloudwatch", config.aws.region, account, f"alarm:{alarm_name(config)}")


def alarm(config: ProjectConfig, settings: DriftSettings | None = None) -> dict[str, Any]:
    """PutMetricAlarm's request for the drift alarm (what AWS::CloudWatch::Alarm holds):
    at least alarm_drifted_features features drifted in a monitoring window. A window
    without requests publishes no DriftedFeatures: missing data is not breaching."""
    drift = settings or load_drift(config)
    endpoint = endpoint_name(config)
    return {
        "AlarmName": alarm_name(config),
        "AlarmDescription": (
            f"{config.pipeline.name}: at least {drift.alarm_drifted_features} feature(s) of "
            f"the requests to {endpoint} drifted from the deployed model's baseline; starts a "
            "retraining run"
        ),
        "Namespace": metric_namespace(config, drift),
        "MetricName": ALARM_METRIC,
        "Dimensions": [{"Name": "Endpoint", "Value": endpoint}],
        "Statistic": "Maximum",
        "Period": 3600 * drift.monitoring_interval_hours,
        "EvaluationPeriods": 1,
        "Threshold": float(drift.alarm_drifted_features),
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }


def retrain_rule(config: ProjectConfig, account: str) -> RuleSpec:
    """The rule on the alarm going into ALARM; its target starts the pipeline with
    `retrain_parameters` (constants: an EventBridge SageMaker target takes no transformer)."""
    return RuleSpec(
        purpose="drift-retrain",
        description=f"{config.pipeline.name}: the data drift alarm starts a retraining run",
        pattern={
            "source": [CLOUDWATCH_SOURCE],
            "detail-type": [ALARM_STATE_CHANGE],
            "resources": [alarm_arn(config, account)],
            "detail": {"state": {"value": ["ALARM"]}},
        },
        input_transformer={},
    )


def retrain_parameters(config: ProjectConfig, target: Target) -> dict[str, str]:
    """What the retraining run gets: the captured windows' newest retrain_days days, or the
    triggers' input location ([drift].retrain_input)."""
    drift = load_drift(config)
    if drift.retrain_input == "capture":
        return {
            "InputDataUrl": monitoring_uri(config, target, endpoint_name(config), "windows"),
            "InputPartitionWindow": str(drift.retrain_days),
        }
    triggers = load_settings(config).triggers
    location = (
        inputs.local_input_location(config, triggers)
        if target.name == "local"
        else inputs.input_location(target.bucket, triggers)
    )
    # What the nightly run gets: the same input, the same partition window.
    return {
        "InputDataUrl": location,
        "InputPartitionWindow": str(triggers.input_partition_window),
    }


def retrain_rules(config: ProjectConfig, account: str) -> list[PipelineRule]:
    """The local twins of the stack's rules that start the pipeline on a drift alarm: the
    retraining rule when monitoring and retraining on an alarm are both on."""
    drift = load_drift(config)
    if not (drift.monitoring_enabled and drift.retrain_on_alarm):
        return []
    rule = retrain_rule(config, account)
    return [PipelineRule(rule, retrain_parameters(config, config.target("local")))]

"""The stack's drift monitoring (pipelines/stack/monitoring.py), built offline: the schedule's
CreateProcessingJob is the request `monitor` runs locally and passes botocore's shape, every
role may do its one job, the alarm's rule matches CloudWatch's documented event and starts
the pipeline on the captured windows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stack_config import ACCOUNT, BUCKET, NAME, ROLE_ARN, make_config, statements
from test_template import resolved

from pipelines.conformance import shapes
from pipelines.drift import monitoring
from pipelines.eventbridge.matcher import matches
from pipelines.stack.monitoring import schedule_request

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "triggers"))
from trigger_samples import load_sample

ENDPOINT = f"{NAME}-endpoint"
EXECUTION_ID = "d32c5kddcf5bb8c3"  # the Scheduler guide's example values
SCHEDULED_TIME = "2022-03-22T18:59:43Z"


def scheduled(request_text: str) -> dict:
    """The schedule's Input as Scheduler sends it: its context attributes filled in."""
    text = request_text.replace(monitoring.EXECUTION_ID, EXECUTION_ID)
    return json.loads(text.replace(monitoring.SCHEDULED_TIME, SCHEDULED_TIME))


def test_the_schedule_creates_the_monitoring_job_monitor_runs_locally(template, context):
    ctx = context()
    body = template()
    schedule = body["Resources"]["DriftMonitoringSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    target = schedule["Target"]
    assert target["Arn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:scheduler:::aws-sdk:sagemaker:createProcessingJob"
    }
    request = scheduled(target["Input"])
    assert request["ProcessingJobName"] == f"{NAME}-drift-{EXECUTION_ID}"
    assert shapes.check("sagemaker", "CreateProcessingJob", request) == []
    # The very request the local `monitor` runs, but for publishing its metrics itself.
    local = monitoring.job_request(
        ctx.config,
        ctx.target,
        code=ctx.job_code.data_quality,
        image_uri=request["AppSpecification"]["ImageUri"],
        role_arn=ROLE_ARN,
        job_name=request["ProcessingJobName"],
        end_time=SCHEDULED_TIME,
        publish_metrics=False,
    )
    arguments = request["AppSpecification"]["ContainerArguments"]
    assert arguments[-1] == "--publish-metrics"
    without = {**request["AppSpecification"], "ContainerArguments": arguments[:-1]}
    assert {**request, "AppSpecification": without} == local
    pairs = dict(zip(arguments[1::2], arguments[2::2], strict=False))
    assert (pairs["--end-time"], pairs["--window-hours"]) == (SCHEDULED_TIME, "1")
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]}
    assert inputs["capture"] == f"s3://{BUCKET}/{NAME}/capture/{ENDPOINT}/"
    assert inputs["baseline"] == f"s3://{BUCKET}/{NAME}/monitoring/{ENDPOINT}/baseline/"
    # The script the stack uploads with the job code (content-addressed).
    assert inputs["code"].endswith(f"/{ctx.job_code.data_quality.digest}/data_quality.py")
    assert request["RoleArn"] == ROLE_ARN
    assert request["AppSpecification"]["ImageUri"].endswith(
        "sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
    )


def test_the_roles_may_do_their_one_job(template):
    body = resolved(template())
    scheduler = body["DriftMonitoringSchedulerRole"]["Properties"]
    trust = scheduler["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceArn"] == (
        f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/{NAME}-monitoring"
    )
    allowed = statements(body["DriftMonitoringSchedulerRole"])
    assert set(allowed) == {"CreateMonitoringJobs", "PassExecutionRole", "WriteDeadLetters"}
    assert allowed["CreateMonitoringJobs"]["Action"] == "sagemaker:CreateProcessingJob"
    assert allowed["CreateMonitoringJobs"]["Resource"] == [
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:processing-job/{NAME}-drift-*"
    ]
    assert allowed["PassExecutionRole"]["Resource"] == ROLE_ARN
    # The job publishes with the execution role, in its namespace only.
    metrics = body["DriftMetricsPolicy"]["Properties"]
    assert metrics["Roles"] == ["SageMakerExecutionRole"]
    [statement] = metrics["PolicyDocument"]["Statement"]
    assert statement["Action"] == "cloudwatch:PutMetricData"
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": f"{NAME}/DataDrift"}}
    retrain = body["DriftRetrainRole"]["Properties"]
    assert retrain["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"] == {
        "aws:SourceArn": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{NAME}-drift-retrain"]
    }
    [start] = retrain["Policies"][0]["PolicyDocument"]["Statement"]
    assert start["Action"] == "sagemaker:StartPipelineExecution"
    # The deploy function publishes the deployed version's baseline, and reads registered ones.
    deployer = body["DeployModelBaselinesPolicy"]["Properties"]
    assert deployer["Roles"] == [f"{NAME}-deploy-model"]
    grants = {s["Sid"]: s for s in deployer["PolicyDocument"]["Statement"]}
    assert grants["ReadRegisteredBaselines"]["Resource"] == (
        f"arn:aws:s3:::{BUCKET}/{NAME}/executions/*/Baseline/*"
    )
    assert grants["PublishDeployedBaseline"]["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/{NAME}/monitoring/{ENDPOINT}/baseline/*",
        f"arn:aws:s3:::{BUCKET}/{NAME}/capture/{ENDPOINT}/README.txt",
    ]


def test_the_alarm_and_its_rule_start_the_pipeline_on_the_captured_windows(template):
    body = template()
    alarm = body["Resources"]["DataDriftAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "DriftedFeatures",
        1.0,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["Dimensions"] == [{"Name": "Endpoint", "Value": ENDPOINT}]
    assert alarm["TreatMissingData"] == "notBreaching"
    rule = body["Resources"]["DriftRetrainRule"]["Properties"]
    # CloudWatch's documented state-change event (the sample) matches; OK does not.
    event = load_sample("alarm_state_change")
    assert matches(rule["EventPattern"], event)
    calm = json.loads(json.dumps(event))
    calm["detail"]["state"]["value"] = "OK"
    assert not matches(rule["EventPattern"], calm)
    [target] = rule["Targets"]
    assert target["Arn"]["Fn::Sub"].endswith(
        f":sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:pipeline/{NAME}"
    )
    assert target["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {
            "Name": "InputDataUrl",
            "Value": f"s3://{BUCKET}/{NAME}/monitoring/{ENDPOINT}/windows/",
        },
        {"Name": "InputPartitionWindow", "Value": "1"},
    ]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["TriggersDeadLetterQueue", "Arn"]}}
    # The DLQ accepts the rule's dead letters.
    policy = body["Resources"]["TriggersDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    senders = policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert {"Fn::GetAtt": ["DriftRetrainRule", "Arn"]} in senders


def test_the_configuration_shapes_the_monitoring(template):
    body = template(
        make_config(
            drift={
                "monitoring_interval_hours": 6,
                "alarm_drifted_features": 3,
                "retrain_input": "input",
                "metric_namespace": "Fraud/Drift",
            },
            triggers={"input_prefix": "landing/fraud/", "input_partition_window": 30},
        )
    )
    resources = body["Resources"]
    assert resources["DriftMonitoringSchedule"]["Properties"]["ScheduleExpression"] == (
        "rate(6 hours)"
    )
    request = scheduled(resources["DriftMonitoringSchedule"]["Properties"]["Target"]["Input"])
    arguments = request["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--window-hours") + 1] == "6"
    assert arguments[arguments.index("--metrics-namespace") + 1] == "Fraud/Drift"
    alarm = resources["DataDriftAlarm"]["Properties"]
    assert (alarm["Period"], alarm["Threshold"], alarm["Namespace"]) == (21600, 3.0, "Fraud/Drift")
    [target] = resources["DriftRetrainRule"]["Properties"]["Targets"]
    assert target["SageMakerPipelineParameters"]["PipelineParameterList"] == [
        {"Name": "InputDataUrl", "Value": f"s3://{BUCKET}/landing/fraud/"},
        {"Name": "InputPartitionWindow", "Value": "30"},
    ]
    quiet = template(make_config(drift={"retrain_on_alarm": False}))["Resources"]
    assert "DataDriftAlarm" in quiet and "DriftRetrainRule" not in quiet


def test_monitoring_off_leaves_it_out(template):
    resources = template(make_config(drift={"monitoring_enabled": False}))["Resources"]
    for name in (
        "DriftMonitoringSchedule",
        "DriftMonitoringSchedulerRole",
        "DriftMetricsPolicy",
        "DataDriftAlarm",
        "DriftRetrainRule",
        "DeployModelBaselinesPolicy",
    ):
        assert name not in resources


def test_the_schedule_request_is_built_from_the_context(context):
    request = schedule_request(context())
    assert request["ProcessingJobName"] == f"{NAME}-drift-{monitoring.EXECUTION_ID}"

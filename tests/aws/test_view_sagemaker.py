"""`view --target sagemaker EXECUTION_ARN` against moto's server, and recorded responses
where moto falls short.

moto answers DescribePipelineExecution, DescribePipelineDefinitionForExecution,
ListPipelineParametersForExecution, DescribeTrainingJob, ListTrainingJobs,
DescribeModelPackage and S3. It has no ListPipelineExecutionSteps, and its
DescribeProcessingJob leaves out ProcessingResources, which botocore's shape requires: those
two come from botocore's Stubber, whose responses must pass the operation's output shape.
moto cannot fail a job either; the first attempt of the retried Train step is marked failed
in moto's backend, as SageMaker reports a job that could not get capacity.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.config import load_config
from pipelines.definition_cache import load_definition
from pipelines.view.render import render_page
from pipelines.view.sagemaker import collect_sagemaker_execution, console_links

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "retraining-test-bucket"  # the `aws` fixture's PIPELINE_BUCKET
T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
CAPACITY = "CapacityError: Unable to provision requested ML compute capacity."


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Clients:
    """A boto3 client that sends the operations moto lacks to a stubbed twin."""

    def __init__(self, moto: Any, stubbed: Any, operations: set[str]) -> None:
        self._moto, self._stubbed, self._operations = moto, stubbed, operations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stubbed if name in self._operations else self._moto, name)


def evaluation_report() -> dict:
    curve = {
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": [0.0, 0.1, 1.0],
            "true_positive_rates": [0.0, 0.6, 1.0],
        },
        "precision_recall_curve": {"precisions": [1.0, 0.8, 0.1], "recalls": [0.0, 0.5, 1.0]},
        "confusion_matrix": {"0": {"0": 86, "1": 4}, "1": {"0": 4, "1": 6}},
    }
    return {
        "binary_classification_metrics": {
            "average_precision": {"value": 0.41234567},
            "auc": {"value": 0.9220183486238532},
            **curve,
        },
        "evaluation": {"positive_class": 1},
        "champion": None,
        "decision": {
            "metric": "average_precision",
            "higher_is_better": True,
            "challenger": 0.41234567,
            "threshold": 0.2,
            "passes_threshold": True,
            "baseline": 0.0434,
            "beats_baseline": True,
            "baseline_p_value": 0.000999,
            "baseline_advantage_interval": {"lower": 0.17, "upper": 0.59},
            "confidence_level": 0.95,
            "champion": None,
            "champion_version": None,
            "beats_champion": True,
            "register": True,
            "reason": "clears the threshold; no approved champion yet",
        },
    }


@pytest.fixture
def execution(aws) -> dict[str, Any]:
    """A finished SageMaker execution of the project's real definition: Train retried once
    after a capacity error, the model registered."""
    config = load_config()
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    definition, _ = load_definition(config, "sagemaker")
    sagemaker.create_pipeline(
        PipelineName=config.pipeline.name,
        PipelineDefinition=definition,
        RoleArn=aws["PIPELINE_ROLE_ARN"],
    )
    arn = sagemaker.start_pipeline_execution(
        PipelineName=config.pipeline.name,
        PipelineParameters=[{"Name": "MetricThreshold", "Value": "0.2"}],
    )["PipelineExecutionArn"]
    execution_id = arn.rsplit("/", 1)[-1]
    prefix = f"s3://{BUCKET}/{config.pipeline.s3_prefix}/executions/{execution_id}"

    train = {
        "HyperParameters": {"max_iter": "200"},
        "AlgorithmSpecification": {"TrainingImage": "image", "TrainingInputMode": "File"},
        "RoleArn": aws["PIPELINE_ROLE_ARN"],
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{prefix}/train"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"{prefix}/Train"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    failed_job = f"pipelines-{execution_id}-Train-aaaaaaaaaa"
    final_job = f"pipelines-{execution_id}-Train-bbbbbbbbbb"
    for name in (failed_job, final_job):
        sagemaker.create_training_job(TrainingJobName=name, **train)
    from moto.backends import get_backend

    failed = get_backend("sagemaker")[ACCOUNT][REGION].training_jobs[failed_job]
    failed.training_job_status, failed.failure_reason = "Failed", CAPACITY

    group = config.pipeline.model_package_group
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    model_url = sagemaker.describe_training_job(TrainingJobName=final_job)["ModelArtifacts"][
        "S3ModelArtifacts"
    ]
    package = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "image", "ModelDataUrl": model_url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]

    s3.put_object(
        Bucket=BUCKET,
        Key=f"{config.pipeline.s3_prefix}/executions/{execution_id}/Evaluate/evaluation.json",
        Body=json.dumps(evaluation_report()).encode(),
    )
    snapshot_uri = f"s3://{BUCKET}/snapshots/abc123/snapshot.json"
    s3.put_object(
        Bucket=BUCKET,
        Key="snapshots/abc123/snapshot.json",
        Body=json.dumps(
            {
                "source": f"s3://{BUCKET}/data/",
                "objects": [{"key": "data/day1.csv", "size": 2048, "etag": '"e1"'}],
                "ignored": {"count": 0, "examples": []},
            }
        ).encode(),
    )

    def processing(step: str, seconds: float, outputs: list[str]) -> dict[str, Any]:
        name = f"pipelines-{execution_id}-{step}-cccccccccc"
        return {
            "ProcessingJobName": name,
            "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/{name}",
            "ProcessingJobStatus": "Completed",
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                    "VolumeSizeInGB": 30,
                }
            },
            "AppSpecification": {"ImageUri": "image"},
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": output,
                        "S3Output": {
                            "S3Uri": f"{prefix}/{step}"
                            if output == "evaluation"
                            else f"{prefix}/{step}/{output}",
                            "LocalPath": f"/opt/ml/processing/{output}",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                    for output in outputs
                ]
            },
            "CreationTime": at(0),
            "ProcessingStartTime": at(1),
            "ProcessingEndTime": at(seconds),
        }

    def step(name: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
        return {
            "StepName": name,
            "StartTime": at(start),
            "EndTime": at(end),
            "StepStatus": "Succeeded",
            "AttemptCount": 1,
            **extra,
        }

    preprocess = processing("Preprocess", 60, ["train", "validation", "test"])
    evaluate = processing("Evaluate", 90, ["evaluation"])
    lambda_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    steps = [
        step(
            "ResolveChampion",
            0,
            2,
            Metadata={
                "Lambda": {
                    "Arn": lambda_arn + "fraud-detection-retraining-resolve-champion",
                    "OutputParameters": [{"Name": "ChampionVersion", "Value": "0"}],
                }
            },
        ),
        step(
            "SnapshotInput",
            0,
            3,
            Metadata={
                "Lambda": {
                    "Arn": lambda_arn + "fraud-detection-retraining-snapshot-input",
                    "OutputParameters": [
                        {"Name": "ManifestUri", "Value": f"s3://{BUCKET}/snapshots/abc123/m"},
                        {"Name": "SnapshotUri", "Value": snapshot_uri},
                        {"Name": "Fingerprint", "Value": "abc123"},
                        {"Name": "ObjectCount", "Value": "1"},
                        {"Name": "TotalBytes", "Value": "2048"},
                    ],
                }
            },
        ),
        step(
            "Preprocess",
            3,
            63,
            Metadata={"ProcessingJob": {"Arn": preprocess["ProcessingJobArn"]}},
        ),
        step(
            "Train",
            63,
            363,
            AttemptCount=2,
            Metadata={
                "TrainingJob": {
                    "Arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{final_job}"
                }
            },
        ),
        step(
            "Evaluate", 363, 453, Metadata={"ProcessingJob": {"Arn": evaluate["ProcessingJobArn"]}}
        ),
        step("CheckMetric", 453, 454, Metadata={"Condition": {"Outcome": "True"}}),
        step("CheckChampion", 454, 455, Metadata={"Condition": {"Outcome": "True"}}),
        step("RegisterModel", 455, 457, Metadata={"RegisterModel": {"Arn": package}}),
    ]
    stubbed = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(stubbed)
    stubber.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": steps},
        {"PipelineExecutionArn": arn, "SortOrder": "Ascending"},
    )
    for described in (preprocess, evaluate):
        stubber.add_response(
            "describe_processing_job",
            described,
            {"ProcessingJobName": described["ProcessingJobName"]},
        )
    stubber.activate()
    clients = Clients(
        sagemaker, stubbed, {"list_pipeline_execution_steps", "describe_processing_job"}
    )
    yield {
        "config": config,
        "arn": arn,
        "id": execution_id,
        "sagemaker": clients,
        "s3": s3,
        "failed_job": failed_job,
        "final_job": final_job,
        "package": package,
    }
    stubber.assert_no_pending_responses()


def test_the_page_of_a_sagemaker_execution(execution) -> None:
    document = collect_sagemaker_execution(
        execution["config"], execution["arn"], execution["sagemaker"], execution["s3"]
    )
    steps = {s["name"]: s for s in document["steps"]}
    assert document["target"] == "sagemaker" and document["region"] == REGION
    assert document["execution"]["id"] == execution["id"]
    assert document["execution"]["status"] == "Succeeded"
    # Parameters typed as the definition declares them, defaults filled in.
    assert document["execution"]["parameters"]["MetricThreshold"] == 0.2
    assert document["execution"]["parameters"]["MaxIter"] == 200
    # Every step of the definition; the one the run never reached is NotExecuted.
    assert steps["Train"]["status"] == "Succeeded" and steps["Train"]["duration"] == 300
    assert steps["MetricBelowThreshold"]["status"] == "NotExecuted"
    # The retried Train: both attempts, the first job's reason from its description.
    history = steps["Train"]["attempt_history"]
    assert [a["job_name"] for a in history] == [execution["failed_job"], execution["final_job"]]
    assert history[0]["failure_reason"] == CAPACITY and history[1]["status"] == "Succeeded"
    # Console and CloudWatch links for each job.
    assert steps["Train"]["links"] == console_links(REGION, "training", execution["final_job"])
    assert (
        "logStream:group=/aws/sagemaker/ProcessingJobs;prefix=pipelines-"
        in (steps["Preprocess"]["links"]["CloudWatch logs"])
    )
    assert steps["SnapshotInput"]["links"]["CloudWatch logs"].endswith(
        "group=/aws/lambda/fraud-detection-retraining-snapshot-input"
    )
    # The evaluation report and the data snapshot, read from S3.
    assert document["evaluation"]["metrics"]["average_precision"] == 0.41234567
    assert document["evaluation"]["evidence"]["challenger"]["confusion_matrix"]["1"]["1"] == 6
    assert document["snapshot"]["objects"][0]["key"] == "data/day1.csv"
    # The registered version, from DescribeModelPackage.
    assert document["registered_model"]["arn"] == execution["package"]
    assert document["outcome"]["state"] == "registered"
    # Cost from the jobs' instances and the steps' durations.
    lines = {line["step"]: line for line in document["cost"]["steps"]}
    assert lines["Preprocess"]["billed_seconds"] == 60 and lines["Train"]["billed_seconds"] == 300
    assert document["cost"]["complete"]

    page = render_page(document)
    assert "on SageMaker (us-east-1)" in page
    assert 'id="chart-roc"' in page and 'id="confusion-challenger"' in page
    assert "0.412</td>" in page  # rounded for reading
    assert CAPACITY in page and f"#/jobs/{execution['final_job']}" in page


def test_view_target_sagemaker_writes_the_page(execution, tmp_path, capsys, monkeypatch) -> None:
    import pipelines.aws.pipeline_ops as pipeline_ops
    from pipelines.cli import main

    class Session:
        def client(self, name: str) -> Any:
            return execution["sagemaker"] if name == "sagemaker" else execution["s3"]

    monkeypatch.setattr(pipeline_ops, "aws_session", lambda config: Session())
    out = tmp_path / "page.html"
    assert main(["--target", "sagemaker", "view", execution["arn"], "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    page = out.read_text()
    assert execution["id"] in page and 'data-step="RegisterModel"' in page


def test_view_target_sagemaker_needs_an_execution_arn_of_its_region(aws, capsys) -> None:
    from pipelines.cli import main

    assert main(["--target", "sagemaker", "view", "abc123"]) == 2
    assert "needs the execution's ARN" in capsys.readouterr().err
    elsewhere = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:pipeline/p/execution/abc123"
    assert main(["--target", "sagemaker", "view", elsewhere]) == 2
    assert "the execution is in eu-west-1" in capsys.readouterr().err


def test_a_failed_sagemaker_execution_says_which_step_failed_and_why(aws) -> None:
    """Every call from recorded responses that pass botocore's shapes: a Train job that
    failed on its own code, so nothing after it ran."""
    config = load_config()
    definition, _ = load_definition(config, "sagemaker")
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{config.pipeline.name}/execution/f41l"
    job = "pipelines-f41l-Train-dddddddddd"
    reason = "AlgorithmError: ValueError: Input contains NaN (exit code 1)"
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    stubber = Stubber(sagemaker)
    described = {
        "PipelineExecutionArn": arn,
        "PipelineExecutionStatus": "Failed",
        "FailureReason": "Step failure: One or multiple steps failed.",
        "CreationTime": at(0),
        "LastModifiedTime": at(400),
    }
    stubber.add_response("describe_pipeline_execution", described)
    stubber.add_response(
        "describe_pipeline_definition_for_execution", {"PipelineDefinition": definition}
    )
    stubber.add_response("list_pipeline_parameters_for_execution", {"PipelineParameters": []})
    train_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{job}"
    stubber.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [
                {
                    "StepName": "Train",
                    "StartTime": at(60),
                    "EndTime": at(400),
                    "StepStatus": "Failed",
                    "AttemptCount": 1,
                    "FailureReason": reason,
                    "Metadata": {"TrainingJob": {"Arn": train_arn}},
                }
            ]
        },
    )
    stubber.add_response(
        "describe_training_job",
        {
            "TrainingJobName": job,
            "TrainingJobArn": train_arn,
            "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/none"},
            "TrainingJobStatus": "Failed",
            "SecondaryStatus": "Failed",
            "FailureReason": reason,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "CreationTime": at(60),
            "ResourceConfig": {
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 30,
            },
        },
        {"TrainingJobName": job},
    )
    with stubber:
        document = collect_sagemaker_execution(config, arn, sagemaker, s3)
    stubber.assert_no_pending_responses()
    steps = {s["name"]: s for s in document["steps"]}
    assert steps["Train"]["status"] == "Failed" and steps["Evaluate"]["status"] == "NotExecuted"
    assert document["execution"]["failure_detail"] == f"Step Train failed: {reason}"
    outcome = document["outcome"]
    assert outcome["title"] == "Failed: step Train (Train model) failed"
    assert outcome["details"] == [reason]
    assert document["evaluation"] is None  # Evaluate never ran: nothing read from S3
    page = render_page(document)
    assert reason in page and "SageMaker's failure reason: Step failure" in page

"""The pipeline definition translated into a state machine that runs the jobs itself, executed
by moto's ASL interpreter: the project's own Lambda handlers (ResolveChampion, SnapshotInput)
against moto's SageMaker and S3, jobs through the harness's `.sync` stand-in, the evaluation
report read back from S3 and decided on by Choice, the model registered with
CreateModelPackage, and the idempotency check that replaces step caching."""

from __future__ import annotations

import json

import boto3
import pytest
from sfn_harness import (  # noqa: F401  (sfn and definition are fixtures)
    ACCOUNT_ID,
    REGION,
    definition,
    lambda_handler,
    sfn,
    sns_messages,
    subscribed_queue,
)

from pipelines.config import load_config
from pipelines.orchestrators import asl
from pipelines.orchestrators.translate import TranslationError, translate

ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecutionRole"
BUCKET = "retraining-test-bucket"
PIPELINE = "fraud-detection-retraining"
GROUP = "fraud-detection-models"
SAMPLE_KEY = f"{PIPELINE}/data/sample/transactions.csv"


def config_for(tmp_path):
    return load_config(
        environ={"PIPELINE_BUCKET": BUCKET, "PIPELINE_ROLE_ARN": ROLE_ARN},
        overrides={
            "retry": {"interval_seconds": 1, "job_interval_seconds": 1, "max_attempts": 2},
            "local": {"home": str(tmp_path)},
        },
    )


def report(metric: float, beats_baseline: bool = True, beats_champion: bool = True) -> bytes:
    return json.dumps(
        {
            "binary_classification_metrics": {"average_precision": {"value": metric}},
            # What FindRegisteredModel asks the registry for: the model files' digest.
            "evaluation": {"model": {"content_digest": "sha256:" + "ab" * 32}},
            "decision": {
                "beats_baseline": beats_baseline,
                "beats_champion": beats_champion,
                "reason": f"average_precision {metric} is below MetricThreshold",
            },
        }
    ).encode()


def drift(verdict: str) -> bytes:
    """drift_report.json as DriftCheck writes it (processing/data_quality.py)."""
    return json.dumps(
        {"verdict": verdict, "drift_detected": verdict == "drift", "reasons": [verdict]}
    ).encode()


@pytest.fixture
def machine(aws, sfn, definition, tmp_path):  # noqa: F811
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=SAMPLE_KEY, Body=b"amount,is_fraud\n1.0,0\n2.0,1\n")
    boto3.client("sagemaker", region_name=REGION).create_model_package_group(
        ModelPackageGroupName=GROUP
    )
    _, queue = subscribed_queue(f"{PIPELINE}-notifications")
    sfn.lambda_handlers.update(
        {
            f"{PIPELINE}-resolve-champion": lambda_handler("resolve_champion.py"),
            f"{PIPELINE}-snapshot-input": lambda_handler("snapshot_input.py"),
        }
    )
    config = config_for(tmp_path)
    asl_document = translate(definition, config, config.target("sagemaker"))
    return {"arn": sfn.create("translated", asl_document), "queue": queue, "asl": asl_document}


def jobs() -> tuple[int, int]:
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    return (
        len(sagemaker.list_processing_jobs()["ProcessingJobSummaries"]),
        len(sagemaker.list_training_jobs()["TrainingJobSummaries"]),
    )


def outcome(queue: str) -> list[str]:
    return [m["MessageAttributes"]["outcome"]["Value"] for m in sns_messages(queue)]


def test_a_good_model_is_registered_and_an_identical_rerun_skips_every_job(sfn, machine):  # noqa: F811
    sfn.job_outputs["evaluation"] = {"evaluation.json": report(0.4)}
    # No approved champion: ResolveChampion's baseline is the NO_CHAMPION marker.
    sfn.job_outputs["drift"] = {"drift_report.json": drift("no_baseline")}
    run = sfn.run(machine["arn"], "first", {})
    assert run["status"] == "SUCCEEDED", run
    assert jobs() == (4, 1)  # Preprocess, DriftCheck, Evaluate and Baseline; Train
    packages = boto3.client("sagemaker", region_name=REGION).list_model_packages(
        ModelPackageGroupName=GROUP
    )["ModelPackageSummaryList"]
    assert len(packages) == 1
    output = json.loads(run["output"])
    package = boto3.client("sagemaker", region_name=REGION).describe_model_package(
        ModelPackageName=packages[0]["ModelPackageArn"]
    )
    container = package["InferenceSpecification"]["Containers"][0]
    # The model registered is the one the Train job produced, with the parameter's default.
    assert (
        container["ModelDataUrl"]
        == (output["steps"]["Train"]["result"]["ModelArtifacts"]["S3ModelArtifacts"])
    )
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert outcome(machine["queue"]) == ["registered"]
    # The Lambda steps ran the project's handlers: the snapshot froze the sample's one object.
    snapshot = output["levels"]["L0"]["SnapshotInput"]["OutputParameters"]
    assert snapshot["ObjectCount"] == 1 and snapshot["ManifestUri"].endswith("manifest.json")

    rerun = sfn.run(machine["arn"], "rerun", {})
    assert rerun["status"] == "SUCCEEDED", rerun
    path = sfn.entered(rerun["executionArn"])
    assert not [state for state in path if state.endswith(": run job")]
    assert jobs() == (4, 1)  # nothing ran again
    # The reused model is the newest registered version: CheckChampion holds it back, as a
    # cached Train step does on SageMaker.
    assert path[-2:] == ["CheckChampion false: done", "CheckChampion false: done (end)"]
    assert outcome(machine["queue"]) == ["held_back"]


def test_a_model_another_running_execution_claimed_is_held_back_until_it_ends(sfn, machine):  # noqa: F811
    """FindRegisteredModel's claim in the translated machine: the Lambda gets the state
    machine's execution ARN, and CheckChampion compares the claimant with it. The claim here
    is held by an execution of the pipeline on SageMaker (the same project's prefix)."""
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=ROLE_ARN,
    )
    sfn.runs.scenario(["Executing"], [])
    claimant = sagemaker.start_pipeline_execution(PipelineName=PIPELINE)["PipelineExecutionArn"]
    key = f"{PIPELINE}/registry-claims/{GROUP}/sha256:{'ab' * 32}.json"
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"ExecutionArn": claimant}).encode())
    sfn.job_outputs["evaluation"] = {"evaluation.json": report(0.4)}
    sfn.job_outputs["drift"] = {"drift_report.json": drift("no_baseline")}
    held = sfn.run(machine["arn"], "held", {})
    assert held["status"] == "SUCCEEDED", held
    found = json.loads(held["output"])["steps"]["FindRegisteredModel"]["OutputParameters"]
    assert found["ClaimedBy"] == claimant
    assert sfn.entered(held["executionArn"])[-1] == "CheckChampion false: done (end)"
    assert not sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]

    # The claimant failed without registering: the next execution takes the claim over.
    sfn.runs.set_status(claimant, "Failed")
    sfn.job_outputs["evaluation"] = {"evaluation.json": report(0.4)}
    sfn.job_outputs["drift"] = {"drift_report.json": drift("no_baseline")}
    run = sfn.run(machine["arn"], "after", {})
    assert run["status"] == "SUCCEEDED", run
    claim = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert claim["ExecutionArn"] == run["executionArn"]
    assert claim["TakenOverFrom"] == {"ExecutionArn": claimant, "Status": "Failed"}
    assert (
        len(sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"])
        == 1
    )
    assert outcome(machine["queue"]) == ["held_back", "registered"]


def test_the_quality_gate_fails_the_execution_with_the_reports_reason(sfn, machine):  # noqa: F811
    sfn.job_outputs["evaluation"] = {"evaluation.json": report(0.4)}
    sfn.job_outputs["drift"] = {"drift_report.json": drift("no_baseline")}
    assert sfn.run(machine["arn"], "baseline", {})["status"] == "SUCCEEDED"
    sfn.job_outputs["evaluation"] = {"evaluation.json": report(0.4)}

    # A higher threshold changes Evaluate's request only: Preprocess and Train are reused.
    run = sfn.run(machine["arn"], "strict", {"parameters": {"MetricThreshold": 0.9}})
    assert run["status"] == "FAILED"
    assert run["error"] == "MetricBelowThreshold"
    assert run["cause"] == "Model not registered: average_precision 0.4 is below MetricThreshold"
    assert jobs() == (5, 1)
    path = sfn.entered(run["executionArn"])
    assert "Evaluate: run job" in path and "Train: run job" not in path
    assert outcome(machine["queue"]) == ["registered", "failed"]


def test_no_drift_skips_training_unless_forced(sfn, machine):  # noqa: F811
    sfn.job_outputs["drift"] = {"drift_report.json": drift("no_drift")}
    run = sfn.run(machine["arn"], "steady", {})
    assert run["status"] == "SUCCEEDED", run
    path = sfn.entered(run["executionArn"])
    assert path[-2:] == ["CheckDrift false: done", "CheckDrift false: done (end)"]
    assert jobs() == (2, 0)  # Preprocess and DriftCheck: nothing trained
    assert outcome(machine["queue"]) == ["skipped"]

    sfn.job_outputs["evaluation"] = {"evaluation.json": report(0.4)}
    forced = sfn.run(machine["arn"], "forced", {"parameters": {"ForceRetrain": True}})
    assert forced["status"] == "SUCCEEDED", forced
    assert "Train: run job" in sfn.entered(forced["executionArn"])
    assert outcome(machine["queue"]) == ["registered"]


def test_the_translation_passes_cfn_lint_and_the_project_rules(machine, definition):  # noqa: F811
    document = machine["asl"]
    assert asl.cfn_lint_problems(document) == []
    assert asl.structure_problems(document) == []
    states = document["States"]
    # Every job is a .sync integration behind its idempotency check.
    assert states["Preprocess: run job"]["Resource"].endswith("createProcessingJob.sync")
    assert states["Train: run job"]["Resource"].endswith("createTrainingJob.sync")
    assert states["Preprocess: done before?"]["Catch"][0]["Next"] == "Preprocess: run job"
    # The job retry policies: throttling and service faults, and the resource limit.
    errors = {e for r in states["Train: run job"]["Retry"] for e in r["ErrorEquals"]}
    assert "SageMaker.ResourceLimitExceededException" in errors
    assert states["MetricBelowThreshold"]["Type"] == "Fail"


def test_shapes_the_translation_cannot_express_are_refused(definition, tmp_path):  # noqa: F811
    config = config_for(tmp_path)
    broken = json.loads(json.dumps(definition))
    broken["Steps"][2]["Arguments"]["AppSpecification"]["ContainerArguments"].append(
        {"Std:Join": {"On": "", "Values": ["{", {"Get": "Parameters.LabelColumn"}]}}
    )
    with pytest.raises(TranslationError, match="braces"):
        translate(broken, config, config.target("sagemaker"))
    unknown = json.loads(json.dumps(definition))
    unknown["Steps"].append({"Name": "Tune", "Type": "Tuning", "Arguments": {}})
    with pytest.raises(TranslationError, match="Tuning steps are not translated"):
        translate(unknown, config, config.target("sagemaker"))

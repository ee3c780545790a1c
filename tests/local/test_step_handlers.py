"""Each step handler alone: what it does with one attempt's resolved arguments."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from step_harness import EXECUTION_ARN, EXECUTION_ID, make_services, step_run

from pipelines.local import executor
from pipelines.local.handlers import SUPPORTED_TYPES, handler_for
from pipelines.local.handlers.control import ConditionHandler, FailHandler
from pipelines.local.handlers.jobs import JobHandler
from pipelines.local.handlers.lambda_function import LambdaHandler
from pipelines.local.handlers.register_model import RegisterModelHandler
from pipelines.local.retry import CAPACITY_ERROR
from pipelines.local.step import CLIENT_ERROR, FAIL_STEP, StepFailed

GROUP = "models"
MODEL = "s3://bucket/models/model.tar.gz"


def test_the_factory_picks_one_handler_per_step_type() -> None:
    assert SUPPORTED_TYPES == (
        "Condition",
        "Fail",
        "Lambda",
        "Processing",
        "RegisterModel",
        "Training",
    )
    assert handler_for("Processing").job_kind == "processing-job"
    assert handler_for("Training").job_kind == "training-job"
    assert isinstance(handler_for("Condition"), ConditionHandler)
    assert not handler_for("Condition").resolve_arguments
    assert isinstance(handler_for("Fail"), FailHandler)
    assert isinstance(handler_for("RegisterModel"), RegisterModelHandler)
    assert isinstance(handler_for("Lambda"), LambdaHandler)
    with pytest.raises(StepFailed, match=r"step type Transform is not supported .*Processing"):
        handler_for("Transform")


def test_a_job_handler_names_the_job_and_reports_its_description(tmp_path: Path) -> None:
    calls = []

    def runner(jobs, name, arguments, attempt):
        calls.append((name, arguments, attempt))
        return executor.JobResult(
            {"ProcessingJobName": name, "ProcessingJobArn": f"arn:job/{name}"},
            succeeded=True,
            job_dir=tmp_path / name,
            logs=["stdout.log"],
        )

    run = step_run(make_services(tmp_path), {"Name": "Prep", "Type": "Processing"}, {"A": 1})
    outcome = JobHandler("processing-job", runner).run(run)
    ((name, arguments, _),) = calls
    assert name.startswith(f"pipelines-{EXECUTION_ID}-Prep-") and run.record.job_name == name
    assert arguments == {"A": 1}
    assert outcome.properties["ProcessingJobName"] == name
    assert outcome.metadata == {"ProcessingJob": {"Arn": f"arn:job/{name}"}}
    assert outcome.job_dir == str(tmp_path / name) and outcome.logs == ["stdout.log"]


def test_a_failed_job_fails_the_attempt_with_its_kind_and_keeps_its_logs(tmp_path: Path) -> None:
    def runner(jobs, name, arguments, attempt):
        return executor.JobResult(
            {}, succeeded=False, failure_reason="out of capacity", kind=CAPACITY_ERROR,
            logs=["stderr.log"],
        )  # fmt: skip

    run = step_run(make_services(tmp_path), {"Name": "Train", "Type": "Training"}, {})
    with pytest.raises(StepFailed) as failed:
        JobHandler("training-job", runner).run(run)
    assert (failed.value.reason, failed.value.kind) == ("out of capacity", CAPACITY_ERROR)
    assert run.record.logs == ["stderr.log"]

    def refusing(jobs, name, arguments, attempt):
        raise executor.JobError("no such input s3://bucket/missing")

    with pytest.raises(StepFailed) as refused:
        JobHandler("training-job", refusing).run(run)
    assert refused.value.kind == CLIENT_ERROR and "s3://bucket/missing" in refused.value.reason


def test_a_condition_takes_the_branch_its_conditions_decide(tmp_path: Path) -> None:
    properties = {"Eval": {"Score": 5}}
    services = make_services(tmp_path, parameters={"Limit": 5}, steps=properties)
    spec = {
        "Name": "Check",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "LessThanOrEqualTo",
                    "LeftValue": {"Get": "Steps.Eval.Score"},
                    "RightValue": {"Get": "Parameters.Limit"},
                }
            ]
        },
    }
    outcome = ConditionHandler().run(step_run(services, spec))
    assert outcome.condition is True and outcome.properties["Outcome"] == "True"
    assert outcome.metadata == {"Condition": {"Outcome": "True"}}
    properties["Eval"]["Score"] = 5.01
    assert ConditionHandler().run(step_run(services, spec)).condition is False


def test_a_fail_step_fails_with_its_error_message(tmp_path: Path) -> None:
    spec = {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "metric too low"}}
    run = step_run(make_services(tmp_path), spec)
    with pytest.raises(StepFailed) as failed:
        FailHandler().run(run)
    assert (failed.value.reason, failed.value.kind) == ("metric too low", FAIL_STEP)
    assert run.record.metadata["Fail"] == {"ErrorMessage": "metric too low"}


def register_spec(model: str = MODEL) -> dict:
    return {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": GROUP,
            "InferenceSpecification": {"Containers": [{"Image": "img", "ModelDataUrl": model}]},
            "ModelApprovalStatus": "Approved",
        },
    }


def test_register_model_refuses_a_model_artifact_that_does_not_exist(tmp_path: Path) -> None:
    services = make_services(tmp_path)
    with pytest.raises(StepFailed, match=f"ValidationException: model data {MODEL} does not"):
        RegisterModelHandler().run(step_run(services, register_spec()))
    assert services.registry.list() == []


def test_register_model_registers_an_existing_artifact_once(tmp_path: Path) -> None:
    services = make_services(tmp_path)
    services.store.put_bytes(b"model", MODEL)
    outcome = RegisterModelHandler().run(step_run(services, register_spec()))
    (package,) = services.registry.list(GROUP)
    assert outcome.metadata["RegisterModel"]["Arn"] == package["ModelPackageArn"]
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["MetadataProperties"]["GeneratedBy"] == EXECUTION_ARN
    unnamed = register_spec()
    del unnamed["Arguments"]["ModelPackageGroupName"]
    with pytest.raises(StepFailed, match="needs ModelPackageGroupName"):
        RegisterModelHandler().run(step_run(services, unnamed))


def test_a_lambda_step_returns_the_functions_output_parameters(tmp_path: Path) -> None:
    code = tmp_path / "double.py"
    code.write_text(
        textwrap.dedent(
            """
            def handler(event, context):
                return {"Doubled": str(int(event["Value"]) * 2)}
            """
        )
    )
    services = make_services(tmp_path, lambda_functions={"double": code})
    spec = {
        "Name": "Double",
        "Type": "Lambda",
        "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:double",
        "OutputParameters": [{"OutputName": "Doubled", "OutputType": "String"}],
        "Arguments": {"Value": "21"},
    }
    outcome = LambdaHandler().run(step_run(services, spec))
    assert outcome.properties == {"OutputParameters": {"Doubled": "42"}}
    unknown = {**spec, "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:nope"}
    with pytest.raises(StepFailed, match="Function not found"):
        LambdaHandler().run(step_run(services, unknown))

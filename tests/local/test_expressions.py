"""Definition expressions: Get, Std:Join, Std:JsonGet and every condition type."""

from __future__ import annotations

import pytest

from pipelines.local.expressions import (
    Context,
    ExpressionError,
    evaluate_all,
    evaluate_condition,
    parse_path,
    resolve,
    step_references,
)

TRAIN = {
    "TrainingJobName": "pipelines-abc-Train-x",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/exec/Train/model.tar.gz"},
    "FinalMetricDataList": [{"MetricName": "loss", "Value": 0.1}],
}
PREPROCESS = {
    "ProcessingOutputConfig": {
        "Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/exec/Preprocess/train"}},
            {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/exec/Preprocess/test"}},
        ]
    }
}
REPORT = {"binary_classification_metrics": {"accuracy": {"value": 0.93}}, "list": [{"c": 5}]}


@pytest.fixture
def context() -> Context:
    return Context(
        parameters={"Threshold": 0.9, "Label": "is_fraud", "Count": 3, "Flag": True},
        execution={"PipelineExecutionId": "abc123", "PipelineName": "p"},
        steps={"Train": TRAIN, "Preprocess": PREPROCESS, "Evaluate": {}},
        property_file=lambda step, name: REPORT if (step, name) == ("Evaluate", "Report") else {},
    )


def jsonget(path: str) -> dict:
    return {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"},
            "Path": path,
        }
    }


def test_parameters_and_execution_variables(context: Context) -> None:
    assert resolve({"Get": "Parameters.Threshold"}, context) == 0.9
    assert resolve({"Get": "Execution.PipelineExecutionId"}, context) == "abc123"
    assert resolve({"Get": "Execution.CurrentDateTime"}, context).startswith("20")
    with pytest.raises(ExpressionError, match="no parameter 'Missing'"):
        resolve({"Get": "Parameters.Missing"}, context)
    with pytest.raises(ExpressionError, match="unknown execution variable"):
        resolve({"Get": "Execution.Nope"}, context)


def test_step_properties_with_named_and_numbered_indexes(context: Context) -> None:
    get = "Steps.Preprocess.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    assert resolve({"Get": get}, context) == "s3://b/exec/Preprocess/test"
    get = 'Steps.Preprocess.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri'
    assert resolve({"Get": get}, context) == "s3://b/exec/Preprocess/train"
    assert (
        resolve({"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs[1].OutputName"}, context)
        == "test"
    )
    assert resolve({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, context).endswith(
        ".tar.gz"
    )
    assert resolve({"Get": "Steps.Train.FinalMetricDataList['loss'].Value"}, context) == 0.1


def test_a_step_that_has_not_run_is_a_clear_error(context: Context) -> None:
    with pytest.raises(ExpressionError, match="step Register has not produced"):
        resolve({"Get": "Steps.Register.ModelPackageArn"}, context)
    with pytest.raises(ExpressionError, match="has no entry named 'validation'"):
        resolve(
            {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['validation'].S3Output"},
            context,
        )
    with pytest.raises(ExpressionError, match="no property 'Missing'"):
        resolve({"Get": "Steps.Train.Missing"}, context)


def test_join_converts_values_like_the_service(context: Context) -> None:
    value = {
        "Std:Join": {
            "On": "/",
            "Values": ["s3:/", "bucket", {"Get": "Execution.PipelineExecutionId"}, "x"],
        }
    }
    assert resolve(value, context) == "s3://bucket/abc123/x"
    mixed = {
        "Std:Join": {
            "On": "",
            "Values": [
                {"Get": "Parameters.Threshold"},
                "-",
                {"Get": "Parameters.Count"},
                "-",
                {"Get": "Parameters.Flag"},
            ],
        }
    }
    assert resolve(mixed, context) == "0.9-3-true"


def test_jsonget_reads_property_files_with_nested_paths(context: Context) -> None:
    assert resolve(jsonget("binary_classification_metrics.accuracy.value"), context) == 0.93
    assert resolve(jsonget("list[0].c"), context) == 5
    with pytest.raises(
        ExpressionError, match=r"no value at path 'binary_classification_metrics\.f1"
    ):
        resolve(jsonget("binary_classification_metrics.f1.value"), context)


def test_nested_structures_resolve_recursively(context: Context) -> None:
    arguments = {
        "Inputs": [{"S3Uri": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}],
        "Literal": {"A": 1, "B": [1, "x"]},
    }
    resolved = resolve(arguments, context)
    assert resolved["Inputs"][0]["S3Uri"] == "s3://b/exec/Train/model.tar.gz"
    assert resolved["Literal"] == {"A": 1, "B": [1, "x"]}


@pytest.mark.parametrize(
    ("kind", "left", "right", "expected"),
    [
        ("Equals", 1, 1, True),
        ("Equals", "a", "b", False),
        ("GreaterThan", 0.93, 0.9, True),
        ("GreaterThan", 0.9, 0.9, False),
        ("GreaterThanOrEqualTo", 0.9, 0.9, True),
        ("GreaterThanOrEqualTo", 0.89, 0.9, False),
        ("LessThan", 1, 2, True),
        ("LessThan", 2, 2, False),
        ("LessThanOrEqualTo", 2, 2, True),
        ("LessThanOrEqualTo", 3, 2, False),
        ("GreaterThanOrEqualTo", 1, 0.5, True),  # Integer and Float are both numbers
        ("LessThan", "apple", "banana", True),
        ("Equals", True, True, True),
    ],
)
def test_comparisons(context: Context, kind: str, left, right, expected: bool) -> None:
    condition = {"Type": kind, "LeftValue": left, "RightValue": right}
    assert evaluate_condition(condition, context).result is expected


def test_comparison_against_a_property_file_and_a_parameter(context: Context) -> None:
    condition = {
        "Type": "GreaterThanOrEqualTo",
        "LeftValue": jsonget("binary_classification_metrics.accuracy.value"),
        "RightValue": {"Get": "Parameters.Threshold"},
    }
    evaluation = evaluate_condition(condition, context)
    assert evaluation.result is True
    assert evaluation.describe() == (
        "binary_classification_metrics.accuracy.value 0.93 >= Threshold 0.9 -> True"
    )


def test_in_not_and_or_as_the_sdk_emits_them(context: Context) -> None:
    from sagemaker.core.workflow.conditions import (
        ConditionEquals,
        ConditionIn,
        ConditionLessThan,
        ConditionNot,
        ConditionOr,
    )

    # Literal operands: to_request() leaves pipeline variables to the definition's JSON
    # encoder (test_definition covers those); the shapes of In, Not and Or are the point.
    in_condition = ConditionIn(value="is_fraud", in_values=["label", "is_fraud"])
    assert evaluate_condition(in_condition.to_request(), context).result is True
    outside = ConditionIn(value="is_fraud", in_values=["x"])
    assert evaluate_condition(outside.to_request(), context).result is False
    negated = ConditionNot(expression=in_condition).to_request()
    evaluation = evaluate_condition(negated, context)
    assert evaluation.result is False
    assert evaluation.describe() == "not ('is_fraud' in ['label', 'is_fraud'] -> True) -> False"
    either = ConditionOr(
        conditions=[ConditionEquals(left=1, right=2), ConditionLessThan(left=3, right=4)]
    ).to_request()
    assert evaluate_condition(either, context).result is True
    neither = ConditionOr(conditions=[ConditionEquals(left=1, right=2)]).to_request()
    assert evaluate_condition(neither, context).result is False
    # The SDK v2 spelling, which SageMaker refuses ("unknown property 'Expression'").
    with pytest.raises(ExpressionError, match="under 'Condition'"):
        evaluate_condition({"Type": "Not", "Expression": in_condition.to_request()}, context)


def test_a_condition_step_ands_its_conditions(context: Context) -> None:
    results = evaluate_all(
        [
            {"Type": "Equals", "LeftValue": 1, "RightValue": 1},
            {"Type": "Equals", "LeftValue": 1, "RightValue": 2},
        ],
        context,
    )
    assert [r.result for r in results] == [True, False]


def test_bad_conditions_are_clear_errors(context: Context) -> None:
    with pytest.raises(ExpressionError, match="unknown condition type 'Between'"):
        evaluate_condition({"Type": "Between"}, context)


@pytest.mark.parametrize(
    ("kind", "left", "right", "message"),
    [
        # SageMaker compares without converting: a number that arrived as text is text. The
        # wording is the SDK's local mode's, which mirrors the service.
        (
            "GreaterThanOrEqualTo",
            "0.95",
            0.9,
            "Condition of type [GreaterThanOrEqualTo] not supported between [0.95] of type "
            "[String] and [0.9] of type [Float]",
        ),
        (
            "LessThan",
            True,
            1,
            "Condition of type [LessThan] not supported between [true] of type [Boolean] and "
            "[1] of type [Integer]",
        ),
        (
            "Equals",
            "1",
            1,
            "LeftValue [1] of type [String] and RightValue [1] of type [Integer] are not of the "
            "same type.",
        ),
        (
            "Equals",
            1,
            1.0,
            "LeftValue [1] of type [Integer] and RightValue [1.0] of type [Float] are not of "
            "the same type.",
        ),
    ],
)
def test_operands_of_different_types_are_an_error_not_a_coercion(
    context: Context, kind: str, left, right, message: str
) -> None:
    condition = {"Type": kind, "LeftValue": left, "RightValue": right}
    with pytest.raises(ExpressionError) as raised:
        evaluate_condition(condition, context)
    assert str(raised.value) == message


def test_in_matches_values_of_the_same_type_only(context: Context) -> None:
    condition = {"Type": "In", "QueryValue": {"Get": "Parameters.Count"}, "Values": ["3", 3]}
    assert evaluate_condition(condition, context).result is True
    condition["Values"] = ["3", 3.5]
    assert evaluate_condition(condition, context).result is False


def test_every_execution_variable_the_sdk_can_emit_resolves(context: Context) -> None:
    """The SDK's full list, walked: each resolves to a String of SageMaker's form."""
    import re

    from sagemaker.core.workflow.execution_variables import ExecutionVariable, ExecutionVariables

    from pipelines.execution_variables import execution_values, step_values

    variables = [v for v in vars(ExecutionVariables).values() if isinstance(v, ExecutionVariable)]
    assert len(variables) == 8  # the SDK's list, as its docstring names them
    arn = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p"
    execution = execution_values(
        execution_id="abc123def456",
        execution_arn=f"{arn}/execution/abc123def456",
        pipeline_name="p",
        pipeline_arn=arn,
        start=1_790_000_000.25,
    )
    timestamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    for variable in variables:
        step_type = {"TrainingJobName": "Training", "ProcessingJobName": "Processing"}.get(
            variable.name, "Processing"
        )
        scoped = Context(
            parameters={},
            execution=execution,
            step_variables=step_values(step_type, "pipelines-abc123def456-Step-x"),
        )
        value = resolve(variable.expr, scoped)
        assert isinstance(value, str) and value, variable.name
        if variable.name.endswith("DateTime"):
            assert timestamp.fullmatch(value), value
    assert execution["StartDateTime"] == "2026-09-21T14:13:20.250Z"


def test_parse_path() -> None:
    assert parse_path("A.B['x'].C[0]") == ["A", "B", "x", "C", 0]
    assert parse_path("metrics.accuracy.value") == ["metrics", "accuracy", "value"]
    with pytest.raises(ExpressionError):
        parse_path("A..B")


def test_step_references_find_gets_and_property_files() -> None:
    arguments = {
        "X": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
        "Y": [jsonget("a")],
        "Z": {"Get": "Parameters.Threshold"},
    }
    assert step_references(arguments) == {"Train", "Evaluate"}

"""The built definition against what SageMaker accepts: every step's request against
botocore's shapes, the definition rules, and proof that the walker catches what it should.

The definitions are the ones `get_pipeline()` builds for both targets (sagemaker with a test
bucket and role), with parameters at their defaults and at the values the other tests run
with. Each violation planted below must be reported in AWS's words. (During every local run
the engine also checks each step's real request, step properties included, before the job
starts: the end-to-end tests run that check on real values.)
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator

import pytest

from pipelines.config import load_config
from pipelines.conformance import definition_rules, requests, shapes
from pipelines.conformance.preflight import (
    SageMakerWouldRefuse,
    check_start,
    job_refusal,
    start_request_problems,
)
from pipelines.definition import definition_json
from pipelines.parameters import resolve_parameters

pytestmark = pytest.mark.conformance

BUCKET = "conformance-test-bucket"
ROLE = "arn:aws:iam::111122223333:role/ConformanceTest"
STAGED_INPUT = "s3://local-pipeline-bucket/fraud-detection-retraining/inputs/0123456789abcdef/x.csv"
# The parameter values the other tests start executions with.
TEST_VALUES = [
    {},
    {"MetricThreshold": "1.01"},
    {"MetricThreshold": "0.99", "ChampionMargin": "0.05"},
    {"MaxIter": "50", "LearningRate": "0.2", "MaxLeafNodes": "15", "L2Regularization": "0.1"},
    {"InputDataUrl": STAGED_INPUT, "LabelColumn": "is_fraud"},
    {"ModelApprovalStatus": "Approved"},
    {"InputPartitionWindow": "7"},
    {"ProcessingInstanceCount": "2"},
    {"ProcessingInstanceType": "ml.c5.xlarge", "TrainingInstanceType": "ml.m5.large"},
    {"ForceRetrain": "true"},
]


@pytest.fixture(scope="module")
def definitions() -> dict[str, dict]:
    config = load_config(environ={"PIPELINE_BUCKET": BUCKET, "PIPELINE_ROLE_ARN": ROLE})
    return {
        target: json.loads(definition_json(config, target)) for target in ("local", "sagemaker")
    }


@pytest.fixture(scope="module")
def local(definitions) -> dict:
    return definitions["local"]


def start(definition: dict, overrides: dict | None = None) -> None:
    overrides = overrides or {}
    parameters = resolve_parameters(definition["Parameters"], overrides)
    check_start(
        definition,
        parameters,
        pipeline_name="fraud-detection-retraining",
        region="us-east-1",
        overrides=overrides,
    )


def refusal(definition: dict, overrides: dict | None = None) -> str:
    with pytest.raises(SageMakerWouldRefuse) as raised:
        start(definition, overrides)
    return str(raised.value)


def step(definition: dict, name: str) -> dict:
    return next(s for s in requests.iter_steps(definition["Steps"]) if s["Name"] == name)


# -- the built definition conforms ------------------------------------------------------


@pytest.mark.parametrize("target", ["local", "sagemaker"])
@pytest.mark.parametrize("overrides", TEST_VALUES, ids=lambda o: ",".join(o) or "defaults")
def test_every_step_request_conforms(definitions, target: str, overrides: dict) -> None:
    start(definitions[target], overrides)  # raises, listing every violation, if any


def test_the_walk_covers_every_step_that_sends_a_request(local) -> None:
    sent = {
        s["Name"]: requests.STEP_OPERATIONS[s["Type"]].label
        for s in requests.iter_steps(local["Steps"])
        if s["Type"] in requests.STEP_OPERATIONS
    }
    assert sent == {
        "SnapshotInput": "lambda:Invoke",
        "ResolveChampion": "lambda:Invoke",
        "FindRegisteredModel": "lambda:Invoke",
        "Preprocess": "sagemaker:CreateProcessingJob",
        "DriftCheck": "sagemaker:CreateProcessingJob",
        "Train": "sagemaker:CreateTrainingJob",
        "Evaluate": "sagemaker:CreateProcessingJob",
        "Baseline": "sagemaker:CreateProcessingJob",
        "RegisterModel": "sagemaker:CreateModelPackage",
    }


def _patterns(shape, seen: set[str]) -> Iterator[str]:
    if shape.name in seen:
        return
    seen.add(shape.name)
    if "pattern" in shape.metadata:
        yield shape.metadata["pattern"]
    children = {
        "structure": lambda: shape.members.values(),
        "list": lambda: [shape.member],
        "map": lambda: [shape.key, shape.value],
    }.get(shape.type_name, list)()
    for child in children:
        yield from _patterns(child, seen)


def test_every_pattern_of_those_requests_reads_as_a_regular_expression() -> None:
    """The service's Java patterns (\\p{...} and all) compile as they are: none is skipped."""
    seen: set[str] = set()
    operations = [(o.service, o.operation) for o in requests.STEP_OPERATIONS.values()]
    operations += [("sagemaker", "CreatePipeline"), ("sagemaker", "StartPipelineExecution")]
    patterns = {p for s, o in operations for p in _patterns(shapes.operation_input(s, o), seen)}
    assert len(patterns) > 50
    for pattern in patterns:
        shapes.compiled_pattern(pattern)  # raises on a pattern `regex` cannot read
    assert shapes.pattern_matches(r"[\p{L}\p{N}]+", "Größe42")


# -- the walker catches planted violations, in AWS's words ------------------------------


def test_an_instance_type_outside_the_enum(local) -> None:
    text = refusal(local, {"TrainingInstanceType": "ml.foo.xlarge"})
    assert (
        "step Train (sagemaker:CreateTrainingJob): 1 validation error detected: Value "
        "'ml.foo.xlarge' at 'resourceConfig.instanceType' failed to satisfy constraint: Member "
        "must satisfy enum value set: [ml.m4.xlarge, "
    ) in text
    assert "the value comes from parameter TrainingInstanceType = 'ml.foo.xlarge'" in text


def test_a_negative_count_and_a_count_of_zero(local) -> None:
    planted = copy.deepcopy(local)
    cluster = step(planted, "Evaluate")["Arguments"]["ProcessingResources"]["ClusterConfig"]
    cluster["InstanceCount"] = -1
    text = refusal(planted, {"ProcessingInstanceCount": "0"})
    assert (
        "step Preprocess (sagemaker:CreateProcessingJob): 1 validation error detected: Value '0' "
        "at 'processingResources.clusterConfig.instanceCount' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    ) in text
    assert (
        "step Evaluate (sagemaker:CreateProcessingJob): 1 validation error detected: Value '-1' "
        "at 'processingResources.clusterConfig.instanceCount'"
    ) in text


def test_overlong_names(local) -> None:
    planted = copy.deepcopy(local)
    # CreateModelPackage takes a group name or ARN (170 characters), the name part 63 at most.
    step(planted, "RegisterModel")["Arguments"]["ModelPackageGroupName"] = "g" * 64
    step(planted, "Train")["Name"] = "T" * 65
    text = refusal(planted)
    assert (
        "step RegisterModel (sagemaker:CreateModelPackage): 1 validation error detected: Value '"
        + "g" * 64
        + "' at 'modelPackageGroupName' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: (arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:"
        "[a-z\\-]*\\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)"
    ) in text
    assert "definition: step " + "T" * 65 + ": the step name must be 1 to 64 characters" in text


def test_a_value_outside_its_pattern_and_a_missing_member(local) -> None:
    planted = copy.deepcopy(local)
    step(planted, "Train")["Arguments"]["OutputDataConfig"]["S3OutputPath"] = "ftp://b/out"
    del step(planted, "Train")["Arguments"]["RoleArn"]
    text = refusal(planted)
    assert "step Train (sagemaker:CreateTrainingJob): 2 validation errors detected: " in text
    assert (
        "Value 'ftp://b/out' at 'outputDataConfig.s3OutputPath' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)"
    ) in text
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in text


def test_list_items_and_map_values_are_reported_at_the_list_and_the_map(local) -> None:
    planted = copy.deepcopy(local)
    arguments = step(planted, "Preprocess")["Arguments"]
    arguments["Environment"] = {"MODE": "x" * 300}
    text = refusal(planted, {"LabelColumn": "c" * 300})
    assert (
        "at 'appSpecification.containerArguments' failed to satisfy constraint: Member must "
        "satisfy constraint: [Member must have length less than or equal to 256, Member must "
        "have length greater than or equal to 0, Member must satisfy regular expression "
        "pattern: .*, Member must not be null]"
    ) in text
    assert (
        "Value '{MODE=" in text
        and (
            "at 'environment' failed to satisfy constraint: Map value must satisfy constraint: "
            "[Member must have length less than or equal to 256"
        )
        in text
    )


def test_too_many_list_items(local) -> None:
    planted = copy.deepcopy(local)
    inputs = step(planted, "Evaluate")["Arguments"]["ProcessingInputs"]
    template = inputs[-1]
    for index in range(8):
        extra = copy.deepcopy(template)
        extra["InputName"] = f"extra{index}"
        inputs.append(extra)
    assert len(inputs) == 12
    text = refusal(planted)
    assert (
        "at 'processingInputs' failed to satisfy constraint: Member must have length less "
        "than or equal to 10"
    ) in text


def test_a_parameter_of_the_wrong_type_for_its_member(local) -> None:
    """CreatePipeline's own words for an Integer parameter in a String member."""
    planted = copy.deepcopy(local)
    arguments = step(planted, "Preprocess")["Arguments"]["AppSpecification"]["ContainerArguments"]
    arguments.append({"Get": "Parameters.MaxIter"})
    text = refusal(planted)
    assert (
        "Cannot assign property reference [Parameters.MaxIter] to argument of type [String]."
    ) in text


def test_a_member_the_operation_does_not_have(local) -> None:
    planted = copy.deepcopy(local)
    step(planted, "Train")["Arguments"]["ResourceConfig"]["InstanceKind"] = "big"
    text = refusal(planted)
    assert 'Unknown parameter in ResourceConfig: "InstanceKind", must be one of:' in text


def test_a_lambda_step_invokes_a_well_formed_function(local) -> None:
    planted = copy.deepcopy(local)
    step(planted, "ResolveChampion")["FunctionArn"] = "arn:aws:lambda:us-east-1:1:function:bad name"
    text = refusal(planted)
    assert "step ResolveChampion (lambda:Invoke): 1 validation error detected: Value" in text
    assert "at 'functionName' failed to satisfy constraint: Member must satisfy regular" in text


def test_a_property_reference_is_typed_from_the_describe_response(local) -> None:
    scope = requests.scope_for(local, {}, {})
    assert (
        requests.property_type(
            "Preprocess", "ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri", scope
        )
        == "string"
    )
    assert requests.property_type("Train", "ModelArtifacts.S3ModelArtifacts", scope) == "string"
    assert (
        requests.property_type("ResolveChampion", "OutputParameters['ChampionVersion']", scope)
        == "string"
    )
    assert requests.property_type("CheckMetric", "Outcome", scope) == "boolean"
    assert scope.problems == []
    assert requests.property_type("Train", "ModelArtifacts.Nope", scope) == "any"
    assert scope.problems == [
        "Steps.Train.ModelArtifacts.Nope: DescribeTrainingJob has no property 'Nope' there"
    ]


# -- definition rules -------------------------------------------------------------------


def test_retry_policies_sagemaker_refuses(local) -> None:
    planted = copy.deepcopy(local)
    policies = step(planted, "Train")["RetryPolicies"]
    policies[0]["ExpireAfterMin"] = 30  # beside MaxAttempts
    policies[1].update(MaxAttempts=21, IntervalSeconds=50000, BackoffRate=-1)
    policies.append({"ExceptionType": ["Step.TIMEOUT"], "MaxAttempts": 1})
    step(planted, "RegisterModel")["RetryPolicies"][0]["ExceptionType"].append(
        "SageMaker.CAPACITY_ERROR"
    )
    step(planted, "ResolveChampion")["RetryPolicies"] = [
        {"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 1}
    ]
    problems = definition_rules.problems(planted)
    doc = "('Retry Policy for Pipeline Steps')"
    assert problems == [
        "step ResolveChampion: a Lambda step cannot have RetryPolicies; SageMaker supports them "
        "on Processing, Training, Tuning, AutoML, Model, RegisterModel, Transform steps only "
        f"{doc}",
        "step Train: RetryPolicies[0]: sets both MaxAttempts and ExpireAfterMin; SageMaker "
        f"accepts only one of them in a policy and refuses the definition otherwise {doc}",
        "step Train: RetryPolicies[1]: IntervalSeconds is 50000; SageMaker allows 0 to 43200 "
        f"{doc}",
        f"step Train: RetryPolicies[1]: MaxAttempts is 21; SageMaker allows 0 to 20 {doc}",
        f"step Train: RetryPolicies[1]: BackoffRate is -1; SageMaker allows 0 or more {doc}",
        "step Train: RetryPolicies[2]: unknown ExceptionType 'Step.TIMEOUT'; SageMaker knows "
        "Step.SERVICE_FAULT, Step.THROTTLING, SageMaker.JOB_INTERNAL_ERROR, "
        "SageMaker.CAPACITY_ERROR, SageMaker.RESOURCE_LIMIT",
        "step RegisterModel: RetryPolicies[0]: ExceptionType SageMaker.CAPACITY_ERROR applies to "
        "steps that run SageMaker jobs, not to a RegisterModel step",
    ]
    # ...and a start refuses them before anything runs.
    assert "sets both MaxAttempts and ExpireAfterMin" in refusal(planted)


def test_names_lengths_dependencies_and_parameters(local) -> None:
    planted = copy.deepcopy(local)
    step(planted, "Train")["DisplayName"] = "d" * 257
    step(planted, "Evaluate")["Description"] = "e" * 3073
    step(planted, "Evaluate")["DependsOn"] = ["MetricBelowThreshold"]
    planted["Parameters"].append({"Name": "Bad Name", "Type": "String", "DefaultValue": "x"})
    planted["Parameters"].append({"Name": "Count", "Type": "Integer", "DefaultValue": "3"})
    problems = definition_rules.problems(planted)
    assert problems == [
        "parameter name 'Bad Name' must be 1 to 256 characters of letters, digits, '-' and '_'",
        "parameter Count is Integer but its DefaultValue '3' is not",
        "step Train: DisplayName is 257 characters; SageMaker allows 256",
        "step Evaluate: Description is 3073 characters; SageMaker allows 3072",
        # CreatePipeline's own wording (the SDK's integration test of this rule).
        "step Evaluate: Evaluate can not depends on MetricBelowThreshold (a Fail step ends the "
        "execution)",
    ]


def test_display_names_with_spaces_are_accepted(local) -> None:
    """SageMaker accepts them (the SDK emits them); AWS's JSON schema's pattern would not."""
    assert step(local, "ResolveChampion")["DisplayName"] == "Resolve champion"
    assert definition_rules.problems(local) == []


def test_conditions_in_a_shape_sagemaker_refuses(local) -> None:
    planted = copy.deepcopy(local)
    conditions = step(planted, "CheckChampion")["Arguments"]["Conditions"]
    conditions[1] = {"Type": "Not", "Expression": conditions[1]}  # the SDK v2 spelling
    step(planted, "CheckMetric")["Arguments"]["Conditions"][0]["Type"] = "Between"
    problems = definition_rules.problems(planted)
    assert problems == [
        "step CheckMetric: unknown condition type 'Between'; SageMaker knows Equals, "
        "GreaterThan, GreaterThanOrEqualTo, LessThan, LessThanOrEqualTo, In, Not, Or",
        "step CheckChampion: condition Not: Unable to parse pipeline definition. Cannot parse "
        "object, unknown property 'Expression'.",
        "step CheckChampion: condition Not needs Condition",
    ]


def test_references_that_cannot_resolve(local) -> None:
    planted = copy.deepcopy(local)
    hyperparameters = step(planted, "Train")["Arguments"]["HyperParameters"]
    hyperparameters["missing"] = {"Get": "Parameters.Nope"}
    hyperparameters["job"] = {"Get": "Execution.ProcessingJobName"}
    hyperparameters["when"] = {"Get": "Execution.Tomorrow"}
    text = refusal(planted)
    assert "step Train: Parameters.Nope: the pipeline declares no parameter 'Nope'" in text
    assert "step Train: Execution.ProcessingJobName is only defined in Processing steps" in text
    assert "step Train: Execution.Tomorrow is not an execution variable" in text


def test_the_start_request_itself(local) -> None:
    problems = start_request_problems("fraud-detection-retraining", {"LabelColumn": "l" * 1025})
    assert len(problems) == 1
    assert problems[0].startswith(
        "StartPipelineExecution (sagemaker:StartPipelineExecution): 1 validation error "
        "detected: Value '"
    )
    assert (
        "at 'pipelineParameters.1.member.value' failed to satisfy constraint: Member must have "
        "length less than or equal to 1024"
    ) in problems[0]


def test_a_pipeline_name_sagemaker_refuses(local) -> None:
    from pipelines.aws.pipeline_request import pipeline_request

    # load_config refuses this name already (the endpoint named after it could not exist);
    # the checker must refuse it on its own too.
    valid = load_config()
    config = dataclasses.replace(
        valid, pipeline=valid.pipeline.model_copy(update={"name": "fraud_detection"})
    )
    create = {
        **pipeline_request(config, json.dumps(local), ROLE),
        "ClientRequestToken": "t" * 36,
    }
    parameters = resolve_parameters(local["Parameters"], {})
    with pytest.raises(SageMakerWouldRefuse) as raised:
        check_start(
            local,
            parameters,
            pipeline_name="fraud_detection",
            region="us-east-1",
            create_request=create,
        )
    assert (
        "CreatePipeline (sagemaker:CreatePipeline): 2 validation errors detected: Value "
        "'fraud_detection' at 'pipelineName' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}; Value 'fraud_detection' "
        "at 'pipelineDisplayName' failed"
    ) in str(raised.value)
    # The start request names the pipeline too.
    assert "StartPipelineExecution (sagemaker:StartPipelineExecution)" in str(raised.value)


# -- right before a job runs: the real request, step properties included ---------------


def test_a_job_request_refused_at_run_time_reads_as_sagemaker_reports_it(local) -> None:
    """A property only known at run time (the champion Lambda's output) is checked when the
    job is about to start, and the step fails as SageMaker reports a refused request."""
    from pipelines.local.expressions import Context, resolve

    evaluate = step(local, "Evaluate")
    outputs = [
        {"OutputName": name, "S3Output": {"S3Uri": f"s3://b/exec/Preprocess/{name}"}}
        for name in ("train", "validation", "test")
    ]
    context = Context(
        parameters=resolve_parameters(local["Parameters"], {}),
        execution={"PipelineExecutionId": "abc123def456"},
        steps={
            "Preprocess": {"ProcessingOutputConfig": {"Outputs": outputs}},
            "Train": {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/exec/Train/model.tar.gz"}},
            "ResolveChampion": {
                "OutputParameters": {
                    "ChampionModelDataUrl": "champion-not-a-uri",
                    "ChampionVersion": "none",
                }
            },
        },
    )
    arguments = resolve(evaluate["Arguments"], context)
    reason = job_refusal(evaluate, arguments, "pipelines-abc123def456-Evaluate-x", {})
    assert reason == (
        "ClientError: Failed to invoke sagemaker:CreateProcessingJob. Error Details: 1 "
        "validation error detected: Value 'champion-not-a-uri' at "
        "'processingInputs.3.member.s3Input.s3Uri' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*) [value from step "
        "ResolveChampion's OutputParameters['ChampionModelDataUrl']]"
    )
    context.steps["ResolveChampion"]["OutputParameters"]["ChampionModelDataUrl"] = "s3://b/m/"
    assert job_refusal(evaluate, resolve(evaluate["Arguments"], context), "job-x", {}) is None


def test_a_lambda_request_that_passed_before_passes_without_loading_botocore(
    local, tmp_path
) -> None:
    """Lambda steps run on every execution (never cached): a cached rerun must not pay for
    botocore's models to re-check the same invocation."""
    import subprocess
    import sys

    resolve_champion = step(local, "ResolveChampion")
    memo = tmp_path / "conformance"
    assert job_refusal(resolve_champion, resolve_champion["Arguments"], None, {}, memo) is None
    assert len(list(memo.iterdir())) == 1
    script = (
        "import json, pathlib, sys\n"
        "from pipelines.conformance.preflight import job_refusal\n"
        f"spec = json.loads({json.dumps(json.dumps(resolve_champion))})\n"
        f"memo = pathlib.Path({str(memo)!r})\n"
        "assert job_refusal(spec, spec['Arguments'], None, {}, memo) is None\n"
        "assert 'botocore.session' not in sys.modules, 'botocore was loaded'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    planted = {**resolve_champion, "FunctionArn": "not an arn"}
    assert job_refusal(planted, planted["Arguments"], None, {}, memo) is not None


def test_an_invocation_naming_its_execution_passes_from_the_memo_on_the_next_execution(
    local, tmp_path
) -> None:
    """FindRegisteredModel's payload names the execution, so no two executions send the same
    bytes; the verdict depends on a payload only through its size, so the next execution's
    invocation passes from the memo without loading botocore, and an oversized one is still
    refused."""
    import subprocess
    import sys

    find = step(local, "FindRegisteredModel")

    def resolved(execution_id: str, digest: str = "d" * 64) -> dict:
        arn = f"arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/{execution_id}"
        return {**find["Arguments"], "ModelContentDigest": digest, "ExecutionArn": arn}

    memo = tmp_path / "conformance"
    assert job_refusal(find, resolved("first0000001"), None, {}, memo) is None
    script = (
        "import json, pathlib, sys\n"
        "from pipelines.conformance.preflight import job_refusal\n"
        f"spec = json.loads({json.dumps(json.dumps(find))})\n"
        f"arguments = json.loads({json.dumps(json.dumps(resolved('second000002')))})\n"
        f"memo = pathlib.Path({str(memo)!r})\n"
        "assert job_refusal(spec, arguments, None, {}, memo) is None\n"
        "assert 'botocore.loaders' not in sys.modules, 'botocore was loaded'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    oversized = resolved("third0000003", digest="d" * 7_000_000)
    assert "RequestEntityTooLarge" in job_refusal(find, oversized, None, {}, memo)


@pytest.mark.parametrize(
    ("retry", "message"),
    [
        (
            {"max_attempts": 21},
            r"\[retry\].max_attempts must be between 1 and 20 \(SageMaker's limit\), got 21",
        ),
        (
            {"job_interval_seconds": 43201},
            r"\[retry\].job_interval_seconds must be between 0 and 43200 \(SageMaker's limit\)",
        ),
        ({"backoff_rate": -0.5}, r"\[retry\].backoff_rate must be at least 0, got -0.5"),
    ],
)
def test_retry_settings_beyond_sagemakers_limits_are_configuration_errors(
    tmp_path, retry: dict, message: str
) -> None:
    """Refused when the configuration loads, not by the SDK's assertion mid-build."""
    import tomllib

    from toml_writer import dump_toml

    from pipelines.config import PROJECT_ROOT, ConfigError

    raw = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text())
    raw["retry"].update(retry)
    path = tmp_path / "pipeline.toml"
    path.write_text(dump_toml(raw))
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})

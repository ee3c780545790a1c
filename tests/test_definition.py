"""The pipeline definition: steps, wiring, parameters, caching, retries, determinism, offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT, load_config
from pipelines.definition import definition_json

JOB_STEPS = ("Preprocess", "DriftCheck", "Train", "Evaluate", "Baseline")


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads(definition_json(load_config(), "local"))


def all_steps(definition: dict) -> dict[str, dict]:
    steps = {}
    pending = list(definition["Steps"])
    while pending:
        step = pending.pop(0)
        steps[step["Name"]] = step
        if step["Type"] == "Condition":
            pending += step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]
    return steps


def test_steps_form_the_retraining_dag(definition):
    steps = all_steps(definition)
    assert {name: step["Type"] for name, step in steps.items()} == {
        "ResolveChampion": "Lambda",
        "SnapshotInput": "Lambda",
        "Preprocess": "Processing",
        "DriftCheck": "Processing",
        "CheckDrift": "Condition",
        "Train": "Training",
        "Evaluate": "Processing",
        "Baseline": "Processing",
        "CheckMetric": "Condition",
        "FindRegisteredModel": "Lambda",
        "CheckChampion": "Condition",
        "RegisterModel": "RegisterModel",
        "MetricBelowThreshold": "Fail",
    }
    assert [s["Name"] for s in definition["Steps"]] == [
        "ResolveChampion",
        "SnapshotInput",
        "Preprocess",
        "DriftCheck",
        "CheckDrift",
    ]
    # Training happens only when CheckDrift says so; no drift ends the execution, succeeded.
    drift = steps["CheckDrift"]["Arguments"]
    assert [s["Name"] for s in drift["IfSteps"]] == ["Train", "Evaluate", "Baseline", "CheckMetric"]
    assert drift["ElseSteps"] == []
    check = steps["CheckMetric"]["Arguments"]
    assert [s["Name"] for s in check["IfSteps"]] == ["FindRegisteredModel", "CheckChampion"]
    assert [s["Name"] for s in check["ElseSteps"]] == ["MetricBelowThreshold"]
    champion = steps["CheckChampion"]["Arguments"]
    assert [s["Name"] for s in champion["IfSteps"]] == ["RegisterModel"]
    # Not better than the champion ends the execution without registering, not in failure.
    assert champion["ElseSteps"] == []


def test_data_flows_from_step_to_step(definition):
    steps = all_steps(definition)
    [data, code] = steps["Preprocess"]["Arguments"]["ProcessingInputs"]
    # Preprocess reads the snapshot's manifest, never InputDataUrl itself: its request (the
    # cache key) changes exactly when the data does.
    assert data["S3Input"]["S3Uri"] == {
        "Get": "Steps.SnapshotInput.OutputParameters['ManifestUri']"
    }
    assert data["S3Input"]["S3DataType"] == "ManifestFile"
    assert data["S3Input"]["LocalPath"] == "/opt/ml/processing/input/data"
    assert code["S3Input"]["S3DataType"] == "S3Prefix"
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in steps["Train"]["Arguments"]["InputDataConfig"]
    }
    assert channels == {
        "train": {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"},
        "validation": {
            "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['validation'].S3Output.S3Uri"
        },
    }
    evaluate_inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in steps["Evaluate"]["Arguments"]["ProcessingInputs"]
    }
    assert evaluate_inputs["model"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert evaluate_inputs["champion"] == {
        "Get": "Steps.ResolveChampion.OutputParameters['ChampionModelDataUrl']"
    }
    assert evaluate_inputs["test"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    }
    register = steps["RegisterModel"]["Arguments"]
    container = register["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert register["ModelPackageGroupName"] == "fraud-detection-models"
    # The package carries the model-quality statistics in SageMaker's format (ModelMetrics
    # ModelQuality.Statistics, a MetricsSource), not the decision file the conditions read.
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    assert statistics["S3Uri"]["Std:Join"]["Values"] == [
        {"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"},
        "model_quality.json",
    ]


def test_the_drift_check_compares_the_training_split_with_the_champions_baseline(definition):
    steps = all_steps(definition)
    check = steps["DriftCheck"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"] for i in check["ProcessingInputs"]}
    assert inputs["data"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    }
    assert inputs["baseline"]["S3Uri"] == {
        "Get": "Steps.ResolveChampion.OutputParameters['ChampionBaselineUrl']"
    }
    assert inputs["code"]["S3Uri"].endswith("/data_quality.py")
    arguments = check["AppSpecification"]["ContainerArguments"]
    assert arguments[0] == "check"
    pairs = dict(zip(arguments[1::2], arguments[2::2], strict=True))
    assert pairs == {
        "--data-dir": "/opt/ml/processing/input/data",
        "--baseline-dir": "/opt/ml/processing/input/baseline",
        "--output-dir": "/opt/ml/processing/drift",
        "--exit-message-file": "/opt/ml/output/message",
        # [drift] in pipeline.toml, literal in the definition.
        "--psi-threshold": "0.2",
        "--psi-moderate": "0.1",
        "--alpha": "0.01",
        "--psi-min-rows": "500",
    }
    assert steps["DriftCheck"]["PropertyFiles"] == [
        {"PropertyFileName": "DriftReport", "OutputName": "drift", "FilePath": "drift_report.json"}
    ]
    report = {"Get": "Steps.DriftCheck.PropertyFiles.DriftReport"}
    [either] = steps["CheckDrift"]["Arguments"]["Conditions"]
    assert either == {
        "Type": "Or",
        "Conditions": [
            {
                "Type": "Equals",
                "LeftValue": {"Std:JsonGet": {"PropertyFile": report, "Path": "verdict"}},
                "RightValue": "no_baseline",
            },
            {
                "Type": "Equals",
                "LeftValue": {"Std:JsonGet": {"PropertyFile": report, "Path": "drift_detected"}},
                "RightValue": True,
            },
            {"Type": "Equals", "LeftValue": {"Get": "Parameters.ForceRetrain"}, "RightValue": True},
        ],
    }


def test_the_registered_model_carries_the_baseline_of_its_training_data(definition):
    steps = all_steps(definition)
    baseline = steps["Baseline"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in baseline["ProcessingInputs"]}
    assert inputs["data"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    }
    # The model's own schema (merged when Preprocess ran on several instances).
    assert inputs["model"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    arguments = baseline["AppSpecification"]["ContainerArguments"]
    assert arguments[0] == "baseline"
    pairs = dict(zip(arguments[1::2], arguments[2::2], strict=True))
    assert pairs["--schema"] == "/opt/ml/processing/model/model.tar.gz"
    assert (pairs["--psi-bins"], pairs["--psi-threshold"], pairs["--alpha"]) == (
        "10",
        "0.2",
        "0.01",
    )
    folder = {"Get": "Steps.Baseline.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"}
    assert steps["RegisterModel"]["Arguments"]["DriftCheckBaselines"] == {
        "ModelDataQuality": {
            kind: {
                "ContentType": "application/json",
                "S3Uri": {"Std:Join": {"On": "/", "Values": [folder, f"{kind.lower()}.json"]}},
            }
            for kind in ("Statistics", "Constraints")
        }
    }


def test_condition_reads_the_metric_from_the_evaluation_report(definition):
    steps = all_steps(definition)
    assert steps["Evaluate"]["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": "evaluation.json",
        }
    ]
    threshold, baseline = steps["CheckMetric"]["Arguments"]["Conditions"]
    assert threshold["Type"] == "GreaterThanOrEqualTo"
    assert threshold["LeftValue"] == {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
            "Path": "binary_classification_metrics.average_precision.value",
        }
    }
    assert threshold["RightValue"] == {"Get": "Parameters.MetricThreshold"}
    # Whatever MetricThreshold says, the model must beat a model without signal.
    assert baseline == {
        "Type": "Equals",
        "LeftValue": {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "decision.beats_baseline",
            }
        },
        "RightValue": True,
    }
    # The message is the decision's reason: which rule failed and by how much.
    message = steps["MetricBelowThreshold"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert message == [
        "Model not registered: ",
        {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "decision.reason",
            }
        },
    ]


def test_champion_is_resolved_by_the_project_lambda_and_scored_by_evaluate(definition):
    steps = all_steps(definition)
    resolve = steps["ResolveChampion"]
    assert resolve["FunctionArn"] == (
        "arn:aws:lambda:us-east-1:000000000000:function:fraud-detection-retraining-resolve-champion"
    )
    assert resolve["Arguments"] == {
        "ModelPackageGroupName": "fraud-detection-models",
        "NoChampionUri": "s3://local-pipeline-bucket/fraud-detection-retraining/registry/no-champion/",
    }
    assert [o["OutputName"] for o in resolve["OutputParameters"]] == [
        "ChampionModelDataUrl",
        "ChampionVersion",
        "ChampionArn",
        "ChampionBaselineUrl",
    ]
    arguments = steps["Evaluate"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    pairs = dict(zip(arguments[::2], arguments[1::2], strict=True))
    assert pairs["--champion-dir"] == "/opt/ml/processing/champion"
    assert pairs["--champion-version"] == {
        "Get": "Steps.ResolveChampion.OutputParameters['ChampionVersion']"
    }
    assert pairs["--metric"] == "average_precision"
    assert pairs["--higher-is-better"] == "true"
    # The bootstrap's settings are configuration, literal in the definition.
    assert (pairs["--confidence-level"], pairs["--resamples"]) == ("0.95", "1000")
    assert pairs["--random-seed"] == "0"
    assert pairs["--threshold"] == {
        "Std:Join": {"On": "", "Values": [{"Get": "Parameters.MetricThreshold"}]}
    }
    assert pairs["--champion-margin"] == {
        "Std:Join": {"On": "", "Values": [{"Get": "Parameters.ChampionMargin"}]}
    }
    beats, not_registered_yet, claimed = steps["CheckChampion"]["Arguments"]["Conditions"]
    assert beats == {
        "Type": "Equals",
        "LeftValue": {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "decision.beats_champion",
            }
        },
        "RightValue": True,
    }
    # No version of the group holds the same model files (a rerun, or a concurrent run that
    # registered first).
    assert not_registered_yet == {
        "Type": "Equals",
        "LeftValue": {"Get": "Steps.FindRegisteredModel.OutputParameters['RegisteredVersion']"},
        "RightValue": "none",
    }
    # And this execution holds the claim to register them (identical concurrent runs: one).
    assert claimed == {
        "Type": "Equals",
        "LeftValue": {"Get": "Steps.FindRegisteredModel.OutputParameters['ClaimedBy']"},
        "RightValue": {"Get": "Execution.PipelineExecutionArn"},
    }


def test_registration_is_idempotent_by_the_models_content_digest(definition):
    """Evaluate digests the model's files; RegisterModel records the digest on the package;
    FindRegisteredModel (the champion function, asked by digest) finds a version holding it,
    or claims the digest for this execution under the project's prefix."""
    steps = all_steps(definition)
    digest = {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
            "Path": "evaluation.model.content_digest",
        }
    }
    register = steps["RegisterModel"]["Arguments"]
    assert register["CustomerMetadataProperties"] == {"ModelContentDigest": digest}
    find = steps["FindRegisteredModel"]
    assert find["FunctionArn"] == steps["ResolveChampion"]["FunctionArn"]
    assert find["Arguments"] == {
        "ModelPackageGroupName": "fraud-detection-models",
        "ModelContentDigest": digest,
        "ClaimPrefix": "s3://local-pipeline-bucket/fraud-detection-retraining/registry-claims/",
        "ExecutionArn": {"Get": "Execution.PipelineExecutionArn"},
    }
    assert [o["OutputName"] for o in find["OutputParameters"]] == [
        "RegisteredVersion",
        "RegisteredArn",
        "ClaimedBy",
    ]


def test_the_input_is_snapshotted_by_the_project_lambda(definition):
    snapshot = all_steps(definition)["SnapshotInput"]
    assert snapshot["FunctionArn"] == (
        "arn:aws:lambda:us-east-1:000000000000:function:fraud-detection-retraining-snapshot-input"
    )
    assert snapshot["Arguments"] == {
        "InputDataUrl": {"Get": "Parameters.InputDataUrl"},
        "InputPartitionWindow": {"Get": "Parameters.InputPartitionWindow"},
        "SnapshotPrefix": "s3://local-pipeline-bucket/fraud-detection-retraining/snapshots/",
    }
    assert {o["OutputName"]: o["OutputType"] for o in snapshot["OutputParameters"]} == {
        "ManifestUri": "String",
        "SnapshotUri": "String",
        "Fingerprint": "String",
        "ObjectCount": "Integer",
        "TotalBytes": "Integer",
    }
    # Lambda steps are not cacheable on SageMaker: the snapshot is taken on every execution.
    assert "CacheConfig" not in snapshot


def test_instances_preprocess_is_sharded_train_and_evaluate_run_on_one(definition):
    steps = all_steps(definition)
    preprocess = steps["Preprocess"]["Arguments"]
    assert preprocess["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == {
        "Get": "Parameters.ProcessingInstanceCount"
    }
    inputs = {i["InputName"]: i["S3Input"] for i in preprocess["ProcessingInputs"]}
    # Per-row work: each instance gets its share of the objects; on one instance, all.
    assert inputs["data"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert inputs["code"]["S3DataDistributionType"] == "FullyReplicated"
    arguments = preprocess["AppSpecification"]["ContainerArguments"]
    pairs = dict(zip(arguments[::2], arguments[1::2], strict=True))
    assert pairs["--resource-config"] == "/opt/ml/config/resourceconfig.json"
    # HistGradientBoosting trains on one machine; every channel is the whole split.
    train = steps["Train"]["Arguments"]
    assert train["ResourceConfig"]["InstanceCount"] == 1
    assert {
        c["DataSource"]["S3DataSource"]["S3DataDistributionType"] for c in train["InputDataConfig"]
    } == {"FullyReplicated"}
    evaluate = steps["Evaluate"]["Arguments"]
    assert evaluate["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    assert {i["S3Input"]["S3DataDistributionType"] for i in evaluate["ProcessingInputs"]} == {
        "FullyReplicated"
    }


def test_parameters_and_their_defaults(definition):
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    assert {name: (p["Type"], p["DefaultValue"]) for name, p in parameters.items()} == {
        "InputDataUrl": (
            "String",
            "s3://local-pipeline-bucket/fraud-detection-retraining/data/sample/transactions.csv",
        ),
        "InputPartitionWindow": ("Integer", 0),
        "LabelColumn": ("String", "is_fraud"),
        "ProcessingInstanceType": ("String", "ml.m5.xlarge"),
        "ProcessingInstanceCount": ("Integer", 1),
        "TrainingInstanceType": ("String", "ml.m5.xlarge"),
        "MetricThreshold": ("Float", 0.2),
        "ModelApprovalStatus": ("String", "PendingManualApproval"),
        "LearningRate": ("Float", 0.1),
        "MaxIter": ("Integer", 200),
        "MaxLeafNodes": ("Integer", 31),
        "L2Regularization": ("Float", 0.0),
        "ChampionMargin": ("Float", 0.0),
        "ForceRetrain": ("Boolean", False),
    }
    assert parameters["ModelApprovalStatus"]["EnumValues"] == [
        "Approved",
        "Rejected",
        "PendingManualApproval",
    ]


def test_scripts_receive_the_label_column_as_an_argument(definition):
    steps = all_steps(definition)
    for name in ("Preprocess", "Evaluate"):
        arguments = steps[name]["Arguments"]["AppSpecification"]["ContainerArguments"]
        position = arguments.index("--label-column")
        assert arguments[position + 1] == {"Get": "Parameters.LabelColumn"}
    hyperparameters = steps["Train"]["Arguments"]["HyperParameters"]
    assert hyperparameters["label-column"] == {"Get": "Parameters.LabelColumn"}
    # CreateTrainingJob takes string hyperparameters: numeric parameters go through Join.
    assert hyperparameters["learning-rate"] == {
        "Std:Join": {"On": "", "Values": [{"Get": "Parameters.LearningRate"}]}
    }


def test_the_quality_gate_settings_reach_the_jobs(definition):
    steps = all_steps(definition)
    preprocess = steps["Preprocess"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert preprocess[preprocess.index("--min-class-count") + 1] == "10"
    hyperparameters = steps["Train"]["Arguments"]["HyperParameters"]
    assert {
        name: hyperparameters[name]
        for name in (
            "class-weight",
            "threshold-objective",
            "threshold-cost-ratio",
            "threshold-min-precision",
        )
    } == {
        "class-weight": "none",
        "threshold-objective": "f1",
        "threshold-cost-ratio": "10.0",
        "threshold-min-precision": "0.5",
    }


def test_every_job_step_caches_and_retries_throttling_and_capacity_errors(definition):
    steps = all_steps(definition)
    for name in JOB_STEPS:
        step = steps[name]
        assert step["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}, name
        kinds = {kind for policy in step["RetryPolicies"] for kind in policy["ExceptionType"]}
        assert kinds == {
            "Step.THROTTLING",
            "Step.SERVICE_FAULT",
            "SageMaker.CAPACITY_ERROR",
            "SageMaker.RESOURCE_LIMIT",
            "SageMaker.JOB_INTERNAL_ERROR",
        }, name
        assert all(policy["BackoffRate"] > 1 for policy in step["RetryPolicies"]), name
    register_kinds = {
        kind
        for policy in steps["RegisterModel"]["RetryPolicies"]
        for kind in policy["ExceptionType"]
    }
    assert register_kinds == {"Step.THROTTLING", "Step.SERVICE_FAULT"}


def test_every_step_has_a_display_name_and_description(definition):
    for name, step in all_steps(definition).items():
        assert step.get("DisplayName"), name
        assert step.get("Description"), name


def test_training_uses_the_toolkit_contract_with_content_addressed_code(definition):
    hyperparameters = all_steps(definition)["Train"]["Arguments"]["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == "train.py"
    submit = hyperparameters["sagemaker_submit_directory"]
    assert submit.startswith("s3://local-pipeline-bucket/fraud-detection-retraining/code/")
    assert submit.endswith("/sourcedir.tar.gz")


def _build_in_subprocess(project_root: Path, home: Path) -> str:
    """Build the definition in a fresh interpreter, as `run_pipeline.py definition` would."""
    script = textwrap.dedent(
        f"""
        import sys
        from pipelines.config import load_config
        from pipelines.definition import definition_json
        sys.stdout.write(definition_json(load_config({str(project_root / "pipeline.toml")!r})))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def _copy_project(root: Path) -> Path:
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "pipeline.toml", root / "pipeline.toml")
    for folder in ("processing", "training", "evaluation"):
        shutil.copytree(
            PROJECT_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return root


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    return _copy_project(tmp_path / "project")


@pytest.fixture(scope="module")
def unedited_requests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each step of a copy of the project as it is, the "before" of every script edit (the
    definition holds no path of the copy: code enters it by content, as tested above)."""
    root = _copy_project(tmp_path_factory.mktemp("unedited") / "project")
    return own_requests(json.loads(definition_json(load_config(root / "pipeline.toml"), "local")))


def test_two_builds_in_separate_processes_are_byte_identical(project_copy, tmp_path):
    first = _build_in_subprocess(project_copy, tmp_path)
    second = _build_in_subprocess(project_copy, tmp_path)
    assert first == second


@pytest.mark.parametrize(
    ("script", "changed_step"),
    [
        ("processing/preprocess.py", "Preprocess"),
        ("training/train.py", "Train"),
        ("training/inference.py", "Train"),
        ("evaluation/evaluate.py", "Evaluate"),
        ("processing/data_quality.py", "DriftCheck Baseline"),
    ],
)
def test_changing_a_script_changes_exactly_the_steps_that_run_it(
    project_copy, unedited_requests, script, changed_step
):
    config = load_config(project_copy / "pipeline.toml")
    before = unedited_requests
    with (project_copy / script).open("a") as handle:
        handle.write("\n# a change\n")
    after = own_requests(json.loads(definition_json(config, "local")))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == set(changed_step.split())


def own_requests(definition: dict) -> dict[str, dict]:
    """Each step without the steps a condition embeds (those are compared on their own)."""
    steps = {}
    for name, step in all_steps(definition).items():
        if step["Type"] == "Condition":
            arguments = step["Arguments"]
            step = {
                **step,
                "Arguments": {
                    **arguments,
                    "IfSteps": [s["Name"] for s in arguments["IfSteps"]],
                    "ElseSteps": [s["Name"] for s in arguments["ElseSteps"]],
                },
            }
        steps[name] = step
    return steps


def test_building_makes_no_network_call_and_needs_no_credentials(tmp_path):
    """Sockets are blocked and recorded; no AWS credentials or config exist."""
    script = textwrap.dedent(
        """
        import logging, socket, sys

        attempts = []

        def refuse(*args, **kwargs):
            attempts.append(repr(args[:2]))
            raise OSError("network disabled by the test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from pipelines.config import load_config
        from pipelines.definition import definition_json

        text = definition_json(load_config(), "sagemaker")
        root = logging.getLogger()
        print(len(text), len(attempts), len(root.handlers), root.level)
        for attempt in attempts:
            print(attempt, file=sys.stderr)
        """
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PIPELINE_", "SAGEMAKER_"))
    }
    env.update(
        HOME=str(tmp_path),
        PIPELINE_BUCKET="offline-bucket",
        PIPELINE_ROLE_ARN="arn:aws:iam::111122223333:role/Offline",
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    length, attempts, root_handlers, root_level = map(int, result.stdout.split())
    assert length > 1000
    assert attempts == 0, result.stderr
    # The SDK calls logging.basicConfig on import; our CLI's root logger must survive it.
    assert (root_handlers, root_level) == (0, 30)


def test_more_than_one_training_instance_is_refused_in_the_configuration(project_copy):
    from pipelines.config import ConfigError

    path = project_copy / "pipeline.toml"
    path.write_text(path.read_text().replace("training_count = 1", "training_count = 2"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "[instances].training_count must be 1, got 2" in message
    assert "HistGradientBoosting trains on one instance" in message

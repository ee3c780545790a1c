"""The three container scripts run as SageMaker runs them: separate processes, fixed paths.

Each job gets its own fake /opt/ml under tmp_path and receives exactly the arguments the
pipeline definition passes (with the /opt/ml prefix moved). Outputs are handed from job to
job the way SageMaker moves them: processing outputs become training channels, the model
dir is packed into model.tar.gz for the evaluation job.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import evaluate
import pandas as pd
import pytest
from waiting import FAILSAFE_SECONDS

from pipelines.sample_data import generate_transactions

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
PREPROCESS = ROOT / "processing" / "preprocess.py"
TRAINING_DIR = ROOT / "training"
EVALUATE = ROOT / "evaluation" / "evaluate.py"
DATA_QUALITY = ROOT / "processing" / "data_quality.py"
CONTAINER_SCRIPTS = [
    PREPROCESS,
    TRAINING_DIR / "train.py",
    TRAINING_DIR / "inference.py",
    EVALUATE,
    DATA_QUALITY,
]
HYPERPARAMETERS = {
    "label-column": "is_fraud",
    "problem-type": "binary_classification",
    "learning-rate": "0.1",
    "max-iter": "200",
    "max-leaf-nodes": "31",
    "l2-regularization": "0.0",
}
# What the scripts may import besides the standard library: the image's libraries (boto3:
# the image's requirements pin it; only data_quality.py's metric publishing imports it).
IMAGE_LIBRARIES = {"numpy", "pandas", "sklearn", "joblib", "pyarrow", "scipy", "boto3"}


@dataclass
class Pipeline:
    preprocess: Path
    train: Path
    evaluate: Path
    results: dict[str, subprocess.CompletedProcess]


def container_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=FAILSAFE_SECONDS,
        check=False,
    )


def run_preprocess(opt_ml: Path, data: pd.DataFrame | None = None) -> subprocess.CompletedProcess:
    processing = opt_ml / "processing"
    code = processing / "input" / "code"
    code.mkdir(parents=True, exist_ok=True)
    shutil.copy(PREPROCESS, code / "preprocess.py")
    if data is not None:
        (processing / "input" / "data").mkdir(parents=True, exist_ok=True)
        data.to_csv(processing / "input" / "data" / "transactions.csv", index=False)
    command = [
        sys.executable,
        str(code / "preprocess.py"),
        *("--label-column", "is_fraud"),
        *("--problem-type", "binary_classification"),
        *("--input-dir", str(processing / "input" / "data")),
        *("--train-dir", str(processing / "train")),
        *("--validation-dir", str(processing / "validation")),
        *("--test-dir", str(processing / "test")),
        *("--exit-message-file", str(opt_ml / "output" / "message")),
    ]
    return run(command, cwd=opt_ml, env=container_env())


def run_training(opt_ml: Path, channels: Path, **overrides: str) -> subprocess.CompletedProcess:
    """The training toolkit: channels in input/data, code extracted in code/, SM_* set."""
    for channel in ("train", "validation"):
        shutil.copytree(channels / channel, opt_ml / "input" / "data" / channel)
    code = opt_ml / "code"
    shutil.copytree(TRAINING_DIR, code, ignore=shutil.ignore_patterns("__pycache__"))
    hyperparameters = {**HYPERPARAMETERS, **overrides}
    env = container_env(
        SM_MODEL_DIR=str(opt_ml / "model"),
        SM_CHANNEL_TRAIN=str(opt_ml / "input" / "data" / "train"),
        SM_CHANNEL_VALIDATION=str(opt_ml / "input" / "data" / "validation"),
        SM_OUTPUT_DATA_DIR=str(opt_ml / "output" / "data"),
        SM_OUTPUT_DIR=str(opt_ml / "output"),
        SM_HPS=json.dumps(hyperparameters),
        SM_NUM_CPUS="2",
        SM_CURRENT_HOST="algo-1",
    )
    arguments = [item for name, value in hyperparameters.items() for item in (f"--{name}", value)]
    return run([sys.executable, "train.py", *arguments], cwd=code, env=env)


def pack_model(model_dir: Path, archive: Path) -> None:
    """model.tar.gz as SageMaker packs SM_MODEL_DIR: its contents at the archive root."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)


def run_evaluation(opt_ml: Path, model_archive: Path | None, test_split: Path):
    processing = opt_ml / "processing"
    code = processing / "input" / "code"
    code.mkdir(parents=True)
    shutil.copy(EVALUATE, code / "evaluate.py")
    (processing / "model").mkdir()
    if model_archive is not None:
        shutil.copy(model_archive, processing / "model" / "model.tar.gz")
    shutil.copytree(test_split, processing / "test")
    command = [
        sys.executable,
        str(code / "evaluate.py"),
        *("--label-column", "is_fraud"),
        *("--problem-type", "binary_classification"),
        *("--model-dir", str(processing / "model")),
        *("--test-dir", str(processing / "test")),
        *("--output-dir", str(processing / "evaluation")),
        *("--exit-message-file", str(opt_ml / "output" / "message")),
    ]
    return run(command, cwd=opt_ml, env=container_env())


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return generate_transactions(3_000, seed=7)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, sample) -> Pipeline:
    jobs = tmp_path_factory.mktemp("jobs")
    preprocess = jobs / "preprocess" / "opt" / "ml"
    results = {"preprocess": run_preprocess(preprocess, sample)}
    assert_ok(results["preprocess"])

    train = jobs / "train" / "opt" / "ml"
    results["train"] = run_training(train, preprocess / "processing")
    assert_ok(results["train"])

    evaluate = jobs / "evaluate" / "opt" / "ml"
    archive = jobs / "artifacts" / "model.tar.gz"
    pack_model(train / "model", archive)
    results["evaluate"] = run_evaluation(evaluate, archive, preprocess / "processing" / "test")
    assert_ok(results["evaluate"])
    return Pipeline(preprocess=preprocess, train=train, evaluate=evaluate, results=results)


def test_preprocess_job(pipeline: Pipeline, sample: pd.DataFrame):
    processing = pipeline.preprocess / "processing"
    for split in ("train", "validation", "test"):
        assert (processing / split / f"{split}.parquet").is_file()
    schema = json.loads((processing / "train" / "schema.json").read_text(encoding="utf-8"))
    assert schema["row_counts"]["read"] == len(sample)
    stdout = pipeline.results["preprocess"].stdout
    assert "read 3000 rows" in stdout and "class balance" in stdout
    assert not (pipeline.preprocess / "output" / "message").exists()


def run_data_quality(opt_ml: Path, mode: str, inputs: dict[str, Path]):
    """A data-quality processing job: its inputs copied under /opt/ml/processing/input."""
    processing = opt_ml / "processing"
    code = processing / "input" / "code"
    code.mkdir(parents=True)
    shutil.copy(DATA_QUALITY, code / "data_quality.py")
    for name, source in inputs.items():
        shutil.copytree(source, processing / "input" / name)
    command = [
        sys.executable,
        str(code / "data_quality.py"),
        mode,
        *("--data-dir", str(processing / "input" / "data")),
        *("--output-dir", str(processing / ("baseline" if mode == "baseline" else "drift"))),
        *("--exit-message-file", str(opt_ml / "output" / "message")),
    ]
    if mode == "check":
        command += ["--baseline-dir", str(processing / "input" / "baseline")]
    return run(command, cwd=opt_ml, env=container_env())


def test_data_quality_jobs(pipeline: Pipeline, tmp_path: Path):
    """The train split's baseline, then the test split checked against it (same data)."""
    splits = pipeline.preprocess / "processing"
    baseline_job = tmp_path / "baseline" / "opt" / "ml"
    assert_ok(run_data_quality(baseline_job, "baseline", {"data": splits / "train"}))
    baseline = baseline_job / "processing" / "baseline"
    assert sorted(path.name for path in baseline.iterdir()) == [
        "constraints.json",
        "statistics.json",
    ]
    check_job = tmp_path / "check" / "opt" / "ml"
    result = run_data_quality(check_job, "check", {"data": splits / "test", "baseline": baseline})
    assert_ok(result)
    drift = check_job / "processing" / "drift"
    report = json.loads((drift / "drift_report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "no_drift", result.stdout
    assert report["data"]["rows"] == 450
    assert (drift / "constraint_violations.json").is_file()
    assert "verdict: no_drift" in result.stdout
    assert not (check_job / "output" / "message").exists()


def test_training_job(pipeline: Pipeline):
    model = pipeline.train / "model"
    assert sorted(p.relative_to(model).as_posix() for p in model.rglob("*")) == [
        "code",
        "code/inference.py",
        "metadata.json",
        "model.joblib",
    ]
    lines = pipeline.results["train"].stdout.splitlines()
    assert any(line.startswith("validation:accuracy=") and line.endswith(";") for line in lines)
    assert (pipeline.train / "output" / "data" / "validation_metrics.json").is_file()
    assert not (pipeline.train / "output" / "failure").exists()
    metadata = json.loads((model / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["hyperparameters"]["max_iter"] == 200


def test_evaluation_job(pipeline: Pipeline):
    path = pipeline.evaluate / "processing" / "evaluation" / "evaluation.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    metrics = report["binary_classification_metrics"]
    # What the CheckMetric step's JsonGet reads.
    assert metrics["accuracy"]["value"] >= 0.9
    assert metrics["auc"]["value"] >= 0.75
    assert report["evaluation"]["test_rows"] == 450
    print(
        f"contract: accuracy={metrics['accuracy']['value']:.4f} auc={metrics['auc']['value']:.4f}"
    )


def test_served_model_answers_like_the_serving_container(pipeline: Pipeline, tmp_path):
    """Extract the packed model and import its code/inference.py in a fresh interpreter."""
    model_dir = tmp_path / "opt" / "ml" / "model"
    model_dir.mkdir(parents=True)
    evaluate.safe_extract(pipeline.evaluate / "processing" / "model" / "model.tar.gz", model_dir)
    test = pd.read_parquet(pipeline.preprocess / "processing" / "test" / "test.parquet")
    schema = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))["schema"]
    body = test[schema["feature_columns"]].head(5).to_csv(index=False, header=False)
    script = textwrap.dedent(
        """
        import sys
        import inference
        model = inference.model_fn(sys.argv[1])
        request = inference.input_fn(sys.stdin.read().encode(), "text/csv")
        body, content_type = inference.output_fn(inference.predict_fn(request, model), None)
        print(content_type)
        print(body)
        """
    )
    env = container_env(PYTHONPATH=str(model_dir / "code"))
    result = subprocess.run(
        [sys.executable, "-c", script, str(model_dir)],
        input=body,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=FAILSAFE_SECONDS,
        check=False,
    )
    assert_ok(result)
    content_type, payload = result.stdout.split("\n", 1)
    assert content_type == "application/json"
    predictions = json.loads(payload)["predictions"]
    assert len(predictions) == 5
    assert all(p["predicted_label"] in (0, 1) and 0 <= p["probability"] <= 1 for p in predictions)


def test_bad_input_fails_preprocess_with_the_reason(tmp_path, sample):
    opt_ml = tmp_path / "opt" / "ml"
    result = run_preprocess(opt_ml, sample.drop(columns="is_fraud"))
    assert result.returncode == 1
    message = (opt_ml / "output" / "message").read_text(encoding="utf-8")
    assert message.startswith("label column 'is_fraud' not found in")
    assert "transactions.csv" in message and "available columns: transaction_id, amount" in message
    assert result.stderr.splitlines()[-1] == f"ERROR: {message}"
    assert "Traceback" not in result.stderr


def test_bad_hyperparameter_fails_training_with_the_reason(pipeline: Pipeline, tmp_path):
    opt_ml = tmp_path / "opt" / "ml"
    result = run_training(opt_ml, pipeline.preprocess / "processing", **{"max-iter": "ten"})
    assert result.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text(encoding="utf-8")
    assert failure == "hyperparameter max-iter must be an integer, got 'ten'"
    assert result.stderr.splitlines()[-1] == f"ERROR: {failure}"


def test_missing_model_fails_evaluation_with_the_reason(pipeline: Pipeline, tmp_path):
    opt_ml = tmp_path / "opt" / "ml"
    test_split = pipeline.preprocess / "processing" / "test"
    result = run_evaluation(opt_ml, None, test_split)
    assert result.returncode == 1
    message = (opt_ml / "output" / "message").read_text(encoding="utf-8")
    assert message.startswith("no model.tar.gz (or model.joblib) in ")
    assert result.stderr.splitlines()[-1] == f"ERROR: {message}"


def test_preprocess_is_deterministic(pipeline: Pipeline, tmp_path, sample):
    again = tmp_path / "opt" / "ml"
    assert_ok(run_preprocess(again, sample))
    first = pipeline.preprocess / "processing"
    for name in (
        "train/train.parquet",
        "train/schema.json",
        "validation/validation.parquet",
        "test/test.parquet",
    ):
        assert (first / name).read_bytes() == (again / "processing" / name).read_bytes(), name


@pytest.mark.parametrize("script", CONTAINER_SCRIPTS, ids=lambda path: path.name)
def test_scripts_are_self_contained(script: Path):
    """Only the standard library and the image's libraries; valid Python 3.11 syntax."""
    tree = ast.parse(script.read_text(encoding="utf-8"), feature_version=(3, 11))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    foreign = imported - set(sys.stdlib_module_names) - IMAGE_LIBRARIES - {"__future__"}
    assert not foreign, f"{script.name} imports {sorted(foreign)}"

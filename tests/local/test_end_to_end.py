"""The project's pipeline definition run end to end by the local engine, with the real job
scripts, on a few thousand generated rows (and once on the bundled sample via the CLI)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from waiting import FAILSAFE_SECONDS

from pipelines.app.commands import describe_execution
from pipelines.app.runner import LocalPaths, execute, open_engine, run_local
from pipelines.cli import main as cli_main
from pipelines.config import PROJECT_ROOT, ProjectConfig
from pipelines.local.events import (
    EXECUTION_STATUS_CHANGE,
    MODEL_PACKAGE_STATE_CHANGE,
    STEP_STATUS_CHANGE,
    read_events,
)
from pipelines.local.faults import FaultError
from pipelines.local.orchestrator import ExecutionResult
from pipelines.parameters import ParameterError
from pipelines.sample_data import generate_transactions
from pipelines.view.model import collect_execution
from pipelines.view.render import render_page

pytestmark = pytest.mark.slow

JOB_STEPS = ("Preprocess", "DriftCheck", "Train", "Evaluate", "Baseline")


def run(config: ProjectConfig, data: Path | str | None = None, **kwargs) -> ExecutionResult:
    overrides = dict(kwargs.pop("params", {}))
    if data is not None:
        overrides["InputDataUrl"] = str(data)
    return execute(config, overrides, **kwargs)


def run_printed(config: ProjectConfig, overrides: dict[str, str], **kwargs) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=250, force_terminal=False, color_system=None)
    code = run_local(config, overrides, console=console, **kwargs)
    return code, buffer.getvalue()


def statuses(result: ExecutionResult) -> dict[str, str]:
    return {name: step.status for name, step in result.steps.items()}


def store_snapshot(config: ProjectConfig, execution_id: str) -> dict[str, bytes]:
    """Every object an execution wrote, by path: earlier outputs must never change."""
    root = LocalPaths(config.local_home).store
    files = {}
    for path in root.rglob("*"):
        if path.is_file() and f"/executions/{execution_id}/" in path.as_posix():
            files[str(path)] = path.read_bytes()
    return files


def test_success_then_fully_cached_rerun(project: ProjectConfig, small_sample: Path) -> None:
    first = run(project, small_sample)
    assert first.succeeded, first.failure_reason
    assert statuses(first) == {
        "ResolveChampion": "Succeeded",
        "SnapshotInput": "Succeeded",
        "Preprocess": "Succeeded",
        "DriftCheck": "Succeeded",
        "CheckDrift": "Succeeded",
        "Train": "Succeeded",
        "Evaluate": "Succeeded",
        "Baseline": "Succeeded",
        "CheckMetric": "Succeeded",
        "FindRegisteredModel": "Succeeded",
        "CheckChampion": "Succeeded",
        "RegisterModel": "Succeeded",
        "MetricBelowThreshold": "NotExecuted",
    }
    engine = open_engine(project)
    # The model, its evaluation and the registered version hang together.
    package = engine.registry.latest(project.pipeline.model_package_group, approval_status=None)
    model_url = first.steps["Train"].properties["ModelArtifacts"]["S3ModelArtifacts"]
    assert package["ModelDataUrl"] == model_url and engine.store.exists(model_url)
    assert package["MetadataProperties"]["GeneratedBy"] == first.execution_arn
    # The package points at the model-quality statistics in SageMaker's format, which the
    # registry read at registration (DescribeModelPackage ModelMetrics.ModelQuality).
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    assert statistics["S3Uri"].endswith("/model_quality.json")
    quality = json.loads(engine.store.read_bytes(statistics["S3Uri"]))
    assert package["EvaluationMetrics"] == quality
    assert quality["dataset"]["item_count"] > 0
    metrics = quality["binary_classification_metrics"]
    assert metrics["average_precision"]["value"] >= project.pipeline.metric_threshold
    for curve, axes in (
        (
            "receiver_operating_characteristic_curve",
            ("false_positive_rates", "true_positive_rates"),
        ),
        ("precision_recall_curve", ("precisions", "recalls")),
    ):
        assert set(metrics[curve]) == set(axes) and len(metrics[curve][axes[0]]) > 1
    assert (
        sum(sum(row.values()) for row in metrics["confusion_matrix"].values())
        == (quality["dataset"]["item_count"])
    )
    assert first.steps["RegisterModel"].properties["ModelPackageVersion"] == 1
    # Inputs were staged by content; each job kept its logs.
    assert first.parameters["InputDataUrl"].startswith(
        "s3://local-pipeline-bucket/fraud-detection-retraining/inputs/"
    )
    for name in JOB_STEPS:
        stdout, stderr = (Path(p) for p in first.steps[name].logs)
        assert stdout.name == "stdout.log" and stderr.exists()

    code, output = run_printed(project, {"InputDataUrl": str(small_sample)})
    assert code == 0
    engine = open_engine(project)
    second = engine.state.list_executions(1)[0]
    steps = {s.name: s for s in engine.state.list_steps(second.execution_id)}
    for name in JOB_STEPS:
        assert steps[name].status == "Succeeded"
        assert steps[name].cache_source_arn == first.execution_arn
        assert steps[name].attempts == 0
    # The reused model already is version 1: nothing new to register.
    assert steps["CheckChampion"].properties["Outcome"] == "False"
    assert steps["RegisterModel"].status == "NotExecuted"
    assert [
        p["ModelPackageVersion"] for p in engine.registry.list(project.pipeline.model_package_group)
    ] == [1]
    # No job ran again: only the Lambda steps (never cached on SageMaker) left folders.
    job_dirs = LocalPaths(project.local_home).jobs / second.execution_id
    assert sorted(path.name for path in job_dirs.iterdir()) == [
        "lambda-FindRegisteredModel-1",
        "lambda-ResolveChampion-1",
        "lambda-SnapshotInput-1",
    ]
    assert steps["SnapshotInput"].properties == first.steps["SnapshotInput"].properties
    assert output.count(f"cache hit (execution {first.execution_id})") == len(JOB_STEPS)
    assert f"Execution {second.execution_id} Succeeded" in output
    assert "CheckMetric: binary_classification_metrics.average_precision.value" in output
    assert "Outcome: Registered" not in output
    assert (
        "Outcome: Not registered: the model passed the quality gate, but CheckChampion held "
        "it back" in output
    )
    # Why, in words: the reused model already is version 1 (not its S3 URI).
    assert "This very model (the same files) is already version 1 of fraud-detection-models." in (
        output
    )

    events, _ = read_events(LocalPaths(project.local_home).events)
    kinds = [e["detail-type"] for e in events]
    assert kinds.count(EXECUTION_STATUS_CHANGE) == 4
    assert kinds.count(MODEL_PACKAGE_STATE_CHANGE) == 1
    cached = [
        e["detail"]
        for e in events
        if e["detail-type"] == STEP_STATUS_CHANGE and "cacheHitResult" in e["detail"]
    ]
    assert {d["stepName"] for d in cached} == set(JOB_STEPS)

    # --no-cache runs every job again. Retrained on the same data with the same code, the
    # model packs to the very same bytes: version 1 already holds it, nothing is registered.
    third = run(project, small_sample, no_cache=True)
    assert third.succeeded
    assert all(third.steps[name].cache_source_id is None for name in JOB_STEPS)
    retrained = third.steps["Train"].properties["ModelArtifacts"]["S3ModelArtifacts"]
    assert retrained != model_url
    assert engine.store.read_bytes(retrained) == engine.store.read_bytes(model_url)
    found = third.steps["FindRegisteredModel"].properties["OutputParameters"]
    assert found == {
        "RegisteredVersion": "1",
        "RegisteredArn": package["ModelPackageArn"],
        "ClaimedBy": "none",  # a version settles it: nothing to claim
    }
    assert third.steps["RegisterModel"].status == "NotExecuted"


def test_a_changed_script_reruns_its_step_and_everything_after_it(
    project: ProjectConfig, small_sample: Path
) -> None:
    first = run(project, small_sample)
    assert first.succeeded
    train_script = project.root / "training" / "train.py"
    train_script.write_text(train_script.read_text() + "\n# a harmless change\n")
    second = run(project, small_sample)  # rebuilds the definition: the code URI moved
    assert second.succeeded, second.failure_reason
    assert second.steps["Preprocess"].cache_source_id == first.execution_id
    assert second.steps["Train"].cache_source_id is None
    assert second.steps["Evaluate"].cache_source_id is None
    assert second.steps["Train"].attempts == 1
    # A changed input at a new path misses from the first step on.
    other = small_sample.parent / "other.csv"
    pd.read_csv(small_sample).iloc[:-10].to_csv(other, index=False)
    third = run(project, other)
    assert third.succeeded, third.failure_reason
    assert all(third.steps[name].cache_source_id is None for name in JOB_STEPS)
    # ...and so does a different parameter value of a training hyperparameter.
    fourth = run(project, small_sample, params={"MaxIter": "50"})
    assert fourth.steps["Preprocess"].cache_source_id == first.execution_id
    assert fourth.steps["Train"].cache_source_id is None


def test_new_data_at_an_unchanged_input_location_is_retrained_on(
    project: ProjectConfig, small_sample: Path
) -> None:
    """The nightly case: the same InputDataUrl every run, new files landing under it. The
    snapshot gives Preprocess a new request exactly when the data changed, so the cache
    (SageMaker's rules: the request only) reuses unchanged data and retrains on new data."""
    from pipelines.app.commands import describe_execution
    from pipelines.sample_data import generate_transactions

    # What is tested is retraining; a few thousand rows' PR-AUC varies around the default
    # MetricThreshold, so any model that beats no skill passes here.
    ANY_SIGNAL = {"MetricThreshold": "0"}

    incoming = "s3://local-pipeline-bucket/fraud-detection-retraining/incoming/"
    store = open_engine(project).store
    frame = pd.read_csv(small_sample)
    day1, day2 = small_sample.parent / "day1.csv", small_sample.parent / "day2.csv"
    # Each day alone holds enough frauds for every split ([quality_gate].min_class_count).
    frame.to_csv(day1, index=False)
    generate_transactions(len(frame), seed=12).to_csv(day2, index=False)
    store.put_file(day1, f"{incoming}dt=2024-06-01/day1.csv")

    first = run(project, incoming, params=ANY_SIGNAL)
    assert first.succeeded, first.failure_detail
    again = run(project, incoming, params=ANY_SIGNAL)
    assert all(again.steps[name].cache_source_id == first.execution_id for name in JOB_STEPS)
    assert again.steps["SnapshotInput"].properties == first.steps["SnapshotInput"].properties

    store.put_file(day2, f"{incoming}dt=2024-06-02/day2.csv")
    retrained = run(project, incoming, params=ANY_SIGNAL)
    assert retrained.succeeded, retrained.failure_detail
    assert retrained.parameters["InputDataUrl"] == first.parameters["InputDataUrl"] == incoming
    assert all(retrained.steps[name].cache_source_id is None for name in JOB_STEPS)
    assert all(retrained.steps[name].attempts == 1 for name in JOB_STEPS)
    assert retrained.steps["RegisterModel"].status == "Succeeded"
    manifests = [
        r.steps["Preprocess"].arguments["ProcessingInputs"][0]["S3Input"]["S3Uri"]
        for r in (first, retrained)
    ]
    assert manifests[0] != manifests[1]
    lineage = describe_execution(project, retrained.execution_id)["snapshot"]
    assert lineage["object_count"] == 2 and lineage["source"] == incoming
    assert [o["key"] for o in lineage["objects"]] == [
        "dt=2024-06-01/day1.csv",
        "dt=2024-06-02/day2.csv",
    ]
    # A window of one partition is the newest day alone: another snapshot, another request.
    newest = run(project, incoming, params={**ANY_SIGNAL, "InputPartitionWindow": "1"})
    assert newest.succeeded, newest.failure_detail
    assert newest.steps["SnapshotInput"].properties["OutputParameters"]["ObjectCount"] == 1
    assert newest.steps["Preprocess"].cache_source_id is None


def test_an_unreachable_threshold_takes_the_fail_branch(
    project: ProjectConfig, small_sample: Path
) -> None:
    code, output = run_printed(
        project, {"InputDataUrl": str(small_sample), "MetricThreshold": "1.01"}
    )
    assert code == 1
    engine = open_engine(project)
    execution = engine.state.list_executions(1)[0]
    assert execution.status == "Failed"
    # SageMaker's FailureReason; the Fail step's own reason says which rule failed and by how
    # much (describe shows both).
    assert execution.failure_reason == "Step failure: One or multiple steps failed."
    why = describe_execution(project, execution.execution_id)["execution"]["failure_detail"]
    assert why.startswith("Model not registered: average_precision 0.")
    assert "below the threshold 1.0100 (MetricThreshold)" in why
    steps = {s.name: s.status for s in engine.state.list_steps(execution.execution_id)}
    assert steps["MetricBelowThreshold"] == "Failed"
    assert steps["RegisterModel"] == "NotExecuted"
    assert engine.registry.list() == []
    assert ">= MetricThreshold 1.01 -> False" in output
    assert f"Execution {execution.execution_id} Failed" in output


def test_injected_faults_are_retried_to_success_and_exhausted_to_failure(
    project: ProjectConfig, small_sample: Path
) -> None:
    result = run(project, small_sample, faults=["Train=THROTTLING:2", "Preprocess=CAPACITY_ERROR"])
    assert result.succeeded, result.failure_reason
    assert result.steps["Preprocess"].attempts == 2
    assert result.steps["Train"].attempts == 3  # MaxAttempts=2 retries in the test config
    assert result.steps["Evaluate"].attempts == 1
    # The view lists each attempt: the two refused ones with their reason, then the job.
    train = next(
        s for s in collect_execution(project, result.execution_id)["steps"] if s["name"] == "Train"
    )
    attempts = train["attempt_history"]
    assert [(a["attempt"], a["status"]) for a in attempts] == [
        (1, "Failed (retried)"),
        (2, "Failed (retried)"),
        (3, "Succeeded"),
    ]
    assert all(a["failure_reason"].startswith("ThrottlingException") for a in attempts[:2])
    assert attempts[0]["job_name"] is None and attempts[0]["logs"] == []
    assert attempts[2]["job_name"] == result.steps["Train"].job_name
    assert {log["name"] for log in attempts[2]["logs"]} == {"stdout.log", "stderr.log"}
    page = render_page(collect_execution(project, result.execution_id))
    block = page.split('id="step-Train"', 1)[1].split('class="step-details"', 1)[0]
    assert block.count('class="attempt') == 3 and "Rate exceeded (injected fault)" in block

    code, output = run_printed(
        project, {"InputDataUrl": str(small_sample)}, no_cache=True, faults=["Train=THROTTLING:3"]
    )
    assert code == 1
    assert output.count("Retrying") == 2
    assert "ThrottlingException: Rate exceeded (injected fault)" in output
    engine = open_engine(project)
    execution = engine.state.list_executions(1)[0]
    assert execution.status == "Failed"
    why = describe_execution(project, execution.execution_id)["execution"]["failure_detail"]
    assert why.startswith("Step Train failed: ThrottlingException")
    steps = {s.name: s for s in engine.state.list_steps(execution.execution_id)}
    assert steps["Train"].attempts == 3
    assert steps["Evaluate"].status == "NotExecuted"


def test_options_are_checked_before_anything_runs(
    project: ProjectConfig, small_sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ParameterError, match="parameter MaxIter expects an Integer, got 'many'"):
        run(project, small_sample, params={"MaxIter": "many"})
    with pytest.raises(ParameterError, match="unknown parameter"):
        run(project, small_sample, params={"Nope": "1"})
    with pytest.raises(ParameterError, match="existing local file or folder"):
        run(project, project.root / "missing.csv")
    with pytest.raises(ParameterError, match=r"resolves outside|'\.\.'"):
        run(project, "s3://local-pipeline-bucket/../../etc/passwd")
    with pytest.raises(FaultError, match="no step 'Nope'"):
        run(project, small_sample, faults=["Nope=THROTTLING"])
    # Values SageMaker would refuse in a step's request: exit 2 with SageMaker's reason and
    # the parameter that supplied the value.
    refused = {
        "TrainingInstanceType=foo": (
            "step Train (sagemaker:CreateTrainingJob): 1 validation error detected: Value 'foo' "
            "at 'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy "
            "enum value set: [ml."
        ),
        "ProcessingInstanceCount=0": (
            "step Preprocess (sagemaker:CreateProcessingJob): 1 validation error detected: "
            "Value '0' at 'processingResources.clusterConfig.instanceCount' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1\n    the value comes "
            "from parameter ProcessingInstanceCount = 0"
        ),
    }
    for assignment, reason in refused.items():
        command = ["--config", str(project.path), "start", "--param", assignment]
        assert cli_main([*command, "--param", f"InputDataUrl={small_sample}"]) == 2
        assert reason in capsys.readouterr().err
    assert open_engine(project).state.list_executions() == []
    events, _ = read_events(LocalPaths(project.local_home).events)
    assert events == []


# -- bad inputs -------------------------------------------------------------------------


def _write(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, index=False)
    return folder / name


def _bad_inputs(base: Path, sample: pd.DataFrame) -> dict[str, tuple[Path, str]]:
    numeric = sample.select_dtypes("number").columns.drop("is_fraud")[0]
    cases: dict[str, tuple[Path, str]] = {}
    readme = base / "no_files"
    readme.mkdir()
    (readme / "README.txt").write_text("the data is elsewhere\n")
    # The snapshot leaves out what Preprocess cannot read, and fails when nothing is left.
    cases["no input files"] = (readme, "README.txt: not a data file")
    empty_folder = base / "empty_folder"
    empty_folder.mkdir()
    cases["empty folder"] = (empty_folder, "no data objects found at s3://")
    empty = base / "empty" / "transactions.csv"
    empty.parent.mkdir()
    empty.write_text("")
    cases["empty file"] = (empty, "transactions.csv is empty")
    cases["label column missing"] = (
        _write(base / "nolabel", "transactions.csv", sample.drop(columns=["is_fraud"])),
        "label column 'is_fraud' not found",
    )
    cases["label with one class"] = (
        _write(base / "oneclass", "transactions.csv", sample.assign(is_fraud=0)),
        "has a single class",
    )
    dirty = sample.astype({numeric: object})
    dirty.loc[5, numeric] = "12,5 EUR"
    cases["non-numeric value"] = (
        _write(base / "dirty", "transactions.csv", dirty),
        f"non-numeric value '12,5 EUR' in numeric column '{numeric}'",
    )
    cases["all-NaN column"] = (
        _write(base / "allnan", "transactions.csv", sample.assign(notes=float("nan"))),
        "column 'notes' has no values",
    )
    garbage = base / "garbage" / "transactions.parquet"
    garbage.parent.mkdir()
    garbage.write_bytes(b"PAR1 this is not parquet \x00\x01\x02")
    cases["unreadable file"] = (garbage, "cannot read")
    twice = base / "twice" / "transactions.csv"
    twice.parent.mkdir()
    header, body = sample.to_csv(index=False).split("\n", 1)
    lines = [f"{line},{line.rsplit(',', 1)[1]}" for line in body.splitlines()]
    twice.write_text(f"{header},is_fraud\n" + "\n".join(lines) + "\n")
    cases["label column twice"] = (twice, "column name 'is_fraud' appears 2 times in the header")
    cases["feature copying the label"] = (
        _write(base / "leak", "transactions.csv", sample.assign(chargeback=sample["is_fraud"])),
        "column 'chargeback' in ",
    )
    cases["too few frauds"] = (
        _write(base / "few", "transactions.csv", sample.head(1500)),
        "row(s) of class 1",
    )
    return cases


@pytest.fixture(scope="module")
def after_a_good_run(tmp_path_factory: pytest.TempPathFactory, shared_project, small_sample: Path):
    config = shared_project("bad-inputs")
    good = run(config, small_sample)
    assert good.succeeded
    cases = _bad_inputs(tmp_path_factory.mktemp("inputs"), pd.read_csv(small_sample))
    return config, good, store_snapshot(config, good.execution_id), cases


@pytest.mark.parametrize(
    "case",
    [
        "no input files",
        "empty folder",
        "empty file",
        "label column missing",
        "label with one class",
        "non-numeric value",
        "all-NaN column",
        "unreadable file",
        "label column twice",
        "feature copying the label",
        "too few frauds",
    ],
)
def test_bad_input_ends_as_a_failed_execution_with_the_reason(after_a_good_run, case: str) -> None:
    config, good, snapshot, cases = after_a_good_run
    path, expected = cases[case]
    result = run(config, path)
    assert result.status == "Failed"
    failed = "SnapshotInput" if case in ("no input files", "empty folder") else "Preprocess"
    assert result.steps[failed].status == "Failed"
    assert result.failure_detail.startswith(f"Step {failed} failed: ")
    assert expected in result.failure_detail
    # The reason names the input: the file as the job saw it, or the staged folder's URI.
    named = "README.txt" if case == "no input files" else path.name
    assert named in result.failure_detail
    # The champion lookup runs beside the snapshot and Preprocess; nothing after the failure
    # starts.
    independent = ("SnapshotInput", "Preprocess", "ResolveChampion")
    assert {s.status for n, s in result.steps.items() if n not in independent} == {"NotExecuted"}
    engine = open_engine(config)
    assert engine.state.get_execution(result.execution_id).failure_reason == (result.failure_reason)
    # Earlier outputs and registrations are untouched.
    assert store_snapshot(config, good.execution_id) == snapshot
    assert [p["ModelPackageVersion"] for p in engine.registry.list()] == [1]


# -- concurrency ------------------------------------------------------------------------


def test_two_executions_at_once_in_threads(project: ProjectConfig, small_sample: Path) -> None:
    # Another sample of the same size (a half would hold too few frauds for the splits).
    other = small_sample.parent / "another.csv"
    generate_transactions(3_000, seed=8).to_csv(other, index=False)
    results: dict[str, ExecutionResult] = {}
    errors: list[BaseException] = []

    def go(label: str, data: Path) -> None:
        try:
            results[label] = run(project, data)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=go, args=("a", small_sample)),
        threading.Thread(target=go, args=("b", other)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results["a"].succeeded and results["b"].succeeded
    _check_two_executions(project, results["a"].execution_id, results["b"].execution_id)


def test_two_executions_at_once_in_processes(
    make_project: Callable[..., ProjectConfig], small_sample: Path
) -> None:
    config = make_project("procs")
    command = [sys.executable, "run_pipeline.py", "--config", str(config.path), "start"]
    processes = [
        subprocess.Popen(
            [*command, "--param", f"InputDataUrl={small_sample}", "--param", f"MaxIter={n}"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in (40, 60)
    ]
    outputs = [p.communicate(timeout=FAILSAFE_SECONDS)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    executions = open_engine(config).state.list_executions()
    _check_two_executions(config, *(e.execution_id for e in executions))


def _check_two_executions(config: ProjectConfig, a: str, b: str) -> None:
    engine = open_engine(config)
    conn = engine.state.connection()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    executions = {e.execution_id: e for e in engine.state.list_executions()}
    assert {executions[a].status, executions[b].status} == {"Succeeded"}
    for execution_id in (a, b):
        steps = engine.state.list_steps(execution_id)
        assert len(steps) == 13
        assert {s.name: s.status for s in steps}["RegisterModel"] == "Succeeded"
    packages = engine.registry.list(config.pipeline.model_package_group)
    assert sorted(p["ModelPackageVersion"] for p in packages) == [1, 2]
    assert {p["MetadataProperties"]["GeneratedBy"].rsplit("/", 1)[-1] for p in packages} == {a, b}
    events, _ = read_events(LocalPaths(config.local_home).events)
    finished = [
        e["detail"]["pipelineExecutionArn"].rsplit("/", 1)[-1]
        for e in events
        if e["detail-type"] == EXECUTION_STATUS_CHANGE
        and e["detail"]["currentPipelineExecutionStatus"] == "Succeeded"
    ]
    assert sorted(finished) == sorted([a, b])


# -- the CLI on the bundled sample ------------------------------------------------------


def test_cli_on_the_bundled_sample(
    make_project: Callable[..., ProjectConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    # The second run must find the first run's Lambda environments warm however long a busy
    # machine takes over the first run's jobs (the suite's default idles them out after 30 s).
    config = make_project("bundled", local={"lambda_keep_warm_seconds": 900})
    command = [sys.executable, "run_pipeline.py", "--config", str(config.path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    # From the project's own folder with a relative --config, as a user runs it: every job
    # and the Lambda step run elsewhere, so project paths must not stay relative.
    first = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), "--config", "pipeline.toml"],
        cwd=config.root,
        capture_output=True,
        text=True,
        env=env,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Succeeded" in first.stdout
    assert "Outcome: Registered: fraud-detection-models version 1" in first.stdout
    assert "approve with: run_pipeline.py registry approve 1" in first.stdout

    # A cached rerun loads neither pandas, scikit-learn, boto3 nor the SDK in the engine.
    probe = (
        "import sys\nfrom pipelines.cli import main\n"
        f"code = main(['--config', {str(config.path)!r}, 'start'])\n"
        "heavy = sorted(m for m in ('pandas', 'sklearn', 'boto3', 'sagemaker', 'numpy') "
        "if m in sys.modules)\n"
        "print('HEAVY', heavy)\nsys.exit(code)\n"
    )
    second_started = time.time()
    second = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, env=env
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "HEAVY []" in second.stdout
    assert second.stdout.count("cache hit") == len(JOB_STEPS)
    # The cached Train step's model already is version 1: the rerun registers no duplicate.
    assert "Outcome: Registered" not in second.stdout
    assert "but CheckChampion held it back" in second.stdout
    # The Lambda steps (never cached) were answered by the environments the first run left
    # warm: one per function.
    environments = list((config.local_home / "lambda-runtimes").glob("*.json"))
    assert len(environments) == 2
    assert all(e.stat().st_mtime < second_started for e in environments)

    bad = subprocess.run(
        [*command, "start", "--inject-fault", "Train=EXPLODE"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 2
    assert "unknown kind 'EXPLODE'" in bad.stderr

    # executions list / describe, registry list / approve / reject, in process.
    capsys.readouterr()
    assert cli_main(["--config", str(config.path), "executions", "list"]) == 0
    listing = capsys.readouterr().out
    execution_ids = [line.split()[0] for line in listing.splitlines()[1:]]
    assert len(execution_ids) == 2
    assert (
        cli_main(["--config", str(config.path), "executions", "describe", execution_ids[-1][:6]])
        == 0
    )
    described = capsys.readouterr().out
    assert "Status      Succeeded" in described
    assert "InputDataUrl" in described and "MetricThreshold" in described
    assert "stderr.log" in described
    assert "condition: binary_classification_metrics.average_precision.value" in described
    # The data lineage: what the run trained on.
    assert "Data snapshot (SnapshotInput)" in described
    assert "Source       s3://local-pipeline-bucket/fraud-detection-retraining/data/sample/" in (
        described
    )
    assert "    transactions.csv  " in described
    assert cli_main(["--config", str(config.path), "executions", "describe", "zzzz"]) == 2

    assert cli_main(["--config", str(config.path), "registry", "approve", "1"]) == 0
    assert "version 1 is now Approved" in capsys.readouterr().out
    assert cli_main(["--config", str(config.path), "registry", "reject", "1"]) == 0
    capsys.readouterr()
    assert cli_main(["--config", str(config.path), "registry", "list", "--json"]) == 0
    packages = json.loads(capsys.readouterr().out)
    assert {p["model_package_version"]: p["model_approval_status"] for p in packages} == {
        1: "Rejected"
    }
    assert cli_main(["--config", str(config.path), "registry", "approve", "9"]) == 2
    events, _ = read_events(LocalPaths(config.local_home).events)
    approvals = [
        e["detail"]["ModelApprovalStatus"]
        for e in events
        if e["detail-type"] == MODEL_PACKAGE_STATE_CHANGE
    ]
    assert approvals[-2:] == ["Approved", "Rejected"]

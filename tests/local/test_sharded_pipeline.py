"""The project's pipeline with Preprocess on two instances, end to end in the local engine."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.app.runner import execute, open_engine
from pipelines.config import ProjectConfig
from pipelines.parameters import ParameterError

pytestmark = pytest.mark.slow

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def input_folder(tmp_path_factory, small_sample: Path) -> Path:
    """The small sample as 5 files, as data usually lands (one file per day or batch)."""
    folder = tmp_path_factory.mktemp("daily")
    frame = pd.read_csv(small_sample)
    for number in range(5):
        frame.iloc[number::5].to_csv(folder / f"day-{number}.csv", index=False)
    return folder


def test_two_preprocess_instances_shard_the_input_and_a_model_is_registered(
    project: ProjectConfig, input_folder: Path, small_sample: Path
) -> None:
    # A few thousand rows' PR-AUC varies around the default MetricThreshold; what is tested is
    # the sharding, so any model that beats no skill is registered.
    result = execute(
        project,
        {
            "InputDataUrl": str(input_folder),
            "ProcessingInstanceCount": "2",
            "MetricThreshold": "0",
        },
    )
    assert result.succeeded, result.failure_detail
    assert result.steps["RegisterModel"].status == "Succeeded"
    engine = open_engine(project)
    package = engine.registry.latest(project.pipeline.model_package_group, approval_status=None)
    assert (
        package["ModelDataUrl"]
        == (result.steps["Train"].properties["ModelArtifacts"]["S3ModelArtifacts"])
    )

    preprocess = result.steps["Preprocess"]
    job_dir = Path(preprocess.job_dir)
    seen = {}
    for host in ("algo-1", "algo-2"):
        opt_ml = job_dir / host / "opt" / "ml"
        config = json.loads((opt_ml / "config" / "resourceconfig.json").read_text())
        assert config == {"current_host": host, "hosts": ["algo-1", "algo-2"]}
        seen[host] = sorted(p.name for p in (opt_ml / "processing" / "input" / "data").iterdir())
    # ShardedByS3Key: every file on exactly one instance.
    assert sorted(seen["algo-1"] + seen["algo-2"]) == [f"day-{n}.csv" for n in range(5)]
    assert not set(seen["algo-1"]) & set(seen["algo-2"])

    # Every host's parts were uploaded; together they hold each input row exactly once.
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"]
        for o in preprocess.properties["ProcessingOutputConfig"]["Outputs"]
    }
    ids = []
    for split in SPLITS:
        parts = [uri for uri in engine.store.list(outputs[split]) if uri.endswith(".parquet")]
        assert sorted(uri.rsplit("/", 1)[1] for uri in parts) == [
            f"{split}-algo-1.parquet",
            f"{split}-algo-2.parquet",
        ]
        for uri in parts:
            ids += pd.read_parquet(engine.store.path_for(uri))["transaction_id"].tolist()
    expected = pd.read_csv(small_sample)["transaction_id"].tolist()
    assert len(ids) == len(expected) and sorted(ids) == sorted(expected)

    # Train merged both schema parts; the model records them.
    (report,) = [
        o["S3Output"]["S3Uri"]
        for o in result.steps["Evaluate"].properties["ProcessingOutputConfig"]["Outputs"]
    ]
    evaluation = json.loads(engine.store.read_bytes(f"{report}/evaluation.json"))["evaluation"]
    assert evaluation["test_rows"] == sum(
        len(pd.read_parquet(engine.store.path_for(uri)))
        for uri in engine.store.list(outputs["test"])
    )
    train_log = Path(result.steps["Train"].logs[0]).read_text()
    assert (
        "merged the schema parts of 2 Preprocess instances (algo-1, algo-2): 11 features, "
        "dropped columns: transaction_id (identifier)"
    ) in train_log


def test_more_instances_than_input_files_fails_with_the_reason(
    project: ProjectConfig, small_sample: Path
) -> None:
    result = execute(project, {"InputDataUrl": str(small_sample), "ProcessingInstanceCount": "2"})
    assert result.status == "Failed"
    reason = result.steps["Preprocess"].failure_reason
    assert reason.startswith("AlgorithmError: host algo-2 of 2 received no input files in ")
    assert reason.endswith("(host algo-2 of 2)")
    assert result.steps["Train"].status == "NotExecuted"


def test_training_instance_count_is_not_a_parameter(project: ProjectConfig) -> None:
    with pytest.raises(ParameterError, match=r"unknown parameter.*TrainingInstanceCount"):
        execute(project, {"TrainingInstanceCount": "2"})

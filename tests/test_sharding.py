"""A Preprocess job on several instances, as the scripts see it: one share of the files per
host, one part per host, and the parts merged by train.py and read by evaluate.py.

Each host runs preprocess.main() with its own resourceconfig.json and input folder (the
files ShardedByS3Key gave it), then the hosts' output folders are combined the way
SageMaker uploads them: every instance's files under the same S3 location.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import evaluate
import numpy as np
import pandas as pd
import preprocess
import pytest
import train
from train import TrainingError

from pipelines.sample_data import generate_transactions

pytestmark = pytest.mark.container

LABEL = "is_fraud"
SPLITS = ("train", "validation", "test")


def write_files(directory: Path, frames: list[pd.DataFrame]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, frame in enumerate(frames):
        path = directory / f"part-{number:02d}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths


def run_host(
    root: Path, host: str, hosts: list[str], files: list[Path], min_class_count: int = 10
) -> int:
    """preprocess.py on one instance: its files, its resourceconfig.json, its folders."""
    opt_ml = root / host
    data = opt_ml / "processing" / "input" / "data"
    data.mkdir(parents=True)
    for path in files:
        shutil.copy(path, data / path.name)
    config = opt_ml / "config" / "resourceconfig.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"current_host": host, "hosts": hosts}))
    return preprocess.main(
        [
            *("--label-column", LABEL),
            *("--problem-type", "binary_classification"),
            *("--input-dir", str(data)),
            *("--train-dir", str(opt_ml / "processing" / "train")),
            *("--validation-dir", str(opt_ml / "processing" / "validation")),
            *("--test-dir", str(opt_ml / "processing" / "test")),
            *("--exit-message-file", str(opt_ml / "output" / "message")),
            *("--resource-config", str(config)),
            *("--min-class-count", str(min_class_count)),
        ]
    )


def run_sharded(root: Path, files: list[Path], count: int = 2, min_class_count: int = 10) -> Path:
    """Every host on its ShardedByS3Key share (round-robin over the sorted files), then the
    hosts' outputs combined per split, as S3 holds them after the job."""
    hosts = [f"algo-{i}" for i in range(1, count + 1)]
    for index, host in enumerate(hosts):
        code = run_host(root, host, hosts, sorted(files)[index::count], min_class_count)
        message = root / host / "output" / "message"
        assert code == 0, message.read_text() if message.exists() else ""
    combined = root / "s3"
    for split in SPLITS:
        for host in hosts:
            shutil.copytree(
                root / host / "processing" / split, combined / split, dirs_exist_ok=True
            )
    return combined


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return generate_transactions(4_000, seed=5)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, sample) -> Path:
    root = tmp_path_factory.mktemp("sharded")
    files = write_files(root / "input", [sample.iloc[i::5] for i in range(5)])
    return run_sharded(root / "run", files)


def test_every_host_writes_parts_named_after_itself(sharded):
    assert sorted(p.name for p in (sharded / "train").iterdir()) == [
        "schema-algo-1.json",
        "schema-algo-2.json",
        "train-algo-1.parquet",
        "train-algo-2.parquet",
    ]
    assert sorted(p.name for p in (sharded / "test").iterdir()) == [
        "test-algo-1.parquet",
        "test-algo-2.parquet",
    ]


def test_the_splits_together_hold_every_input_row_exactly_once(sharded, sample):
    ids = pd.concat(
        [pd.read_parquet(path) for split in SPLITS for path in (sharded / split).glob("*.parquet")]
    )["transaction_id"]
    assert not ids.duplicated().any()
    assert sorted(ids) == sorted(sample["transaction_id"])


def test_merged_schema_makes_the_single_instance_decisions(sharded, sample, tmp_path):
    merged = train.load_schema(sharded / "train")
    files = write_files(tmp_path / "input", [sample])
    run_host(tmp_path / "single", "algo-1", ["algo-1"], files)
    single = json.loads(
        (tmp_path / "single" / "algo-1" / "processing" / "train" / "schema.json").read_text()
    )
    for key in ("feature_columns", "numeric_features", "categorical_features", "classes"):
        assert merged[key] == single[key], key
    assert (
        merged["dropped_columns"] == single["dropped_columns"] == {"transaction_id": "identifier"}
    )
    counts = merged["row_counts"]
    assert counts["read"] == len(sample)
    assert sum(counts[split] for split in SPLITS) == len(sample)
    assert set(counts["by_host"]) == {"algo-1", "algo-2"}
    assert merged["hosts"] == ["algo-1", "algo-2"]


def test_train_and_evaluate_read_every_part(sharded):
    schema = train.load_schema(sharded / "train")
    frame = train.load_split(sharded / "train", "train", schema)
    assert len(frame) == schema["row_counts"]["train"]
    test = evaluate.load_test(sharded / "test", schema)
    assert len(test) == schema["row_counts"]["test"]


def test_a_part_that_is_not_its_hosts_split_is_refused(sharded, tmp_path):
    copy = shutil.copytree(sharded / "train", tmp_path / "train")
    # One host's part replaced by the other's: what an overwritten S3 object would leave.
    shutil.copy(copy / "train-algo-1.parquet", copy / "train-algo-2.parquet")
    schema = train.load_schema(copy)
    with pytest.raises(TrainingError, match=r"train-algo-2\.parquet has \d+ rows but algo-2"):
        train.load_split(copy, "train", schema)


def test_a_missing_host_part_is_refused(sharded, tmp_path):
    copy = shutil.copytree(sharded / "train", tmp_path / "train")
    (copy / "schema-algo-2.json").unlink()
    with pytest.raises(TrainingError, match=r"no schema part from algo-2 in .*schema-algo-1\.json"):
        train.load_schema(copy)


def small_frame(rows: int, seed: int, **columns) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3, 1, rows), 2),
            "channel": rng.choice(["online", "in_store"], rows),
            LABEL: (np.arange(rows) % 3 == 0).astype(int),
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def merged_schema(tmp_path: Path, frames: list[pd.DataFrame]) -> dict:
    """The merged schema of tiny shards: what is tested is the merge, so the minimum rows of a
    class per split (tested on its own below) is 1."""
    files = write_files(tmp_path / "input", frames)
    return train.load_schema(run_sharded(tmp_path / "run", files, min_class_count=1) / "train")


def test_a_column_numbers_in_one_shard_and_text_in_another_is_refused(tmp_path):
    frames = [
        small_frame(60, 1, code=np.arange(60)),
        small_frame(60, 2, code=[f"c{i % 7}" for i in range(60)]),
    ]
    with pytest.raises(TrainingError) as error:
        merged_schema(tmp_path, frames)
    message = str(error.value)
    assert "column 'code' holds numbers in schema-algo-1.json but text in schema-algo-2.json" in (
        message
    )


def test_constant_only_when_one_value_everywhere(tmp_path):
    same = merged_schema(
        tmp_path / "same",
        [small_frame(40, 1, country=["US"] * 40), small_frame(40, 2, country=["US"] * 40)],
    )
    assert same["dropped_columns"] == {"country": "constant"}
    differs = merged_schema(
        tmp_path / "differs",
        [small_frame(40, 1, country=["US"] * 40), small_frame(40, 2, country=["FR"] * 40)],
    )
    assert "country" in differs["categorical_features"]
    assert differs["dropped_columns"] == {}


def test_identifier_only_when_distinct_in_every_shard(tmp_path):
    unique = merged_schema(
        tmp_path / "unique",
        [
            small_frame(40, 1, ref=[f"a{i}" for i in range(40)]),
            small_frame(40, 2, ref=[f"b{i}" for i in range(40)]),
        ],
    )
    assert unique["dropped_columns"] == {"ref": "identifier"}
    repeated = merged_schema(
        tmp_path / "repeated",
        [
            small_frame(40, 1, ref=[f"a{i}" for i in range(40)]),
            small_frame(40, 2, ref=[f"b{i % 5}" for i in range(40)]),
        ],
    )
    assert "ref" in repeated["categorical_features"]


def test_a_column_blank_in_one_shard_takes_its_kind_from_the_others(tmp_path):
    schema = merged_schema(
        tmp_path,
        [small_frame(40, 1, score=np.linspace(0, 1, 40)), small_frame(40, 2, score=[None] * 40)],
    )
    assert "score" in schema["numeric_features"]
    frame = train.load_split(tmp_path / "run" / "s3" / "train", "train", schema)
    assert pd.api.types.is_float_dtype(frame["score"]) and frame["score"].isna().any()


def test_classes_are_counted_across_shards(tmp_path):
    only_zeros = small_frame(40, 1)
    only_zeros[LABEL] = 0
    schema = merged_schema(tmp_path / "ok", [only_zeros, small_frame(40, 2)])
    assert schema["classes"] == [0, 1]
    no_ones = small_frame(40, 2)
    no_ones[LABEL] = 0
    with pytest.raises(TrainingError, match=r"single class \(0, 80 rows\) across the parts"):
        merged_schema(tmp_path / "single", [only_zeros, no_ones])


def test_a_host_without_files_says_why(tmp_path, sample):
    files = write_files(tmp_path / "input", [sample.head(200)])
    hosts = ["algo-1", "algo-2"]
    assert run_host(tmp_path / "run", "algo-2", hosts, files[1:]) == 1
    message = (tmp_path / "run" / "algo-2" / "output" / "message").read_text()
    assert message.startswith("host algo-2 of 2 received no input files in ")
    assert "ShardedByS3Key" in message and "lower ProcessingInstanceCount" in message


def test_training_refuses_more_than_one_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.setenv("SM_HOSTS", json.dumps(["algo-1", "algo-2"]))
    assert train.main(["--train", str(tmp_path / "nowhere")]) == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith("this training job runs on 2 instances (algo-1, algo-2)")
    assert "HistGradientBoosting trains on one" in failure


def test_evaluate_refuses_a_single_file_mixed_with_parts(sharded, tmp_path):
    copy = shutil.copytree(sharded / "test", tmp_path / "test")
    shutil.copy(copy / "test-algo-1.parquet", copy / "test.parquet")
    schema = train.load_schema(sharded / "train")
    with pytest.raises(evaluate.EvaluationError, match=r"holds both test\.parquet and"):
        evaluate.load_test(copy, schema)


def test_the_class_minimum_applies_to_the_whole_data_not_to_each_share(tmp_path):
    # 3 positives per split and share: too few for one instance, enough for the two together.
    frames = [small_frame(60, 1), small_frame(60, 2)]
    schema = train.load_schema(
        run_sharded(tmp_path / "enough", write_files(tmp_path / "a", frames), min_class_count=6)
        / "train"
    )
    assert schema["classes"] == [0, 1]
    with pytest.raises(TrainingError, match=r"split has only \d+ row\(s\) of class 1 across"):
        train.load_schema(
            run_sharded(tmp_path / "thin", write_files(tmp_path / "b", frames), min_class_count=30)
            / "train"
        )

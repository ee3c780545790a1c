"""Cache keys (SageMaker's attributes and nothing else), input fingerprints recorded beside
them, ExpireAfter, lookups."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.local import cache
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

ARGS = {
    "AppSpecification": {
        "ImageUri": "img",
        "ContainerEntrypoint": ["python3", "x.py"],
        "ContainerArguments": ["--a", "1"],
    },
    "ProcessingInputs": [
        {
            "InputName": "data",
            "S3Input": {
                "S3Uri": "s3://bucket/data/in.csv",
                "LocalPath": "/opt/ml/processing/input",
            },
        },
        {
            "InputName": "code",
            "S3Input": {
                "S3Uri": "s3://bucket/code/x.py",
                "LocalPath": "/opt/ml/processing/input/code",
            },
        },
    ],
    "ProcessingOutputConfig": {
        "Outputs": [{"OutputName": "out", "S3Output": {"S3Uri": "s3://bucket/exec/1/out"}}]
    },
    "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge"}},
}


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    store = ArtifactStore(tmp_path / "store", digests=State(tmp_path / "state.db"))
    store.put_bytes(b"a,b\n1,2\n", "s3://bucket/data/in.csv")
    store.put_bytes(b"print(1)\n", "s3://bucket/code/x.py")
    return store


def key(store: ArtifactStore, arguments: dict = ARGS, **overrides) -> str:
    params = {
        "pipeline_name": "p",
        "step_name": "Preprocess",
        "step_type": "Processing",
        "arguments": arguments,
        **overrides,
    }
    return cache.cache_key(**params)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P30D", timedelta(days=30)),
        ("PT1H", timedelta(hours=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P2W", timedelta(weeks=2)),
        ("PT90S", timedelta(seconds=90)),
        ("P1Y", timedelta(days=365)),
        ("P1M", timedelta(days=30)),
        ("30d", timedelta(days=30)),
        ("5y", timedelta(days=5 * 365)),
        ("T16m", timedelta(minutes=16)),
        ("30dT5h", timedelta(days=30, hours=5)),
    ],
)
def test_expire_after_formats(text: str, expected: timedelta) -> None:
    assert cache.parse_expire_after(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "30", "thirty days", "P1H", "P1DT"])
def test_bad_expire_after_is_a_clear_error(text: str) -> None:
    with pytest.raises(cache.CacheConfigError, match="ExpireAfter"):
        cache.parse_expire_after(text)


def test_key_is_stable_and_ignores_non_key_attributes(store: ArtifactStore) -> None:
    first = key(store)
    assert key(store) == first
    changed = copy.deepcopy(ARGS)
    # Outputs and resources are not cache-key attributes on SageMaker.
    changed["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = "s3://bucket/exec/2/out"
    changed["ProcessingResources"]["ClusterConfig"]["InstanceType"] = "ml.m5.4xlarge"
    assert key(store, changed) == first


def test_key_changes_with_arguments_environment_and_identity(store: ArtifactStore) -> None:
    first = key(store)
    changed = copy.deepcopy(ARGS)
    changed["AppSpecification"]["ContainerArguments"] = ["--a", "2"]
    assert key(store, changed) != first
    changed = copy.deepcopy(ARGS)
    changed["Environment"] = {"X": "1"}
    assert key(store, changed) != first
    assert key(store, step_name="Other") != first
    assert key(store, pipeline_name="other") != first


def test_key_ignores_content_changes_at_the_same_uri_as_sagemaker_does(
    store: ArtifactStore,
) -> None:
    """The key is the request: SageMaker would reuse the result, so the key is the same; the
    fingerprints recorded beside it are what notice the change."""
    first = key(store)
    before = cache.input_fingerprints("Processing", ARGS, store)
    store.put_bytes(b"a,b\n1,3\n", "s3://bucket/data/in.csv")
    store.put_bytes(b"print(2)\n", "s3://bucket/code/x.py")
    assert key(store) == first
    after = cache.input_fingerprints("Processing", ARGS, store)
    assert set(after) == {"s3://bucket/data/in.csv", "s3://bucket/code/x.py"}
    assert cache.stale_inputs(before, after) == ["s3://bucket/code/x.py", "s3://bucket/data/in.csv"]
    assert cache.stale_inputs(before, before) == []
    assert cache.stale_inputs({}, after) == []  # nothing recorded: nothing to compare


def test_a_manifest_input_is_fingerprinted_by_what_it_lists(store: ArtifactStore) -> None:
    import json

    store.put_bytes(
        json.dumps([{"prefix": "s3://bucket/data/"}, "in.csv"]).encode(), "s3://bucket/m.json"
    )
    arguments = copy.deepcopy(ARGS)
    arguments["ProcessingInputs"][0]["S3Input"].update(
        S3Uri="s3://bucket/m.json", S3DataType="ManifestFile"
    )
    first = cache.input_fingerprints("Processing", arguments, store)["s3://bucket/m.json"]
    store.put_bytes(b"other,content\n", "s3://bucket/data/unlisted.csv")
    assert cache.input_fingerprints("Processing", arguments, store)["s3://bucket/m.json"] == first
    store.put_bytes(b"a,b\n7,7\n", "s3://bucket/data/in.csv")  # a listed object, overwritten
    assert cache.input_fingerprints("Processing", arguments, store)["s3://bucket/m.json"] != first


def test_training_keys_cover_hyperparameters_channels_and_the_source_dir(
    store: ArtifactStore,
) -> None:
    store.put_bytes(b"tar", "s3://bucket/code/sourcedir.tar.gz")
    arguments = {
        "AlgorithmSpecification": {"TrainingImage": "img"},
        "HyperParameters": {
            "sagemaker_submit_directory": "s3://bucket/code/sourcedir.tar.gz",
            "max-iter": "200",
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3Uri": "s3://bucket/data/in.csv"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/exec/1/Train"},
    }
    assert cache.input_locations("Training", arguments) == [
        ("s3://bucket/data/in.csv", "S3Prefix"),
        ("s3://bucket/code/sourcedir.tar.gz", "S3Prefix"),
    ]
    first = key(store, arguments, step_type="Training")
    changed = copy.deepcopy(arguments)
    changed["HyperParameters"]["max-iter"] = "300"
    assert key(store, changed, step_type="Training") != first
    changed = copy.deepcopy(arguments)
    changed["OutputDataConfig"]["S3OutputPath"] = "s3://bucket/exec/2/Train"
    assert key(store, changed, step_type="Training") == first
    before = cache.input_fingerprints("Training", arguments, store)
    store.put_bytes(b"tar2", "s3://bucket/code/sourcedir.tar.gz")
    assert key(store, arguments, step_type="Training") == first
    after = cache.input_fingerprints("Training", arguments, store)
    assert cache.stale_inputs(before, after) == ["s3://bucket/code/sourcedir.tar.gz"]


def test_lookup_honours_expiry_recency_and_missing_outputs(
    store: ArtifactStore, tmp_path: Path
) -> None:
    state = State(tmp_path / "state.db")
    store.put_bytes(b"x", "s3://bucket/exec/old/out/part")
    store.put_bytes(b"x", "s3://bucket/exec/new/out/part")

    def remember(execution: str, when: float) -> None:
        properties = {
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "out",
                        "S3Output": {"S3Uri": f"s3://bucket/exec/{execution}/out"},
                    }
                ]
            }
        }
        cache.record(
            state,
            key="k",
            pipeline_name="p",
            step_name="S",
            step_type="Processing",
            execution_id=execution,
            execution_arn=f"arn/{execution}",
            properties=properties,
            now=when,
            inputs={"s3://bucket/data/in.csv": f"digest-{execution}"},
        )

    remember("old", 1000.0)
    remember("new", 2000.0)
    hit = cache.lookup(state, store, "k", timedelta(seconds=5000), now=3000.0)
    assert hit.source_execution_id == "new"  # the most recent successful run
    assert hit.inputs == {"s3://bucket/data/in.csv": "digest-new"}
    hit = cache.lookup(state, store, "k", timedelta(seconds=1500), now=3000.0)
    assert hit.source_execution_id == "new"
    assert cache.lookup(state, store, "k", timedelta(seconds=500), now=3000.0) is None
    # Outputs deleted from the store: that entry can no longer be reused.
    store.path_for("s3://bucket/exec/new/out/part").unlink()
    store.path_for("s3://bucket/exec/new/out").rmdir()
    hit = cache.lookup(state, store, "k", timedelta(seconds=5000), now=3000.0)
    assert hit.source_execution_id == "old"
    assert cache.lookup(state, store, "other", timedelta(days=1), now=3000.0) is None

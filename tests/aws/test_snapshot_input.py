"""lambdas/snapshot_input.py against moto's S3 (the local engine's S3 API answers the same
calls, tests/local/test_s3_api.py)."""

from __future__ import annotations

import datetime
import importlib.util
import json
import re

import boto3
import pytest

from pipelines.config import PROJECT_ROOT

BUCKET = "data-bucket"
SNAPSHOTS = f"s3://{BUCKET}/project/snapshots/"


def load_function():
    """The function as a new execution environment loads it (its clients made afresh)."""
    spec = importlib.util.spec_from_file_location(
        "snapshot_input", PROJECT_ROOT / "lambdas" / "snapshot_input.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def snapshot_module():
    return load_function()


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def put(s3, key: str, body: bytes = b"a,b\n1,2\n") -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def snapshot(module, url: str, window: int | str = 0) -> dict:
    event = {"InputDataUrl": url, "InputPartitionWindow": window, "SnapshotPrefix": SNAPSHOTS}
    return module.handler(event, None)


def read_json(s3, uri: str):
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_warm_environment_reuses_its_client(s3, snapshot_module, monkeypatch) -> None:
    """Invocations after the first reuse the environment's S3 client, as Lambda's best
    practices advise (clients made once per execution environment)."""
    import botocore.session

    made = []
    create_client = botocore.session.Session.create_client

    def counting(self, service_name, *args, **kwargs):
        made.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    put(s3, "incoming/a.csv")
    first = snapshot(snapshot_module, f"s3://{BUCKET}/incoming/")
    assert snapshot(snapshot_module, f"s3://{BUCKET}/incoming/") == first
    assert made == ["s3"]


def test_a_folder_becomes_a_content_addressed_sagemaker_manifest(s3, snapshot_module) -> None:
    put(s3, "incoming/day1.csv", b"a,b\n1,2\n")
    put(s3, "incoming/nested/day2.parquet", b"PAR1....")
    result = snapshot(snapshot_module, f"s3://{BUCKET}/incoming/")

    fingerprint = result["Fingerprint"]
    assert re.fullmatch(r"[0-9a-f]{32}", fingerprint)
    assert result["ManifestUri"] == f"{SNAPSHOTS}{fingerprint}/manifest.json"
    assert result["SnapshotUri"] == f"{SNAPSHOTS}{fingerprint}/snapshot.json"
    assert (result["ObjectCount"], result["TotalBytes"]) == (2, 16)
    # SageMaker's ManifestFile format: the common prefix, then keys relative to it.
    assert read_json(s3, result["ManifestUri"]) == [
        {"prefix": f"s3://{BUCKET}/incoming/"},
        "day1.csv",
        "nested/day2.parquet",
    ]
    record = read_json(s3, result["SnapshotUri"])
    assert record["fingerprint"] == fingerprint
    assert record["source"] == f"s3://{BUCKET}/incoming/"
    assert (record["object_count"], record["total_bytes"]) == (2, 16)
    assert [o["key"] for o in record["objects"]] == ["day1.csv", "nested/day2.parquet"]
    head = s3.head_object(Bucket=BUCKET, Key="incoming/day1.csv")
    assert record["objects"][0]["etag"] == head["ETag"] and record["objects"][0]["size"] == 8
    assert datetime.datetime.fromisoformat(record["created"]).tzinfo is not None


def test_same_objects_same_manifest_and_any_change_a_new_one(s3, snapshot_module) -> None:
    put(s3, "incoming/a.csv", b"a,b\n1,2\n")
    url = f"s3://{BUCKET}/incoming"  # no trailing slash: still the folder
    first = snapshot(snapshot_module, url)
    record = read_json(s3, first["SnapshotUri"])
    again = snapshot(snapshot_module, url)
    assert again == first
    # Written once: the second run reused the record (its creation time did not move).
    assert read_json(s3, first["SnapshotUri"]) == record

    put(s3, "incoming/b.csv", b"a,b\n3,4\n")
    added = snapshot(snapshot_module, url)
    assert added["ManifestUri"] != first["ManifestUri"] and added["ObjectCount"] == 2

    put(s3, "incoming/a.csv", b"a,b\n9,9\n")  # same key, same size, new content (ETag)
    changed = snapshot(snapshot_module, url)
    assert changed["ManifestUri"] not in (first["ManifestUri"], added["ManifestUri"])
    assert changed["TotalBytes"] == added["TotalBytes"]


def test_one_object_is_taken_alone_with_its_folder_as_the_prefix(s3, snapshot_module) -> None:
    put(s3, "data/sample/transactions.csv")
    put(s3, "data/sample/transactions.csv.bak")
    result = snapshot(snapshot_module, f"s3://{BUCKET}/data/sample/transactions.csv")
    assert result["ObjectCount"] == 1
    assert read_json(s3, result["ManifestUri"]) == [
        {"prefix": f"s3://{BUCKET}/data/sample/"},
        "transactions.csv",
    ]


def test_markers_hidden_temporary_and_non_data_objects_are_ignored(s3, snapshot_module) -> None:
    for key in (
        "incoming/",
        "incoming/2024/",
        "incoming/_SUCCESS",
        "incoming/.hidden.csv",
        "incoming/_temporary/0/part-0.csv",
        "incoming/upload.csv.part",
        "incoming/README.txt",
        "incoming/kept.CSV",
        "incoming/kept.csv.gz",
        "incoming/kept.pq",
    ):
        put(s3, key, b"" if key.endswith("/") else b"x")
    result = snapshot(snapshot_module, f"s3://{BUCKET}/incoming/")
    assert read_json(s3, result["ManifestUri"])[1:] == ["kept.CSV", "kept.csv.gz", "kept.pq"]
    ignored = read_json(s3, result["SnapshotUri"])["ignored"]
    assert ignored["count"] == 7
    reasons = {i["key"]: i["reason"] for i in ignored["examples"]}
    assert reasons[""] == "folder marker" and reasons["2024/"] == "folder marker"
    assert reasons["_temporary/0/part-0.csv"].startswith("hidden or temporary")
    assert reasons["README.txt"].startswith("not a data file")


def test_nothing_to_train_on_fails_naming_the_uri(s3, snapshot_module) -> None:
    error = snapshot_module.SnapshotError
    with pytest.raises(error, match=rf"no data objects found at s3://{BUCKET}/empty/ .*empty"):
        snapshot(snapshot_module, f"s3://{BUCKET}/empty/")
    put(s3, "docs/README.txt")
    with pytest.raises(error, match=r"docs/ \(InputDataUrl\): 1 object\(s\) ignored .*README"):
        snapshot(snapshot_module, f"s3://{BUCKET}/docs/")
    with pytest.raises(error, match=r"InputDataUrl must be an s3://bucket/key URI"):
        snapshot(snapshot_module, "/tmp/data.csv")
    with pytest.raises(error, match=r"cannot list s3://no-such-bucket/x/: NoSuchBucket"):
        snapshot(snapshot_module, "s3://no-such-bucket/x/")
    with pytest.raises(error, match="InputPartitionWindow must be 0"):
        snapshot(snapshot_module, f"s3://{BUCKET}/docs/", window=-1)
    # Nothing was written for the failures.
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="project/")


def test_a_window_keeps_the_newest_dated_partitions(s3, snapshot_module) -> None:
    for key in (
        "events/dt=2024-06-01/a.csv",
        "events/dt=2024-06-02/a.csv",
        "events/dt=2024-06-02/b.csv",
        "events/dt=2024-06-03/a.csv",
        "events/latest.csv",  # in no partition: outside any window
    ):
        put(s3, key)
    url = f"s3://{BUCKET}/events/"
    result = snapshot(snapshot_module, url, window="2")
    assert read_json(s3, result["ManifestUri"])[1:] == [
        "dt=2024-06-02/a.csv",
        "dt=2024-06-02/b.csv",
        "dt=2024-06-03/a.csv",
    ]
    record = read_json(s3, result["SnapshotUri"])
    assert record["partitions"] == ["2024-06-02", "2024-06-03"]
    assert record["partition_window"] == 2
    assert snapshot(snapshot_module, url)["ObjectCount"] == 5  # 0: every object
    # A new day moves the window: a new snapshot.
    put(s3, "events/dt=2024-06-04/a.csv")
    moved = snapshot(snapshot_module, url, window=2)
    assert moved["ManifestUri"] != result["ManifestUri"]
    assert read_json(s3, moved["SnapshotUri"])["partitions"] == ["2024-06-03", "2024-06-04"]

    put(s3, "flat/a.csv")
    with pytest.raises(snapshot_module.SnapshotError, match=r"no data object .* dated partition"):
        snapshot(snapshot_module, f"s3://{BUCKET}/flat/", window=1)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("dt=2024-06-01/part-0.parquet", datetime.date(2024, 6, 1)),
        ("region=eu/date=20240601/x.csv", datetime.date(2024, 6, 1)),
        ("2024-06-01/x.csv", datetime.date(2024, 6, 1)),
        ("2024/06/01/x.csv", datetime.date(2024, 6, 1)),
        ("year=2024/month=6/day=1/x.csv", datetime.date(2024, 6, 1)),
        ("2024-13-01/x.csv", None),  # not a date
        ("x-2024-06-01.csv", None),  # a file name is not a partition
        ("flat.csv", None),
    ],
)
def test_partition_dates(snapshot_module, relative, expected) -> None:
    assert snapshot_module.partition_date(relative) == expected


def test_the_data_suffixes_are_the_ones_preprocess_reads(snapshot_module) -> None:
    import preprocess

    assert snapshot_module.DATA_SUFFIXES == preprocess.EXTENSIONS


def test_the_local_s3_api_gives_the_function_the_same_snapshot_as_s3(
    s3, snapshot_module, tmp_path, monkeypatch
) -> None:
    """Same objects in moto's S3 and in the local store: the same manifest URI, byte for byte
    the same manifest (ETags are MD5s in both)."""
    from pipelines.local.registry import ModelRegistry
    from pipelines.local.sagemaker_api import LocalSageMakerApi
    from pipelines.local.state import State
    from pipelines.local.storage import ArtifactStore

    objects = {
        "incoming/dt=2024-06-01/a.csv": b"a,b\n1,2\n",
        "incoming/dt=2024-06-02/b.parquet": b"PAR1xyz",
        "incoming/notes.txt": b"ignored",
    }
    for key, body in objects.items():
        put(s3, key, body)
    url = f"s3://{BUCKET}/incoming/"
    on_s3 = snapshot(snapshot_module, url, window=2)
    manifest_on_s3 = read_json(s3, on_s3["ManifestUri"])

    state = State(tmp_path / "state.db")
    store = ArtifactStore(tmp_path / "store", digests=state)
    for key, body in objects.items():
        store.put_bytes(body, f"s3://{BUCKET}/{key}")
    with LocalSageMakerApi(ModelRegistry(state, "us-east-1"), store) as api:
        # Another endpoint is another environment: the module keeps its clients for its life.
        monkeypatch.setenv("AWS_ENDPOINT_URL", api.url)
        local = snapshot(load_function(), url, window=2)
    assert local == on_s3
    assert json.loads(store.read_bytes(local["ManifestUri"])) == manifest_on_s3
    record = json.loads(store.read_bytes(local["SnapshotUri"]))
    assert [(o["key"], o["etag"]) for o in record["objects"]] == [
        (o["key"], o["etag"]) for o in read_json(s3, on_s3["SnapshotUri"])["objects"]
    ]

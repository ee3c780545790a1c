"""The local S3 API: boto3 against the artifact store, in S3's wire format."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from waiting import wait_until

from pipelines.local.registry import ModelRegistry
from pipelines.local.sagemaker_api import LocalSageMakerApi
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

BUCKET = "local-bucket"


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", digests=State(tmp_path / "state.db"))


@pytest.fixture
def s3(store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    registry = ModelRegistry(State(tmp_path / "state.db"), "us-east-1")
    with LocalSageMakerApi(registry, store) as api:
        yield boto3.client(
            "s3",
            endpoint_url=api.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 1}),
        )


def put(store: ArtifactStore, key: str, data: bytes = b"x") -> None:
    store.put_bytes(data, f"s3://{BUCKET}/{key}")


def test_put_get_and_head_with_s3_etags(s3, store: ArtifactStore) -> None:
    put(store, "seed")  # the bucket exists once the store has its folder
    body = b'{"prefix": "s3://b/p/"}'
    written = s3.put_object(Bucket=BUCKET, Key="snap/ab c+d/manifest.json", Body=body)
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert written["ETag"] == etag
    assert store.read_bytes(f"s3://{BUCKET}/snap/ab c+d/manifest.json") == body
    got = s3.get_object(Bucket=BUCKET, Key="snap/ab c+d/manifest.json")
    assert got["Body"].read() == body and got["ETag"] == etag
    assert got["ContentLength"] == len(body) and got["LastModified"].tzinfo is not None
    head = s3.head_object(Bucket=BUCKET, Key="snap/ab c+d/manifest.json")
    assert head["ETag"] == etag and head["ContentLength"] == len(body)
    s3.head_bucket(Bucket=BUCKET)


def test_list_objects_v2_pages_encodes_and_groups_like_s3(s3, store: ArtifactStore) -> None:
    keys = ["in/a.csv", "in/a.csv.bak", "in/b c.csv", "in/x+y.csv", "in/sub/1.csv", "in/sub/2.csv"]
    for key in keys:
        put(store, key, key.encode())
    put(store, "other/z.csv")
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="in/", PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) == 3
    listed = [o["Key"] for page in pages for o in page["Contents"]]
    assert listed == sorted(keys)  # S3 order, every key once, names decoded
    first = pages[0]["Contents"][0]
    assert first["Size"] == len(b"in/a.csv")
    assert first["ETag"] == f'"{hashlib.md5(b"in/a.csv").hexdigest()}"'
    # Exactly that key and its longer siblings, as S3's prefix matching does.
    exact = s3.list_objects_v2(Bucket=BUCKET, Prefix="in/a.csv")
    assert [o["Key"] for o in exact["Contents"]] == ["in/a.csv", "in/a.csv.bak"]
    grouped = s3.list_objects_v2(Bucket=BUCKET, Prefix="in/", Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["in/sub/"]
    assert grouped["KeyCount"] == 5
    after = s3.list_objects_v2(Bucket=BUCKET, Prefix="in/", StartAfter="in/sub/1.csv")
    assert [o["Key"] for o in after["Contents"]] == ["in/sub/2.csv", "in/x+y.csv"]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="nothing/")["KeyCount"] == 0


def test_errors_have_s3_codes(s3, store: ArtifactStore) -> None:
    put(store, "seed")
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=BUCKET, Key="missing.json")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket=BUCKET, Key="missing.json")
    assert head.value.response["Error"]["Code"] == "404"
    for call in (
        lambda: s3.list_objects_v2(Bucket="no-such-bucket"),
        lambda: s3.put_object(Bucket="no-such-bucket", Key="k", Body=b"x"),
    ):
        with pytest.raises(ClientError) as bucket:
            call()
        assert bucket.value.response["Error"]["Code"] == "NoSuchBucket"
    with pytest.raises(ClientError) as digest:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")
    assert digest.value.response["Error"]["Code"] == "BadDigest"
    assert not store.exists(f"s3://{BUCKET}/k")
    with pytest.raises(ClientError) as escape:
        s3.put_object(Bucket=BUCKET, Key="../../outside", Body=b"x")
    assert escape.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError, match=r"serves ListObjectsV2, PutObject, .* only"):
        s3.delete_object(Bucket=BUCKET, Key="seed")
    assert store.exists(f"s3://{BUCKET}/seed")


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return error.value.response["Error"]["Code"]


def test_if_none_match_writes_only_a_key_that_does_not_exist(s3, store: ArtifactStore) -> None:
    put(store, "seed")
    first = s3.put_object(Bucket=BUCKET, Key="claims/d.json", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as taken:
        s3.put_object(Bucket=BUCKET, Key="claims/d.json", Body=b"second", IfNoneMatch="*")
    assert taken.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert _code(taken) == "PreconditionFailed"
    assert taken.value.response["Error"]["Condition"] == "If-None-Match"
    got = s3.get_object(Bucket=BUCKET, Key="claims/d.json")
    assert got["Body"].read() == b"first" and got["ETag"] == first["ETag"]
    # S3 accepts only the asterisk there; anything else is refused, never ignored.
    with pytest.raises(ClientError) as etag:
        s3.put_object(Bucket=BUCKET, Key="claims/e.json", Body=b"x", IfNoneMatch=first["ETag"])
    assert _code(etag) == "NotImplemented"
    assert not store.exists(f"s3://{BUCKET}/claims/e.json")


def test_if_match_replaces_only_the_object_with_that_etag(s3, store: ArtifactStore) -> None:
    put(store, "seed")
    first = s3.put_object(Bucket=BUCKET, Key="claims/d.json", Body=b"first")
    with pytest.raises(ClientError) as stale:
        s3.put_object(
            Bucket=BUCKET, Key="claims/d.json", Body=b"late", IfMatch='"' + "0" * 32 + '"'
        )
    assert _code(stale) == "PreconditionFailed"
    assert stale.value.response["Error"]["Condition"] == "If-Match"
    assert store.read_bytes(f"s3://{BUCKET}/claims/d.json") == b"first"
    # The ETag as GetObject returns it (quoted) or bare: S3 takes both.
    second = s3.put_object(
        Bucket=BUCKET, Key="claims/d.json", Body=b"second", IfMatch=first["ETag"]
    )
    s3.put_object(
        Bucket=BUCKET, Key="claims/d.json", Body=b"third", IfMatch=second["ETag"].strip('"')
    )
    assert store.read_bytes(f"s3://{BUCKET}/claims/d.json") == b"third"
    # No object: 404, as S3 answers If-Match on a key without a current version.
    with pytest.raises(ClientError) as missing:
        s3.put_object(Bucket=BUCKET, Key="claims/none.json", Body=b"x", IfMatch=first["ETag"])
    assert _code(missing) == "NoSuchKey"
    assert not store.exists(f"s3://{BUCKET}/claims/none.json")


def _someone_waits_for(lock: Path) -> bool:
    """The kernel lists a blocked flock request on this file ("->" lines of /proc/locks)."""
    inode = f":{lock.stat().st_ino}"
    return any(
        line.split()[1] == "->" and line.split()[-3].endswith(inode)
        for line in Path("/proc/locks").read_text().splitlines()
    )


def test_a_conditional_write_tests_and_writes_under_the_stores_lock(
    s3, store: ArtifactStore
) -> None:
    """While another writer holds the store's lock (another process serving the same store),
    a conditional PUT waits for it, then sees what that writer wrote."""
    import fcntl
    import threading

    from pipelines.local.s3_api import WRITE_LOCK

    put(store, "seed")
    answers: list[str] = []

    def claim() -> None:
        try:
            s3.put_object(Bucket=BUCKET, Key="claims/d.json", Body=b"late", IfNoneMatch="*")
            answers.append("written")
        except ClientError as error:
            answers.append(error.response["Error"]["Code"])

    path = store.root / WRITE_LOCK
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        racer = threading.Thread(target=claim)
        racer.start()
        wait_until(lambda: _someone_waits_for(path), "the PUT waiting for the store's lock")
        put(store, "claims/d.json", b"held")  # the other writer, inside its lock
        fcntl.flock(lock, fcntl.LOCK_UN)
    racer.join()
    assert answers == ["PreconditionFailed"]
    assert store.read_bytes(f"s3://{BUCKET}/claims/d.json") == b"held"


def test_of_eight_racing_claims_exactly_one_is_written(s3, store: ArtifactStore) -> None:
    import threading

    put(store, "seed")
    barrier = threading.Barrier(8)
    won: list[bytes] = []

    def claim(body: bytes) -> None:
        barrier.wait()
        try:
            s3.put_object(Bucket=BUCKET, Key="claims/d.json", Body=body, IfNoneMatch="*")
            won.append(body)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "PreconditionFailed"

    threads = [threading.Thread(target=claim, args=(f"run-{n}".encode(),)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert store.read_bytes(f"s3://{BUCKET}/claims/d.json") == won[0]

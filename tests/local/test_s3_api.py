"""The local S3 API: boto3 against the artifact store, in S3's wire format."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

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

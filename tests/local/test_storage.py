"""The local artifact store: URI mapping, escape attempts, S3Prefix semantics, tarballs."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore, StoreError, extract_tarball_safely, parse_uri


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", digests=State(tmp_path / "state.db"))


def test_uri_maps_to_a_file_under_the_bucket_folder(store: ArtifactStore) -> None:
    path = store.path_for("s3://my-bucket/a/b/c.csv")
    assert path == store.root / "my-bucket" / "a" / "b" / "c.csv"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("s3://b/../x", "'..'"),
        ("s3://b/a/../../x", "'..'"),
        ("s3://b//etc/passwd", "absolute"),
        ("s3://b/a\\..\\x", "backslash"),
        ("s3:///key", "bucket name is empty"),
        ("s3://../key", "not a valid bucket"),
        ("s3://b/./x", "'.'"),
        ("s3://b/a//x", "empty"),
        ("/etc/passwd", "not an s3:// URI"),
        ("file:///etc/passwd", "not an s3:// URI"),
    ],
)
def test_keys_that_would_escape_the_store_are_refused(
    store: ArtifactStore, uri: str, reason: str
) -> None:
    with pytest.raises(StoreError) as error:
        store.path_for(uri)
    assert reason in str(error.value)
    assert uri in str(error.value) or repr(uri) in str(error.value)


def test_a_symlink_planted_in_the_store_cannot_lead_outside(
    store: ArtifactStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (store.root / "bucket").mkdir()
    (store.root / "bucket" / "link").symlink_to(outside)
    with pytest.raises(StoreError, match="outside the artifact store"):
        store.path_for("s3://bucket/link/secret.txt")
    assert store.list("s3://bucket/") == []


def test_put_bytes_is_a_no_op_for_identical_content(store: ArtifactStore) -> None:
    uri = "s3://bucket/code/abc/preprocess.py"
    assert store.put_bytes(b"print(1)\n", uri) is True
    mtime = store.path_for(uri).stat().st_mtime_ns
    assert store.put_bytes(b"print(1)\n", uri) is False
    assert store.path_for(uri).stat().st_mtime_ns == mtime
    assert store.put_bytes(b"print(2)\n", uri) is True
    assert store.read_bytes(uri) == b"print(2)\n"


def test_objects_are_read_only_and_user_files_are_copied(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")
    store.put_file(source, "s3://bucket/in/data.csv")
    stored = store.path_for("s3://bucket/in/data.csv")
    assert stored.stat().st_mode & 0o222 == 0
    assert not os.path.samefile(source, stored)
    assert source.stat().st_mode & 0o200  # the user's file keeps its permissions


def test_prefix_listing_follows_s3_string_prefix_semantics(store: ArtifactStore) -> None:
    for key in ("run/train/a.parquet", "run/train/sub/b.parquet", "run/training/c", "run/test/d"):
        store.put_bytes(b"x", f"s3://bucket/{key}")
    assert store.list("s3://bucket/run/train/") == [
        "s3://bucket/run/train/a.parquet",
        "s3://bucket/run/train/sub/b.parquet",
    ]
    # Without the slash, "train" also matches "training", exactly as S3 does.
    assert "s3://bucket/run/training/c" in store.list("s3://bucket/run/train")
    assert store.list("s3://bucket/run/nothing") == []


def test_download_prefix_lays_out_files_like_sagemaker(
    store: ArtifactStore, tmp_path: Path
) -> None:
    store.put_bytes(b"1", "s3://bucket/exec/Preprocess/test/test.parquet")
    store.put_bytes(b"2", "s3://bucket/exec/Preprocess/test/nested/more.parquet")
    store.put_bytes(b"3", "s3://bucket/exec/Train/job/output/model.tar.gz")
    store.put_bytes(b"4", "s3://bucket/data/sample/transactions.csv")

    folder = store.download_prefix("s3://bucket/exec/Preprocess/test", tmp_path / "test")
    assert sorted(p.relative_to(tmp_path / "test").as_posix() for p in folder) == [
        "nested/more.parquet",
        "test.parquet",
    ]
    single = store.download_prefix("s3://bucket/exec/Train/job/output/model.tar.gz", tmp_path / "m")
    assert [p.name for p in single] == ["model.tar.gz"]
    partial = store.download_prefix("s3://bucket/data/sample/trans", tmp_path / "d")
    assert [p.name for p in partial] == ["transactions.csv"]
    # Inputs are hard links: no copy of big files per job.
    assert os.path.samefile(
        single[0], store.path_for("s3://bucket/exec/Train/job/output/model.tar.gz")
    )


def test_upload_dir_publishes_every_file(store: ArtifactStore, tmp_path: Path) -> None:
    out = tmp_path / "job" / "train"
    (out / "sub").mkdir(parents=True)
    (out / "train.parquet").write_bytes(b"rows")
    (out / "sub" / "schema.json").write_text("{}")
    written = store.upload_dir(out, "s3://bucket/exec/1/Preprocess/train")
    assert sorted(written) == [
        "s3://bucket/exec/1/Preprocess/train/sub/schema.json",
        "s3://bucket/exec/1/Preprocess/train/train.parquet",
    ]
    assert store.read_bytes("s3://bucket/exec/1/Preprocess/train/train.parquet") == b"rows"


def test_fingerprint_changes_with_content_and_names(store: ArtifactStore) -> None:
    store.put_bytes(b"a", "s3://bucket/p/x.csv")
    first = store.fingerprint("s3://bucket/p/")
    assert store.fingerprint("s3://bucket/p/") == first
    store.put_bytes(b"b", "s3://bucket/p/x.csv")
    second = store.fingerprint("s3://bucket/p/")
    assert second != first
    store.put_bytes(b"b", "s3://bucket/p/y.csv")
    assert store.fingerprint("s3://bucket/p/") not in (first, second)
    assert store.fingerprint("s3://bucket/none/") == "empty"


def test_file_digests_are_memoised_across_store_instances(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    store = ArtifactStore(tmp_path / "store", digests=state)
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 1000)
    digest = store.file_digest(big)
    info = big.stat()
    assert state.get_digest(str(big.resolve()), info.st_size, info.st_mtime_ns, info.st_ino)
    # A fresh process (new store over the same state) trusts the memo: prove it by
    # planting a different digest and seeing it come back unchanged.
    state.put_digest(str(big.resolve()), info.st_size, info.st_mtime_ns, info.st_ino, "memo")
    assert ArtifactStore(tmp_path / "store", digests=state).file_digest(big) == "memo"
    big.write_bytes(b"y" * 1000)  # same size, new mtime: hashed again
    assert ArtifactStore(tmp_path / "store", digests=state).file_digest(big) not in (
        "memo",
        digest,
    )


def _tarball(path: Path, members: list[tarfile.TarInfo], payload: bytes = b"data") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info in members:
            if info.isfile():
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
            else:
                archive.addfile(info)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_a_normal_model_tarball_extracts(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "model.tar.gz", [_member("model.joblib"), _member("code/x.py")])
    names = extract_tarball_safely(tarball, tmp_path / "out")
    assert names == ["model.joblib", "code/x.py"]
    assert (tmp_path / "out" / "code" / "x.py").read_bytes() == b"data"


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([_member("../evil.txt")], "'..'"),
        ([_member("/etc/evil.txt")], "absolute"),
        ([_member("link", tarfile.SYMTYPE, "/etc")], "outside"),
        ([_member("link", tarfile.SYMTYPE, "../../..")], "outside"),
        # A harmless-looking link inside, then a file written through a link chain.
        (
            [_member("a", tarfile.SYMTYPE, "."), _member("b", tarfile.SYMTYPE, "a/../..")],
            "outside",
        ),
        ([_member("hard", tarfile.LNKTYPE, "../../etc/passwd")], "outside"),
        ([_member("dev", tarfile.CHRTYPE)], "device"),
    ],
)
def test_unsafe_tarball_members_are_refused(
    tmp_path: Path, members: list[tarfile.TarInfo], reason: str
) -> None:
    tarball = _tarball(tmp_path / "evil.tar.gz", members)
    with pytest.raises(StoreError, match=reason):
        extract_tarball_safely(tarball, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_a_symlink_then_a_file_through_it_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    members = [_member("escape", tarfile.SYMTYPE, str(outside)), _member("escape/pwned.txt")]
    tarball = _tarball(tmp_path / "evil.tar.gz", members)
    with pytest.raises(StoreError):
        extract_tarball_safely(tarball, tmp_path / "out")
    assert not (outside / "pwned.txt").exists()


def test_parse_uri_accepts_prefixes_and_bucket_roots() -> None:
    assert parse_uri("s3://bucket/a/b/").key == "a/b/"
    assert parse_uri("s3://bucket").key == ""
    assert parse_uri("s3://bucket/").key == ""


def test_object_keys_follow_s3_prefix_semantics_even_for_an_exact_key(
    store: ArtifactStore,
) -> None:
    for key in ("data/a.csv", "data/a.csv.bak", "data/b/c.csv", "database/d.csv"):
        store.put_bytes(b"x", f"s3://bucket/{key}")
    # `list` answers an exact key with that object alone; S3's ListObjectsV2 does not.
    assert store.object_keys("bucket", "data/a.csv") == ["data/a.csv", "data/a.csv.bak"]
    assert store.object_keys("bucket", "data/") == ["data/a.csv", "data/a.csv.bak", "data/b/c.csv"]
    assert store.object_keys("bucket", "data") == [
        "data/a.csv",
        "data/a.csv.bak",
        "data/b/c.csv",
        "database/d.csv",
    ]
    assert store.object_keys("bucket") == store.object_keys("bucket", "d")
    assert store.object_keys("other-bucket", "x") == []
    with pytest.raises(StoreError):
        store.object_keys("bucket", "../outside")


def test_etags_are_md5_hex_and_memoised_apart_from_sha256(tmp_path: Path) -> None:
    import hashlib

    state = State(tmp_path / "state.db")
    store = ArtifactStore(tmp_path / "store", digests=state)
    store.put_bytes(b"a,b\n1,2\n", "s3://bucket/x.csv")
    path = store.path_for("s3://bucket/x.csv")
    assert store.etag(path) == hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert store.file_digest(path) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    info = path.stat()
    key = (f"md5:{path.resolve()}", info.st_size, info.st_mtime_ns, info.st_ino)
    state.put_digest(*key, "memo")
    assert ArtifactStore(tmp_path / "store", digests=state).etag(path) == "memo"
    assert store.file_digest(path) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


def test_place_refuses_names_outside_the_destination_and_missing_objects(
    store: ArtifactStore, tmp_path: Path
) -> None:
    store.put_bytes(b"x", "s3://bucket/a.csv")
    with pytest.raises(StoreError, match="would be placed outside"):
        store.place([("s3://bucket/a.csv", "../escape.csv")], tmp_path / "dest")
    with pytest.raises(StoreError, match="no such object"):
        store.place([("s3://bucket/missing.csv", "missing.csv")], tmp_path / "dest")
    [placed] = store.place([("s3://bucket/a.csv", "deep/a.csv")], tmp_path / "dest")
    assert placed == tmp_path / "dest" / "deep" / "a.csv" and placed.read_bytes() == b"x"

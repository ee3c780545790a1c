"""A model archive is unpacked only within [deployment].max_extracted_bytes and
max_extracted_files, checked before anything is written (a decompression bomb costs
neither disk nor the time to inflate it)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from serve.conftest import pack, register_archive

from pipelines.cli import main as cli_main
from pipelines.serve.model import ServeError, load


def bomb(member_bytes: int) -> bytes:
    """A gzipped tar whose one member inflates to `member_bytes` zeros."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("zeros.bin")
        info.size = member_bytes
        archive.addfile(info, io.BytesIO(bytes(member_bytes)))
    return buffer.getvalue()


def serving_folders(config) -> list[Path]:
    root = config.local_home / "serving" / config.pipeline.model_package_group
    return list(root.iterdir()) if root.exists() else []


def test_an_archive_over_the_byte_limit_is_refused_naming_it_and_the_limit(make_config) -> None:
    config = make_config(deployment={"max_extracted_bytes": 1024 * 1024})
    data = bomb(64 * 1024 * 1024)
    assert len(data) < 100 * 1024  # small to store, 64 MiB to unpack
    uri = register_archive(config, data)["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    with pytest.raises(ServeError) as error:
        load(config)
    message = str(error.value)
    assert message.startswith(f"{uri} (")
    assert "would extract to more than 1048576 bytes (at member 'zeros.bin')" in message
    assert message.endswith("over [deployment].max_extracted_bytes")
    assert serving_folders(config) == []  # nothing was written


def test_an_archive_with_too_many_members_is_refused(make_config, model_dir: Path) -> None:
    config = make_config(deployment={"max_extracted_files": 2})
    register_archive(config, pack(model_dir))
    with pytest.raises(ServeError, match=r"more than 2 members, over \[deployment\]"):
        load(config)
    assert serving_folders(config) == []


def test_a_normal_model_fits_the_default_limits(make_config, model_dir: Path) -> None:
    config = make_config()
    register_archive(config, pack(model_dir))
    assert load(config).version == 1


def test_serve_exits_2_with_the_reason(make_config, capsys) -> None:
    config = make_config(deployment={"max_extracted_bytes": 1000})
    register_archive(config, bomb(10_000))
    assert cli_main(["serve", "--config", str(config.path), "--port", "0"]) == 2
    assert "over [deployment].max_extracted_bytes" in capsys.readouterr().err

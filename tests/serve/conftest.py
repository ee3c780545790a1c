"""A local project whose registry holds real models (trained on a small sample), and an
in-process `serve` HTTP server on a free port."""

from __future__ import annotations

import io
import tarfile
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from toml_writer import dump_toml

from pipelines.app.runner import open_engine
from pipelines.config import PROJECT_ROOT, ProjectConfig, load_config
from pipelines.serve.model import ServedModel, load
from pipelines.serve.server import InferenceServer

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
MAX_PAYLOAD = 64 * 1024


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What train.py leaves in /opt/ml/model: model.joblib, metadata.json, code/."""
    from model_helpers import train_model

    from pipelines.sample_data import generate_transactions

    root = tmp_path_factory.mktemp("trained")
    # 3,000 rows: enough fraud rows for Preprocess's minimum of 10 per split.
    frame = generate_transactions(3_000, seed=5)
    return train_model(root, frame, "is_fraud", "binary_classification", max_iter=30)


def pack(model_dir: Path, handler_patch: Callable[[str], str] | None = None) -> bytes:
    """model.tar.gz as the training job packs it; optionally with an edited handler."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(model_dir.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            data = path.read_bytes()
            name = path.relative_to(model_dir).as_posix()
            if handler_patch and name == "code/inference.py":
                data = handler_patch(data.decode()).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., ProjectConfig]:
    """pipeline.toml copied under tmp_path with a private local home (and given sections)."""

    def make(**sections: dict) -> ProjectConfig:
        raw = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text())
        raw["local"]["home"] = str(tmp_path / "home")
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        path = tmp_path / "pipeline.toml"
        path.write_text(dump_toml(raw))
        return load_config(path, environ={})

    return make


@pytest.fixture
def config(make_config: Callable[..., ProjectConfig]) -> ProjectConfig:
    return make_config()


def register_archive(
    config: ProjectConfig, archive: bytes, status: str = "Approved", **registration: Any
) -> dict:
    """Put a model archive into the local store and register it (`registration`: more of
    ModelRegistry.register's arguments); returns the package."""
    engine = open_engine(config)
    count = len(engine.registry.list(config.pipeline.model_package_group))
    uri = f"s3://{config.aws.local_bucket}/models/{count + 1}/model.tar.gz"
    engine.store.put_bytes(archive, uri)
    return engine.registry.register(
        config.pipeline.model_package_group,
        inference_specification={"Containers": [{"Image": IMAGE, "ModelDataUrl": uri}]},
        approval_status=status,
        **registration,
    )


@pytest.fixture
def register(config: ProjectConfig, model_dir: Path) -> Callable[..., dict]:
    """Register the trained model (optionally with an edited handler) with a status."""

    def add(
        status: str, handler_patch: Callable[[str], str] | None = None, **registration: Any
    ) -> dict:
        return register_archive(config, pack(model_dir, handler_patch), status, **registration)

    return add


def start(
    model: ServedModel, threads: int = 4, **limits: float
) -> tuple[InferenceServer, threading.Thread]:
    server = InferenceServer(
        ("127.0.0.1", 0), model, max_payload_bytes=MAX_PAYLOAD, threads=threads, **limits
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def serve(config: ProjectConfig) -> Iterator[Callable[..., InferenceServer]]:
    """Load a version like `serve` does and answer HTTP on 127.0.0.1:<free port>
    (`request_timeout` and `max_connections` as InferenceServer takes them)."""
    running: list[tuple[InferenceServer, threading.Thread]] = []

    def begin(version: int | None = None, threads: int = 4, **limits: float) -> InferenceServer:
        running.append(start(load(config, version), threads, **limits))
        return running[-1][0]

    yield begin
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

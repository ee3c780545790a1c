"""Shared test setup.

The container scripts are plain files run by SageMaker, not a package: their folders go on
sys.path so tests can `import preprocess`, `import train`, `import inference` and
`import evaluate`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
# tests/ itself too, for shared helpers such as toml_writer (not a package: site-packages
# already holds an unrelated top-level `tests`).
for folder in (ROOT, TESTS, ROOT / "processing", ROOT / "training", ROOT / "evaluation"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

# scikit-learn's gradient boosting spins OpenMP threads on every core; on a busy 2-core
# machine that made a 1 s fit take over a minute. Tests fit small models: one thread is
# plenty. Set before scikit-learn is imported; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# `make test-image` runs the container tests in a venv holding only the image's libraries
# (requirements-image.txt). There, test modules that need the project's own dependencies
# (sagemaker, moto, ...) must not even be imported, so only modules directly in tests/ that
# mark container tests are collected.
IMAGE_LIBRARIES_ONLY = importlib.util.find_spec("sagemaker") is None


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    if not IMAGE_LIBRARIES_ONLY or collection_path == TESTS:
        return None
    if collection_path.is_dir():
        return True
    if collection_path.suffix == ".py":
        return "pytest.mark.container" not in collection_path.read_text(encoding="utf-8")
    return None


@pytest.fixture(scope="session", autouse=True)
def stop_warm_lambda_environments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Local runs leave Lambda environments warm, as a user's runs do; the suite stops the
    ones its projects started instead of leaving them to idle out after it."""
    yield
    if IMAGE_LIBRARIES_ONLY:
        return
    from pipelines.local.lambda_runtime import LambdaRuntime

    for root in tmp_path_factory.getbasetemp().rglob("lambda-runtimes"):
        LambdaRuntime(root, keep_warm_seconds=0).stop_all()

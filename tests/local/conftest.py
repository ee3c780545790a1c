"""Fixtures for the local engine: temporary projects, a prebuilt definition, small data.

Building a definition imports the SageMaker SDK (seconds). Every temporary project here has
the same code and settings, so one definition is built per session and seeded into each
project's definition cache under the fingerprint `load_definition` computes for it; a test
that changes job code gets a real rebuild.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from toml_writer import dump_toml

from pipelines.app.runner import conformance_check
from pipelines.code_assets import project_code
from pipelines.config import PROJECT_ROOT, ProjectConfig, load_config
from pipelines.definition_cache import fingerprint
from pipelines.local.events import EventLog
from pipelines.local.orchestrator import Engine
from pipelines.local.registry import ModelRegistry
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

PROJECT_PARTS = ("processing", "training", "evaluation", "lambdas")
SAMPLE = Path("data/sample/transactions.csv")
# Retries that finish in seconds: 1 s first interval, no growth, 2 retries per policy.
FAST_RETRY = {
    "interval_seconds": 1,
    "backoff_rate": 1.0,
    "max_attempts": 2,
    "job_interval_seconds": 1,
    "job_max_attempts": 2,
}
SMALL_ROWS = 3000


def write_project(
    root: Path, home: Path, source: Path = PROJECT_ROOT, **sections: dict[str, Any]
) -> ProjectConfig:
    """A copy of a project (config, job code, bundled sample) whose state lives in `home`."""
    root.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        shutil.copytree(source / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    (root / SAMPLE.parent).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / SAMPLE, root / SAMPLE)
    raw = tomllib.loads((source / "pipeline.toml").read_text())
    raw["local"]["home"] = str(home)
    raw["retry"].update(FAST_RETRY)
    # Warm Lambda environments are used as in a user's runs, but idle out soon after a test.
    raw["local"]["lambda_keep_warm_seconds"] = 30
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    (root / "pipeline.toml").write_text(dump_toml(raw))
    return load_config(root / "pipeline.toml", environ={})


@dataclass(frozen=True)
class Template:
    """A snapshot of the project's code (other work may edit the checkout while tests run)
    and the definition built for it once."""

    root: Path
    definition: str
    code_digests: tuple[str, ...]


@pytest.fixture(scope="session", autouse=True)
def single_threaded_jobs() -> Iterator[None]:
    """Jobs inherit the environment: one OpenMP thread keeps small fits fast on busy, shared
    CI machines (spinning OpenMP workers can make a 2 s fit take 30 s)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    from pipelines.definition_cache import load_definition

    base = tmp_path_factory.mktemp("template")
    config = write_project(base / "project", base / "home")
    text, code = load_definition(config, "local")
    return Template(config.root, text, tuple(asset.digest for asset in code.all()))


@pytest.fixture(scope="session")
def local_definition(template: Template) -> str:
    return template.definition


def seed_definition(config: ProjectConfig, template: Template) -> None:
    """Put the prebuilt definition where `load_definition` will look for this project, if
    the project's code is the template's (else the test pays for a real build)."""
    code = project_code(config)
    if tuple(asset.digest for asset in code.all()) != template.code_digests:
        return
    path = config.local_home / "definitions" / f"local-{fingerprint(config, 'local', code)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template.definition, encoding="utf-8")


@pytest.fixture
def make_project(tmp_path: Path, template: Template) -> Callable[..., ProjectConfig]:
    """Factory: a fresh project under tmp_path with the session's definition seeded."""
    counter = iter(range(100))

    def make(name: str | None = None, **sections: dict[str, Any]) -> ProjectConfig:
        label = name or f"project{next(counter)}"
        config = write_project(
            tmp_path / label, tmp_path / label / ".pipeline-local", template.root, **sections
        )
        if not sections:
            seed_definition(config, template)
        return config

    return make


@pytest.fixture(scope="session")
def shared_project(
    tmp_path_factory: pytest.TempPathFactory, template: Template
) -> Callable[[str], ProjectConfig]:
    """Factory for projects that outlive one test (module-scoped scenarios)."""

    def make(label: str) -> ProjectConfig:
        base = tmp_path_factory.mktemp(label)
        config = write_project(base / "project", base / "home", template.root)
        seed_definition(config, template)
        return config

    return make


@pytest.fixture
def project(make_project: Callable[..., ProjectConfig]) -> ProjectConfig:
    return make_project("project")


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few thousand generated transactions, the size end-to-end tests run on."""
    from pipelines.sample_data import generate_transactions

    path = tmp_path_factory.mktemp("data") / "transactions.csv"
    generate_transactions(SMALL_ROWS, seed=11).to_csv(path, index=False)
    return path


@pytest.fixture
def engine_options() -> dict[str, Any]:
    """Extra Engine arguments; a test module overrides this fixture (e.g. a fake clock)."""
    return {}


@pytest.fixture
def engine(tmp_path: Path, engine_options: dict[str, Any]) -> Engine:
    """An engine over an empty home, for hand-written definitions."""
    state = State(tmp_path / "state.db")
    events = EventLog(tmp_path / "events.jsonl", "us-east-1")
    return Engine(
        store=ArtifactStore(tmp_path / "store", digests=state),
        state=state,
        events=events,
        registry=ModelRegistry(state, "us-east-1", events),
        jobs_root=tmp_path / "jobs",
        region="us-east-1",
        job_check=conformance_check(tmp_path / "conformance"),
        **engine_options,
    )

"""Fixtures for the view: one project with three real local executions, shared by every
test module here (a run costs seconds; the pages only read what the runs left behind). The
browser's live-update test adds a fourth (a cached rerun), so tests find "the latest"
execution in the state database rather than assuming it.

The project copies, the prebuilt definition and the small input are the local engine's
fixtures, imported rather than duplicated.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import local.conftest as local_fixtures
import pytest
from view_helpers import Runs

from pipelines.app.runner import execute
from pipelines.config import ProjectConfig
from pipelines.view.server import ViewServer

Template = local_fixtures.Template
write_project = local_fixtures.write_project
seed_definition = local_fixtures.seed_definition
# Fixtures, re-exported so pytest finds them for tests/view.
template = local_fixtures.template
local_definition = local_fixtures.local_definition
small_sample = local_fixtures.small_sample
single_threaded_jobs = local_fixtures.single_threaded_jobs


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory, template: Template, small_sample: Path) -> Runs:
    base = tmp_path_factory.mktemp("view")
    config = write_project(base / "project", base / "home", template.root)
    seed_definition(config, template)
    data = {"InputDataUrl": str(small_sample)}
    first = execute(config, data)
    assert first.succeeded, first.failure_reason
    second = execute(config, data)
    assert second.succeeded, second.failure_reason
    third = execute(config, {**data, "MetricThreshold": "0.99"})
    assert not third.succeeded
    return Runs(config, first.execution_id, second.execution_id, third.execution_id, small_sample)


@pytest.fixture
def server(runs: Runs) -> Iterator[ViewServer]:
    """The view's server on a free port of 127.0.0.1, in a thread."""
    server = ViewServer(runs.config, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def empty_project(tmp_path: Path, template: Template) -> ProjectConfig:
    """A project with no executions yet."""
    config = write_project(tmp_path / "project", tmp_path / "home", template.root)
    seed_definition(config, template)
    return config

"""A read-only or uncreatable `[local].home`: one-line errors naming the path (exit 2), never
a PermissionError or sqlite3 traceback; the read-only commands still work on a read-only
home, and a run whose engine died shows Failed there without anything being written.

Root ignores file permissions, so as root the commands run with the capabilities that let
root do so (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) dropped, through util-linux's
`setpriv`: a real unprivileged writer for the folder, whoever runs the suite.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import RUN_PIPELINE
from waiting import FAILSAFE_SECONDS

from pipelines.config import PROJECT_ROOT, ProjectConfig
from pipelines.local.records import ExecutionStatus
from pipelines.local.state import State

pytestmark = pytest.mark.slow

_DROPPED = "-dac_override,-dac_read_search,-fowner"


def _unprivileged_prefix() -> list[str] | None:
    """How to run a command that file permissions apply to; None when impossible here."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set", _DROPPED, "--inh-caps", _DROPPED, "--"]
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o555)
        probe = subprocess.run([*prefix, "touch", f"{folder}/probe"], capture_output=True)
        os.chmod(folder, 0o755)
    return prefix if probe.returncode != 0 else None


UNPRIVILEGED = _unprivileged_prefix()


def run(config_path: Path, *args: str, prefix: list[str] | None = None):
    return subprocess.run(
        [*(prefix or []), sys.executable, RUN_PIPELINE, "--config", str(config_path), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=FAILSAFE_SECONDS,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line


@pytest.mark.parametrize(
    "command",
    [
        ("executions", "list"),
        ("registry", "list"),
        ("start",),
        ("view",),
        ("cost",),
        ("registry", "approve", "1"),
    ],
)
def test_an_uncreatable_home_is_a_one_line_error(make_project, tmp_path, command) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    home = blocker / "home"
    config = make_project(local={"home": str(home)})
    result = run(config.root / "pipeline.toml", *command)
    assert_one_line_error(
        result, f"the local home {home} ([local].home) cannot be created", "is a file"
    )


@pytest.fixture(scope="module")
def read_only_home(
    tmp_path_factory: pytest.TempPathFactory, template, small_sample: Path
) -> Iterator[tuple[ProjectConfig, str, str]]:
    """A home holding one real execution and one whose engine died, then made read-only."""
    from local.conftest import seed_definition, write_project

    base = tmp_path_factory.mktemp("read-only")
    config = write_project(base / "project", base / "project" / ".pipeline-local", template.root)
    seed_definition(config, template)
    done = run(
        config.root / "pipeline.toml",
        "--param",
        f"InputDataUrl={small_sample}",
        "--param",
        "MetricThreshold=0",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    state = State(config.local_home / "state.db")
    finished = state.list_executions(1)[0].execution_id
    dead = _dead_execution(state, finished)
    state.close()
    for folder, _, files in os.walk(config.local_home):
        for name in files:
            os.chmod(Path(folder, name), 0o444)
        os.chmod(folder, 0o555)
    yield config, finished, dead
    for folder, _, _ in os.walk(config.local_home):
        os.chmod(folder, 0o755)


def _dead_execution(state: State, like: str) -> str:
    """A copy of an execution, still Executing, owned by a process that no longer exists."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True).stdout.strip()  # fmt: skip
    record = state.get_execution(like)
    owner = {**record.owner, "pid": int(gone), "start_ticks": 1}
    execution_id = "deadengine01"
    state.create_execution(
        dataclasses.replace(
            record,
            execution_id=execution_id,
            execution_arn=record.execution_arn.rsplit("/", 1)[0] + "/" + execution_id,
            status=ExecutionStatus.EXECUTING,
            owner=owner,
        )
    )
    state.upsert_step(execution_id, "Train", step_type="Training", status="Executing")
    return execution_id


needs_unprivileged = pytest.mark.skipif(
    UNPRIVILEGED is None,
    reason="running as root without setpriv able to drop CAP_DAC_OVERRIDE: nothing here "
    "can make a folder unwritable for this process",
)


@needs_unprivileged
def test_read_only_commands_work_on_a_read_only_home(read_only_home, tmp_path) -> None:
    config, finished, dead = read_only_home
    toml = config.root / "pipeline.toml"
    before = (config.local_home / "state.db").read_bytes()

    listing = run(toml, "executions", "list", prefix=UNPRIVILEGED)
    assert listing.returncode == 0, listing.stderr
    assert f"{finished}  Succeeded" in listing.stdout
    # The dead run shows Failed, though nothing could be written.
    assert f"{dead}  Failed" in listing.stdout
    assert "Step Train failed: the engine stopped while this step ran" in listing.stdout

    described = run(toml, "executions", "describe", finished, prefix=UNPRIVILEGED)
    assert described.returncode == 0, described.stderr
    assert "Status      Succeeded" in described.stdout
    registry = run(toml, "registry", "list", prefix=UNPRIVILEGED)
    assert registry.returncode == 0 and "PendingManualApproval" in registry.stdout
    page = tmp_path / "page.html"
    view = run(toml, "view", finished, "-o", str(page), prefix=UNPRIVILEGED)
    assert view.returncode == 0, view.stderr
    assert finished in page.read_text()
    cost = run(toml, "cost", finished, prefix=UNPRIVILEGED)
    assert cost.returncode == 0 and "Total" in cost.stdout, cost.stderr
    assert (config.local_home / "state.db").read_bytes() == before


@needs_unprivileged
@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        (("start",), "is read-only: a run writes its state, artifacts and logs there"),
        (("registry", "approve", "1"), "is read-only: this command writes to"),
        (("view",), "is read-only for this user"),
    ],
)
def test_commands_that_write_say_the_home_is_read_only(read_only_home, command, fragment):
    config, _, _ = read_only_home
    result = run(config.root / "pipeline.toml", *command, prefix=UNPRIVILEGED)
    assert_one_line_error(result, str(config.local_home.resolve()), fragment)

"""An input that contains, or lies inside, the local home is refused before anything is
copied (it used to copy the store into itself until paths exceeded the file-name limit):
from the command line, and from `schedule` and `watch`, which start runs the same way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from processes import RUN_PIPELINE
from waiting import FAILSAFE_SECONDS

from pipelines.app import local_run
from pipelines.config import ProjectConfig
from pipelines.parameters import ParameterError
from pipelines.settings.triggers import WatchSettings, load_settings
from pipelines.triggers import inputs
from pipelines.triggers.watch import Watcher

pytestmark = pytest.mark.slow


def start(config: ProjectConfig, value: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            RUN_PIPELINE,
            "--config",
            str(config.root / "pipeline.toml"),
            "--param",
            f"InputDataUrl={value}",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=FAILSAFE_SECONDS,
    )


def nothing_copied(config: ProjectConfig) -> bool:
    store = config.local_home / "store"
    return not list(store.rglob("inputs")) and not (config.local_home / "jobs").exists()


@pytest.mark.parametrize(
    ("value", "relation"),
    [
        (".", "contains"),  # the project root, from the project root: the case
        (".pipeline-local", "is"),
        (".pipeline-local/store", "is inside"),
    ],
)
def test_the_command_line_refuses_the_input_naming_both_paths(
    make_project, value: str, relation: str
) -> None:
    config = make_project()
    result = start(config, value, cwd=config.root)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    home = config.local_home.resolve()
    assert line.startswith(f"error: parameter InputDataUrl: {(config.root / value).resolve()} ")
    assert str(home) in line
    expected = {
        "contains": f"it contains the local home {home}",
        "is": "it is the local home itself",
        "is inside": f"it is inside the local home {home}",
    }[relation]
    assert expected in line
    assert nothing_copied(config)


def test_a_scheduled_run_on_a_folder_holding_the_home_does_not_start(make_project) -> None:
    config = make_project(triggers={"local_input": "."})
    settings = load_settings(config).triggers
    location = inputs.local_input_location(config, settings)
    with pytest.raises(ParameterError, match="contains the local home"):
        local_run.run_local_execution(config, inputs.schedule_parameters(settings, location))
    assert nothing_copied(config)


def test_a_watched_folder_holding_the_home_dead_letters_the_file_with_the_reason(
    make_project,
) -> None:
    config = make_project(triggers={"data_arrival_input": "prefix"})
    folder = config.root
    (folder / "arrived.csv").write_text("amount,is_fraud\n1.0,0\n")
    watcher = Watcher(
        config, folder, settings=WatchSettings(debounce_seconds=0.0), out=lambda line: None
    )
    try:
        watcher.poll()
    finally:
        watcher.close()
    assert folder / ".dead-letter" / "arrived.csv" in watcher.report.dead_lettered
    reason = (folder / ".dead-letter" / "arrived.csv.reason.txt").read_text()
    assert f"contains the local home {config.local_home.resolve()}" in reason
    assert nothing_copied(config)

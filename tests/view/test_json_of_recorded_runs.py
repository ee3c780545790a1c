"""`--json` of every local command that prints data: one key convention (snake_case), times
as ISO 8601 UTC (`...Z`), on the view's three real executions."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import local.conftest as local_fixtures
import pytest
from view_helpers import Runs

from pipelines.app.runner import open_engine
from pipelines.cli import main
from pipelines.config import ProjectConfig

pytestmark = pytest.mark.slow

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def cli_json(config: ProjectConfig, capsys, *argv: str) -> Any:
    capsys.readouterr()
    assert main(["--config", str(config.path), *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_convention(document: dict[str, Any]) -> None:
    """snake_case keys; every `*_time` holds an ISO 8601 UTC time (or nothing)."""
    for key, value in document.items():
        assert SNAKE.match(key), key
        if key == "time" or key.endswith("_time"):
            assert value is None or ISO_UTC.match(value), (key, value)


def test_executions_list_json(runs: Runs, capsys) -> None:
    listed = cli_json(runs.config, capsys, "executions", "list", "-n", "50")
    by_id = {e["execution_id"]: e for e in listed}
    assert {runs.succeeded, runs.cached, runs.failed} <= set(by_id)
    for execution in listed:
        assert_convention(execution)
    failed = by_id[runs.failed]
    assert failed["status"] == "Failed" and failed["failure_detail"]
    assert by_id[runs.succeeded]["failure_detail"] is None
    # The same instant the state holds, as ISO 8601.
    raw = open_engine(runs.config).state.find_execution(runs.succeeded)
    start = datetime.fromisoformat(by_id[runs.succeeded]["start_time"])
    assert abs(start.timestamp() - raw.start_time) < 0.001


def test_executions_describe_json(runs: Runs, capsys) -> None:
    document = cli_json(runs.config, capsys, "executions", "describe", runs.failed)
    assert set(document) == {"execution", "steps", "snapshot", "drift"}
    assert_convention(document["execution"])
    assert document["execution"]["execution_id"] == runs.failed
    assert document["execution"]["failure_detail"]
    assert document["execution"]["end_time"] >= document["execution"]["start_time"]
    names = []
    for step in document["steps"]:
        assert_convention(step)
        names.append(step["step_name"])
    assert "Train" in names
    # SageMaker's own documents under a key keep SageMaker's spelling (property paths).
    train = next(s for s in document["steps"] if s["step_name"] == "Train")
    assert "ModelArtifacts" in train["properties"]


def test_registry_list_json(runs: Runs, capsys) -> None:
    packages = cli_json(runs.config, capsys, "registry", "list")
    assert packages
    for package in packages:
        assert_convention(package)
        assert package["creation_time"]
    assert {p["model_package_version"] for p in packages} >= {1}
    assert all(p["model_package_arn"].startswith("arn:aws:sagemaker:") for p in packages)


def test_cost_json(runs: Runs, capsys) -> None:
    report = cli_json(runs.config, capsys, "cost", runs.succeeded)
    assert_convention(report)
    assert report["execution"] == runs.succeeded
    for line in report["steps"]:
        assert_convention(line)


def test_registry_approve_json(runs: Runs, capsys, tmp_path: Path, template) -> None:
    # On a copy: approving changes the shared runs' registry.
    copy = local_fixtures.write_project(tmp_path / "project", tmp_path / "home", template.root)
    shutil.copytree(runs.config.local_home, copy.local_home, dirs_exist_ok=True)
    package = cli_json(copy, capsys, "registry", "approve", "1", "--description", "ok")
    assert_convention(package)
    assert (package["model_package_version"], package["model_approval_status"]) == (1, "Approved")
    assert package["approval_description"] == "ok"
    package = cli_json(copy, capsys, "registry", "reject", "1")
    assert package["model_approval_status"] == "Rejected"

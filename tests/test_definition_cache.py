"""The definition cache: a job-script edit reuses the built definition with the new code URIs
(no SDK import, no rebuild), and that is byte for byte what a fresh build emits; anything
else that shapes the definition still rebuilds it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import pipelines.definition
from pipelines.config import PROJECT_ROOT, load_config
from pipelines.definition import definition_json
from pipelines.definition_cache import load_definition


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "pipeline.toml", root / "pipeline.toml")
    for folder in ("processing", "training", "evaluation"):
        shutil.copytree(
            PROJECT_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return root


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each SDK build load_definition asks for, from now on, answered with a marker text."""
    calls: list[str] = []

    def build(config, target, code):
        calls.append(target)
        return f'{{"built": {len(calls)}}}'

    monkeypatch.setattr(pipelines.definition, "definition_json", build)
    return calls


def test_a_script_edit_reuses_the_definition_and_equals_a_fresh_build(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, target = load_config(project / "pipeline.toml"), "local"
    before, _ = load_definition(config, target)  # a real build: nothing cached yet
    for script in ("training/train.py", "processing/preprocess.py"):
        with (project / script).open("a") as handle:
            handle.write("\n# an edit\n")

    with monkeypatch.context() as patched:
        builds = _builds(patched)
        reused, code = load_definition(config, target)
    assert builds == []
    assert reused != before
    assert reused == definition_json(config, target, code)
    # And the patched text is what the next command reads, from its own cache entry.
    with monkeypatch.context() as patched:
        builds = _builds(patched)
        assert load_definition(config, target)[0] == reused
    assert builds == []


def test_a_configuration_change_rebuilds(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(project / "pipeline.toml")
    builds = _builds(monkeypatch)
    load_definition(config, "local")
    toml = project / "pipeline.toml"
    toml.write_text(toml.read_text().replace("max_parallel_steps = 2", "max_parallel_steps = 3"))
    changed = load_config(toml)
    assert changed != config
    text, _ = load_definition(changed, "local")
    assert builds == ["local", "local"]
    assert text == '{"built": 2}'

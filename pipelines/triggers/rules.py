"""Local EventBridge rules whose target is the pipeline: the engine's event log matched
against the same patterns the stack's rules hold, each match starting a local run with the
rule's parameters (what the AWS rule's SageMaker target sends as pipeline parameters).

The caller names the rules: today the drift alarm's retraining rule, which the drift loop
composes (`pipelines/drift/monitoring.py`, `retrain_rules`), so this module knows no feature
that builds on it. Like the
notifier (notify.py), the dispatcher keeps its byte offset in the event log
(`<local home>/triggers/rules.json`), advanced past an event once its run was started, under
a file lock, so concurrent callers never start a run twice for one event.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ProjectConfig
from pipelines.eventbridge.matcher import matches
from pipelines.eventbridge.notify import events_path, locked, read_lines, state_dir
from pipelines.eventbridge.patterns import RuleSpec

Starter = Callable[[ProjectConfig, Mapping[str, str]], int]


@dataclass(frozen=True)
class PipelineRule:
    """A rule and the pipeline parameters its target starts the pipeline with."""

    spec: RuleSpec
    parameters: Mapping[str, str]


@dataclass(frozen=True)
class Started:
    rule: str
    event_id: str
    parameters: dict[str, str]
    exit_code: int


def dispatch_pending(
    config: ProjectConfig,
    rules: Sequence[PipelineRule],
    start: Starter,
    *,
    out: Callable[[str], None] = print,
) -> list[Started]:
    """Start a run for each event appended since the last call that a pipeline rule matches;
    returns what was started. A run's failure is its own (recorded, notified); the event is
    consumed once its run was started, as EventBridge delivers a matched event once."""
    path = events_path(config)
    directory = state_dir(config)
    offsets_path = directory / "rules.json"
    started: list[Started] = []
    with locked(directory, "rules"):
        if not path.exists():
            return started
        try:
            mark = json.loads(offsets_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            mark = {}
        stat = path.stat()
        offset = mark.get("offset", 0)
        if mark.get("inode") != stat.st_ino or offset > stat.st_size:
            offset = 0
        for event, end in read_lines(path, offset):
            for rule in rules if event else ():
                if matches(rule.spec.pattern, event):
                    name = rule.spec.name(config.pipeline.name)
                    parameters = dict(rule.parameters)
                    out(f"rule {name}: event {event.get('id')} starts a run with {parameters}")
                    _save(offsets_path, end, stat.st_ino)
                    code = start(config, parameters)
                    started.append(Started(name, str(event.get("id")), parameters, code))
            offset = end
        _save(offsets_path, offset, stat.st_ino)
    return started


def _save(path: Path, offset: int, inode: int) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"offset": offset, "inode": inode}), encoding="utf-8")
    os.replace(temporary, path)


def skip_existing(config: ProjectConfig) -> None:
    """Mark the whole log as seen (rules act on events from now on)."""
    path = events_path(config)
    directory = state_dir(config)
    with locked(directory, "rules"):
        if path.exists():
            stat = path.stat()
            _save(directory / "rules.json", stat.st_size, stat.st_ino)

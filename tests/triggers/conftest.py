"""Fixtures for the local side of triggers: configurations with chosen [triggers] and
[notifications] sections and a private local home."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import LocalSettings, ProjectConfig, load_config


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., ProjectConfig]:
    """The project's configuration with its local home under tmp_path and the given
    [triggers] / [notifications] tables (raw, as pipeline.toml would hold them)."""

    def make(
        triggers: dict[str, Any] | None = None, notifications: dict[str, Any] | None = None
    ) -> ProjectConfig:
        base = load_config(environ={})
        extra = dict(base.extra)
        extra["triggers"] = triggers or {}
        extra["notifications"] = notifications or {}
        return dataclasses.replace(
            base, local=LocalSettings(home=str(tmp_path / "home")), extra=extra
        )

    return make


@pytest.fixture
def config(make_config: Callable[..., ProjectConfig]) -> ProjectConfig:
    return make_config()

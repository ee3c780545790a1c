"""The default way `watch` and `schedule` start a run: the local engine, in the foreground
of the calling thread (a seam tests replace)."""

from __future__ import annotations

from collections.abc import Mapping

from pipelines.config import ProjectConfig


def run_local_execution(config: ProjectConfig, overrides: Mapping[str, str]) -> int:
    """0 if the execution succeeded, 1 if it failed; raises when it cannot start."""
    # Deferred: the engine (42 modules, ~52 ms of CPU) loads when a run starts, not when
    # `schedule --next` or `watch` imports this module.
    from pipelines.app.runner import run_local

    return run_local(config, dict(overrides))

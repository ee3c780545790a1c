"""Shared by the view tests (a module of its own: `conftest` is ambiguous across folders)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ProjectConfig

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass(frozen=True)
class Runs:
    config: ProjectConfig
    succeeded: str  # first run: every job ran, a model was registered
    cached: str  # the same again: the jobs are cache hits, no new version registered
    failed: str  # MetricThreshold=0.99: ends in the FailStep
    sample: Path  # the input they ran on

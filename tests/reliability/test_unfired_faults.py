"""`--inject-fault` on a step that is a cache hit or is never reached is a warning in the run
summary, `executions describe` and the event log, never silence."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from processes import RUN_PIPELINE, cli
from waiting import FAILSAFE_SECONDS

from pipelines.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_faults_on_a_cache_hit_and_on_an_unreached_step_are_reported(
    make_project, small_sample
) -> None:
    config = make_project()
    toml = str(config.root / "pipeline.toml")
    base = [sys.executable, RUN_PIPELINE, "--config", toml]
    data = ["--param", f"InputDataUrl={small_sample}"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*base, *data, *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=FAILSAFE_SECONDS,
        )

    first = run("--param", "MetricThreshold=0")
    assert first.returncode == 0, first.stdout + first.stderr
    # Train is a cache hit now; with an unreachable threshold the Fail branch is taken and
    # RegisterModel never runs.
    second = run(
        "--param",
        "MetricThreshold=0.99",
        "--inject-fault",
        "Train=THROTTLING",
        "--inject-fault",
        "RegisterModel=THROTTLING:2",
    )
    assert second.returncode == 1, second.stdout + second.stderr
    cache_hit = "WARNING: --inject-fault Train=THROTTLING:1 never fired: Train was a cache hit"
    unreached = (
        "WARNING: --inject-fault RegisterModel=THROTTLING:2 never fired: RegisterModel never ran"
    )
    assert cache_hit in second.stdout and "Rerun with --no-cache" in second.stdout
    assert unreached in second.stdout

    execution_id = json.loads(
        cli(config.root / "pipeline.toml", "executions", "list", "--json").stdout
    )[0]["execution_id"]
    described = cli(config.root / "pipeline.toml", "executions", "describe", execution_id)
    assert cache_hit in described.stdout and unreached in described.stdout
    warnings = [
        json.loads(line)
        for line in (config.local_home / "events.jsonl").read_text().splitlines()
        if '"Local Pipeline Execution Warning"' in line
    ]
    assert sorted(w["detail"]["stepName"] for w in warnings) == ["RegisterModel", "Train"]
    assert all(w["detail"]["pipelineExecutionArn"].endswith(execution_id) for w in warnings)

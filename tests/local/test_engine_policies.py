"""The policies as the engine applies them to a real job: what a user sees across
executions (reuse, expiry, --no-cache) and across a step's attempts (backoff, job names)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from test_orchestrator import definition, processing, script

from pipelines.local.faults import parse_faults
from pipelines.local.orchestrator import Engine, ExecutionResult, RunOptions, StepUpdate

HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Backoffs:
    """The backoff waits asked for, none of them slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, stop: threading.Event, seconds: float) -> bool:
        self.seconds.append(seconds)
        return stop.is_set()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backoffs() -> Backoffs:
    return Backoffs()


@pytest.fixture
def engine_options(clock: Clock, backoffs: Backoffs) -> dict[str, Any]:
    """The shared `engine` fixture (conftest), with a fake clock and a recorded backoff wait."""
    return {"clock": clock, "backoff_wait": backoffs}


def cached_step(engine: Engine, **cache_config) -> dict:
    code = script(engine, "write.py", WRITE)
    return processing(
        "Write",
        code,
        outputs=["out"],
        args=["/opt/ml"],
        CacheConfig={"Enabled": True, **cache_config},
    )


WRITE = """
import pathlib, sys
pathlib.Path(sys.argv[1] + "/processing/out/value.txt").write_text("42")
"""


def _source(result: ExecutionResult) -> str | None:
    """The execution whose result the step reused, or None when its job ran."""
    record = result.steps["Write"]
    return record.cache_source_id if record.cache_source_arn else None


def test_a_no_cache_run_is_what_the_next_run_reuses(engine: Engine) -> None:
    step = cached_step(engine)
    first = engine.run(definition(step), "p", {})
    assert _source(first) is None
    forced = engine.run(definition(step), "p", {}, RunOptions(no_cache=True))
    assert _source(forced) is None  # its job ran
    later = engine.run(definition(step), "p", {})
    assert _source(later) == forced.execution_id


def test_an_entry_past_expire_after_is_not_reused(engine: Engine, clock: Clock) -> None:
    step = cached_step(engine, ExpireAfter="PT1H")
    first = engine.run(definition(step), "p", {})
    clock.now += HOUR - 60
    assert _source(engine.run(definition(step), "p", {})) == first.execution_id
    clock.now += 120  # now past the hour since the first run recorded its result
    expired = engine.run(definition(step), "p", {})
    assert _source(expired) is None


def test_cache_config_enabled_false_runs_the_job_every_time(engine: Engine) -> None:
    step = cached_step(engine, Enabled=False)
    engine.run(definition(step), "p", {})
    again = engine.run(definition(step), "p", {})
    assert _source(again) is None
    assert "CacheKey" not in again.steps["Write"].metadata


def test_a_retry_waits_its_backoff_and_runs_a_newly_named_job(
    engine: Engine, backoffs: Backoffs
) -> None:
    step = cached_step(engine, Enabled=False)
    step["RetryPolicies"] = [
        {
            "ExceptionType": ["SageMaker.CAPACITY_ERROR"],
            "IntervalSeconds": 30,
            "BackoffRate": 3.0,
            "MaxAttempts": 2,
        }
    ]
    names: dict[str, list[str | None]] = {}

    class Listener:
        def execution_started(self, execution_id, steps) -> None:
            pass

        def step_changed(self, update: StepUpdate) -> None:
            names.setdefault(update.status, []).append(update.step.job_name)

        def execution_finished(self, result) -> None:
            pass

    faults = parse_faults(["Write=CAPACITY_ERROR:2"], {"Write": "Processing"})
    result = engine.run(definition(step), "p", {}, RunOptions(faults=faults, listener=Listener()))
    assert result.succeeded and result.steps["Write"].attempts == 3
    assert backoffs.seconds == [30, 90]  # none of it slept
    first, second = names["Retrying"]
    (final,) = names["Succeeded"]
    # A faulted attempt fails before its job starts, so it names none; the retry that runs
    # a job runs a new one, not the first attempt's.
    assert first == second and final != first
    properties = result.steps["Write"].properties
    assert properties["ProcessingJobName"] == final

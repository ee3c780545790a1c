"""The retry policy around a step handler: which failures it retries, how long it waits,
how each retry is named and remembered."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from step_harness import make_services, step_run

from pipelines.local.faults import Fault
from pipelines.local.hosts import Cancelled
from pipelines.local.retry import (
    ALGORITHM_ERROR,
    RETRIED_ATTEMPTS,
    THROTTLING,
    RetryingHandler,
    RetryPolicy,
)
from pipelines.local.step import Outcome, StepFailed, StepRun

THROTTLED = RetryPolicy((THROTTLING,), interval_seconds=2, backoff_rate=3, max_attempts=3)


class FlakyJob:
    """Fails its first `failures` attempts with `kind`, then succeeds; notes each attempt."""

    resolve_arguments = True
    job_kind = "processing-job"

    def __init__(self, failures: int, kind: str = THROTTLING) -> None:
        self.failures = failures
        self.kind = kind
        self.attempts: list[tuple[int, str | None]] = []

    def run(self, run: StepRun) -> Outcome:
        self.attempts.append((run.attempt, run.record.job_name))
        run.record.logs = [*run.record.logs, f"log-{run.attempt}"]
        if len(self.attempts) <= self.failures:
            raise StepFailed(f"throttled #{run.attempt}", self.kind)
        return Outcome({"Attempt": run.attempt})


class Waits:
    """The backoff waits asked for, none of them slept."""

    def __init__(self, cancelled: bool = False) -> None:
        self.delays: list[float] = []
        self.cancelled = cancelled

    def __call__(self, seconds: float) -> bool:
        self.delays.append(seconds)
        return self.cancelled


def first_run(tmp_path: Path) -> StepRun:
    run = step_run(make_services(tmp_path), {"Name": "Prep", "Type": "Processing"}, {})
    run.record.job_name = "job-1"  # named before the first attempt, as the engine does
    return run


def retrying(job: FlakyJob, waits: Waits, policies=(THROTTLED,), **options) -> RetryingHandler:
    names = (f"job-{n}" for n in itertools.count(2))
    return RetryingHandler(
        job, policies, wait=waits, clock=lambda: 100.0, new_job_name=lambda: next(names), **options
    )


def test_each_retry_waits_its_exponential_backoff(tmp_path: Path) -> None:
    job, waits = FlakyJob(failures=3), Waits()
    run = first_run(tmp_path)
    outcome = retrying(job, waits).run(run)
    assert outcome.properties == {"Attempt": 4}
    assert waits.delays == [2, 6, 18]
    assert run.record.attempts == 4


def test_each_retry_is_a_new_job_with_its_own_name(tmp_path: Path) -> None:
    job, waits = FlakyJob(failures=2), Waits()
    run = first_run(tmp_path)
    retrying(job, waits).run(run)
    assert job.attempts == [(1, "job-1"), (2, "job-2"), (3, "job-3")]
    assert run.record.job_name == "job-3"
    retried = run.record.metadata[RETRIED_ATTEMPTS]
    assert [(r["Attempt"], r["JobName"], r["ExceptionType"]) for r in retried] == [
        (1, "job-1", THROTTLING),
        (2, "job-2", THROTTLING),
    ]
    assert [r["Logs"] for r in retried] == [["log-1"], ["log-2"]]
    assert retried[0]["FailureReason"] == "throttled #1"


def test_retries_stop_when_the_policy_is_used_up(tmp_path: Path) -> None:
    job, waits = FlakyJob(failures=10), Waits()
    run = first_run(tmp_path)
    with pytest.raises(StepFailed, match="throttled #4"):
        retrying(job, waits).run(run)
    assert len(job.attempts) == 4 and waits.delays == [2, 6, 18]


def test_a_failure_no_policy_names_is_not_retried(tmp_path: Path) -> None:
    job, waits = FlakyJob(failures=1, kind=ALGORITHM_ERROR), Waits()
    with pytest.raises(StepFailed):
        retrying(job, waits).run(first_run(tmp_path))
    assert len(job.attempts) == 1 and waits.delays == []


def test_the_listeners_hear_of_each_retry_and_resumption(tmp_path: Path) -> None:
    heard: list[tuple] = []
    job, waits = FlakyJob(failures=1), Waits()
    run = first_run(tmp_path)
    retrying(
        job,
        waits,
        on_retry=lambda record, failure, delay: heard.append(
            ("retry", record.failure_reason, failure.kind, delay)
        ),
        on_resume=lambda record: heard.append(("resume", record.failure_reason)),
    ).run(run)
    assert heard == [("retry", "throttled #1", THROTTLING, 2), ("resume", None)]


def test_a_stop_during_the_backoff_cancels_the_step(tmp_path: Path) -> None:
    job, waits = FlakyJob(failures=1), Waits(cancelled=True)
    with pytest.raises(Cancelled):
        retrying(job, waits).run(first_run(tmp_path))
    assert len(job.attempts) == 1


def test_an_injected_fault_fails_an_attempt_before_its_job_starts(tmp_path: Path) -> None:
    faults = iter([Fault("Prep", THROTTLING, 1)])
    job, waits = FlakyJob(failures=0), Waits()
    run = first_run(tmp_path)
    retrying(job, waits, faults=lambda step: next(faults, None)).run(run)
    # The faulted attempt started no job; the retry is a new job, as any retry is.
    assert job.attempts == [(2, "job-2")]
    (retried,) = run.record.metadata[RETRIED_ATTEMPTS]
    assert retried["JobName"] is None and retried["ExceptionType"] == THROTTLING


def test_expire_after_min_is_measured_on_the_injected_clock(tmp_path: Path) -> None:
    now = iter([0.0, 0.0, 0.0, 61.0, 61.0, 61.0])
    policy = RetryPolicy((THROTTLING,), interval_seconds=1, expire_after_min=1)
    job, waits = FlakyJob(failures=5), Waits()
    handler = RetryingHandler(job, [policy], wait=waits, clock=lambda: next(now, 61.0))
    with pytest.raises(StepFailed):
        handler.run(first_run(tmp_path))
    assert len(job.attempts) == 2 and waits.delays == [1]

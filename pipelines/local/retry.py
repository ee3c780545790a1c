"""Step retry policies, with SageMaker Pipelines' semantics.

From "Retry Policy for Pipeline Steps" (SageMaker developer guide):
- `ExceptionType` lists the failure kinds a policy covers; other failures are not retried.
  A job that fails because its own code failed (AlgorithmError) matches no kind.
- `IntervalSeconds` (default 1) is the wait before the first retry; each further retry
  waits `BackoffRate` (default 2.0) times longer than the previous one.
- `MaxAttempts` (default 5 when neither limit is given) is the number of *retries*: a step
  may run MaxAttempts + 1 times. 0 means never retried.
- `ExpireAfterMin`: no retry is started once that many minutes have passed since the step
  started executing. SageMaker accepts only one of MaxAttempts / ExpireAfterMin per policy.
Each policy counts its own retries, so a step with two policies can use both budgets.

`RetryingHandler` applies a step's policies around its handler: each retry is a new attempt
(a job step's gets a new job name) after the policy's backoff, on an injectable wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pipelines.local.hosts import Cancelled
from pipelines.local.records import StepRecord
from pipelines.local.step import Outcome, StepFailed, StepHandler, StepRun

THROTTLING = "Step.THROTTLING"
SERVICE_FAULT = "Step.SERVICE_FAULT"
CAPACITY_ERROR = "SageMaker.CAPACITY_ERROR"
RESOURCE_LIMIT = "SageMaker.RESOURCE_LIMIT"
JOB_INTERNAL_ERROR = "SageMaker.JOB_INTERNAL_ERROR"
ALGORITHM_ERROR = "AlgorithmError"
STEP_ERRORS = (THROTTLING, SERVICE_FAULT)
JOB_ERRORS = (CAPACITY_ERROR, RESOURCE_LIMIT, JOB_INTERNAL_ERROR)
RETRYABLE_KINDS = STEP_ERRORS + JOB_ERRORS

DEFAULT_INTERVAL_SECONDS = 1.0
DEFAULT_BACKOFF_RATE = 2.0
DEFAULT_MAX_ATTEMPTS = 5
# Step metadata key (state only, not in events): the attempts that failed and were retried.
RETRIED_ATTEMPTS = "RetriedAttempts"


@dataclass(frozen=True)
class RetryPolicy:
    exception_types: tuple[str, ...]
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    backoff_rate: float = DEFAULT_BACKOFF_RATE
    max_attempts: int | None = None
    expire_after_min: float | None = None

    @classmethod
    def from_definition(cls, spec: Mapping[str, Any]) -> RetryPolicy:
        kinds = tuple(spec.get("ExceptionType") or ())
        unknown = sorted(set(kinds) - set(RETRYABLE_KINDS))
        if unknown:
            raise ValueError(f"retry policy names unknown exception type(s) {', '.join(unknown)}")
        return cls(
            exception_types=kinds,
            interval_seconds=float(spec.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS)),
            backoff_rate=float(spec.get("BackoffRate", DEFAULT_BACKOFF_RATE)),
            max_attempts=spec.get("MaxAttempts"),
            expire_after_min=spec.get("ExpireAfterMin"),
        )

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1 = the first retry)."""
        return self.interval_seconds * self.backoff_rate ** (retry_number - 1)

    def allows(self, retries_so_far: int, elapsed_seconds: float) -> bool:
        if self.expire_after_min is not None:
            if self.expire_after_min <= 0 or elapsed_seconds >= self.expire_after_min * 60:
                return False
            if self.max_attempts is None:
                return True
        limit = DEFAULT_MAX_ATTEMPTS if self.max_attempts is None else self.max_attempts
        return retries_so_far < limit


def policies_from_step(step: Mapping[str, Any]) -> list[RetryPolicy]:
    return [RetryPolicy.from_definition(p) for p in step.get("RetryPolicies") or []]


class RetryTracker:
    """Decides, failure by failure, whether a step is retried and after how long."""

    def __init__(
        self,
        policies: Iterable[RetryPolicy],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policies = list(policies)
        self._clock = clock
        self._started = clock()
        self._retries = [0] * len(self.policies)

    def next_delay(self, kind: str) -> float | None:
        """The wait before retrying a failure of `kind`, or None if it is not retried."""
        for index, policy in enumerate(self.policies):
            if kind not in policy.exception_types:
                continue
            if not policy.allows(self._retries[index], self._clock() - self._started):
                return None
            self._retries[index] += 1
            return policy.delay(self._retries[index])
        return None


class RetryingHandler:
    """A handler run attempt after attempt while the step's retry policies allow.

    `wait(seconds)` sleeps the backoff and returns True when the execution was stopped
    meanwhile; `faults(step)` may fail an attempt before it starts (--inject-fault);
    `new_job_name()` names each retry's job. `on_retry` hears of a failed attempt about to be
    retried, `on_resume` of the next attempt starting.
    """

    def __init__(
        self,
        inner: StepHandler,
        policies: Iterable[RetryPolicy],
        *,
        wait: Callable[[float], bool],
        clock: Callable[[], float] = time.time,
        faults: Callable[[str], Any] | None = None,
        new_job_name: Callable[[], str] | None = None,
        on_retry: Callable[[StepRecord, StepFailed, float], None] | None = None,
        on_resume: Callable[[StepRecord], None] | None = None,
    ) -> None:
        self.inner = inner
        self.policies = list(policies)
        self.resolve_arguments = inner.resolve_arguments
        self.job_kind = inner.job_kind
        self._wait = wait
        self._clock = clock
        self._faults = faults
        self._new_job_name = new_job_name
        self._on_retry = on_retry
        self._on_resume = on_resume

    def run(self, run: StepRun) -> Outcome:
        tracker = RetryTracker(self.policies, clock=self._clock)
        record = run.record
        while True:
            record.attempts += 1
            started, logs_before, job = self._clock(), len(record.logs), None
            try:
                fault = self._faults(run.node.name) if self._faults else None
                if fault is not None:
                    raise StepFailed(fault.message, fault.kind)
                if self._new_job_name and record.attempts > 1:
                    # Every attempt is a new SageMaker job with its own name.
                    record.job_name = self._new_job_name()
                job = record.job_name
                return self.inner.run(replace(run, attempt=record.attempts))
            except StepFailed as failure:
                delay = tracker.next_delay(failure.kind)
                if delay is None:
                    raise
                # The step's own fields describe its last attempt only: keep each retried one.
                record.metadata.setdefault(RETRIED_ATTEMPTS, []).append(
                    {
                        "Attempt": record.attempts,
                        "JobName": job,  # None: it failed before a job started
                        "FailureReason": failure.reason,
                        "ExceptionType": failure.kind,
                        "StartTime": started,
                        "EndTime": self._clock(),
                        "Logs": record.logs[logs_before:],
                    }
                )
                record.failure_reason = failure.reason
                if self._on_retry:
                    self._on_retry(record, failure, delay)
                if self._wait(delay):
                    raise Cancelled() from None
                record.failure_reason = None
                if self._on_resume:
                    self._on_resume(record)

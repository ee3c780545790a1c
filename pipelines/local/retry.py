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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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

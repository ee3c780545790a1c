"""Retry maths (SageMaker semantics) and fault-injection parsing."""

from __future__ import annotations

import pytest

from pipelines.local import retry
from pipelines.local.faults import FaultError, FaultPlan, parse_fault, parse_faults
from pipelines.local.retry import RetryPolicy, RetryTracker

STEPS = {
    "Preprocess": "Processing",
    "Train": "Training",
    "RegisterModel": "RegisterModel",
    "CheckMetric": "Condition",
}


def test_max_attempts_counts_retries_with_exponential_backoff() -> None:
    policy = RetryPolicy.from_definition(
        {
            "ExceptionType": ["Step.THROTTLING"],
            "IntervalSeconds": 10,
            "BackoffRate": 2.0,
            "MaxAttempts": 3,
        }
    )
    tracker = RetryTracker([policy], clock=lambda: 0.0)
    delays = [tracker.next_delay(retry.THROTTLING) for _ in range(4)]
    assert delays == [10.0, 20.0, 40.0, None]  # 3 retries: the step runs at most 4 times


def test_only_named_kinds_are_retried_and_algorithm_errors_never() -> None:
    policies = [
        RetryPolicy((retry.THROTTLING, retry.SERVICE_FAULT), 1, 2.0, 5),
        RetryPolicy((retry.CAPACITY_ERROR,), 60, 1.5, 2),
    ]
    tracker = RetryTracker(policies, clock=lambda: 0.0)
    assert tracker.next_delay(retry.ALGORITHM_ERROR) is None
    assert tracker.next_delay(retry.RESOURCE_LIMIT) is None
    assert tracker.next_delay(retry.CAPACITY_ERROR) == 60
    assert tracker.next_delay(retry.CAPACITY_ERROR) == 90
    assert tracker.next_delay(retry.CAPACITY_ERROR) is None
    # Each policy has its own budget.
    assert tracker.next_delay(retry.SERVICE_FAULT) == 1


def test_zero_max_attempts_never_retries_and_default_is_five() -> None:
    assert (
        RetryTracker([RetryPolicy((retry.THROTTLING,), max_attempts=0)]).next_delay(
            retry.THROTTLING
        )
        is None
    )
    tracker = RetryTracker([RetryPolicy((retry.THROTTLING,), interval_seconds=1, backoff_rate=1.0)])
    assert [tracker.next_delay(retry.THROTTLING) for _ in range(6)] == [1, 1, 1, 1, 1, None]


def test_expire_after_min_stops_retries_measured_from_the_step_start() -> None:
    now = [0.0]
    policy = RetryPolicy(
        (retry.THROTTLING,), interval_seconds=30, backoff_rate=1.0, expire_after_min=2
    )
    tracker = RetryTracker([policy], clock=lambda: now[0])
    assert tracker.next_delay(retry.THROTTLING) == 30
    now[0] = 119.0
    assert tracker.next_delay(retry.THROTTLING) == 30
    now[0] = 120.0
    assert tracker.next_delay(retry.THROTTLING) is None


def test_unknown_exception_types_in_a_policy_are_refused() -> None:
    with pytest.raises(ValueError, match=r"SageMaker\.NOPE"):
        RetryPolicy.from_definition({"ExceptionType": ["SageMaker.NOPE"]})


def test_fault_specs_parse() -> None:
    assert parse_fault("Train=THROTTLING:2").times == 2
    assert parse_fault("Train=throttling").kind == retry.THROTTLING
    assert parse_fault("Preprocess=CAPACITY_ERROR").kind == retry.CAPACITY_ERROR
    assert parse_fault("Preprocess=INTERNAL_ERROR:3").kind == retry.JOB_INTERNAL_ERROR


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Train", "expected STEP=KIND"),
        ("Train=", "expected STEP=KIND"),
        ("Train=EXPLODE", "unknown kind 'EXPLODE'"),
        ("Train=THROTTLING:x", "whole number"),
        ("Train=THROTTLING:0", "at least 1"),
        ("Nope=THROTTLING", "no step 'Nope'"),
        ("CheckMetric=THROTTLING", "Condition step cannot fail"),
        ("RegisterModel=CAPACITY_ERROR", "RegisterModel step cannot fail"),
    ],
)
def test_bad_fault_specs_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        parse_faults([text], STEPS)


def test_fault_plan_fails_the_first_times_attempts() -> None:
    plan = FaultPlan(parse_faults(["Train=THROTTLING:2"], STEPS))
    assert [plan.take("Train") is not None for _ in range(3)] == [True, True, False]
    assert plan.take("Preprocess") is None


class _Step:
    def __init__(self, status: str, attempts: int = 0, cache_source_id: str | None = None):
        self.status, self.attempts, self.cache_source_id = status, attempts, cache_source_id


def test_a_fault_that_fired_as_asked_says_nothing() -> None:
    plan = FaultPlan(parse_faults(["Train=THROTTLING:2"], STEPS))
    plan.take("Train"), plan.take("Train")
    assert plan.shortfalls({"Train": _Step("Succeeded", attempts=3)}) == []


@pytest.mark.parametrize(
    ("step", "taken", "says"),
    [
        (
            _Step("Succeeded", cache_source_id="abc123"),
            0,
            "--inject-fault Train=THROTTLING:2 never fired: Train was a cache hit (execution "
            "abc123), and a cache hit starts no job on SageMaker either. Rerun with --no-cache",
        ),
        (_Step("NotExecuted"), 0, "never fired: Train never ran (its condition branch"),
        (None, 0, "never fired: Train never ran"),
        (_Step("Stopped"), 0, "never fired: the execution stopped before Train ran"),
        (_Step("Failed", attempts=1), 1, "fired 1 of 2 times: Train made no more attempts"),
    ],
)
def test_a_fault_that_could_not_fire_says_why(step, taken: int, says: str) -> None:
    plan = FaultPlan(parse_faults(["Train=THROTTLING:2"], STEPS))
    for _ in range(taken):
        plan.take("Train")
    [(fault, message)] = plan.shortfalls({"Train": step} if step else {})
    assert fault.option == "Train=THROTTLING:2"
    assert says in message

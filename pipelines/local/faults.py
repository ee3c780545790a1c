"""Fault injection: `--inject-fault STEP=KIND[:TIMES]` makes the first TIMES attempts of STEP
fail with KIND before its job starts, so retry policies can be exercised locally.

The messages are the ones SageMaker reports for these failures, so what a user sees (and
what notification rules match) looks like the real thing.

A fault that could not fire as often as asked is never silent: `FaultPlan.shortfalls` says
why (the step was a cache hit, was never reached, stopped retrying), and the run shows it as
a warning. A cache hit is not made to run instead: SageMaker starts no job and calls no
service for a cache hit, so there is nothing there a throttling or capacity error could
interrupt; forcing the step to run would test a path that cannot occur. `--no-cache` is the
way to exercise the fault, and the warning says so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pipelines.local import retry
from pipelines.local.records import StepStatus

KINDS = {
    "THROTTLING": retry.THROTTLING,
    "SERVICE_FAULT": retry.SERVICE_FAULT,
    "CAPACITY_ERROR": retry.CAPACITY_ERROR,
    "RESOURCE_LIMIT": retry.RESOURCE_LIMIT,
    "INTERNAL_ERROR": retry.JOB_INTERNAL_ERROR,
}
MESSAGES = {
    retry.THROTTLING: "ThrottlingException: Rate exceeded",
    retry.SERVICE_FAULT: "InternalFailure: The request processing has failed because of an "
    "unknown error, exception or failure.",
    retry.CAPACITY_ERROR: "CapacityError: Unable to provision requested ML compute capacity. "
    "Please retry using a different ML instance type.",
    retry.RESOURCE_LIMIT: "ResourceLimitExceeded: The account-level service limit for this "
    "instance type has been exceeded.",
    retry.JOB_INTERNAL_ERROR: "InternalServerError: We encountered an internal error. "
    "Please try again.",
}
# Job errors only make sense for steps that start a SageMaker job.
JOB_STEP_TYPES = ("Processing", "Training", "Transform", "Tuning")
SERVICE_STEP_TYPES = (*JOB_STEP_TYPES, "RegisterModel", "Model", "CreateModel")


class FaultError(ValueError):
    """A --inject-fault value is malformed or names an unknown step or kind."""


@dataclass(frozen=True)
class Fault:
    step: str
    kind: str  # a retry exception type, e.g. "Step.THROTTLING"
    times: int

    @property
    def message(self) -> str:
        return f"{MESSAGES[self.kind]} (injected fault)"

    @property
    def option(self) -> str:
        """As given on the command line: `Train=THROTTLING:2`."""
        name = next(name for name, kind in KINDS.items() if kind == self.kind)
        return f"{self.step}={name}:{self.times}"


class StepOutcome(Protocol):
    """What FaultPlan needs to know about a step once the execution ended."""

    status: str
    attempts: int
    cache_source_id: str | None


def parse_fault(text: str) -> Fault:
    step, sep, rest = text.partition("=")
    if not sep or not step.strip() or not rest.strip():
        raise FaultError(f"--inject-fault {text!r}: expected STEP=KIND[:TIMES]")
    kind_name, _, times_text = rest.partition(":")
    kind_name = kind_name.strip().upper()
    if kind_name not in KINDS:
        raise FaultError(
            f"--inject-fault {text!r}: unknown kind {kind_name!r}; expected one of "
            f"{', '.join(KINDS)}"
        )
    try:
        times = int(times_text) if times_text.strip() else 1
    except ValueError:
        raise FaultError(f"--inject-fault {text!r}: TIMES must be a whole number") from None
    if times < 1:
        raise FaultError(f"--inject-fault {text!r}: TIMES must be at least 1")
    return Fault(step.strip(), KINDS[kind_name], times)


def parse_faults(texts: Iterable[str], step_types: Mapping[str, str]) -> list[Fault]:
    """Parse and check against the definition's steps (name -> type)."""
    faults = []
    for text in texts:
        fault = parse_fault(text)
        if fault.step not in step_types:
            raise FaultError(
                f"--inject-fault {text!r}: the pipeline has no step {fault.step!r}; its steps "
                f"are {', '.join(step_types)}"
            )
        step_type = step_types[fault.step]
        allowed = JOB_STEP_TYPES if fault.kind in retry.JOB_ERRORS else SERVICE_STEP_TYPES
        if step_type not in allowed:
            raise FaultError(
                f"--inject-fault {text!r}: a {step_type} step cannot fail with {fault.kind}"
            )
        faults.append(fault)
    return faults


class FaultPlan:
    """Counts attempts per step and says which ones fail, and how."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._remaining: dict[str, list[Fault]] = {}
        for fault in faults:
            self._remaining.setdefault(fault.step, []).append(fault)
        self._used: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._remaining)

    def shortfalls(self, steps: Mapping[str, StepOutcome]) -> list[tuple[Fault, str]]:
        """Each fault that fired fewer times than asked, with a sentence saying why."""
        found = []
        for faults in self._remaining.values():
            for fault in faults:
                fired = self._used.get((fault.step, fault.kind), 0)
                if fired < fault.times:
                    found.append((fault, _why_short(fault, fired, steps.get(fault.step))))
        return found

    def take(self, step: str) -> Fault | None:
        """The fault for this attempt of `step`, if one is still due."""
        with self._lock:
            for fault in self._remaining.get(step, []):
                key = (fault.step, fault.kind)
                if self._used.get(key, 0) < fault.times:
                    self._used[key] = self._used.get(key, 0) + 1
                    return fault
        return None


def _why_short(fault: Fault, fired: int, step: StepOutcome | None) -> str:
    head = f"--inject-fault {fault.option} "
    if fired and step is not None and step.status == StepStatus.STOPPED:
        return f"{head}fired {fired} of {fault.times} times: the execution stopped"
    if fired:
        return (
            f"{head}fired {fired} of {fault.times} times: {fault.step} made no more attempts "
            f"({step.attempts if step else fired} in all; its retry policy for {fault.kind} "
            "allows no more)"
        )
    if step is not None and step.cache_source_id:
        return (
            f"{head}never fired: {fault.step} was a cache hit (execution "
            f"{step.cache_source_id}), and a cache hit starts no job on SageMaker either. "
            "Rerun with --no-cache to exercise the fault"
        )
    status = step.status if step is not None else StepStatus.NOT_EXECUTED
    if status == StepStatus.STOPPED:
        return f"{head}never fired: the execution stopped before {fault.step} ran"
    if status == StepStatus.FAILED:
        return f"{head}never fired: {fault.step} failed before its first attempt"
    return (
        f"{head}never fired: {fault.step} never ran (its condition branch was not taken, or "
        "a step before it failed)"
    )

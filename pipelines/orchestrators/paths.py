"""The states one execution enters, walked through a generated machine: what Step Functions
Standard bills ("a state transition each time a step of your workflow is executed", retries
included).

The walk follows `Next`, takes each Choice's branch from `decide`, and goes where `fails` says
when a Task fails (the idempotency check's "not done yet", a job that failed). A Parallel state
counts itself and every state of each branch. The count is of states entered, as the Step
Functions console counts transitions for an execution.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

MAX_STATES = 100_000


def walk(
    machine: Mapping[str, Any],
    decide: Callable[[str, Mapping[str, Any]], str],
    fails: Callable[[str], str | None] = lambda name: None,
) -> list[str]:
    """The names of the states entered, in order (Parallel branches after their state)."""
    entered: list[str] = []
    name = machine["StartAt"]
    states = machine["States"]
    while name is not None:
        if len(entered) > MAX_STATES:
            raise RuntimeError("the walk does not end: a loop without an exit")
        state = states[name]
        entered.append(name)
        for branch in state.get("Branches", []):
            entered += walk(branch, decide, fails)
        if state["Type"] == "Choice":
            name = decide(name, state)
        elif state["Type"] == "Task" and fails(name):
            name = fails(name)
        elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
            name = None
        else:
            name = state["Next"]
    return entered


def _choice_target(state: Mapping[str, Any], wanted: str) -> str:
    targets = [choice["Next"] for choice in state["Choices"]] + [state.get("Default")]
    if wanted not in targets:
        raise ValueError(f"no branch to {wanted!r}")
    return wanted


def wrapper_path(
    machine: Mapping[str, Any],
    outcome: str,
    pipeline_seconds: float,
    poll_seconds: int,
    parameters: bool = True,
) -> list[str]:
    """The wrapper machine's states for a pipeline that ran `pipeline_seconds` and ended with
    `outcome`: "failed", "held_back", "registered" (awaiting approval) or "deployed"."""
    polls = max(1, math.ceil(pipeline_seconds / poll_seconds))
    seen = {"polls": 0}

    def decide(name: str, state: Mapping[str, Any]) -> str:
        if name == "Parameters?":
            return "StartPipeline" if parameters else "NoParameters"
        if name == "PipelineStatus?":  # Executing or Stopping: wait again
            seen["polls"] += 1
            if seen["polls"] < polls:
                return "WaitForPipeline"
            return "FailedStep" if outcome == "failed" else "LastStep"
        if name == "Registered?":
            return "NotifyHeldBack" if outcome == "held_back" else "DescribeModelPackage"
        if name == "Approved?":
            return "DeployNames" if outcome == "deployed" else "NotifyRegistered"
        if name == "AlreadyServing?":
            return "CreateModel"
        if name == "EndpointExists?":
            return "UpdateEndpoint"
        return state["Default"]

    return walk(machine, decide)


def translated_path(
    machine: Mapping[str, Any],
    ran: set[str],
    conditions: Mapping[str, bool],
    failed: str | None = None,
    parameters: bool = True,
) -> list[str]:
    """The translated machine's states for an execution where the jobs in `ran` ran (the
    others were found done: a cache hit), each condition step took `conditions[name]` and the
    job `failed`, if any, failed (to the notify-and-fail path)."""

    def decide(name: str, state: Mapping[str, Any]) -> str:
        if name == "Parameters given?":
            return "Merge parameters" if parameters else "Default parameters"
        if name in conditions:
            return state["Choices"][0]["Next"] if conditions[name] else state["Default"]
        return state["Default"]

    def fails(name: str) -> str | None:
        step, _, kind = name.partition(": ")
        if kind == "done before?" and step in ran:
            return f"{step}: run job"
        if kind == "run job" and step == failed:
            return "NotifyError"
        return None

    return walk(machine, decide, fails)

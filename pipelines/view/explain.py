"""The execution page's outcome box: the shared outcome (pipelines.app.outcome, which the
run's summary prints too) computed from the view's document, plus the box's tone.

The document is the same for a local execution and one collected from SageMaker, so both
say what happened in the same words as `run_pipeline.py`'s summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.app import outcome as shared
from pipelines.app.outcome import (
    CacheHit,
    FailedStep,
    HeldBack,
    KnownModels,
    OutcomeFacts,
    Registration,
    condition_sentences,
    decision_checks,
    describe_uri,
)
from pipelines.local.records import TERMINAL, ExecutionStatus, StepStatus

__all__ = ["condition_sentences", "decision_checks", "describe_uri", "facts", "outcome"]

GOOD, WARN, BAD, INFO = "good", "warn", "bad", "info"

# The page's colour for each state; the words are the shared outcome's.
_TONES = {
    shared.RUNNING_STATE: INFO,
    shared.REGISTERED: GOOD,
    shared.ALREADY_REGISTERED: WARN,
    shared.STOPPED: BAD,
    shared.FAILED: BAD,
    shared.HELD_BACK: WARN,
    shared.NO_DRIFT: GOOD,
    shared.SUCCEEDED: GOOD,
}


def facts(document: Mapping[str, Any], known: KnownModels | None = None) -> OutcomeFacts | None:
    """The shared outcome's input from the view's document (None for the definition alone)."""
    execution = document.get("execution")
    if not execution:
        return None
    steps = list(document.get("steps") or [])
    described = {s["name"]: s.get("description") or "" for s in steps}
    model = document.get("registered_model")
    return OutcomeFacts(
        status=execution.get("status"),
        steps=tuple(s["name"] for s in steps),
        finished=sum(1 for s in steps if s["status"] in TERMINAL),
        failure_reason=execution.get("failure_reason"),
        failed=tuple(
            FailedStep(
                s["name"],
                s["type"],
                s.get("display_name") or "",
                s.get("failure_reason") or s.get("fail_message"),
                s.get("attempts") or 0,
            )
            for s in steps
            if s["status"] == StepStatus.FAILED
        ),
        decision=(document.get("evaluation") or {}).get("decision") or None,
        registration=Registration(
            model.get("group"),
            model.get("version"),
            model.get("approval_status"),
            model.get("arn"),
            model.get("already_registered"),
        )
        if model
        else None,
        held_back=tuple(
            HeldBack(c["step"], tuple(c.get("evaluations") or ()), described.get(c["step"], ""))
            for c in document.get("held_back_by") or []
        ),
        cache_hits=tuple(
            CacheHit(s["name"], s["cache_source"])
            for s in steps
            if s.get("cache_hit") and s.get("cache_source")
        ),
        drift=document.get("drift") or None,
        known=known or {},
    )


def outcome(document: Mapping[str, Any], known: KnownModels | None = None) -> dict[str, Any] | None:
    """{"state", "tone", "title", "details"} for an execution's page (None for the
    definition alone): what happened to the model, in words."""
    given = facts(document, known)
    if given is None:
        return None
    said = shared.outcome(given)
    # A quality gate's Fail step fails the execution (red); a rejection in a succeeded
    # execution is a warning.
    tone = (
        (BAD if given.status == ExecutionStatus.FAILED else WARN)
        if said.state == shared.REJECTED
        else _TONES[said.state]
    )
    return {"state": said.state, "tone": tone, "title": said.title, "details": list(said.details)}

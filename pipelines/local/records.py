"""What an execution records about its steps and itself, as the engine's listeners see it.

Statuses are SageMaker's step statuses, plus NotExecuted for steps the execution never
reached (a branch not taken, or anything after a failure): SageMaker simply does not list
those.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

STARTING, EXECUTING, SUCCEEDED, FAILED, STOPPED = (
    "Starting",
    "Executing",
    "Succeeded",
    "Failed",
    "Stopped",
)
PENDING = "Pending"
NOT_EXECUTED = "NotExecuted"
RETRYING = "Retrying"  # progress only: the step is waiting to start its next attempt
TERMINAL = (SUCCEEDED, FAILED, STOPPED, NOT_EXECUTED)
# Step metadata entries holding a warning ({"Message": ...}) for the summary and describe.
WARNING_KEYS = ("CacheWarning", "FaultWarning")


@dataclass
class StepRecord:
    name: str
    type: str
    position: int
    display_name: str | None = None
    status: str = PENDING
    attempts: int = 0
    start: float | None = None
    end: float | None = None
    failure_reason: str | None = None
    cache_source_arn: str | None = None
    cache_source_id: str | None = None
    properties: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    arguments: Any = None
    job_name: str | None = None
    job_dir: str | None = None
    logs: list[str] = field(default_factory=list)
    outcome: bool | None = None  # Condition steps: the branch taken

    @property
    def cache_warning(self) -> str | None:
        """Set on a cache hit whose inputs changed content since the reused run."""
        return (self.metadata.get("CacheWarning") or {}).get("Message")

    @property
    def warnings(self) -> list[str]:
        """What the run must say about this step: a stale cache hit, an unfired fault."""
        return [
            message
            for key in WARNING_KEYS
            if (message := (self.metadata.get(key) or {}).get("Message"))
        ]

    @property
    def duration(self) -> float | None:
        if self.start is None:
            return None
        return (self.end or time.time()) - self.start


@dataclass
class StepUpdate:
    execution_id: str
    step: StepRecord
    status: str
    message: str | None = None
    retry_delay: float | None = None


@dataclass
class ExecutionResult:
    execution_id: str
    execution_arn: str
    pipeline_name: str
    status: str
    failure_reason: str | None  # as SageMaker words it (DescribePipelineExecution)
    start: float
    end: float
    parameters: dict[str, Any]
    steps: dict[str, StepRecord]
    definition: dict[str, Any]
    failure_detail: str | None = None  # the project's explanation: which step, and why
    outcome_detail: str | None = None  # the project's words for a succeeded outcome

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def duration(self) -> float:
        return self.end - self.start


class Listener(Protocol):
    def execution_started(self, execution_id: str, steps: Sequence[StepRecord]) -> None: ...

    def step_changed(self, update: StepUpdate) -> None: ...

    def execution_finished(self, result: ExecutionResult) -> None: ...

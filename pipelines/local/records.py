"""What an execution records about its steps and itself, as the engine's listeners see it.

Statuses are SageMaker's documented spellings (`StepStatus`, `ExecutionStatus` are StrEnums,
so a status compares equal to, stores and prints as SageMaker's string). SageMaker's step
statuses are Starting, Executing, Stopping, Stopped, Failed and Succeeded; it does not list a
step that has not started, nor one the execution never reached. Locally such steps have a row
all the same, with two extra spellings and no others:

- NotStarted: has not started yet (the execution is running, or the page shows the
  definition alone). Nothing is stored with it.
- NotExecuted: never ran and never will (a branch not taken, a step after a failure, the
  rest of a stopped execution); what the engine stores and a "skipped" step is called.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class StepStatus(StrEnum):
    STARTING = "Starting"
    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"
    NOT_STARTED = "NotStarted"  # local only: not started yet
    NOT_EXECUTED = "NotExecuted"  # local only: never ran (skipped) and never will
    RETRYING = "Retrying"  # progress only, never stored: waiting to start the next attempt

    @property
    def running(self) -> bool:
        return self in RUNNING

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


class ExecutionStatus(StrEnum):
    """DescribePipelineExecution's PipelineExecutionStatus."""

    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"


# The engine's names for them (orchestrator, scheduler and tests import these).
STARTING = StepStatus.STARTING
EXECUTING = StepStatus.EXECUTING
SUCCEEDED = StepStatus.SUCCEEDED
FAILED = StepStatus.FAILED
STOPPED = StepStatus.STOPPED
PENDING = StepStatus.NOT_STARTED
NOT_EXECUTED = StepStatus.NOT_EXECUTED
RETRYING = StepStatus.RETRYING
# Statuses that no longer change; RUNNING: started and not finished (steps or executions).
TERMINAL = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.STOPPED, StepStatus.NOT_EXECUTED}
)
RUNNING = frozenset({StepStatus.STARTING, StepStatus.EXECUTING, StepStatus.STOPPING})
# A step with either has no job, duration or cost to show.
DID_NOT_RUN = frozenset({StepStatus.NOT_STARTED, StepStatus.NOT_EXECUTED})
# Step metadata entries holding a warning ({"Message": ...}) for the summary and describe.
WARNING_KEYS = ("CacheWarning", "FaultWarning")


@dataclass
class StepRecord:
    name: str
    type: str
    position: int
    display_name: str | None = None
    status: str = StepStatus.NOT_STARTED
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

    def to_dict(self) -> dict[str, Any]:
        """The stored step as JSON (`executions describe --json`): the state's column names."""
        return {
            "step_name": self.name,
            "step_type": self.type,
            "status": self.status,
            "attempts": self.attempts,
            "start_time": self.start,
            "end_time": self.end,
            "failure_reason": self.failure_reason,
            "cache_source_arn": self.cache_source_arn,
            "job_name": self.job_name,
            "job_dir": self.job_dir,
            "arguments": self.arguments,
            "properties": self.properties,
            "metadata": self.metadata,
            "logs": self.logs,
            "position": self.position,
        }


@dataclass
class ExecutionRecord:
    """A stored execution (DescribePipelineExecution's facts, plus what the engine keeps)."""

    execution_id: str
    execution_arn: str
    pipeline_name: str
    pipeline_arn: str
    status: ExecutionStatus
    parameters: dict[str, Any]
    definition_hash: str
    start_time: float
    end_time: float | None = None
    failure_reason: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # how it was run (--no-cache ...)
    owner: dict[str, Any] | None = None  # the engine process running it (liveness.Owner)
    display_name: str | None = None  # SageMaker's PipelineExecutionDisplayName

    @property
    def running(self) -> bool:
        return self.status in (ExecutionStatus.EXECUTING, ExecutionStatus.STOPPING)

    def duration(self, now: float | None = None) -> float | None:
        """Seconds from start to end; to `now` while it runs (None: unknown)."""
        end = self.end_time if self.end_time is not None else now
        return None if end is None or self.start_time is None else end - self.start_time

    def to_dict(self) -> dict[str, Any]:
        """JSON (`executions list --json`): the state's column names."""
        return {
            "execution_id": self.execution_id,
            "execution_arn": self.execution_arn,
            "pipeline_name": self.pipeline_name,
            "pipeline_arn": self.pipeline_arn,
            "status": self.status,
            "parameters": self.parameters,
            "definition_hash": self.definition_hash,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "failure_reason": self.failure_reason,
            "options": self.options,
            "owner": self.owner,
        }


@dataclass(frozen=True)
class CacheEntry:
    """A job step's result that later executions may reuse: stored under the hash of the
    step's request (SageMaker's cache key), with the output URIs a hit needs to still exist
    and the input digests a stale hit is warned about."""

    cache_key: str
    pipeline_name: str
    step_name: str
    execution_id: str
    execution_arn: str
    created_time: float
    properties: dict[str, Any]
    outputs: list[str]
    inputs: dict[str, str] = field(default_factory=dict)


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
        return self.status == ExecutionStatus.SUCCEEDED

    @property
    def duration(self) -> float:
        return self.end - self.start


class Listener(Protocol):
    def execution_started(self, execution_id: str, steps: Sequence[StepRecord]) -> None: ...

    def step_changed(self, update: StepUpdate) -> None: ...

    def execution_finished(self, result: ExecutionResult) -> None: ...


# The model package property holding the digest of the model's files (evaluate.py's
# content_digest): registration is idempotent by model content (State.add_model_package).
MODEL_CONTENT_DIGEST = "ModelContentDigest"


@dataclass(frozen=True)
class ModelPackageGroupRow:
    """A stored model package group (the registry turns it into DescribeModelPackageGroup)."""

    group_name: str
    group_arn: str
    description: str
    creation_time: float


@dataclass(frozen=True)
class ModelPackageRow:
    """A stored model package version: the columns the registry queries by, and the
    DescribeModelPackage document it wrote at registration (`package`). Approval status and
    description live in their columns, not the document: UpdateModelPackage changes them."""

    group_name: str
    version: int
    package_arn: str
    status: str
    approval_status: str
    creation_time: float
    last_modified_time: float
    package: dict[str, Any]
    model_data_url: str | None = None
    approval_description: str | None = None
    source_execution_arn: str | None = None
    evaluation_metrics: dict[str, Any] | None = None  # the statistics file, read at registration

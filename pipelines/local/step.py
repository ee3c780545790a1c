"""The step-handler protocol: what one attempt of one step gets, and what it gives back.

One handler per step type (pipelines/local/handlers/); policies (caching in cache.py,
retries in retry.py) wrap a handler and are handlers themselves. A handler sees only the
services it needs (`StepServices`), never the execution, so each can be tested alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: executor imports retry, which imports this module
    from pipelines.local.executor import JobEnvironment
    from pipelines.local.expressions import Context
    from pipelines.local.graph import StepNode
    from pipelines.local.lambda_runtime import LambdaRuntime
    from pipelines.local.records import StepRecord
    from pipelines.local.registry import ModelRegistry
    from pipelines.local.storage import ArtifactStore

CLIENT_ERROR = "ClientError"
FAIL_STEP = "FailStep"


class StepFailed(Exception):
    """A step attempt failed; `kind` decides whether a retry policy applies."""

    def __init__(self, reason: str, kind: str = CLIENT_ERROR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class StepServices:
    """What the execution lends its step handlers."""

    execution_id: str
    execution_arn: str
    region: str
    jobs: JobEnvironment
    store: ArtifactStore
    registry: ModelRegistry
    state_db: Path
    lambda_functions: Mapping[str, Path]
    lambda_runtime: LambdaRuntime
    # The expression context for this execution, with the given step variables.
    context: Callable[[Mapping[str, Any]], Context]


@dataclass
class StepRun:
    """One attempt of one step (attempt 0: before the retry policy numbered it)."""

    node: StepNode
    record: StepRecord
    arguments: Any
    services: StepServices
    attempt: int = 0


@dataclass
class Outcome:
    properties: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    job_dir: str | None = None
    logs: list[str] = field(default_factory=list)
    condition: bool | None = None


class StepHandler(Protocol):
    # Condition steps resolve only their Conditions: their branches resolve when they run.
    resolve_arguments: bool
    # The job kind for the job-name ARN prefix ("processing-job", "training-job") or None.
    job_kind: str | None

    def run(self, run: StepRun) -> Outcome: ...


def job_metadata(step_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """A job step's PipelineExecutionStepMetadata: the job's ARN."""
    if step_type == "Processing" and "ProcessingJobArn" in properties:
        return {"ProcessingJob": {"Arn": properties["ProcessingJobArn"]}}
    if step_type == "Training" and "TrainingJobArn" in properties:
        return {"TrainingJob": {"Arn": properties["TrainingJobArn"]}}
    return {}

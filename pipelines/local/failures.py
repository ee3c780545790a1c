"""Failure reasons as SageMaker words them, and the project's fuller explanation beside them.

- An execution with a failed step: DescribePipelineExecution's and ListPipelineExecutions'
  FailureReason is "Step failure: One or multiple steps failed." whichever step failed and
  why (the SDK's integration tests test_fail_steps assert it, and users' describe output
  shows it for failed job steps).
- A Fail step: its step FailureReason (ListPipelineExecutionSteps) is its ErrorMessage, and a
  Fail step without one has no FailureReason (Metadata.Fail.ErrorMessage is "").
- A job SageMaker refuses: "ClientError: Failed to invoke sagemaker:CreateTrainingJob. Error
  Details: <message>" (pipelines.conformance.preflight.client_error).
The explanation ("Step Train failed: AlgorithmError: ...", or the Fail step's message) is
what the run summary, `executions describe`, the view and the events show next to it.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipelines.local.records import StepRecord, StepStatus

EXECUTION_FAILURE_REASON = "Step failure: One or multiple steps failed."
FAIL_STEP_TYPE = "Fail"


def explain(step_name: str, step_type: str, failure_reason: str | None) -> str:
    """The project's one-line account of why the execution failed, from its first failed step."""
    if step_type == FAIL_STEP_TYPE:
        return failure_reason or f"the execution reached the Fail step {step_name}"
    return f"Step {step_name} failed: {failure_reason or 'no reason was recorded'}"


def explain_from_steps(steps: Iterable[StepRecord]) -> str | None:
    """The explanation for a stored execution (its steps, as State.list_steps reads them)."""
    failed = sorted(
        (s for s in steps if s.status == StepStatus.FAILED),
        key=lambda s: (s.end or 0, s.position or 0),
    )
    if not failed:
        return None
    first = failed[0]
    return explain(first.name, first.type, first.failure_reason)

"""Processing and Training steps: one SageMaker job per attempt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipelines.local import executor
from pipelines.local.step import CLIENT_ERROR, Outcome, StepFailed, StepRun, job_metadata

JobRunner = Callable[[executor.JobEnvironment, str, Any, int], executor.JobResult]


class JobHandler:
    resolve_arguments = True

    def __init__(self, job_kind: str, runner: JobRunner) -> None:
        self.job_kind = job_kind
        self.runner = runner

    def run(self, run: StepRun) -> Outcome:
        record = run.record
        name = record.job_name = record.job_name or executor.job_name(
            run.services.execution_id, run.node.name
        )
        try:
            result = self.runner(run.services.jobs, name, run.arguments, run.attempt)
        except executor.JobError as exc:
            raise StepFailed(str(exc)) from None
        record.job_dir = str(result.job_dir) if result.job_dir else record.job_dir
        record.logs = [*record.logs, *result.logs]
        if not result.succeeded:
            raise StepFailed(result.failure_reason or "the job failed", result.kind or CLIENT_ERROR)
        return Outcome(
            result.description,
            job_metadata(run.node.type, result.description),
            job_dir=str(result.job_dir),
            logs=record.logs,
        )


def processing() -> JobHandler:
    return JobHandler("processing-job", executor.run_processing_job)


def training() -> JobHandler:
    return JobHandler("training-job", executor.run_training_job)

"""Lambda steps: invoke the named function's handler, read its output parameters."""

from __future__ import annotations

from pipelines.local import lambda_step
from pipelines.local.step import Outcome, StepFailed, StepRun


class LambdaHandler:
    resolve_arguments = True
    job_kind = None

    def run(self, run: StepRun) -> Outcome:
        spec, services = run.node.spec, run.services
        job_dir = services.jobs.jobs_root / f"lambda-{run.node.name}-{run.attempt}"
        try:
            outputs, logs = lambda_step.invoke(
                arn=spec.get("FunctionArn", ""),
                event=run.arguments or {},
                outputs=spec.get("OutputParameters") or [],
                functions=services.lambda_functions,
                runtime=services.lambda_runtime,
                state_db=services.state_db,
                job_dir=job_dir,
                region=services.region,
                cancel=services.jobs.cancel,
                store_root=services.store.root,
            )
        except lambda_step.LambdaStepError as exc:
            raise StepFailed(str(exc)) from None
        run.record.logs = [*run.record.logs, *logs]
        return Outcome(
            {"OutputParameters": outputs},
            {"Lambda": {"Arn": spec.get("FunctionArn"), "OutputParameters": outputs}},
            job_dir=str(job_dir),
            logs=run.record.logs,
        )

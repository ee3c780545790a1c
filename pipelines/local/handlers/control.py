"""Condition and Fail steps: decisions of the pipeline itself, no job."""

from __future__ import annotations

from pipelines.local.expressions import evaluate_all
from pipelines.local.step import FAIL_STEP, Outcome, StepFailed, StepRun


class ConditionHandler:
    # Only the Conditions resolve, here: the branch steps resolve when they run.
    resolve_arguments = False
    job_kind = None

    def run(self, run: StepRun) -> Outcome:
        conditions = (run.node.spec.get("Arguments") or {}).get("Conditions") or []
        evaluations = evaluate_all(conditions, run.services.context({}))
        outcome = all(e.result for e in evaluations)
        properties = {
            "Outcome": "True" if outcome else "False",
            "Evaluations": [e.as_dict() for e in evaluations],
            "Summary": "; ".join(e.describe() for e in evaluations),
        }
        metadata = {"Condition": {"Outcome": properties["Outcome"]}}
        return Outcome(properties, metadata, condition=outcome)


class FailHandler:
    resolve_arguments = True
    job_kind = None

    def run(self, run: StepRun) -> Outcome:
        message = (run.arguments or {}).get("ErrorMessage") or ""
        run.record.metadata["Fail"] = {"ErrorMessage": str(message)}
        # A Fail step's FailureReason is its ErrorMessage; without one it has none.
        raise StepFailed(str(message), FAIL_STEP)

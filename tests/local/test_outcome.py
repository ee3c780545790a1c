"""The outcome in plain words (pipelines.app.outcome): one function the run's summary and
the execution's page both render, from facts each collects its own way."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.app import outcome as o
from pipelines.local.records import ExecutionStatus

STEPS = ("Evaluate", "CheckMetric", "FindRegisteredModel", "CheckChampion", "RegisterModel")
REJECTING = {
    "metric": "average_precision",
    "challenger": 0.378,
    "threshold": 0.99,
    "higher_is_better": True,
    "passes_threshold": False,
    "beats_baseline": True,
    "baseline": 0.0434,
    "baseline_p_value": 0.001,
    "baseline_advantage_interval": {"lower": 0.176, "upper": 0.596},
    "confidence_level": 0.95,
    "champion": None,
    "register": False,
    "reason": "average_precision 0.3781 is 0.6119 below the threshold 0.9900 (MetricThreshold)",
}
REGISTERING = {**REJECTING, "threshold": 0.2, "passes_threshold": True, "register": True}
REGISTERING["reason"] = "average_precision 0.3781 clears the threshold 0.2000 by 0.1781"
MODEL = "s3://bucket/executions/first01/Train/output/model.tar.gz"
ALREADY_VERSION_1 = {  # CheckChampion's part "RegisteredVersion == 'none'", false
    "Type": "Equals",
    "Result": False,
    "LeftValue": "1",
    "RightValue": "none",
    "LeftLabel": "FindRegisteredModel.RegisteredVersion '1'",
    "RightLabel": "'none'",
}


def facts(status: str = ExecutionStatus.SUCCEEDED, **given: Any) -> o.OutcomeFacts:
    return o.OutcomeFacts(status=status, steps=STEPS, **{"finished": len(STEPS), **given})


def test_running_counts_the_finished_steps() -> None:
    said = o.outcome(facts(ExecutionStatus.EXECUTING, finished=2))
    assert said == o.Outcome("running", "Running: 2 of 5 steps finished")


def test_registered_names_the_version_and_the_rules_it_passed() -> None:
    registration = o.Registration("fraud-models", 3, "PendingManualApproval", "arn:pkg/3")
    said = o.outcome(facts(decision=REGISTERING, registration=registration))
    assert said.state == "registered"
    assert said.title == "Registered: fraud-models version 3 (PendingManualApproval)"
    assert said.details[0].startswith("The test average precision, 0.378, is at least")
    assert said.details[-1] == (
        "The evaluation's reason: average_precision 0.3781 clears the threshold 0.2000 by 0.1781."
    )


def test_a_model_the_registry_already_holds_is_not_registered_again() -> None:
    message = "version 1 already holds this model (registered by execution first01)"
    registration = o.Registration("fraud-models", 1, "Approved", already_registered=message)
    said = o.outcome(facts(decision=REGISTERING, registration=registration))
    assert said.state == "already_registered"
    assert said.title == (
        "Not registered again: version 1 of fraud-models already holds this model"
    )
    assert (
        said.details[0] == "Version 1 already holds this model (registered by execution first01)."
    )


def test_stopped_says_nothing_was_registered() -> None:
    said = o.outcome(facts(ExecutionStatus.STOPPED, failure_reason="Stopped by the user."))
    assert said == o.Outcome(
        "stopped", "Stopped before it finished: nothing was registered", ("Stopped by the user.",)
    )


def test_the_quality_gates_fail_step_rejects_with_the_rules_that_failed() -> None:
    fail = o.FailedStep("MetricBelowThreshold", "Fail", reason="below the threshold")
    said = o.outcome(facts(ExecutionStatus.FAILED, failed=(fail,), decision=REJECTING))
    assert said.state == "rejected"
    assert said.title == "Not registered: the model did not pass the quality gate"
    assert said.details == (
        "The test average precision, 0.378, is 0.612 below the threshold 0.99 (MetricThreshold).",
        f"The evaluation's reason: {REJECTING['reason']}.",
    )


def test_a_rejection_in_a_succeeded_execution_names_the_first_failed_rule() -> None:
    said = o.outcome(facts(decision=REJECTING))
    assert said.state == "rejected"
    assert said.title == (
        "Not registered: The test average precision, 0.378, is 0.612 below the threshold 0.99 "
        "(MetricThreshold)"
    )
    assert said.details == (f"The evaluation's reason: {REJECTING['reason']}.",)


def test_a_failed_step_names_its_reason_and_its_attempts() -> None:
    step = o.FailedStep("Train", "Training", "Train the model", "AlgorithmError: boom", 3)
    said = o.outcome(facts(ExecutionStatus.FAILED, failed=(step,), decision=REGISTERING))
    assert said.state == "failed"
    assert said.title == "Failed: step Train (Train the model) failed"
    assert said.details == (
        "AlgorithmError: boom",
        "It failed after 3 attempts; each attempt's reason is in the step's details.",
    )
    bare = o.outcome(facts(ExecutionStatus.FAILED, failure_reason="Lost the engine."))
    assert bare == o.Outcome("failed", "Failed", ("Lost the engine.",))


def test_held_back_says_which_condition_and_why_in_words() -> None:
    held = o.HeldBack("CheckChampion", (ALREADY_VERSION_1,), "Registers only new models.")
    said = o.outcome(
        facts(
            decision=REGISTERING,
            held_back=(held,),
            cache_hits=(o.CacheHit("Evaluate", "first01"),),
            known={MODEL: {"version": 1, "group": "fraud-models"}},
        )
    )
    assert said.state == "held_back"
    assert said.title == (
        "Not registered: the model passed the quality gate, but CheckChampion held it back"
    )
    assert said.details == (
        "This very model (the same files) is already version 1 of fraud-models.",
        "Evaluate reused execution first01's results from the cache (the same requests: same "
        "data, code and parameters).",
        "CheckChampion's rule: Registers only new models.",
        f"The evaluation's reason: {REGISTERING['reason']}.",
    )


def test_no_drift_says_training_was_skipped() -> None:
    drift = {"retrain": False, "why": "no feature drifted"}
    said = o.outcome(facts(drift=drift))
    assert said == o.Outcome(
        "no_drift",
        "No drift: training skipped, nothing registered",
        ("No feature drifted.", "Rerun with ForceRetrain=true to retrain anyway."),
    )


@pytest.mark.parametrize("decision", [None, REGISTERING])
def test_a_succeeded_execution_without_more_to_say(decision: dict | None) -> None:
    # REGISTERING without a registration or a condition holding it back: a pipeline
    # without a RegisterModel step.
    assert o.outcome(facts(decision=decision)) == o.Outcome("succeeded", "Succeeded")


def test_a_condition_holds_back_only_a_model_the_evaluation_wanted() -> None:
    conditions = [{"step": "CheckChampion", "Outcome": "False"}, {"step": "C", "Outcome": "True"}]
    assert o.held_back_by(REGISTERING, False, True, conditions) == conditions[:1]
    assert o.held_back_by(REJECTING, False, True, conditions) is None
    assert o.held_back_by(REGISTERING, True, True, conditions) is None
    assert o.held_back_by(REGISTERING, False, False, conditions) is None

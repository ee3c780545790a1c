"""CheckChampion's claim condition in words: which execution holds the claim to register the
model (a concurrent identical run), and nothing about a claim when a version already holds
the model."""

from __future__ import annotations

from pipelines.view.explain import condition_sentences

STEPS = ["FindRegisteredModel", "CheckChampion", "RegisterModel"]
PIPELINE = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/fraud-detection-retraining"
HOLDER, ME = f"{PIPELINE}/execution/holder01", f"{PIPELINE}/execution/me02"


def claim_check(claimed_by: str) -> dict:
    """The evaluation the engine records for ClaimedBy == Execution.PipelineExecutionArn."""
    return {
        "Type": "Equals",
        "Result": claimed_by == ME,
        "LeftValue": claimed_by,
        "RightValue": ME,
        "LeftLabel": f"FindRegisteredModel.ClaimedBy {claimed_by!r}",
        "RightLabel": f"Execution.PipelineExecutionArn {ME!r}",
    }


def registered_check(version: str) -> dict:
    return {
        "Type": "Equals",
        "Result": version == "none",
        "LeftValue": version,
        "RightValue": "none",
        "LeftLabel": f"FindRegisteredModel.RegisteredVersion {version!r}",
        "RightLabel": "'none'",
    }


def test_a_claim_held_by_another_running_execution_names_it() -> None:
    [sentence] = condition_sentences([registered_check("none"), claim_check(HOLDER)], STEPS)
    assert sentence.startswith("Execution holder01 holds the claim to register this very model")
    assert "arn:" not in sentence


def test_a_model_already_registered_says_so_and_nothing_about_claims() -> None:
    sentences = condition_sentences([registered_check("3"), claim_check("none")], STEPS)
    assert sentences == ["This very model (the same files) is already version 3."]


def test_a_claim_held_by_a_state_machine_execution_names_its_execution() -> None:
    holder = "arn:aws:states:us-east-1:123456789012:execution:translated:nightly-7"
    [sentence] = condition_sentences([claim_check(holder)], STEPS)
    assert sentence.startswith("Execution nightly-7 holds the claim")

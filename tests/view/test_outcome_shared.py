"""The run's summary and the execution's page say the same outcome: both render
pipelines.app.outcome from one recorded local execution (issue 17: one report, computed
once, rendered by both)."""

from __future__ import annotations

import json

import pytest
from view_helpers import Runs

from pipelines.app.outcome import known_models
from pipelines.app.progress import summarize
from pipelines.app.runner import LocalPaths, open_engine
from pipelines.definition_cache import load_definition
from pipelines.local.records import ExecutionResult
from pipelines.view import explain
from pipelines.view.model import collect_execution
from pipelines.view.render import render_page


def _summary_outcome(runs: Runs, execution_id: str) -> list[str]:
    """The summary's "Outcome:" block for a recorded execution, as `run_pipeline.py` prints
    it when the run ends."""
    engine = open_engine(runs.config)
    execution = engine.state.get_execution(execution_id)
    assert execution is not None and execution.end_time is not None
    text, _ = load_definition(runs.config, "local")  # every run here ran this definition
    result = ExecutionResult(
        execution_id=execution.execution_id,
        execution_arn=execution.execution_arn,
        pipeline_name=execution.pipeline_name,
        status=execution.status,
        failure_reason=execution.failure_reason,
        start=execution.start_time,
        end=execution.end_time,
        parameters=execution.parameters,
        steps={s.name: s for s in engine.state.list_steps(execution_id)},
        definition=json.loads(text),
    )
    summary = summarize(
        result,
        engine.store,
        state_path=LocalPaths(runs.config.local_home).state,
        known=known_models(engine.registry.list(runs.config.pipeline.model_package_group)),
    )
    start = next(i for i, line in enumerate(summary.details) if line.startswith("Outcome: "))
    block = [summary.details[start]]
    for line in summary.details[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line)
    return block


@pytest.mark.parametrize(
    ("which", "state"),
    [("succeeded", "registered"), ("cached", "held_back"), ("failed", "rejected")],
)
def test_the_summary_and_the_page_say_the_same_outcome(runs: Runs, which: str, state: str) -> None:
    execution_id = getattr(runs, which)
    page = collect_execution(runs.config, execution_id)["outcome"]
    block = _summary_outcome(runs, execution_id)
    assert page["state"] == state
    assert block[0] == f"Outcome: {page['title']}"
    # The page's sentences, in the same order; the summary adds only its own lines after
    # them (the registered package's ARN and how to approve it).
    assert block[1 : 1 + len(page["details"])] == [f"  {line}" for line in page["details"]]
    extra = block[1 + len(page["details"]) :]
    assert [line.split(":", 1)[0] for line in extra] == (
        ["  model package", "  approve with"] if state == "registered" else []
    )


def test_the_page_says_a_model_the_registry_already_held_was_not_registered_again() -> None:
    """The registry's lock caught a second registration of the same files (see
    tests/local/test_registry.py): the page says so, as the summary does, not "Registered"."""
    message = "version 1 already holds this model (registered by execution first01)"
    document = {
        "execution": {"status": "Succeeded", "failure_reason": None},
        "steps": [
            {"name": "RegisterModel", "type": "RegisterModel", "status": "Succeeded"},
        ],
        "registered_model": {
            "group": "fraud-models",
            "version": 1,
            "approval_status": "Approved",
            "arn": "arn:aws:sagemaker:us-east-1:000000000000:model-package/fraud-models/1",
            "already_registered": message,
        },
    }
    said = explain.outcome(document)
    assert said == {
        "state": "already_registered",
        "tone": "warn",
        "title": "Not registered again: version 1 of fraud-models already holds this model",
        "details": [
            "Version 1 already holds this model (registered by execution first01).",
        ],
    }


def test_the_registered_model_section_does_not_call_an_already_held_model_registered(
    runs: Runs,
) -> None:
    """The page's "Registered model" section agrees with its outcome when the registry's lock
    found the files already registered (no new version): it names the version holding them."""
    document = collect_execution(runs.config, runs.succeeded)
    model = document["registered_model"]
    model["already_registered"] = "version 1 already holds this model"
    document["outcome"] = explain.outcome(document)
    section = render_page(document).split('id="section-registered-model"', 1)[1]
    section = section.split("</section>", 1)[0]
    assert "Not registered again: " in section
    assert f"version <strong>{model['version']}</strong> already holds these model files" in section
    assert "at registration" not in section

"""With the real pipeline: `watch` runs the local engine (a good file registers a model, a
broken one fails in Preprocess) and the notifications for both arrive in a JSON Lines sink,
matched by the AWS patterns from the events the engine wrote; and the metric rule's step
name exists in the built definition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.eventbridge.notify import deliver_pending
from pipelines.settings.triggers import WatchSettings
from pipelines.triggers.watch import Watcher

pytestmark = pytest.mark.slow


def test_watch_runs_the_engine_and_notifies_a_registered_model_and_a_failure(
    make_config, tmp_path: Path
) -> None:
    pytest.importorskip("pipelines.app.runner")
    from pipelines.sample_data import generate_transactions

    sink = tmp_path / "notifications.jsonl"
    config = make_config(notifications={"local_sinks": [f"file:{sink}"]})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    generate_transactions(3000, seed=11).to_csv(inbox / "a-good.csv", index=False)
    (inbox / "b-broken.csv").write_text("amount,merchant\n1.0,x\n2.0,y\n")
    lines: list[str] = []
    watcher = Watcher(
        config,
        inbox,
        settings=WatchSettings(debounce_seconds=0, poll_seconds=0.01),
        out=lines.append,
        after_run=deliver_pending,
    )

    report = watcher.run(once=True)
    watcher.close()

    assert [p.name for p in report.succeeded] == ["a-good.csv"]
    assert [p.name for p in report.failed] == ["b-broken.csv"]
    notes = [json.loads(line) for line in sink.read_text().splitlines()]
    rules = [n["rule"].removeprefix("fraud-detection-retraining-") for n in notes]
    assert rules == ["model-package", "step-failed", "execution-failed"]
    registered, step, execution = notes
    assert (
        "Model package fraud-detection-models version 1 is PendingManualApproval"
        in (registered["message"])
    )
    assert step["event"]["detail"]["stepName"] == "Preprocess"
    assert "step Preprocess (Processing) FAILED" in step["message"]
    assert step["event"]["detail"]["failureReason"] in step["message"]
    assert execution["event"]["detail"]["currentPipelineExecutionStatus"] == "Failed"
    # Delivered once: another pass finds nothing new.
    assert deliver_pending(config) == 0


def test_the_metric_rule_names_a_fail_step_the_pipeline_has(config) -> None:
    from pipelines.definition_cache import load_definition
    from pipelines.eventbridge.patterns import METRIC_FAIL_STEP

    def steps(items):
        for step in items:
            yield step
            arguments = step.get("Arguments", {})
            if step.get("Type") == "Condition":
                yield from steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))

    definition = json.loads(load_definition(config, "local")[0])
    fail_steps = {s["Name"] for s in steps(definition["Steps"]) if s["Type"] == "Fail"}
    assert METRIC_FAIL_STEP in fail_steps

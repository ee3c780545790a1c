"""The page data of real local executions, checked against the state database, the store
and the log files those runs wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from view_helpers import Runs

from pipelines.app.runner import open_engine
from pipelines.config import load_pricing
from pipelines.local.records import StepRecord
from pipelines.view.cost import job_cost
from pipelines.view.formats import format_number
from pipelines.view.model import collect_definition, collect_execution
from pipelines.view.render import render_page

pytestmark = pytest.mark.slow


def states(runs: Runs, execution_id: str) -> dict[str, StepRecord]:
    return {s.name: s for s in open_engine(runs.config).state.list_steps(execution_id)}


def test_every_step_with_its_recorded_status(runs: Runs) -> None:
    document = collect_execution(runs.config, runs.succeeded)
    recorded = states(runs, runs.succeeded)
    steps = {s["name"]: s for s in document["steps"]}
    assert set(steps) == {n["name"] for n in document["layout"]["nodes"]}
    for name, step in steps.items():
        assert step["status"] == recorded[name].status, name
        assert step["attempts"] == recorded[name].attempts
    assert steps["Train"]["status"] == "Succeeded"
    assert steps["MetricBelowThreshold"]["status"] == "NotExecuted"
    assert document["execution"]["status"] == "Succeeded"
    assert document["definition_matches"]
    # The arguments are what the engine ran, with references resolved.
    train = steps["Train"]
    assert train["arguments_source"] == "resolved"
    assert train["arguments"]["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert all(i["uri"].startswith("s3://") and Path(i["local"]).exists() for i in train["inputs"])
    assert train["outputs"][0]["uri"].endswith("model.tar.gz")
    assert Path(train["outputs"][0]["local"]).is_file()


def test_log_tail_is_the_end_of_the_jobs_log(runs: Runs) -> None:
    train = next(
        s for s in collect_execution(runs.config, runs.succeeded)["steps"] if s["name"] == "Train"
    )
    stdout = next(log for log in train["logs"] if log["name"] == "stdout.log")
    lines = Path(stdout["path"]).read_text().splitlines()
    assert lines and stdout["lines"] == lines[-50:]


def test_evaluation_decision_and_registered_model(runs: Runs) -> None:
    document = collect_execution(runs.config, runs.succeeded)
    evaluation = document["evaluation"]
    report = json.loads(Path(evaluation["local"]).read_text())
    assert (
        evaluation["metrics"]["accuracy"]
        == report["binary_classification_metrics"]["accuracy"]["value"]
    )
    assert evaluation["decision"] == report["decision"]
    assert evaluation["decision"]["register"] is True
    packages = open_engine(runs.config).registry.list(runs.config.pipeline.model_package_group)
    package = next(
        p
        for p in packages
        if (p.get("MetadataProperties") or {}).get("GeneratedBy", "").endswith(runs.succeeded)
    )
    assert document["registered_model"]["version"] == package["ModelPackageVersion"]
    assert document["registered_model"]["arn"] == package["ModelPackageArn"]


def test_the_data_snapshot_is_the_runs_lineage(runs: Runs) -> None:
    document = collect_execution(runs.config, runs.succeeded)
    snapshot = document["snapshot"]
    outputs = states(runs, runs.succeeded)["SnapshotInput"].properties["OutputParameters"]
    assert snapshot["fingerprint"] == outputs["Fingerprint"]
    assert snapshot["manifest"] == outputs["ManifestUri"]
    assert snapshot["source"] == document["execution"]["parameters"]["InputDataUrl"]
    assert [o["key"] for o in snapshot["objects"]] == ["transactions.csv"]
    assert snapshot["object_count"] == 1 and snapshot["total_bytes"] > 0
    page = render_page(document)
    assert 'id="section-data-snapshot"' in page and snapshot["fingerprint"] in page
    # Same data: the cached rerun ran on the very same snapshot.
    cached = collect_execution(runs.config, runs.cached)["snapshot"]
    assert cached["manifest"] == snapshot["manifest"]


def test_the_page_draws_the_registered_model_quality(runs: Runs) -> None:
    """The curves and the confusion matrix on the page are those of model_quality.json, the
    file the registered package points at."""
    document = collect_execution(runs.config, runs.succeeded)
    evaluation = document["evaluation"]
    quality_file = Path(evaluation["local"]).with_name("model_quality.json")
    metrics = json.loads(quality_file.read_text())["binary_classification_metrics"]
    challenger = evaluation["evidence"]["challenger"]
    roc = metrics["receiver_operating_characteristic_curve"]
    assert challenger["roc"] == list(
        zip(roc["false_positive_rates"], roc["true_positive_rates"], strict=True)
    )
    pr = metrics["precision_recall_curve"]
    assert challenger["pr"] == list(zip(pr["recalls"], pr["precisions"], strict=True))
    assert challenger["confusion_matrix"] == metrics["confusion_matrix"]
    assert challenger["operating_point"]["recall"] == pytest.approx(metrics["recall"]["value"])
    assert evaluation["evidence"]["champion"] is None  # no approved champion yet
    page = render_page(document)
    for element in ('id="chart-roc"', 'id="chart-pr"', 'class="curve curve-challenger"'):
        assert element in page
    matrix = metrics["confusion_matrix"]
    assert f'<td class="hit">{matrix["1"]["1"]}</td>' in page


def test_a_cached_rerun_says_in_plain_words_why_its_model_was_not_registered_again(
    runs: Runs,
) -> None:
    document = collect_execution(runs.config, runs.cached)
    assert document["evaluation"]["decision"]["register"] is True
    assert document["registered_model"] is None
    [held_back] = document["held_back_by"]
    assert held_back["step"] == "CheckChampion"
    outcome = document["outcome"]
    assert (outcome["state"], outcome["tone"]) == ("held_back", "warn")
    assert outcome["title"] == (
        "Not registered: the model passed the quality gate, but CheckChampion held it back"
    )
    first = collect_execution(runs.config, runs.succeeded)
    version = first["registered_model"]["version"]
    why = " ".join(outcome["details"])
    # What the URIs are, not the URIs: the very model registered by the first run.
    assert f"already version {version} of fraud-detection-models" in why
    assert f"reused execution {runs.succeeded}'s results from the cache" in why
    assert "s3://" not in why and "->" not in why
    page = render_page(document)
    box = page.split('class="outcome tone-warn"', 1)[1].split("</div>\n</div>", 1)[0]
    assert "s3://" not in box
    # The evaluation's verdict is not a green "register" beside it.
    verdict = page.split('id="verdict"', 1)[0].rsplit("<div", 1)[1]
    assert "tone-warn" in verdict and "tone-good" not in verdict
    assert first["held_back_by"] == [] and first["outcome"]["state"] == "registered"


def test_failed_execution_names_its_reason(runs: Runs) -> None:
    document = collect_execution(runs.config, runs.failed)
    steps = {s["name"]: s for s in document["steps"]}
    assert document["execution"]["status"] == "Failed"
    assert document["execution"]["failure_reason"] == "Step failure: One or multiple steps failed."
    assert "below the threshold" in document["execution"]["failure_detail"]
    assert steps["MetricBelowThreshold"]["status"] == "Failed"
    assert steps["MetricBelowThreshold"]["fail_message"] == document["execution"]["failure_detail"]
    assert steps["CheckMetric"]["condition"]["outcome"] == "False"
    assert steps["RegisterModel"]["status"] in ("NotExecuted", "NotStarted")
    assert document["registered_model"] is None
    assert document["execution"]["parameters"]["MetricThreshold"] == 0.99


def test_cache_hits_cost_nothing_and_save_the_first_runs_cost(runs: Runs) -> None:
    first = collect_execution(runs.config, runs.succeeded)
    cached = collect_execution(runs.config, runs.cached)
    steps = {s["name"]: s for s in cached["steps"]}
    first_steps = {s["name"]: s for s in first["steps"]}
    prices = load_pricing(runs.config)
    for name in ("Preprocess", "Train", "Evaluate"):
        assert steps[name]["cache_hit"] and steps[name]["cache_source"] == runs.succeeded
        assert steps[name]["source_duration"] == pytest.approx(first_steps[name]["duration"])
    lines = {line["step"]: line for line in cached["cost"]["steps"]}
    first_lines = {line["step"]: line for line in first["cost"]["steps"]}
    assert cached["cost"]["total"] == 0
    for name, line in lines.items():
        assert line["cost"] == 0
        assert line["savings"] == pytest.approx(first_lines[name]["cost"])
        expected = job_cost(prices["ml.m5.xlarge"], 1, first_steps[name]["duration"])
        assert first_lines[name]["cost"] == pytest.approx(expected)
    assert cached["cost"]["savings"] == pytest.approx(first["cost"]["total"])
    assert first["cost"]["total"] > 0 and first["cost"]["complete"]


def test_latest_and_definition_only(runs: Runs, empty_project) -> None:
    latest = open_engine(runs.config).state.list_executions(1)[0].execution_id
    assert collect_execution(runs.config, "latest")["execution"]["id"] == latest
    assert collect_execution(runs.config, runs.cached[:6])["execution"]["id"] == runs.cached
    with pytest.raises(LookupError, match="no local execution matches"):
        collect_execution(runs.config, "nosuchexecution")
    empty = collect_execution(empty_project, None)
    assert empty["execution"] is None
    assert {s["status"] for s in empty["steps"]} == {"NotStarted"}
    structure = collect_definition(runs.config)
    assert structure["execution"] is None and len(structure["steps"]) == 13
    assert structure["steps"][0]["arguments_source"] == "definition"


def test_data_is_escaped_in_the_page(runs: Runs) -> None:
    document = collect_execution(runs.config, runs.failed)
    evil = '</script><script>alert("x")</script><b>&amp;'
    document["execution"]["parameters"]["Evil"] = evil
    document["execution"]["failure_reason"] = evil
    document["steps"][0]["failure_reason"] = evil
    document["steps"][0]["logs"] = [{"path": evil, "name": "x", "lines": [evil], "missing": False}]
    page = render_page(document)
    assert "<script>alert" not in page and "<b>&amp;" not in page
    # The markup shows it as text, wherever it lands.
    assert page.count("&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)") >= 4


def test_numbers_are_rounded_for_reading(runs: Runs) -> None:
    document = collect_execution(runs.config, runs.succeeded)
    metrics = document["evaluation"]["metrics"]
    page = render_page(document)
    shown = page.split('id="section-evaluation"', 1)[1]
    exact = repr(metrics["average_precision"])
    assert len(exact) > 8 and exact not in shown.split("title=")[0]
    assert f">{format_number(metrics['average_precision'])}</td>" in shown
    assert format_number(0.9710666666666666) == "0.971"
    assert format_number(0.000999000999000999) == "0.001"
    assert format_number(0.04338422292008412) == "0.0434"

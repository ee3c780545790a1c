"""[orchestrator] settings, the generated machines' checks, the transitions one execution
costs on each form, the orchestration price comparison and `export` (no AWS involved: the
machines are executed in tests/aws/test_stepfunctions_*.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.config import ConfigError, load_config, load_pricing
from pipelines.orchestrators import asl, paths, stepfunctions
from pipelines.orchestrators.translate import translate
from pipelines.settings.orchestrator import load_orchestrator
from pipelines.view.cost import orchestration_prices, orchestration_report

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
ENVIRON = {"PIPELINE_BUCKET": "retraining-test-bucket", "PIPELINE_ROLE_ARN": ROLE_ARN}


def config_with(tmp_path, **orchestrator: Any):
    return load_config(
        environ=ENVIRON,
        overrides={"orchestrator": orchestrator, "local": {"home": str(tmp_path)}},
    )


@pytest.fixture(scope="module")
def machines(tmp_path_factory) -> dict[str, Any]:
    from pipelines.definition_cache import load_definition

    config = config_with(tmp_path_factory.mktemp("home"))
    target = config.target("sagemaker")
    definition = json.loads(load_definition(config, "sagemaker")[0])
    return {
        "config": config,
        "definition": definition,
        "wrapper": stepfunctions.state_machine(config, target, definition),
        "translated": translate(definition, config, target),
    }


def test_orchestrator_defaults_and_topic(tmp_path):
    config = config_with(tmp_path)
    settings = load_orchestrator(config, config.target("sagemaker"))
    assert settings.kind == "pipeline"
    assert settings.state_machine_name == "fraud-detection-retraining-orchestrator"
    assert settings.notification_topic_arn == (
        "arn:aws:sns:us-east-1:123456789012:fraud-detection-retraining-notifications"
    )
    assert (settings.poll_seconds, settings.mwaa_environment_class) == (60, "mw1.small")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": "lambda"}, 'kind must be one of "pipeline", "stepfunctions"'),
        ({"poll_seconds": 0}, "poll_seconds must be between 1 and 3600"),
        ({"poll_seconds": 600, "timeout_seconds": 120}, "must be at least poll_seconds"),
        ({"state_machine_name": "has space"}, "1 to 80 letters"),
        ({"notification_topic_arn": "my-topic"}, "is not an SNS topic ARN"),
        ({"mwaa_environment_class": "mw2.small"}, "mwaa_environment_class must be one of"),
        ({"poll_seconds": "60"}, "poll_seconds must be int"),
        ({"colour": "blue"}, "unknown key(s) in [orchestrator]: colour"),
    ],
)
def test_bad_orchestrator_settings_are_refused_naming_the_key(tmp_path, values, message):
    # Refused when the configuration loads, before any command reads the section.
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_with(tmp_path, **values)


def test_instance_prices_ignore_the_orchestration_table(tmp_path):
    prices = load_pricing(config_with(tmp_path))
    assert prices["ml.m5.xlarge"] == 0.23
    assert not any(key.startswith("orchestration") for key in prices)


def test_the_checks_catch_what_they_are_for(machines):
    wrapper = json.loads(json.dumps(machines["wrapper"]))
    assert asl.structure_problems(wrapper) == []
    del wrapper["States"]["StartPipeline"]["Retry"]
    wrapper["States"]["DescribeEndpoint"]["Catch"] = []
    wrapper["States"]["HeldBack"]["Type"] = "Pass"
    wrapper["States"]["HeldBack"]["Next"] = "Nowhere"
    problems = asl.structure_problems(wrapper)
    assert "machine: Task 'StartPipeline' has no Retry with backoff" in problems
    assert "machine: Task 'DescribeEndpoint' does not catch States.ALL" in problems
    assert "machine: state 'HeldBack' goes to unknown state 'Nowhere'" in problems
    # AWS's schema, through cfn-lint: an unknown state type, a misspelled comparison.
    broken = json.loads(json.dumps(machines["wrapper"]))
    broken["States"]["HeldBack"]["Type"] = "Succeeded"
    broken["States"]["Approved?"]["Choices"][0]["StringEqual"] = "Approved"
    del broken["States"]["Approved?"]["Choices"][0]["StringEquals"]
    problems = asl.cfn_lint_problems(broken)
    assert len(problems) == 2 and all(p.startswith("E3601") for p in problems)
    assert "States/HeldBack/Type" in problems[0] + problems[1]


def test_transitions_grow_with_polls_and_with_the_outcome(machines):
    wrapper = machines["wrapper"]
    held_back = paths.wrapper_path(wrapper, "held_back", 600, 60)
    assert held_back[:3] == ["Parameters?", "StartPipeline", "WaitForPipeline"]
    # Ten polls: Wait, Describe and the status Choice each time.
    assert held_back.count("DescribePipelineExecution") == 10
    assert held_back[-2:] == ["NotifyHeldBack", "HeldBack"]
    deployed = paths.wrapper_path(wrapper, "deployed", 600, 60)
    assert deployed[-3:] == ["UpdateEndpoint", "NotifyDeployed", "Deployed"]
    assert len(deployed) > len(held_back)
    failed = paths.wrapper_path(wrapper, "failed", 60, 60)
    assert failed[-3:] == ["FailedStep", "NotifyPipelineFailed", "PipelineFailed"]


def test_translated_transitions_follow_cache_hits_and_conditions(machines):
    translated = machines["translated"]
    first = paths.translated_path(
        translated,
        {"Preprocess", "DriftCheck", "Train", "Evaluate", "Baseline"},
        {"CheckDrift": True, "CheckMetric": True, "CheckChampion": True},
    )
    assert "Train: run job" in first and first[-1] == "CheckChampion true: done (end)"
    rerun = paths.translated_path(
        translated, set(), {"CheckDrift": True, "CheckMetric": True, "CheckChampion": False}
    )
    assert not [state for state in rerun if state.endswith("run job")]
    assert len(rerun) < len(first)
    # No drift: the execution ends after the drift check, nothing trained.
    steady = paths.translated_path(translated, {"DriftCheck"}, {"CheckDrift": False})
    assert "Train: request key" not in steady and steady[-1] == "CheckDrift false: done (end)"
    assert len(steady) < len(rerun)
    failed = paths.translated_path(translated, {"Preprocess"}, {}, failed="Preprocess")
    assert failed[-2:] == ["NotifyError", "OrchestrationFailed"]


def test_the_price_comparison(tmp_path):
    config = config_with(tmp_path)
    prices = orchestration_prices(config.extra["pricing"]["orchestration"])
    lines = orchestration_report(
        seconds=1800,
        jobs_total=0.5,
        transitions={"pipeline": 100, "definition": 40},
        prices=prices,
        mwaa_class="mw1.small",
    )
    by_name = {line["orchestrator"]: line for line in lines}
    assert by_name["SageMaker Pipelines"]["orchestration"] == 0
    assert by_name["Step Functions Standard (around the pipeline)"]["orchestration"] == (
        pytest.approx(100 * 0.000025)
    )
    express = by_name["Step Functions Express (around the pipeline)"]
    assert express["possible"] is False  # 30 minutes: over Express's 5
    assert express["orchestration"] == pytest.approx(0.000001 + 1800 * (64 / 1024) * 0.00001667)
    mwaa = by_name["Amazon MWAA (mw1.small)"]
    assert mwaa["orchestration"] == pytest.approx(0.49 / 2)
    assert mwaa["per_day"] == pytest.approx(0.49 * 24)
    assert all(line["jobs"] == 0.5 for line in lines)
    unpriced = orchestration_report(
        seconds=60,
        jobs_total=0,
        transitions={"pipeline": 1, "definition": 1},
        prices={},
        mwaa_class="mw1.large",
    )
    assert {line["orchestration"] for line in unpriced[1:]} == {None}
    with pytest.raises(ValueError, match="must be a non-negative number"):
        orchestration_prices({"stepfunctions_standard_per_transition": -1})


def test_export_writes_both_machines_and_the_dag(tmp_path, monkeypatch):
    for key, value in ENVIRON.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    machine, policy = tmp_path / "sfn.json", tmp_path / "policy.json"
    assert main(["export", "stepfunctions", "-o", str(machine), "--policy", str(policy)]) == 0
    document = json.loads(machine.read_text())
    assert document["StartAt"] == "Parameters?"
    statements = json.loads(policy.read_text())["Statement"]
    actions = set()
    for statement in statements:
        action = statement["Action"]
        actions |= {action} if isinstance(action, str) else set(action)
    assert {"sagemaker:StartPipelineExecution", "sagemaker:CreateEndpoint"} <= actions
    translated = tmp_path / "translated.json"
    assert main(["export", "stepfunctions", "--form", "definition", "-o", str(translated)]) == 0
    assert "Train: run job" in json.loads(translated.read_text())["States"]
    assert main(["export", "airflow", "-o", str(tmp_path / "dags")]) == 0
    written = sorted(p.name for p in (tmp_path / "dags").iterdir())
    assert written == [
        "fraud_detection_retraining.json",
        "fraud_detection_retraining.py",
        "requirements.txt",
    ]


def test_export_without_a_bucket_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("PIPELINE_BUCKET", raising=False)
    monkeypatch.setenv("PIPELINE_ROLE_ARN", ROLE_ARN)
    assert main(["export", "airflow", "-o", "/nonexistent/never-written"]) == 2
    assert "needs bucket" in capsys.readouterr().err

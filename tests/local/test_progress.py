"""Progress output: plain lines off a terminal, a rich Live table on one, and the summary."""

from __future__ import annotations

import io

from rich.console import Console

from pipelines.app.progress import LiveProgress, PlainProgress, print_summary, summarize
from pipelines.local.faults import parse_faults
from pipelines.local.orchestrator import Engine, RunOptions


def _definition(engine: Engine) -> dict:
    engine.store.put_bytes(b"print('hello')\n", "s3://bucket/code/ok.py")
    step = {
        "Name": "Hello",
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                    "VolumeSizeInGB": 30,
                }
            },
            "RoleArn": "arn:aws:iam::000000000000:role/Test",
            "AppSpecification": {
                "ImageUri": "image",
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/ok.py"],
            },
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": "s3://bucket/code/ok.py",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                    },
                }
            ],
            "ProcessingOutputConfig": {"Outputs": []},
        },
        "RetryPolicies": [
            {"ExceptionType": ["Step.THROTTLING"], "IntervalSeconds": 0, "MaxAttempts": 1}
        ],
        "CacheConfig": {"Enabled": True, "ExpireAfter": "PT1H"},
    }
    check = {
        "Name": "Check",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "LessThan", "LeftValue": {"Get": "Parameters.N"}, "RightValue": 3}
            ],
            "IfSteps": [],
            "ElseSteps": [
                {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "N too big"}}
            ],
        },
        "DependsOn": ["Hello"],
    }
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "N", "Type": "Integer"}],
        "Steps": [step, check],
    }


def test_plain_progress_prints_one_line_per_change_and_a_summary(engine: Engine) -> None:
    lines: list[str] = []
    faults = parse_faults(["Hello=THROTTLING"], {"Hello": "Processing"})
    result = engine.run(
        _definition(engine),
        "p",
        {"N": 1},
        RunOptions(faults=faults, listener=PlainProgress(lines.append)),
    )
    assert result.succeeded
    text = "\n".join(lines)
    assert f"Execution {result.execution_id} started: 3 steps" in text
    assert "Hello                  Retrying     attempt 1 failed (Step.THROTTLING:" in text
    assert "Hello                  Succeeded" in text and "after 2 attempts" in text
    assert "Stop                   NotExecuted" in text

    again = engine.run(
        _definition(engine), "p", {"N": 5}, RunOptions(listener=PlainProgress(lines.append))
    )
    assert again.status == "Failed" and again.failure_detail == "N too big"
    assert f"cache hit (execution {result.execution_id})" in "\n".join(lines)
    out: list[str] = []
    print_summary(summarize(again, engine.store), write=out.append)
    assert out[0].startswith(f"Execution {again.execution_id} Failed in ")
    # SageMaker's FailureReason, then which step failed and why.
    assert out[0].endswith(": Step failure: One or multiple steps failed. — N too big")
    assert any(line.split()[:3] == ["Hello", "Processing", "Succeeded"] for line in out)
    assert "Check: N 5 < 3 -> False" in out
    # The outcome in the page's words: which step failed, and its reason.
    assert out[out.index("Outcome: Failed: step Stop failed") + 1] == "  N too big"


def test_live_progress_renders_a_table_on_a_terminal(engine: Engine) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160, color_system=None)
    result = engine.run(
        _definition(engine), "p", {"N": 1}, RunOptions(listener=LiveProgress(console))
    )
    assert result.succeeded
    print_summary(summarize(result, engine.store), console)
    output = buffer.getvalue()
    assert f"Execution {result.execution_id}" in output
    for header in ("Step", "Status", "Duration", "Attempt"):
        assert header in output
    assert "Succeeded" in output and "NotExecuted" in output
    assert "Outcome: Succeeded" in output

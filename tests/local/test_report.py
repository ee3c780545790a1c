"""The execution report: computed once from the stored records, and what the summary,
`executions describe` and the view each show of it."""

from __future__ import annotations

from pathlib import Path

from pipelines.app import report
from pipelines.local.records import ExecutionRecord, ExecutionStatus, StepRecord, StepStatus
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p"
SOURCE = f"{PIPELINE_ARN}/execution/older"


def _execution(status: ExecutionStatus, end: float | None) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id="abc123",
        execution_arn=f"{PIPELINE_ARN}/execution/abc123",
        pipeline_name="p",
        pipeline_arn=PIPELINE_ARN,
        status=status,
        parameters={"Threshold": 0.5},
        definition_hash="h",
        start_time=100.0,
        end_time=end,
        failure_reason="Step failure: One or multiple steps failed."
        if status == ExecutionStatus.FAILED
        else None,
    )


def _steps() -> list[StepRecord]:
    return [
        StepRecord(
            "Preprocess",
            "Processing",
            0,
            status=StepStatus.SUCCEEDED,
            start=100.0,
            end=101.0,
            cache_source_arn=SOURCE,
            cache_source_id="older",
            metadata={"CacheWarning": {"Message": "input data changed since older"}},
        ),
        StepRecord(
            "Train",
            "Training",
            1,
            status=StepStatus.FAILED,
            attempts=3,
            start=101.0,
            end=171.0,
            failure_reason="AlgorithmError: boom",
            job_name="pipelines-abc123-train",
            logs=["/jobs/train/stdout.log"],
        ),
        StepRecord("Register", "RegisterModel", 2, status=StepStatus.NOT_EXECUTED),
    ]


def test_the_step_table_says_hits_misses_retries_and_durations() -> None:
    steps = _steps()
    steps[1].status = StepStatus.SUCCEEDED
    rows = report.from_records(_execution(ExecutionStatus.SUCCEEDED, 171.0), steps).rows()
    assert rows == [
        ("Preprocess", "Processing", "Succeeded", "1.0s", "-", "hit (older, inputs changed)"),
        ("Train", "Training", "Succeeded", "1m10s", "3", "miss"),
        ("Register", "RegisterModel", "NotExecuted", "-", "-", ""),
    ]


def test_a_failed_execution_says_which_step_failed_beside_sagemakers_reason() -> None:
    failed = report.from_records(_execution(ExecutionStatus.FAILED, 171.0), _steps())
    assert failed.failure_detail == "Step Train failed: AlgorithmError: boom"
    assert failed.headline == (
        "Execution abc123 Failed in 1m11s: Step failure: One or multiple steps failed. — "
        "Step Train failed: AlgorithmError: boom"
    )
    assert failed.warnings == ["WARNING: input data changed since older"]
    assert [s.retries for s in failed.steps] == [0, 2, 0]


def test_a_running_execution_is_measured_to_now() -> None:
    steps = _steps()[:2]
    steps[1].status, steps[1].end = StepStatus.EXECUTING, None
    running = report.from_records(_execution(ExecutionStatus.EXECUTING, None), steps, now=130.0)
    assert running.duration == 30.0
    assert [s.duration for s in running.steps] == [1.0, 29.0]
    # Without a clock a running step has no duration yet (nothing is made up).
    unclocked = report.from_records(_execution(ExecutionStatus.EXECUTING, None), steps)
    assert unclocked.duration is None and unclocked.steps[1].duration is None


def test_describe_reads_the_stored_execution_and_prints_the_report(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.create_execution(_execution(ExecutionStatus.EXECUTING, None))
    for step in _steps():
        state.save_step("abc123", step)
    state.update_execution(
        "abc123",
        status=ExecutionStatus.FAILED,
        end_time=171.0,
        failure_reason="Step failure: One or multiple steps failed.",
    )
    described = report.describe(state, ArtifactStore(tmp_path / "store"), "abc1", now=500.0)
    lines = described.lines()
    assert "Status      Failed" in lines and "Duration    1m11s" in lines
    assert "Why         Step Train failed: AlgorithmError: boom" in lines
    assert "  Threshold                0.5" in lines
    table = lines[lines.index("Steps") + 1 :]
    assert table[0].split() == ["Step", "Type", "Status", "Duration", "Attempts", "Cache"]
    assert table[1].endswith("hit (older, inputs changed)")
    assert lines[-6:] == [
        "Preprocess:",
        "  WARNING: input data changed since older",
        "Train:",
        "  failure: AlgorithmError: boom",
        "  job: pipelines-abc123-train",
        "  log: /jobs/train/stdout.log",
    ]
    document = described.to_json()
    assert document["execution"]["failure_detail"] == "Step Train failed: AlgorithmError: boom"
    assert [s["step_name"] for s in document["steps"]] == ["Preprocess", "Train", "Register"]
    assert document["steps"][1]["status"] == "Failed" and document["steps"][1]["attempts"] == 3

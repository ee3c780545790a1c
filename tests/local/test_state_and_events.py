"""SQLite state under concurrency, and the EventBridge-shaped event log."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pipelines.local.events import (
    EXECUTION_STATUS_CHANGE,
    MODEL_PACKAGE_STATE_CHANGE,
    STEP_STATUS_CHANGE,
    EventLog,
    read_events,
)
from pipelines.local.records import (
    ExecutionRecord,
    ExecutionStatus,
    ModelPackageGroupRow,
    ModelPackageRow,
    StepStatus,
)
from pipelines.local.registry import ModelRegistry
from pipelines.local.state import SCHEMA_VERSION, State, StateError

PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/p"


def _execution(execution_id: str) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id,
        execution_arn=f"{PIPELINE_ARN}/execution/{execution_id}",
        pipeline_name="p",
        pipeline_arn=PIPELINE_ARN,
        status=ExecutionStatus.EXECUTING,
        parameters={"A": 1},
        definition_hash="h",
        start_time=time.time(),
    )


def _hammer(db: str, worker: int, count: int) -> None:
    state = State(db)
    registry = ModelRegistry(state, "us-east-1")
    for n in range(count):
        execution_id = f"w{worker}n{n}"
        state.create_execution(_execution(execution_id))
        for step in ("A", "B"):
            state.upsert_step(execution_id, step, step_type="Processing", status="Executing")
            state.upsert_step(execution_id, step, status="Succeeded", properties={"n": n})
        state.update_execution(execution_id, status="Succeeded", end_time=time.time())
        registry.register("group", inference_specification={"Containers": []})


def test_schema_is_versioned(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    assert state.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert state.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    state.close()
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="schema version"):
        State(tmp_path / "state.db")


def test_a_version_1_database_is_migrated_keeping_its_cache_entries(tmp_path: Path) -> None:
    from pipelines.local import state as state_module

    old_schema = state_module._SCHEMA.replace(
        "    inputs_json      TEXT NOT NULL DEFAULT '{}',\n", ""
    ).replace(
        "    options_json     TEXT NOT NULL DEFAULT '{}',\n    owner_json       TEXT\n",
        "    options_json     TEXT NOT NULL DEFAULT '{}'\n",
    )
    assert "inputs_json" not in old_schema and "owner_json" not in old_schema
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.executescript(old_schema)
    conn.execute(
        "INSERT INTO cache_entries VALUES ('k', 'p', 'S', 'e1', 'arn/e1', 1.0, '{}', '[]')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    state = State(tmp_path / "state.db")
    assert state.connection().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    [entry] = state.cache_entries("k", 0.0)
    assert entry.execution_id == "e1" and entry.inputs == {}


def test_execution_and_step_records_round_trip(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    state.create_execution(_execution("abc123def456"))
    state.upsert_step("abc123def456", "Train", step_type="Training", status="Starting", position=1)
    state.upsert_step(
        "abc123def456",
        "Train",
        status="Failed",
        failure_reason="boom",
        attempts=3,
        logs=["/x/stdout.log"],
        properties={"TrainingJobName": "j"},
    )
    state.update_execution("abc123def456", status="Failed", failure_reason="boom")
    step = state.list_steps("abc123def456")[0]
    assert (step.type, step.status, step.attempts) == ("Training", StepStatus.FAILED, 3)
    assert step.logs == ["/x/stdout.log"]
    assert step.properties == {"TrainingJobName": "j"}
    assert state.get_step("abc123def456", "Train") == step
    assert state.get_step("abc123def456", "Other") is None
    found = state.find_execution("abc1")
    assert (found.status, found.failure_reason) == (ExecutionStatus.FAILED, "boom")
    assert state.find_execution(f"{PIPELINE_ARN}/execution/abc123def456").parameters == {"A": 1}
    state.create_execution(_execution("abc999"))
    with pytest.raises(LookupError, match="several"):
        state.find_execution("abc")
    with pytest.raises(LookupError, match="no local execution"):
        state.find_execution("zzz")


def test_many_threads_write_without_losing_anything(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    State(db)
    threads = [threading.Thread(target=_hammer, args=(db, w, 10)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _check_consistent(db, workers=6, count=10)


def test_several_processes_write_without_corruption(tmp_path: Path) -> None:
    db = str(tmp_path / "state.db")
    State(db)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_hammer, args=(db, w, 8)) for w in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    _check_consistent(db, workers=4, count=8)


def _open_when_released(db: str, barrier) -> None:
    barrier.wait()
    State(db).connection().execute("SELECT 1")


def test_processes_creating_the_database_at_the_same_time_all_succeed(tmp_path: Path) -> None:
    # Switching a new file to WAL needs an exclusive lock that SQLite refuses at once
    # (without its busy handler) while another process holds the file.
    context = multiprocessing.get_context("fork")
    for round_number in range(20):
        db = str(tmp_path / f"state-{round_number}.db")
        barrier = context.Barrier(4)
        processes = [
            context.Process(target=_open_when_released, args=(db, barrier)) for _ in range(4)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [process.exitcode for process in processes] == [0, 0, 0, 0], round_number


def _check_consistent(db: str, workers: int, count: int) -> None:
    state = State(db)
    conn = state.connection()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    executions = state.list_executions()
    assert len(executions) == workers * count
    assert {e.status for e in executions} == {"Succeeded"}
    steps = [s for e in executions for s in state.list_steps(e.execution_id)]
    assert [s.status for s in steps] == [StepStatus.SUCCEEDED] * (workers * count * 2)
    versions = [p["ModelPackageVersion"] for p in ModelRegistry(state, "us-east-1").list("group")]
    assert sorted(versions) == list(range(1, workers * count + 1))  # distinct, gap-free


def _package(
    group: str, version: int, digest: str | None = None, created: float = 0.0
) -> ModelPackageRow:
    metadata = {"CustomerMetadataProperties": {"ModelContentDigest": digest}} if digest else {}
    return ModelPackageRow(
        group_name=group,
        version=version,
        package_arn=f"arn:aws:sagemaker:us-east-1:000000000000:model-package/{group}/{version}",
        status="Completed",
        approval_status="PendingManualApproval",
        creation_time=created,
        last_modified_time=created,
        package={"ModelPackageVersion": version, **metadata},
        evaluation_metrics={"auc": 0.5} if version == 1 else None,
    )


def test_model_packages_are_typed_rows_numbered_per_group_and_found_by_digest(
    tmp_path: Path,
) -> None:
    state = State(tmp_path / "state.db")
    for group in ("a", "b"):
        stored = ModelPackageGroupRow(group, f"arn:{group}", "", 1.0)
        assert state.insert_model_package_group(stored)
        # A second insert leaves the group as it was.
        assert not state.insert_model_package_group(ModelPackageGroupRow(group, "x", "y", 2.0))
        assert state.model_package_group(group) == stored
    assert [g.group_name for g in state.model_package_groups()] == ["a", "b"]

    made: list[int] = []

    def make(group: str, digest: str | None = None):
        def build(version: int) -> ModelPackageRow:
            made.append(version)
            return _package(group, version, digest, created=len(made))

        return build

    first, added = state.add_model_package("a", make("a", "d1"), content_digest="d1")
    assert added and first == _package("a", 1, "d1", created=1)
    assert state.add_model_package("a", make("a", "d2"), content_digest="d2")[0].version == 2
    assert state.add_model_package("b", make("b", "d1"), content_digest="d1")[0].version == 1
    # The digest already held in "a": its version, and no new one is made.
    assert state.add_model_package("a", make("a", "d1"), content_digest="d1") == (first, False)
    assert state.add_model_package("a", make("a"))[0].version == 3
    assert made == [1, 2, 1, 3]
    with pytest.raises(StateError, match="asked for version 4"):
        state.add_model_package("a", lambda version: _package("a", version + 1))
    assert state.latest_model_package("a") == _package("a", 3, created=4)

    assert [(p.group_name, p.version) for p in state.model_packages()] == [
        ("a", 3),
        ("b", 1),
        ("a", 2),
        ("a", 1),
    ]
    assert [p.version for p in state.model_packages("b")] == [1]
    assert [p.group_name for p in state.model_packages_numbered(1)] == ["a", "b"]
    assert state.model_package_by_arn(first.package_arn) == first

    state.update_model_package_approval("a", 2, "Approved", "ok", 10.0)
    approved = state.model_package("a", 2)
    assert approved is not None
    assert (approved.approval_status, approved.approval_description) == ("Approved", "ok")
    assert approved.last_modified_time == 10.0 and approved.creation_time == 2.0
    assert state.latest_model_package("a", "Approved") == approved
    assert state.model_packages("a", "Approved") == [approved]
    assert state.latest_model_package("b", "Approved") is None
    with pytest.raises(StateError, match="no model package version 9"):
        state.update_model_package_approval("a", 9, "Approved", None, 10.0)


def test_events_have_the_eventbridge_envelope_and_sagemaker_details(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", "eu-west-1")
    execution_arn = f"{PIPELINE_ARN}/execution/abc"
    log.execution_status_change(
        pipeline_arn=PIPELINE_ARN,
        execution_arn=execution_arn,
        current="Executing",
        previous=None,
        start_time=0,
        end_time=None,
        when=0,
    )
    log.step_status_change(
        pipeline_arn=PIPELINE_ARN,
        execution_arn=execution_arn,
        step_name="Train",
        step_type="Training",
        current="Succeeded",
        previous="Executing",
        start_time=0,
        end_time=5,
        when=5,
        metadata={"trainingJob": {"arn": "arn:job"}},
        cache_source_arn=f"{PIPELINE_ARN}/execution/old",
    )
    log.step_status_change(
        pipeline_arn=PIPELINE_ARN,
        execution_arn=execution_arn,
        step_name="Evaluate",
        step_type="Processing",
        current="Failed",
        previous="Executing",
        start_time=5,
        end_time=6,
        when=6,
        failure_reason="AlgorithmError: bad",
    )
    events, offset = read_events(log.path)
    assert offset == log.path.stat().st_size
    for event in events:
        assert set(event) == {
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        }
        assert event["source"] == "aws.sagemaker"
        assert event["region"] == "eu-west-1"
        assert event["resources"] == [PIPELINE_ARN, execution_arn]
    started, cached, failed = events
    assert started["detail-type"] == EXECUTION_STATUS_CHANGE
    assert started["time"] == "1970-01-01T00:00:00Z"
    assert started["detail"] == {
        "currentPipelineExecutionStatus": "Executing",
        "executionStartTime": "1970-01-01T00:00:00Z",
        "pipelineArn": PIPELINE_ARN,
        "pipelineExecutionArn": execution_arn,
    }
    assert cached["detail-type"] == STEP_STATUS_CHANGE
    assert cached["detail"]["cacheHitResult"] == {
        "sourcePipelineExecutionArn": f"{PIPELINE_ARN}/execution/old"
    }
    assert cached["detail"]["metadata"] == {"trainingJob": {"arn": "arn:job"}}
    assert cached["detail"]["stepEndTime"] == "1970-01-01T00:00:05Z"
    assert failed["detail"]["failureReason"] == "AlgorithmError: bad"
    assert "failureReason" not in cached["detail"]


def test_read_events_resumes_from_an_offset_and_skips_partial_lines(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", "us-east-1")
    log.append({"n": 1})
    first, offset = read_events(log.path)
    with log.path.open("a") as handle:
        handle.write('{"n": 2}\n{"n": 3')  # a writer is half-way through line 3
    second, offset2 = read_events(log.path, offset)
    assert [e["n"] for e in first] == [1]
    assert [e["n"] for e in second] == [2]
    with log.path.open("a") as handle:
        handle.write("}\n")
    third, _ = read_events(log.path, offset2)
    assert [e["n"] for e in third] == [3]
    assert read_events(tmp_path / "missing.jsonl", 0) == ([], 0)


def _append_many(path: str, worker: int) -> None:
    log = EventLog(path, "us-east-1")
    for n in range(200):
        log.append({"worker": worker, "n": n, "pad": "x" * 500})


def test_appends_from_several_processes_never_interleave(tmp_path: Path) -> None:
    path = str(tmp_path / "events.jsonl")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_append_many, args=(path, w)) for w in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    lines = Path(path).read_text().splitlines()
    assert len(lines) == 800
    assert all(json.loads(line)["pad"] for line in lines)


def test_model_package_events_carry_the_describe_document(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl", "us-east-1")
    registry = ModelRegistry(State(tmp_path / "state.db"), "us-east-1", log)
    registry.register("group", inference_specification={"Containers": []})
    registry.update_approval(1, "Approved", group="group")
    events, _ = read_events(log.path)
    assert [e["detail-type"] for e in events] == [MODEL_PACKAGE_STATE_CHANGE] * 2
    assert [e["detail"]["ModelApprovalStatus"] for e in events] == [
        "PendingManualApproval",
        "Approved",
    ]
    arn = "arn:aws:sagemaker:us-east-1:000000000000:model-package/group/1"
    assert events[1]["resources"] == [arn]
    assert events[1]["detail"]["ModelPackageArn"] == arn

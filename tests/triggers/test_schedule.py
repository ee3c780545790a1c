"""`schedule`: the configured AWS cron run locally in its time zone, skipping ticks while an
execution is still running."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from trigger_samples import write_config
from waiting import FAILSAFE_SECONDS

from pipelines.cli import main as cli_main
from pipelines.settings.triggers import load_settings
from pipelines.triggers.schedule import Scheduler, running_local_executions

PARIS = ZoneInfo("Europe/Paris")


class FakeTime:
    """A wall clock that only moves when the scheduler sleeps."""

    def __init__(self, start: datetime) -> None:
        self.current = start
        self.slept: list[float] = []
        self.before_sleep = lambda: None

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.before_sleep()
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)


def make_scheduler(config, clock: FakeTime, start, running=lambda: [], lines=None):
    return Scheduler(
        config,
        start=start,
        now=clock.now,
        sleep=clock.sleep,
        out=(lines.append if lines is not None else lambda line: None),
        running=running,
    )


def test_ticks_follow_the_cron_in_the_configured_time_zone(make_config) -> None:
    config = make_config(
        triggers={"schedule": "cron(30 2 ? * MON-FRI *)", "timezone": "Europe/Paris"}
    )
    clock = FakeTime(datetime(2024, 3, 29, 12, 0, tzinfo=PARIS))  # a Friday
    started: list[datetime] = []

    def start(cfg, overrides):
        started.append(clock.now())
        return 0

    assert make_scheduler(config, clock, start).run(max_ticks=3) == 0

    # Friday's 2:30 has passed; the weekend is skipped; Monday 1 April is after the DST jump.
    assert [t.isoformat() for t in started] == [
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
        "2024-04-03T02:30:00+02:00",
    ]
    assert max(clock.slept) <= 30  # it sleeps in slices


def test_a_tick_is_skipped_while_its_own_execution_is_still_running(make_config) -> None:
    config = make_config(triggers={"schedule": "cron(0 * * * ? *)"})  # hourly
    clock = FakeTime(datetime(2024, 6, 3, 0, 30, tzinfo=ZoneInfo("UTC")))
    release = threading.Event()
    calls: list[dict] = []
    lines: list[str] = []

    def start(cfg, overrides):
        calls.append(dict(overrides))
        if len(calls) == 1:
            assert release.wait(FAILSAFE_SECONDS)
        return 0

    def before_sleep():
        # Let the first run finish once the scheduler has reported the skipped tick, and
        # wait until its thread has ended: then the next tick finds nothing running.
        if any("skipped" in line for line in lines) and not release.is_set():
            release.set()
            scheduler.thread.join(FAILSAFE_SECONDS)

    clock.before_sleep = before_sleep
    scheduler = make_scheduler(config, clock, start, lines=lines)
    scheduler.run(max_ticks=3)

    ticks = [line for line in lines if line.startswith("2024-06-03T")]
    assert ticks[0].startswith("2024-06-03T01:00:00+00:00: starting a local execution on s3://")
    assert ticks[1] == (
        "2024-06-03T02:00:00+00:00: skipped, the execution this scheduler started is still running"
    )
    assert any(t.startswith("2024-06-03T03:00:00+00:00: starting a local execution") for t in ticks)
    assert len(calls) == 2


def test_a_tick_is_skipped_while_the_state_database_shows_an_execution_running(
    make_config,
) -> None:
    config = make_config(
        triggers={"schedule": "cron(0 * * * ? *)", "schedule_parameters": {"MetricThreshold": 0.8}}
    )
    clock = FakeTime(datetime(2024, 6, 3, 0, 30, tzinfo=ZoneInfo("UTC")))
    busy = [["1a2b3c"], []]
    calls: list[dict] = []
    lines: list[str] = []

    make_scheduler(
        config,
        clock,
        lambda cfg, overrides: calls.append(dict(overrides)) or 0,
        running=lambda: busy.pop(0),
        lines=lines,
    ).run(max_ticks=2)

    assert "2024-06-03T01:00:00+00:00: skipped, local execution 1a2b3c is still running" in lines
    # The configured input location (the local store's twin of s3://<bucket>/<input_prefix>),
    # never the pipeline's default, the bundled sample.
    incoming = "s3://local-pipeline-bucket/fraud-detection-retraining/incoming/"
    assert calls == [
        {"InputDataUrl": incoming, "InputPartitionWindow": "0", "MetricThreshold": "0.8"}
    ]
    assert f"2024-06-03T02:00:00+00:00: starting a local execution on {incoming}" in lines


@pytest.mark.parametrize(
    ("triggers", "expected"),
    [
        (
            {"local_input": "data/incoming", "input_partition_window": 7},
            {"InputDataUrl": "<root>/data/incoming", "InputPartitionWindow": "7"},
        ),
        (
            {"local_input": "s3://local-pipeline-bucket/landing/"},
            {"InputDataUrl": "s3://local-pipeline-bucket/landing/", "InputPartitionWindow": "0"},
        ),
        (
            # schedule_parameters still win: they are explicit per-run values.
            {"schedule_parameters": {"InputDataUrl": "s3://local-pipeline-bucket/x.csv"}},
            {"InputDataUrl": "s3://local-pipeline-bucket/x.csv", "InputPartitionWindow": "0"},
        ),
    ],
)
def test_scheduled_runs_use_the_configured_local_input(make_config, triggers, expected) -> None:
    config = make_config(triggers={"schedule": "cron(0 * * * ? *)", **triggers})
    clock = FakeTime(datetime(2024, 6, 3, 0, 30, tzinfo=ZoneInfo("UTC")))
    calls: list[dict] = []
    scheduler = make_scheduler(config, clock, lambda cfg, o: calls.append(dict(o)) or 0)
    scheduler.run(max_ticks=1)
    wanted = {k: v.replace("<root>", str(config.root)) for k, v in expected.items()}
    assert calls == [wanted]


def test_running_local_executions_reads_the_engine_state(make_config) -> None:
    from pipelines.local.records import ExecutionRecord, ExecutionStatus
    from pipelines.local.state import State

    config = make_config()
    state = State(config.local_home / "state.db")
    pipeline_arn = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/fraud-detection-retraining"
    now = time.time()
    for execution_id, status, started in (
        ("recent", "Executing", now - 60),
        ("abandoned", "Executing", now - 3 * 86_400),
        ("done", "Succeeded", now - 60),
    ):
        state.create_execution(
            ExecutionRecord(
                execution_id=execution_id,
                execution_arn=f"{pipeline_arn}/execution/{execution_id}",
                pipeline_name=config.pipeline.name,
                pipeline_arn=pipeline_arn,
                status=ExecutionStatus.EXECUTING,
                parameters={},
                definition_hash="h",
                start_time=started,
            )
        )
        state.update_execution(execution_id, status=status)
    state.close()

    stale_after = load_settings(config).triggers.local_stale_after_seconds
    assert running_local_executions(config, stale_after) == ["recent"]


def test_a_start_that_raises_is_reported_and_the_schedule_goes_on(make_config) -> None:
    config = make_config(triggers={"schedule": "cron(0 * * * ? *)"})
    clock = FakeTime(datetime(2024, 6, 3, 0, 30, tzinfo=ZoneInfo("UTC")))
    lines: list[str] = []
    outcomes = [RuntimeError("disk full"), 0]

    def start(cfg, overrides):
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    scheduler = make_scheduler(config, clock, start, lines=lines)
    clock.before_sleep = lambda: scheduler.thread and scheduler.thread.join(FAILSAFE_SECONDS)
    scheduler.run(max_ticks=2)

    assert any("could not start: RuntimeError: disk full" in line for line in lines)
    assert any("execution succeeded" in line for line in lines)


def test_cli_schedule_next_prints_upcoming_runs(tmp_path, capsys) -> None:
    path = write_config(
        tmp_path / "project",
        triggers={"schedule": "cron(0 2 * * ? *)", "timezone": "America/New_York"},
    )

    assert cli_main(["--config", str(path), "schedule", "--next", "2"]) == 0

    lines = capsys.readouterr().out.split()
    assert len(lines) == 2
    assert all(line.endswith(("T02:00:00-05:00", "T02:00:00-04:00")) for line in lines)
    assert cli_main(["--config", str(path), "schedule", "--max-ticks", "0"]) == 2


@pytest.mark.parametrize("target", ["sagemaker"])
def test_cli_schedule_is_local_only(tmp_path, target) -> None:
    path = write_config(tmp_path / "project")
    assert cli_main(["--config", str(path), "schedule", "--next", "1", "--target", target]) == 2

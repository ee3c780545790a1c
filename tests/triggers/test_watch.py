"""`watch DIR`: a local execution per new, complete file; remembered across restarts;
files that cannot start go to the dead-letter folder with the reason."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from trigger_samples import write_config

from pipelines.app import local_run
from pipelines.cli import main as cli_main
from pipelines.parameters import ParameterError
from pipelines.settings.triggers import WatchSettings
from pipelines.triggers.watch import Watcher


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Starts:
    """A stand-in for the local engine: records each start and answers from a script."""

    def __init__(self, outcomes: dict[str, object] | None = None) -> None:
        self.calls: list[dict[str, str]] = []
        self.outcomes = outcomes or {}

    def __call__(self, config, overrides) -> int:
        self.calls.append(dict(overrides))
        outcome = self.outcomes.get(Path(overrides["InputDataUrl"]).name, 0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]

    @property
    def names(self) -> list[str]:
        return [Path(c["InputDataUrl"]).name for c in self.calls]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


SETTINGS = WatchSettings(debounce_seconds=5.0, poll_seconds=1.0)


def make_watcher(config, inbox, starts, clock=None, **kwargs) -> Watcher:
    clock = clock or Clock()
    return Watcher(
        config,
        inbox,
        start=starts,
        settings=kwargs.pop("settings", SETTINGS),
        clock=clock,
        sleep=clock.sleep,
        out=lambda line: None,
        **kwargs,
    )


def test_a_file_starts_only_after_it_stopped_changing_for_the_debounce_period(
    config, inbox
) -> None:
    clock, starts = Clock(), Starts()
    watcher = make_watcher(config, inbox, starts, clock)
    data = inbox / "transactions.csv"
    data.write_text("amount,is_fraud\n")

    watcher.poll()
    clock.sleep(3)
    with data.open("a") as handle:
        handle.write("12.5,0\n")  # still being written
    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 1_000_000))
    watcher.poll()
    clock.sleep(4.9)
    watcher.poll()
    assert starts.calls == []

    clock.sleep(0.1)
    assert watcher.poll() == [data.resolve()]
    assert starts.calls == [{"InputDataUrl": str(data.resolve())}]


@pytest.mark.parametrize(
    ("triggers", "expected"),
    [
        ({"data_arrival_input": "prefix"}, {"InputPartitionWindow": "0"}),
        (
            {"data_arrival_input": "partitions", "input_partition_window": 2},
            {"InputPartitionWindow": "2"},
        ),
    ],
)
def test_prefix_and_partition_modes_run_on_the_whole_watched_folder(
    make_config, inbox, triggers, expected
) -> None:
    from pipelines.settings.triggers import load_settings

    config = make_config(triggers=triggers)
    starts = Starts()
    (inbox / "day2.csv").write_text("1\n")
    watcher = make_watcher(config, inbox, starts, triggers=load_settings(config).triggers)
    watcher.run(once=True)
    assert starts.calls == [{"InputDataUrl": str(inbox.resolve()), **expected}]


def test_a_restarted_watcher_does_not_start_the_same_file_twice(config, inbox) -> None:
    starts = Starts()
    (inbox / "a.csv").write_text("1\n")
    first = make_watcher(config, inbox, starts)
    first.run(once=True)
    first.close()

    (inbox / "b.csv").write_text("2\n")
    second = make_watcher(config, inbox, starts)
    second.run(once=True)

    assert starts.names == ["a.csv", "b.csv"]
    # New content at the same path is new data.
    (inbox / "a.csv").write_text("1\n3\n")
    second.run(once=True)
    assert starts.names == ["a.csv", "b.csv", "a.csv"]
    second.close()


def test_a_failed_execution_is_not_retried_but_a_failed_start_is_dead_lettered(
    config, inbox
) -> None:
    starts = Starts(
        {
            "failed-run.csv": 1,
            "bad-input.csv": ParameterError("parameter InputDataUrl: not a readable CSV"),
            "usage.csv": 2,
        }
    )
    for name in ("failed-run.csv", "bad-input.csv", "usage.csv", "good.csv"):
        (inbox / name).write_text(name)
    watcher = make_watcher(config, inbox, starts)

    report = watcher.run(once=True)

    assert sorted(starts.names) == ["bad-input.csv", "failed-run.csv", "good.csv", "usage.csv"]
    assert [p.name for p in report.succeeded] == ["good.csv"]
    assert [p.name for p in report.failed] == ["failed-run.csv"]
    assert report.exit_code == 1
    dead = inbox / ".dead-letter"
    assert sorted(p.name for p in dead.iterdir()) == [
        "bad-input.csv",
        "bad-input.csv.reason.txt",
        "usage.csv",
        "usage.csv.reason.txt",
    ]
    reason = (dead / "bad-input.csv.reason.txt").read_text()
    assert f"file: {(inbox / 'bad-input.csv').resolve()}" in reason
    assert "ParameterError: parameter InputDataUrl: not a readable CSV" in reason
    assert "exit code 2" in (dead / "usage.csv.reason.txt").read_text()
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [
        "failed-run.csv",
        "good.csv",
    ]
    watcher.run(once=True)
    assert len(starts.calls) == 4


def test_a_dead_lettered_file_moved_back_is_tried_again(config, inbox) -> None:
    starts = Starts({"data.csv": RuntimeError("engine unavailable")})
    (inbox / "data.csv").write_text("x")
    watcher = make_watcher(config, inbox, starts)
    watcher.run(once=True)
    (inbox / ".dead-letter" / "data.csv").replace(inbox / "data.csv")
    starts.outcomes.clear()

    report = watcher.run(once=True)

    assert starts.names == ["data.csv", "data.csv"]
    assert [p.name for p in report.succeeded] == ["data.csv"]


def test_partial_uploads_hidden_files_and_folders_are_ignored(config, inbox) -> None:
    for name in ("upload.csv.part", "copy.tmp", ".DS_Store", "notes~"):
        (inbox / name).write_text("x")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "nested.csv").write_text("x")
    starts = Starts()

    make_watcher(config, inbox, starts).run(once=True)

    assert starts.calls == []


def test_notifications_are_delivered_after_each_run(config, inbox) -> None:
    delivered = []
    (inbox / "a.csv").write_text("a")
    (inbox / "b.csv").write_text("b")
    watcher = make_watcher(config, inbox, Starts(), after_run=delivered.append)

    watcher.run(once=True)

    assert delivered == [config, config]


def test_a_custom_dead_letter_folder_is_used(config, inbox, tmp_path) -> None:
    settings = dataclasses.replace(SETTINGS, dead_letter_dir=str(tmp_path / "rejected"))
    (inbox / "x.csv").write_text("x")
    watcher = make_watcher(config, inbox, Starts({"x.csv": 3}), settings=settings)
    watcher.run(once=True)

    assert (tmp_path / "rejected" / "x.csv.reason.txt").exists()


def test_cli_watch_once(tmp_path, inbox, monkeypatch, capsys) -> None:
    starts = Starts({"broken.csv": ParameterError("no such column is_fraud")})
    monkeypatch.setattr(local_run, "run_local_execution", starts)
    path = write_config(tmp_path / "project", triggers={"watch": {"debounce_seconds": 0.0}})
    (inbox / "good.csv").write_text("g")
    (inbox / "broken.csv").write_text("b")

    code = cli_main(
        ["--config", str(path), "watch", str(inbox), "--once", "--poll-seconds", "0.01"]
    )

    output = capsys.readouterr().out
    assert code == 1
    assert sorted(starts.names) == ["broken.csv", "good.csv"]
    assert "good.csv: execution succeeded" in output
    assert "broken.csv: could not start: ParameterError: no such column is_fraud" in output
    assert "1 succeeded, 0 failed, 1 could not start" in output
    assert cli_main(["--config", str(path), "watch", str(tmp_path / "nope"), "--once"]) == 2
    assert cli_main(["--config", str(path), "watch", str(inbox), "--target", "sagemaker"]) == 2


def test_cli_watch_options_follow_the_configs_rules(tmp_path, inbox, capsys) -> None:
    path = write_config(tmp_path / "project")

    code = cli_main(["--config", str(path), "watch", str(inbox), "--once", "--poll-seconds", "0"])

    assert code == 2
    assert "--poll-seconds 0.0: must be between 0.01 and 3600" in capsys.readouterr().err

"""The command line: routing, exit codes and messages a shell script relies on."""

from __future__ import annotations

import json

import pytest

from pipelines.cli import EXIT_USAGE, build_parser, main


def test_options_without_a_command_start_a_local_run(capsys):
    # Parameters are checked before anything runs, so this stops at the bad name.
    assert main(["--param", "Thresold=0.5"]) == EXIT_USAGE
    assert "unknown parameter(s) Thresold" in capsys.readouterr().err


def test_help_without_a_command_shows_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    output = capsys.readouterr().out
    for command in ("start", "definition", "stack", "dr", "executions", "registry", "watch"):
        assert command in output


def test_every_command_accepts_the_target_after_its_name():
    parser = build_parser()
    args = parser.parse_args(["start", "--target", "sagemaker", "--param", "A=1"])
    assert (args.target, args.param) == ("sagemaker", ["A=1"])
    args = parser.parse_args(["--target", "sagemaker", "start"])
    assert args.target == "sagemaker"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["start", "--param", "MaxIter=many"], "MaxIter expects an Integer"),
        (["start", "--param", "novalue"], "expected NAME=VALUE"),
        (["start", "--target", "sagemaker", "--no-cache"], "apply to local runs only"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("PIPELINE_BUCKET", "b")
    monkeypatch.setenv("PIPELINE_ROLE_ARN", "arn:aws:iam::111122223333:role/R")
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_definition_is_written_to_a_file(tmp_path, capsys):
    target = tmp_path / "out" / "definition.json"
    assert main(["definition", "-o", str(target)]) == 0
    assert json.loads(target.read_text())["Version"] == "2020-12-01"
    assert f"wrote {target}" in capsys.readouterr().out

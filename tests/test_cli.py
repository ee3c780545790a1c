"""The command line: routing, global options, exit codes, --version, --help's cost and a
closed stdout: what a shell script relies on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from pipelines import cli
from pipelines.app import commands as local_commands
from pipelines.cli import EXIT_USAGE, main
from pipelines.commandline import EXIT_CLOSED_PIPE, Terminated, exit_code_for
from pipelines.config import PROJECT_ROOT, ConfigError
from pipelines.errors import AwsError, ExecutionFailed, PipelineError, UsageError
from pipelines.local.home import HomeError
from pipelines.parameters import ParameterError

COMMANDS = (
    "start",
    "definition",
    "describe",
    "status",
    "stack",
    "dr",
    "executions",
    "registry",
    "watch",
    "schedule",
    "notifications",
    "deploy",
    "endpoints",
    "serve",
    "view",
    "cost",
    "export",
    "monitor",
)
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """pipeline.toml whose local home is empty (nothing ran)."""
    text = (PROJECT_ROOT / "pipeline.toml").read_text()
    config = tmp_path / "pipeline.toml"
    home = (tmp_path / "home").as_posix()
    config.write_text(re.sub(r'(?m)^home = ".*"$', f'home = "{home}"', text, count=1))
    return config


def run_cli(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run_pipeline.py", *argv],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_options_without_a_command_start_a_local_run(capsys):
    # Parameters are checked before anything runs, so this stops at the bad name.
    assert main(["--param", "Thresold=0.5"]) == EXIT_USAGE
    assert "unknown parameter(s) Thresold" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "command"),
    [
        *(("--pipeline-name", c) for c in ("cost", "start", "executions", "view", "stack")),
        # Another option taking a value; one command is enough (each --bucket value is a
        # definition of its own, built with the SDK).
        ("--bucket", "view"),
    ],
)
def test_an_option_value_equal_to_a_command_name_is_a_value(option, command, capsys):
    # Used to crash (the value was taken for the command). Reaching the parameter check
    # proves `start` ran with the option's value.
    assert main([option, command, "--param", "Thresold=0.5"]) == EXIT_USAGE
    assert "unknown parameter(s) Thresold" in capsys.readouterr().err
    assert main(["start", option, command, "--param", "Thresold=0.5"]) == EXIT_USAGE
    assert "unknown parameter(s) Thresold" in capsys.readouterr().err


def test_help_without_a_command_shows_every_command(capsys):
    assert main(["--help"]) == 0
    output = capsys.readouterr().out
    listed = re.findall(r"(?m)^  ([a-z]+) ", output.split("Commands:")[1])
    assert sorted(listed) == sorted(COMMANDS)
    assert "Exit codes: 0 success, 1 execution failed, 2 usage/config error" in output


@pytest.fixture
def seen(monkeypatch):
    """`executions list`'s handler replaced by one that records what it was given."""
    calls = []

    def record(args, config):
        calls.append((args, config))
        return 0

    monkeypatch.setattr(local_commands, "_executions_list", record)
    return calls


@pytest.mark.parametrize(
    "argv",
    [
        ["--pipeline-name", "p1", "--region", "eu-west-1", "executions", "list"],
        ["executions", "--pipeline-name", "p1", "--region", "eu-west-1", "list"],
        ["executions", "list", "--pipeline-name", "p1", "--region", "eu-west-1"],
        ["--pipeline-name", "p1", "executions", "list", "--region", "eu-west-1"],
        # Given twice, the one nearer the end wins (as with argparse before).
        [
            "--pipeline-name",
            "p0",
            "executions",
            "list",
            "--pipeline-name",
            "p1",
            "--region=eu-west-1",
        ],
    ],
)
def test_global_options_work_before_and_after_the_command(argv, seen, project):
    assert main(["--config", str(project), *argv]) == 0
    ((args, config),) = seen
    assert (config.pipeline.name, config.aws.region, args.target) == ("p1", "eu-west-1", "local")
    assert config.path == project


@pytest.mark.parametrize(
    "argv",
    [
        ["--target", "sagemaker", "executions", "list"],
        ["executions", "--target", "sagemaker", "list"],
        ["executions", "list", "--target", "sagemaker"],
        ["--target", "local", "executions", "list", "--target", "sagemaker"],
    ],
)
def test_the_target_is_honoured_wherever_it_is_given(argv, project, capsys, monkeypatch):
    monkeypatch.setenv("PIPELINE_BUCKET", "b")
    monkeypatch.setenv("PIPELINE_ROLE_ARN", "arn:aws:iam::111122223333:role/R")
    assert main(["--config", str(project), *argv]) == EXIT_USAGE
    assert "executions and registry read the local engine's state" in capsys.readouterr().err


def test_the_local_target_after_the_command_overrides_one_before(project, capsys):
    argv = ["--target", "sagemaker", "executions", "list", "--target", "local"]
    assert main(["--config", str(project), *argv]) == 0
    assert "no local executions yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["start", "--param", "MaxIter=many"], "MaxIter expects an Integer"),
        (["start", "--param", "novalue"], "expected NAME=VALUE"),
        (["start", "--target", "sagemaker", "--no-cache"], "apply to local runs only"),
        (["--no-such-option"], "No such option"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["executions"], "Usage: run_pipeline.py executions"),
        (["executions", "list", "--limit", "x"], "'x' is not a valid integer"),
        (["--target", "elsewhere"], "'elsewhere' is not one of 'local', 'sagemaker'"),
        (["--config", "/no/such/pipeline.toml", "executions", "list"], "/no/such/pipeline.toml"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("PIPELINE_BUCKET", "b")
    monkeypatch.setenv("PIPELINE_ROLE_ARN", "arn:aws:iam::111122223333:role/R")
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err + captured.out


def test_definition_is_written_to_a_file(tmp_path, capsys):
    target = tmp_path / "out" / "definition.json"
    assert main(["definition", "-o", str(target)]) == 0
    assert json.loads(target.read_text())["Version"] == "2020-12-01"
    assert f"wrote {target}" in capsys.readouterr().out


def test_version_is_the_installed_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.split()[-1] == version("fraud-retraining-pipeline")
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(version("fraud-retraining-pipeline"))


def test_help_does_not_import_the_sdk_or_boto():
    heavy = ("sagemaker", "boto3", "botocore", "pandas", "numpy", "sklearn")
    code = (
        "import sys\nfrom pipelines.cli import main\n"
        "assert main(['--help']) == 0\nassert main(['stack', 'deploy', '--help']) == 0\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_schedule_next_json_gives_iso_utc_times(project, capsys):
    assert main(["--config", str(project), "schedule", "--next", "3", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document) == ["next_runs"] and len(document["next_runs"]) == 3
    assert all(ISO_UTC.match(moment) for moment in document["next_runs"])
    assert document["next_runs"] == sorted(document["next_runs"])
    assert main(["--config", str(project), "schedule", "--json"]) == EXIT_USAGE


def _with_closed_stdout(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """The command with its stdout a pipe whose reader is already gone, as when `| head`
    has read what it wanted and exited."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "run_pipeline.py", *argv],
            cwd=PROJECT_ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        # One line, written when the process flushes at the end.
        (("executions", "list"), EXIT_CLOSED_PIPE),
        # 45 KB, more than the buffer: fails while the command writes.
        (("definition",), EXIT_CLOSED_PIPE),
        # Click's own output: click ends it with 1.
        (("--help",), 1),
    ],
)
def test_a_closed_stdout_ends_the_command_quietly(argv, code, project):
    # The definition needs the project's code next to its pipeline.toml: the checkout's.
    config = [] if argv == ("definition",) else ["--config", str(project)]
    result = _with_closed_stdout(*config, *argv)
    assert result.stderr.decode() == ""
    assert result.returncode == code


def test_executions_list_piped_into_head(project, tmp_path):
    # A real shell pipeline; the reader exits after one line.
    script = (
        f"{sys.executable} run_pipeline.py --config {project} executions list | head -1; "
        "exit ${PIPESTATUS[0]}"
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.startswith("no local executions yet")
    assert result.stderr == ""
    assert result.returncode in (0, EXIT_CLOSED_PIPE)  # 0 if it all fit before head left


def _no_credentials() -> Exception:
    from botocore.exceptions import NoCredentialsError

    return NoCredentialsError()


def _client_error() -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribePipeline")


@pytest.mark.parametrize(
    ("error", "code", "prefix"),
    [
        (UsageError("bad usage"), 2, "error: bad usage"),
        (ConfigError("[aws].region: bad"), 2, "error: [aws].region: bad"),
        (ParameterError("unknown parameter(s) X"), 2, "error: unknown parameter(s) X"),
        (HomeError("home is a file"), 2, "error: home is a file"),
        (AwsError("throttled"), 3, "AWS error: throttled"),
        (_client_error(), 3, "AWS error: An error occurred (AccessDenied)"),
        (_no_credentials(), 3, "AWS error: Unable to locate credentials: name a profile"),
        (ExecutionFailed("Train failed"), 1, "error: Train failed"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (Terminated(), 143, "terminated (SIGTERM)"),
    ],
)
def test_each_error_class_exits_with_its_code(error, code, prefix, project, monkeypatch, capsys):
    def fail(args, config):
        raise error

    monkeypatch.setattr(local_commands, "_executions_list", fail)
    assert main(["--config", str(project), "executions", "list"]) == code
    assert capsys.readouterr().err.startswith(prefix)
    if isinstance(error, PipelineError):
        assert error.exit_code == code
    assert exit_code_for(error) == code


def test_a_bug_keeps_its_traceback(project, monkeypatch):
    def fail(args, config):
        raise RuntimeError("a bug")

    monkeypatch.setattr(local_commands, "_executions_list", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["--config", str(project), "executions", "list"])
    assert exit_code_for(RuntimeError()) is None


def test_run_pipeline_py_exits_with_the_code():
    result = run_cli("--pipeline-name", "cost", "--param", "Thresold=0.5")
    assert result.returncode == EXIT_USAGE
    assert "unknown parameter(s) Thresold" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_module_builds_every_command():
    root = cli.build_cli()
    assert sorted(root.commands) == sorted(COMMANDS)

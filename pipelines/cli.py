"""`run_pipeline.py`: one command line for the local engine and for SageMaker (click).

With no command it runs the pipeline locally on the bundled sample data (`start`). Every
command takes the global options (`--target local|sagemaker`, `--config`, ...) before or
after its name. Modules that own a group of commands expose `register(group)`
(pipelines/commandline.py has the plumbing); their handlers take `(args, config)` and
return an exit code or raise a `PipelineError` (pipelines/errors.py lists the exit codes).
Heavy imports (SDK, boto3, pandas) happen inside handlers, so `--help` and a cached local
rerun do not pay for them.
"""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from pipelines.app import commands as local_commands
from pipelines.aws import commands as aws_commands
from pipelines.commandline import (
    EXIT_INTERRUPTED,
    CommandArgs,
    Terminated,
    add_command,
    flush_stdout,
    global_options,
    load_config_from_args,
    profile_region,
    stop_on_sigterm,
)
from pipelines.config import ProjectConfig
from pipelines.deploy import commands as deploy_commands
from pipelines.drift import commands as drift_commands
from pipelines.errors import EXIT_AWS, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from pipelines.orchestrators import commands as orchestrator_commands
from pipelines.parameters import parse_assignments
from pipelines.stack import commands as stack_commands
from pipelines.triggers import commands as triggers_commands
from pipelines.view import commands as view_commands

PROG = "run_pipeline.py"
DISTRIBUTION = "fraud-retraining-pipeline"
DEFAULT_COMMAND = "start"

__all__ = [
    "EXIT_AWS",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Terminated",
    "build_cli",
    "load_config_from_args",
    "main",
    "profile_region",
    "stop_on_sigterm",
]


class DefaultsToStart(click.Group):
    """No command, or options first that are not global ones (`--param X=1`): `start`.

    The group parses only its own (global) options; what is left decides the command. So an
    option's value that happens to be a command name (`--pipeline-name cost`) is a value.
    """

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0].startswith("-"):
            return DEFAULT_COMMAND, self.commands[DEFAULT_COMMAND], args
        return super().resolve_command(ctx, args)


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version(DISTRIBUTION)
    except PackageNotFoundError:
        text = "unknown (not installed: pip install -e .)"
    click.echo(f"{PROG} ({DISTRIBUTION}) {text}")
    ctx.exit(EXIT_OK)


def build_cli() -> click.Group:
    def run_default(ctx: click.Context) -> int | None:
        if ctx.invoked_subcommand is None:
            return ctx.invoke(root.commands[DEFAULT_COMMAND])
        return None

    root = DefaultsToStart(
        PROG,
        callback=click.pass_context(run_default),
        invoke_without_command=True,
        help=(
            "Run the retraining pipeline locally (default) or manage it on SageMaker. "
            "With no command: run locally on the bundled sample data."
        ),
        epilog="Exit codes: 0 success, 1 execution failed, 2 usage/config error, 3 AWS error.",
        params=[
            *global_options(),
            click.Option(
                ["--version"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_show_version,
                help="print the package version and exit",
            ),
        ],
        subcommand_metavar="COMMAND [ARGS]...",
        # Options of `start` given without the command name go to `start`.
        context_settings={"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]},
    )
    add_command(
        root,
        "start",
        _start,
        help="start an execution (locally: run it to the end)",
        description="Start an execution. Locally it runs in the foreground to the end.",
        params=start_options(),
    )
    add_command(
        root,
        "definition",
        _definition,
        help="print the pipeline definition JSON",
        params=[output_option("write to this file instead")],
    )
    for module in (
        aws_commands,
        stack_commands,
        local_commands,
        triggers_commands,
        deploy_commands,
        view_commands,
        orchestrator_commands,
        drift_commands,
    ):
        module.register(root)
    return root


def output_option(help: str, **kwargs: Any) -> click.Option:
    return click.Option(["-o", "--output"], type=click.Path(path_type=Path), help=help, **kwargs)


def start_options() -> list[click.Parameter]:
    return [
        click.Option(
            ["--param"],
            multiple=True,
            metavar="NAME=VALUE",
            help="override a pipeline parameter (repeatable); locally InputDataUrl may be a path",
        ),
        click.Option(["--wait"], is_flag=True, help="SageMaker: wait for the execution to finish"),
        click.Option(
            ["--poll-seconds"],
            type=float,
            default=30.0,
            help="SageMaker: seconds between status checks with --wait (default 30)",
        ),
        click.Option(["--no-cache"], is_flag=True, help="local: ignore cached step results"),
        click.Option(
            ["--inject-fault"],
            multiple=True,
            metavar="STEP=KIND[:TIMES]",
            help=(
                "local: make STEP fail TIMES times (default 1) with KIND, e.g. "
                "Train=THROTTLING:2 or Preprocess=CAPACITY_ERROR (repeatable)"
            ),
        ),
    ]


def _start(args: CommandArgs, config: ProjectConfig) -> int:
    overrides = parse_assignments(args.param)
    if args.target == "sagemaker":
        if args.no_cache or args.inject_fault:
            raise UsageError("--no-cache and --inject-fault apply to local runs only")
        from pipelines.aws import pipeline_ops

        return pipeline_ops.start(config, overrides, wait=args.wait, poll_seconds=args.poll_seconds)
    from pipelines.app.runner import run_local

    return run_local(config, overrides, no_cache=args.no_cache, faults=args.inject_fault)


def _definition(args: CommandArgs, config: ProjectConfig) -> int:
    from pipelines.definition_cache import load_definition

    text, _ = load_definition(config, args.target)
    pretty = json.dumps(json.loads(text), indent=2) + "\n"
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(pretty, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(pretty)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code is returned (run_pipeline.py exits with it).

    A closed stdout ends a command with 141, quietly; click's own output (`--help`,
    `--version`) ends with click's code for it, 1, as quietly."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = build_cli().main(args=args, prog_name=PROG, standalone_mode=False)
    except click.ClickException as exc:  # bad usage met while parsing: exit code 2
        exc.show()
        code = exc.exit_code
    except click.Abort:  # Ctrl-C while parsing, before any handler ran
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    return flush_stdout(code if isinstance(code, int) else EXIT_OK)

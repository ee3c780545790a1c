"""The plumbing every `run_pipeline.py` command shares: the global options, the way a
command module declares its commands, configuration loading, and the one place where an
error becomes a message and an exit code.

A command module's `register(group)` adds its commands with `add_command(...)`; a
handler takes `(args, config)` (args: the command's options, the global ones included,
as attributes) and returns an exit code or raises a `PipelineError`.

A handler imports its implementation when it runs (function-level imports in cli.py and
each `commands.py`), so that a command pays only for its own: importing every module the
handlers defer at start (boto3, the engine, jinja2, the orchestrators, the stack...) adds
~360 modules and ~0.3 s of CPU to the ~0.2 s that `import pipelines.cli` takes (measured
in a fresh interpreter, median of 11), and `--help` would pay it.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click

from pipelines.config import TARGETS, ConfigError, ProjectConfig, load_config
from pipelines.errors import AwsError, PipelineError, UsageError

EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
# What a shell reports for a writer killed by SIGPIPE (`yes | head -1`): the reader left.
EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE

CommandArgs = SimpleNamespace
Handler = Callable[[CommandArgs, ProjectConfig], int]

_GLOBALS = "pipelines.global_options"


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a service manager): handled like Ctrl-C, so a local run
    stops its jobs and records itself Stopped instead of dying mid-step."""

    def __str__(self) -> str:
        return "the engine received SIGTERM"


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM raises Terminated in the main thread while the command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # Given before and after a command name, the one nearer the end wins (as argparse did):
    # contexts are parsed left to right and share `meta`.
    if value is not None:
        ctx.meta.setdefault(_GLOBALS, {})[param.name] = value
    return value


def global_options() -> list[click.Option]:
    """Options accepted before and after every command name (fresh objects per command)."""

    def option(*decls: str, help: str, **kwargs: Any) -> click.Option:
        return click.Option(decls, help=help, expose_value=False, callback=_remember, **kwargs)

    return [
        option(
            "--target",
            type=click.Choice(TARGETS),
            help="where to run: the local engine (default) or SageMaker",
        ),
        option("--config", type=click.Path(path_type=Path), help="pipeline.toml to use"),
        option(
            "--region",
            help="AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the AWS_PROFILE's region)",
        ),
        option("--profile", help="AWS named profile for SageMaker (else AWS_PROFILE)"),
        option("--bucket", help="S3 bucket (else PIPELINE_BUCKET)"),
        option("--role-arn", help="SageMaker execution role (else PIPELINE_ROLE_ARN)"),
        option("--pipeline-name", help="pipeline name (else PIPELINE_NAME)"),
    ]


def global_values(ctx: click.Context) -> dict[str, Any]:
    given = ctx.meta.get(_GLOBALS, {})
    names = ("config", "region", "profile", "bucket", "role_arn", "pipeline_name")
    return {"target": given.get("target", "local"), **{name: given.get(name) for name in names}}


def json_option() -> click.Option:
    return click.Option(["--json"], is_flag=True, help="machine-readable output")


def argument(name: str, help: str, **kwargs: Any) -> click.Argument:
    """A positional argument, listed with its help in the command's --help."""
    return click.Argument([name], help=help, **kwargs)


def add_group(
    parent: click.Group,
    name: str,
    *,
    help: str,
    description: str | None = None,
    metavar: str = "ACTION",
) -> click.Group:
    """A command with actions (`executions list`); like every command it takes the global
    options, and it needs one of its actions."""
    group = click.Group(
        name,
        help=description or help,
        short_help=help,
        params=global_options(),
        subcommand_metavar=f"{metavar} [ARGS]...",
    )
    parent.add_command(group)
    return group


def add_command(
    group: click.Group,
    name: str,
    handler: Handler,
    *,
    help: str,
    description: str | None = None,
    params: Iterable[click.Parameter] = (),
    **fixed: Any,
) -> click.Command:
    """A command running `handler(args, config)`; `fixed` values are set on args as they
    are (e.g. the approval status of `registry approve`)."""

    def callback(**values: Any) -> int:
        ctx = click.get_current_context()
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return run(handler, CommandArgs(**global_values(ctx), **values, **fixed))

    command = click.Command(
        name,
        callback=callback,
        params=[*params, *global_options()],
        help=description or help,
        short_help=help,
    )
    group.add_command(command)
    return command


def run(handler: Handler, args: CommandArgs) -> int:
    """Load the configuration and run the handler; any failure becomes its exit code."""
    config: ProjectConfig | None = None
    try:
        with stop_on_sigterm():
            config = load_config_from_args(args)
            return handler(args, config)
    except BaseException as exc:
        code = exit_code_for(exc, config)
        if code is None:
            raise
        return code


def exit_code_for(exc: BaseException, config: ProjectConfig | None = None) -> int | None:
    """The one place an error becomes a message on stderr and an exit code; None for a bug
    (the traceback is worth more than a line)."""
    if isinstance(exc, BrokenPipeError):
        return closed_stdout()
    if isinstance(exc, Terminated):
        print("terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    error = as_pipeline_error(exc, config)
    if error is None:
        return None
    print(f"{error.label}: {error}", file=sys.stderr)
    return error.exit_code


def as_pipeline_error(exc: BaseException, config: ProjectConfig | None) -> PipelineError | None:
    if isinstance(exc, PipelineError):
        return exc
    if _is_aws_error(exc):
        if _is_aws_error(exc, "NoCredentialsError"):
            # botocore's own words name no way out; the chain it searched is the AWS CLI's.
            return AwsError(
                f"{exc}: name a profile (--profile or AWS_PROFILE), set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or run where a role provides them. Commands that "
                "build (`definition`, `stack template`, `export`) need none"
            )
        return AwsError(str(exc))
    if isinstance(exc, OSError):
        message = _local_home_refusal(exc, config)
        return UsageError(message) if message else None
    return None


def closed_stdout() -> int:
    """The reader of stdout left (`| head -1`): print nothing more, and point stdout at
    /dev/null so the interpreter's final flush does not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout replaced by something without a descriptor
        pass
    return EXIT_CLOSED_PIPE


def flush_stdout(code: int) -> int:
    """Flush now, while a closed pipe can still be handled, rather than at exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return closed_stdout()
    return code


def load_config_from_args(args: CommandArgs) -> ProjectConfig:
    profile = getattr(args, "profile", None)
    if profile:
        # Every boto3 session this process (and its subprocesses) creates uses the profile.
        os.environ["AWS_PROFILE"] = profile
    region = getattr(args, "region", None)
    if region is None and getattr(args, "target", "local") == "sagemaker":
        region = profile_region()
    return load_config(
        getattr(args, "config", None),
        overrides={
            "aws": {
                "region": region,
                "bucket": getattr(args, "bucket", None),
                "role_arn": getattr(args, "role_arn", None),
            },
            "pipeline": {"name": getattr(args, "pipeline_name", None)},
        },
    )


def profile_region(environ: Mapping[str, str] | None = None) -> str | None:
    """The region of the selected AWS profile, when AWS_PROFILE names one and neither
    AWS_REGION nor AWS_DEFAULT_REGION is set: the AWS CLI's order, ahead of pipeline.toml's
    default. Only for SageMaker commands (they load botocore anyway)."""
    environ = os.environ if environ is None else environ
    if not environ.get("AWS_PROFILE") or environ.get("AWS_REGION"):
        return None
    if environ.get("AWS_DEFAULT_REGION"):
        return None
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=environ["AWS_PROFILE"])
        return session.get_config_variable("region")
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(
            f"AWS_PROFILE {environ['AWS_PROFILE']!r}: no such profile in the AWS config "
            "files (~/.aws/config, ~/.aws/credentials or AWS_CONFIG_FILE)"
        ) from exc


def _local_home_refusal(exc: OSError, config: ProjectConfig | None) -> str | None:
    """One line for a file of the local home this process may not write (a read-only home
    met by a command that writes), instead of a PermissionError traceback."""
    if config is None or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
        return None
    home = config.local_home.resolve()
    where = Path(exc.filename).resolve() if exc.filename else None
    if where is None or (where != home and home not in where.parents):
        return None
    return (
        f"cannot write {where}: {exc.strerror}. The local home {home} ([local].home) is "
        "read-only for this user; this command writes there (give `view` an -o FILE elsewhere)"
    )


def _is_aws_error(exc: BaseException, *names: str) -> bool:
    """A botocore error (of one of `names`, botocore.exceptions classes, when given)."""
    # botocore is only loaded by commands that talk to AWS; don't import it for the check.
    botocore_exceptions = sys.modules.get("botocore.exceptions")
    if botocore_exceptions is None:
        return False
    names = names or ("BotoCoreError", "ClientError")
    return isinstance(exc, tuple(getattr(botocore_exceptions, name) for name in names))

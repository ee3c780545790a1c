"""`run_pipeline.py`: one command line for the local engine and for SageMaker.

With no command it runs the pipeline locally on the bundled sample data. Every command
takes `--target local|sagemaker` (default local). Modules that own a group of commands
expose `register(subparsers, common)`; their handlers take `(args, config)` and return an
exit code. Heavy imports (SDK, boto3, pandas) happen inside handlers, so a cached local
rerun does not pay for them.

Exit codes, stable for shell scripts:
  0  success
  1  the pipeline execution failed or was stopped (the reason is printed)
  2  invalid usage, configuration or parameter value (nothing was started)
  3  an AWS call failed (credentials, permissions, missing resource, service error)
  130/143  interrupted by Ctrl-C / SIGTERM (a local run stops its jobs and is recorded Stopped)
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipelines.config import TARGETS, ConfigError, ProjectConfig, load_config
from pipelines.errors import UsageError
from pipelines.parameters import ParameterError, parse_assignments

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AWS = 3

EXIT_TERMINATED = 128 + signal.SIGTERM

Handler = Callable[[argparse.Namespace, ProjectConfig], int]


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


def _common_options(suppress: bool) -> argparse.ArgumentParser:
    """Options accepted both before and after the command name."""
    default = argparse.SUPPRESS if suppress else None
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--target",
        choices=TARGETS,
        default=default if suppress else "local",
        help="where to run: the local engine (default) or SageMaker",
    )
    common.add_argument("--config", type=Path, default=default, help="pipeline.toml to use")
    common.add_argument(
        "--region",
        default=default,
        help="AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the AWS_PROFILE's region)",
    )
    common.add_argument(
        "--profile", default=default, help="AWS named profile for SageMaker (else AWS_PROFILE)"
    )
    common.add_argument("--bucket", default=default, help="S3 bucket (else PIPELINE_BUCKET)")
    common.add_argument(
        "--role-arn", default=default, help="SageMaker execution role (else PIPELINE_ROLE_ARN)"
    )
    common.add_argument(
        "--pipeline-name", default=default, help="pipeline name (else PIPELINE_NAME)"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_pipeline.py",
        description=(
            "Run the retraining pipeline locally (default) or manage it on SageMaker. "
            "With no command: run locally on the bundled sample data."
        ),
        parents=[_common_options(suppress=False)],
        epilog="Exit codes: 0 success, 1 execution failed, 2 usage/config error, 3 AWS error.",
    )
    common = _common_options(suppress=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")

    start = subparsers.add_parser(
        "start",
        parents=[common],
        help="start an execution (locally: run it to the end)",
        description="Start an execution. Locally it runs in the foreground to the end.",
    )
    add_start_options(start)
    start.set_defaults(handler=_start)

    definition = subparsers.add_parser(
        "definition", parents=[common], help="print the pipeline definition JSON"
    )
    definition.add_argument("-o", "--output", type=Path, help="write to this file instead")
    definition.set_defaults(handler=_definition)

    from pipelines.aws import commands as aws_commands
    from pipelines.deploy import commands as deploy_commands
    from pipelines.drift import commands as drift_commands
    from pipelines.local import commands as local_commands
    from pipelines.orchestrators import commands as orchestrator_commands
    from pipelines.stack import commands as stack_commands
    from pipelines.triggers import commands as triggers_commands
    from pipelines.view import commands as view_commands

    modules = (
        aws_commands,
        stack_commands,
        local_commands,
        triggers_commands,
        deploy_commands,
        view_commands,
        orchestrator_commands,
        drift_commands,
    )
    for module in modules:
        module.register(subparsers, common)
    parser.command_names = frozenset(subparsers.choices)
    return parser


def add_start_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter (repeatable); locally InputDataUrl may be a path",
    )
    parser.add_argument(
        "--wait", action="store_true", help="SageMaker: wait for the execution to finish"
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=30.0,
        help="SageMaker: seconds between status checks with --wait (default 30)",
    )
    parser.add_argument("--no-cache", action="store_true", help="local: ignore cached step results")
    parser.add_argument(
        "--inject-fault",
        action="append",
        default=[],
        metavar="STEP=KIND[:TIMES]",
        help=(
            "local: make STEP fail TIMES times (default 1) with KIND, e.g. Train=THROTTLING:2 "
            "or Preprocess=CAPACITY_ERROR (repeatable)"
        ),
    )


def _start(args: argparse.Namespace, config: ProjectConfig) -> int:
    overrides = parse_assignments(args.param)
    if args.target == "sagemaker":
        if args.no_cache or args.inject_fault:
            raise UsageError("--no-cache and --inject-fault apply to local runs only")
        from pipelines.aws import pipeline_ops

        return pipeline_ops.start(config, overrides, wait=args.wait, poll_seconds=args.poll_seconds)
    from pipelines.local.runner import run_local

    return run_local(config, overrides, no_cache=args.no_cache, faults=args.inject_fault)


def _definition(args: argparse.Namespace, config: ProjectConfig) -> int:
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


def load_config_from_args(args: argparse.Namespace) -> ProjectConfig:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    asks_help = bool({"-h", "--help"} & set(argv))
    if not asks_help and not any(token in parser.command_names for token in argv):
        # No command: `start`, so `run_pipeline.py --param X=1` runs locally with X=1.
        argv.insert(0, "start")
    args = parser.parse_args(argv)
    config: ProjectConfig | None = None
    try:
        with stop_on_sigterm():
            config = load_config_from_args(args)
            return args.handler(args, config)
    except (ConfigError, ParameterError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        message = _local_home_refusal(exc, config)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_aws_error(exc):
            raise
        print(f"AWS error: {exc}", file=sys.stderr)
        return EXIT_AWS


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


def _is_aws_error(exc: Exception) -> bool:
    # botocore is only loaded by commands that talk to AWS; don't import it for the check.
    botocore_exceptions = sys.modules.get("botocore.exceptions")
    return botocore_exceptions is not None and isinstance(
        exc, botocore_exceptions.BotoCoreError | botocore_exceptions.ClientError
    )

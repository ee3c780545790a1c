"""The project's errors, each carrying the exit code the command line ends with.

Importable from anywhere (no CLI, no SDK). `run_pipeline.py` maps a `PipelineError` to its
`exit_code` in one place (pipelines/commandline.py), so a module signals "this is the
user's mistake" or "AWS refused" by the class it raises, never by printing and exiting.

Exit codes, stable for shell scripts:
  0  success
  1  the pipeline execution failed or was stopped (ExecutionFailed)
  2  invalid usage, configuration or parameter value; nothing was started (UsageError,
     and its subclasses ConfigError, ParameterError, HomeError, ...)
  3  an AWS call failed: credentials, permissions, missing resource (AwsError; botocore's
     own errors are mapped to the same code)
  130/143  interrupted by Ctrl-C / SIGTERM
  141  stdout was closed early (`... | head -1`): the rest is not printed, quietly
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AWS = 3


class PipelineError(Exception):
    """Base of the errors a command reports as one line and an exit code."""

    exit_code = EXIT_FAILED
    label = "error"


class ExecutionFailed(PipelineError):
    """A pipeline execution (or the monitoring job) ran and failed or was stopped."""

    exit_code = EXIT_FAILED


class UsageError(PipelineError):
    """A command was used in a way that cannot work; nothing was started."""

    exit_code = EXIT_USAGE


class AwsError(PipelineError):
    """An AWS call failed: credentials, permissions, a missing resource, a service error."""

    exit_code = EXIT_AWS
    label = "AWS error"


def require_target(args: Any, target: str, message: str) -> None:
    """Refuse a command given for the other target (`--target local|sagemaker`)."""
    if getattr(args, "target", "local") != target:
        raise UsageError(message)

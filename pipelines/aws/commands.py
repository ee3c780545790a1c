"""SageMaker-side commands: describe, status (the pipeline itself is deployed by `stack
deploy`, pipelines/stack/)."""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

import click

from pipelines.commandline import CommandArgs, add_command, argument, json_option
from pipelines.config import ProjectConfig


def register(group: click.Group) -> None:
    add_command(
        group,
        "describe",
        _describe,
        help="SageMaker: the pipeline, its parameters and runs",
        params=[json_option()],
    )
    add_command(
        group,
        "status",
        _status,
        help="SageMaker: status of an execution (default: latest)",
        params=[
            argument("execution", "execution ARN (default: the latest)", required=False),
            json_option(),
        ],
    )


def _describe(args: CommandArgs, config: ProjectConfig) -> int:
    from pipelines.aws import pipeline_ops

    return pipeline_ops.describe(config, as_json=args.json)


def _status(args: CommandArgs, config: ProjectConfig) -> int:
    from pipelines.aws import pipeline_ops

    return pipeline_ops.status(config, args.execution, as_json=args.json)

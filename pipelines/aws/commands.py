"""SageMaker-side commands: describe, status (the pipeline itself is deployed by `stack
deploy`, pipelines/stack/)."""

from __future__ import annotations

import argparse

from pipelines.config import ProjectConfig


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    describe = subparsers.add_parser(
        "describe", parents=[common], help="SageMaker: the pipeline, its parameters and runs"
    )
    describe.add_argument("--json", action="store_true", help="machine-readable output")
    describe.set_defaults(handler=_describe)
    status = subparsers.add_parser(
        "status", parents=[common], help="SageMaker: status of an execution (default: latest)"
    )
    status.add_argument("execution", nargs="?", help="execution ARN (default: the latest)")
    status.set_defaults(handler=_status)


def _describe(args: argparse.Namespace, config: ProjectConfig) -> int:
    from pipelines.aws import pipeline_ops

    return pipeline_ops.describe(config, as_json=args.json)


def _status(args: argparse.Namespace, config: ProjectConfig) -> int:
    from pipelines.aws import pipeline_ops

    return pipeline_ops.status(config, args.execution)

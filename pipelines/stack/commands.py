"""Commands: `stack template|plan|deploy|destroy` and `dr restore` (SageMaker)."""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipelines.commandline import CommandArgs, add_command, add_group
from pipelines.config import ProjectConfig
from pipelines.errors import UsageError, require_target


def register(group: click.Group) -> None:
    stack = add_group(
        group,
        "stack",
        help="SageMaker: the CloudFormation stack holding the pipeline and everything around it",
        description=(
            "One CloudFormation stack generated from pipeline.toml: the pipeline, the model "
            "package group, the Lambda functions and their roles, the nightly schedule, the "
            "data-arrival trigger, notifications, the alarm and deployment on approval (and, "
            "with [dr], a second stack in the DR region). Needs --target sagemaker."
        ),
    )
    add_command(
        stack,
        "template",
        _template,
        help="print the template (offline: no credentials, nothing uploaded)",
        params=[
            click.Option(
                ["-o", "--output"],
                type=click.Path(path_type=Path),
                help="write to this file instead",
            ),
            click.Option(
                ["--dr"], is_flag=True, help="the DR region's template instead (needs [dr])"
            ),
            click.Option(
                ["--sagemaker-project"],
                is_flag=True,
                help="the variant a SageMaker Project provisions (SageMakerProjectName and "
                "SageMakerProjectId as parameters, no defaults)",
            ),
        ],
    )
    add_command(
        stack,
        "plan",
        _deploy,
        help="upload the code, print the change set, change nothing",
        dry_run=True,
    )
    add_command(
        stack,
        "deploy",
        _deploy,
        help="upload the code, create and execute the change set, wait and report",
        params=[
            click.Option(["--dry-run"], is_flag=True, help="the same as `stack plan`"),
            _poll_seconds(),
        ],
    )
    add_command(
        stack,
        "destroy",
        _destroy,
        help="delete the stack(s); retained resources (model package groups, replica) stay",
        params=[
            click.Option(["--dry-run"], is_flag=True, help="list, delete nothing"),
            _poll_seconds(),
        ],
    )

    dr = add_group(
        group,
        "dr",
        help="SageMaker: disaster recovery in [dr].region",
        description=(
            "Restore from the replica in [dr].region: register a replicated model there "
            "(and serve it with --deploy), using nothing from the primary region."
        ),
    )
    add_command(
        dr,
        "restore",
        _restore,
        help="register the newest replicated model (or --execution ID) in the DR region",
        params=[
            click.Option(["--execution"], help="the execution whose model to restore"),
            click.Option(["--list"], is_flag=True, help="list the candidates, register none"),
            click.Option(
                ["--approve"],
                is_flag=True,
                help="register it Approved (default: pending approval)",
            ),
            click.Option(
                ["--deploy"],
                is_flag=True,
                help="approve it and put it on the endpoint in the DR region",
            ),
        ],
    )


def _poll_seconds() -> click.Option:
    return click.Option(
        ["--poll-seconds"], type=float, default=5.0, help="seconds between status checks"
    )


def _aws(args: CommandArgs, command: str) -> None:
    require_target(
        args,
        "sagemaker",
        f"{command} manages AWS resources: add --target sagemaker (locally, `watch DIR`, "
        "`schedule`, `notifications deliver` and `serve` do the same jobs)",
    )


def _template(args: CommandArgs, config: ProjectConfig) -> int:
    _aws(args, "stack")
    from pipelines.stack.context import build_context
    from pipelines.stack.dr import dr_template
    from pipelines.stack.template import build

    ctx = build_context(config, for_sagemaker_projects=args.sagemaker_project)
    if args.dr:
        if not ctx.settings.dr.enabled:
            raise UsageError("--dr needs [dr] in pipeline.toml (region and bucket)")
        text = dr_template(ctx).json()
    else:
        text = build(ctx).json()
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _deploy(args: CommandArgs, config: ProjectConfig) -> int:
    _aws(args, "stack")
    from pipelines.stack import deploy

    return deploy.deploy(
        config, dry_run=args.dry_run, poll_seconds=getattr(args, "poll_seconds", 5.0)
    )


def _destroy(args: CommandArgs, config: ProjectConfig) -> int:
    _aws(args, "stack")
    from pipelines.stack import deploy

    return deploy.destroy(config, dry_run=args.dry_run, poll_seconds=args.poll_seconds)


def _restore(args: CommandArgs, config: ProjectConfig) -> int:
    _aws(args, "dr")
    from pipelines.stack.restore import restore

    return restore(
        config,
        execution=args.execution,
        approve=args.approve,
        deploy=args.deploy,
        list_only=args.list,
    )

"""Commands: `stack template|plan|deploy|destroy` and `dr restore` (SageMaker)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.config import ProjectConfig
from pipelines.errors import UsageError, require_target


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    stack = subparsers.add_parser(
        "stack",
        parents=[common],
        help="SageMaker: the CloudFormation stack holding the pipeline and everything around it",
        description=(
            "One CloudFormation stack generated from pipeline.toml: the pipeline, the model "
            "package group, the Lambda functions and their roles, the nightly schedule, the "
            "data-arrival trigger, notifications, the alarm and deployment on approval (and, "
            "with [dr], a second stack in the DR region). Needs --target sagemaker."
        ),
    )
    verbs = stack.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    template = verbs.add_parser(
        "template",
        parents=[common],
        help="print the template (offline: no credentials, nothing uploaded)",
    )
    template.add_argument("-o", "--output", type=Path, help="write to this file instead")
    template.add_argument(
        "--dr", action="store_true", help="the DR region's template instead (needs [dr])"
    )
    template.add_argument(
        "--sagemaker-project",
        action="store_true",
        help="the variant a SageMaker Project provisions (SageMakerProjectName and "
        "SageMakerProjectId as parameters, no defaults)",
    )
    template.set_defaults(handler=_template)
    plan = verbs.add_parser(
        "plan", parents=[common], help="upload the code, print the change set, change nothing"
    )
    plan.set_defaults(handler=_deploy, dry_run=True)
    deploy = verbs.add_parser(
        "deploy",
        parents=[common],
        help="upload the code, create and execute the change set, wait and report",
    )
    deploy.add_argument("--dry-run", action="store_true", help="the same as `stack plan`")
    deploy.add_argument(
        "--poll-seconds", type=float, default=5.0, help="seconds between status checks"
    )
    deploy.set_defaults(handler=_deploy)
    destroy = verbs.add_parser(
        "destroy",
        parents=[common],
        help="delete the stack(s); retained resources (model package groups, replica) stay",
    )
    destroy.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    destroy.add_argument(
        "--poll-seconds", type=float, default=5.0, help="seconds between status checks"
    )
    destroy.set_defaults(handler=_destroy)

    dr = subparsers.add_parser(
        "dr",
        parents=[common],
        help="SageMaker: disaster recovery in [dr].region",
        description=(
            "Restore from the replica in [dr].region: register a replicated model there "
            "(and serve it with --deploy), using nothing from the primary region."
        ),
    )
    actions = dr.add_subparsers(dest="dr_command", metavar="ACTION", required=True)
    restore = actions.add_parser(
        "restore",
        parents=[common],
        help="register the newest replicated model (or --execution ID) in the DR region",
    )
    restore.add_argument("--execution", help="the execution whose model to restore")
    restore.add_argument("--list", action="store_true", help="list the candidates, register none")
    restore.add_argument(
        "--approve", action="store_true", help="register it Approved (default: pending approval)"
    )
    restore.add_argument(
        "--deploy",
        action="store_true",
        help="approve it and put it on the endpoint in the DR region",
    )
    restore.set_defaults(handler=_restore)


def _aws(args: argparse.Namespace, command: str) -> None:
    require_target(
        args,
        "sagemaker",
        f"{command} manages AWS resources: add --target sagemaker (locally, `watch DIR`, "
        "`schedule`, `notifications deliver` and `serve` do the same jobs)",
    )


def _template(args: argparse.Namespace, config: ProjectConfig) -> int:
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


def _deploy(args: argparse.Namespace, config: ProjectConfig) -> int:
    _aws(args, "stack")
    from pipelines.stack import deploy

    return deploy.deploy(
        config, dry_run=args.dry_run, poll_seconds=getattr(args, "poll_seconds", 5.0)
    )


def _destroy(args: argparse.Namespace, config: ProjectConfig) -> int:
    _aws(args, "stack")
    from pipelines.stack import deploy

    return deploy.destroy(config, dry_run=args.dry_run, poll_seconds=args.poll_seconds)


def _restore(args: argparse.Namespace, config: ProjectConfig) -> int:
    _aws(args, "dr")
    from pipelines.stack.restore import restore

    return restore(
        config,
        execution=args.execution,
        approve=args.approve,
        deploy=args.deploy,
        list_only=args.list,
    )

"""`stack plan|deploy|destroy`: the project's stacks on AWS.

deploy: check the definition as CreatePipeline would, build the templates (a configuration
they cannot be built from is refused here), check the credentials' account, upload the code
and the sample (content-addressed), then for each stack (the DR region's
first, when `[dr]` is set: the replica must exist before the rules that write to it) create
a change set, print it as the plan, execute it and wait, streaming the stack's events.
`--dry-run` (and `plan`) stop after printing and discard the change sets. A failure rolls
the stack back (CloudFormation does) and the command names the failed resources and why.

destroy: deletes the main stack, then the DR stack. Resources with DeletionPolicy Retain
(the model package groups and the replica bucket: registered models and their copies) stay.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from pipelines.aws.pipeline_request import pipeline_request
from pipelines.config import ProjectConfig
from pipelines.conformance.preflight import check_upsert
from pipelines.errors import UsageError
from pipelines.stack import package
from pipelines.stack.cloudformation import (
    ROLLED_BACK,
    CloudFormation,
    StackBusyError,
    StackFailedError,
    format_changes,
)
from pipelines.stack.context import StackContext, build_context
from pipelines.stack.dr import dr_stack_name, dr_template
from pipelines.stack.template import build

Printer = Callable[[str], None]
EXIT_OK, EXIT_AWS = 0, 3
# CloudFormation reads a template body of at most this many bytes; larger ones from S3.
MAX_TEMPLATE_BODY = 51_200


def new_session(config: ProjectConfig) -> boto3.Session:
    """The session every command uses (tests swap it for an instrumented one)."""
    return boto3.Session(region_name=config.aws.region)


@dataclass(frozen=True)
class StackSpec:
    """One stack to deploy: where, and how to build its template."""

    name: str
    region: str
    label: str
    template: Callable[[], str]


def stacks(ctx: StackContext) -> list[StackSpec]:
    """The project's stacks, in deployment order."""
    found = []
    dr = ctx.settings.dr
    if dr.enabled:
        found.append(
            StackSpec(
                dr_stack_name(ctx), dr.region, "disaster recovery", lambda: dr_template(ctx).json()
            )
        )
    found.append(
        StackSpec(ctx.stack_name, ctx.config.aws.region, "pipeline", lambda: build(ctx).json())
    )
    return found


def deploy(
    config: ProjectConfig,
    *,
    dry_run: bool = False,
    session: Any = None,
    out: Printer = print,
    err: Printer | None = None,
    poll_seconds: float = 5.0,
) -> int:
    err = err or (lambda line: print(line, file=sys.stderr))
    ctx = build_context(config)
    # What CreatePipeline would refuse, and a configuration no template can be built from,
    # refused before anything is uploaded.
    check_upsert(
        json.loads(ctx.definition), pipeline_request(config, ctx.definition, ctx.target.role_arn)
    )
    bodies = {spec.name: spec.template() for spec in stacks(ctx)}
    session = session or new_session(config)
    _check_account(session, ctx)
    s3 = session.client("s3")
    uploaded = package.upload(s3, package.artifacts(ctx))
    out(
        f"Code and sample in s3://{ctx.bucket}/{ctx.s3_prefix}/: {len(uploaded.sent)} uploaded, "
        f"{len(uploaded.unchanged)} already there"
    )
    for spec in stacks(ctx):
        cloudformation = CloudFormation(
            session.client("cloudformation", region_name=spec.region),
            out=out,
            poll_seconds=poll_seconds,
        )
        body = bodies[spec.name]
        source: dict[str, str] = {}
        if len(body.encode()) > MAX_TEMPLATE_BODY:
            obj = package.template_object(ctx, f"{spec.name}.template.json", body)
            package.upload(s3, [obj])
            source["template_url"] = package.template_url(obj, ctx.config.aws.region)
        else:
            source["template_body"] = body
        try:
            change_set = cloudformation.create_change_set(
                spec.name,
                **source,
                tags=ctx.stack_tags(),
                role_arn=ctx.settings.stack.role_arn,
                description=f"run_pipeline.py stack deploy ({spec.label})",
            )
        except StackBusyError as exc:
            err(f"error: {exc}")
            return EXIT_AWS
        except StackFailedError as exc:
            _report(err, exc)
            return EXIT_AWS
        verb = "create" if change_set.kind == "CREATE" else "update"
        out(f"Plan for stack {spec.name} ({spec.label}, {spec.region}): {verb}")
        if change_set.empty:
            out("  No changes: the stack already matches the template.")
            cloudformation.discard(change_set)
            continue
        for line in format_changes(change_set):
            out(line)
        if dry_run:
            cloudformation.discard(change_set)
            continue
        try:
            outcome = cloudformation.execute(change_set)
        except StackFailedError as exc:
            _report(err, exc)
            return EXIT_AWS
        out(f"Stack {spec.name}: {outcome.status}")
        for key, value in sorted(outcome.outputs.items()):
            out(f"  {key:<24} {value}")
    if dry_run:
        out("Dry run: nothing was changed (the change sets were discarded).")
    elif ctx.notifications.enabled and ctx.notifications.emails:
        out("Email subscribers: confirm the subscription in the email AWS sends each of you.")
    return EXIT_OK


def destroy(
    config: ProjectConfig,
    *,
    dry_run: bool = False,
    session: Any = None,
    out: Printer = print,
    err: Printer | None = None,
    poll_seconds: float = 5.0,
) -> int:
    err = err or (lambda line: print(line, file=sys.stderr))
    ctx = build_context(config, definition="{}")
    session = session or new_session(config)
    found = 0
    for spec in reversed(stacks(ctx)):
        cloudformation = CloudFormation(
            session.client("cloudformation", region_name=spec.region),
            out=out,
            poll_seconds=poll_seconds,
        )
        if cloudformation.status(spec.name) is None:
            out(f"Stack {spec.name} ({spec.region}) does not exist: nothing to delete.")
            continue
        found += 1
        kept = cloudformation.retained(spec.name)
        out(f"Stack {spec.name} ({spec.label}, {spec.region}):")
        for resource in cloudformation.resources(spec.name):
            if not resource.get("ResourceType"):
                continue  # moto lists the types it does not deploy as empty rows
            fate = "keep  " if resource["LogicalResourceId"] in kept else "delete"
            out(
                f"  {fate} {resource['ResourceType']:<34} {resource['LogicalResourceId']}  "
                f"{resource.get('PhysicalResourceId', '')}"
            )
        if dry_run:
            continue
        try:
            cloudformation.delete(spec.name, ctx.settings.stack.role_arn)
        except StackFailedError as exc:
            _report(err, exc)
            return EXIT_AWS
        out(f"Stack {spec.name}: deleted" + (f" (kept {len(kept)} retained)" if kept else ""))
    if dry_run and found:
        out("Dry run: nothing was deleted.")
    return EXIT_OK


def _check_account(session: Any, ctx: StackContext) -> None:
    account = session.client("sts").get_caller_identity()["Account"]
    if account != ctx.account:
        raise UsageError(
            f"the credentials are for account {account}, but the SageMaker execution role "
            f"{ctx.target.role_arn} (and so the pipeline's Lambda ARNs and event patterns) is "
            f"in account {ctx.account}: deploy with credentials for {ctx.account}"
        )


def _report(err: Printer, exc: StackFailedError) -> None:
    if exc.status in ROLLED_BACK:
        what = f"failed and CloudFormation rolled it back ({exc.status})"
    else:
        what = f"failed ({exc.status})"
    err(f"error: stack {exc.stack} {what}:")
    for failure in exc.failures:
        err(f"  {failure}")

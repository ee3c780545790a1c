"""`triggers apply|show|destroy` on AWS: plan against what exists, then converge.

Idempotency: `make_plan` reads every desired resource and compares it with its spec
(`plan.differences`); only create/update/delete changes call mutating APIs, so a second
`apply` reads and reports "no changes". Scope: `destroy` and the delete half of `apply`
only consider resources named `<pipeline>-...` that carry the marker tag
`pipeline-triggers=<pipeline>` (plus the bucket's EventBridge switch, and only if the DLQ's
tag records that `apply` turned it on), so unrelated rules, queues and topics are untouched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from pipelines.config import ProjectConfig
from pipelines.triggers.aws_resources import (
    Alarms,
    Handler,
    Pipes,
    Queues,
    Rules,
    Schedules,
    Subscriptions,
    handlers,
)
from pipelines.triggers.plan import (
    KINDS,
    Change,
    Context,
    Plan,
    Resource,
    desired_resources,
    differences,
    format_plan,
)
from pipelines.triggers.settings import load_settings

Printer = Callable[[str], None]


def new_session(config: ProjectConfig) -> boto3.Session:
    """The session every command uses; tests replace this to add instrumentation."""
    return boto3.Session(region_name=config.aws.region)


def build_context(config: ProjectConfig, session: Any) -> Context:
    target = config.target("sagemaker")
    account = session.client("sts").get_caller_identity()["Account"]
    return Context(account, config.aws.region, config.pipeline.name, target.bucket)


@dataclass
class Prepared:
    context: Context
    handlers: dict[str, Handler]
    desired: list[Resource]


def prepare(
    config: ProjectConfig, session: Any = None, sleep: Callable[[float], None] = time.sleep
) -> Prepared:
    settings = load_settings(config)
    session = session or new_session(config)
    context = build_context(config, session)
    return Prepared(
        context, handlers(session, context, sleep), desired_resources(config, settings, context)
    )


def make_plan(prepared: Prepared) -> Plan:
    """Create / update / no-op for every desired resource, delete for managed leftovers."""
    plan = Plan(prepared.context)
    for resource in prepared.desired:
        actual = prepared.handlers[resource.kind].read(resource)
        if actual is None:
            plan.changes.append(
                Change("create", resource.kind, resource.name, (), resource, resource.summary)
            )
            continue
        fields = differences(resource.spec, actual)
        action = "update" if fields else "no-op"
        plan.changes.append(
            Change(action, resource.kind, resource.name, fields, resource, resource.summary)
        )
    wanted = {(r.kind, r.name) for r in prepared.desired}
    for kind in reversed(KINDS):
        for name in prepared.handlers[kind].managed():
            if (kind, name) not in wanted:
                plan.changes.append(Change("delete", kind, name))
    return plan


def apply(
    config: ProjectConfig,
    *,
    dry_run: bool = False,
    session: Any = None,
    out: Printer = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    session = session or new_session(config)
    prepared = prepare(config, session, sleep)
    context = prepared.context
    plan = make_plan(prepared)
    out(f"Triggers for {context.pipeline} in account {context.account}, {context.region}:")
    _warn_missing_pipeline(session, context, out)
    if not plan.mutating:
        out(f"No changes: all {len(plan.changes)} resources are up to date.")
        return 0
    for line in format_plan(plan, title="Plan:"):
        out(line)
    if dry_run:
        out("Dry run: nothing was changed.")
        return 0
    for change in plan.changes:
        handler = prepared.handlers[change.kind]
        if change.action == "create":
            assert change.resource is not None
            handler.create(change.resource)
            out(f"created  {change.kind} {change.name}")
        elif change.action == "update":
            assert change.resource is not None
            handler.update(change.resource, change.fields)
            out(f"updated  {change.kind} {change.name}")
        elif change.action == "delete":
            handler.delete(change.name)
            out(f"deleted  {change.kind} {change.name}")
    out(
        f"Applied: {plan.count('create')} created, {plan.count('update')} updated, "
        f"{plan.count('delete')} deleted, {plan.count('no-op')} unchanged."
    )
    for change in plan.changes:
        if change.kind == "sns-subscription" and change.action == "create":
            out(f"  {change.name}: confirm the subscription in the email AWS just sent.")
    return 0


def show(config: ProjectConfig, *, session: Any = None, out: Printer = print) -> int:
    session = session or new_session(config)
    prepared = prepare(config, session)
    context = prepared.context
    plan = make_plan(prepared)
    out(f"Triggers for {context.pipeline} in account {context.account}, {context.region}:")
    for change in plan.changes:
        state = {"create": "missing", "update": "drifted", "no-op": "present", "delete": "stale"}[
            change.action
        ]
        detail = _detail(prepared, change)
        line = f"  {state:<8} {change.kind:<17} {change.name}"
        if change.fields:
            line += f"  (differs: {', '.join(change.fields)})"
        if detail:
            line += f"  {detail}"
        out(line)
    _warn_missing_pipeline(session, context, out)
    missing = plan.count("create") + plan.count("update") + plan.count("delete")
    if missing:
        out(f"{missing} resource(s) differ from the configuration; `triggers apply` fixes them.")
    else:
        out(f"All {len(plan.changes)} resources match the configuration.")
    return 0


def destroy(
    config: ProjectConfig, *, dry_run: bool = False, session: Any = None, out: Printer = print
) -> int:
    session = session or new_session(config)
    context = build_context(config, session)
    found = handlers(session, context)
    doomed = [(kind, name) for kind in reversed(KINDS) for name in found[kind].managed()]
    out(f"Triggers for {context.pipeline} in account {context.account}, {context.region}:")
    if not doomed:
        out("Nothing to destroy: no resources carry this pipeline's marker tag.")
        return 0
    for kind, name in doomed:
        out(f"  - delete  {kind:<17} {name}")
    if dry_run:
        out(f"Dry run: {len(doomed)} resource(s) would be deleted; nothing was changed.")
        return 0
    for kind, name in doomed:
        found[kind].delete(name)
        out(f"deleted  {kind} {name}")
    out(f"Destroyed {len(doomed)} resource(s).")
    return 0


def _detail(prepared: Prepared, change: Change) -> str:
    """What `show` adds after a present resource: live state worth a glance."""
    handler = prepared.handlers[change.kind]
    resource = change.resource
    if change.action in ("create", "delete") or resource is None:
        return change.summary
    if isinstance(handler, Queues):
        depth = handler.depth(change.name)
        return f"{depth} message(s) waiting" if depth is not None else ""
    if isinstance(handler, Schedules):
        spec = resource.spec
        return f"{spec['ScheduleExpression']} {spec['ScheduleExpressionTimezone']}, {spec['State']}"
    if isinstance(handler, Rules):
        return f"{change.summary}  pattern {json.dumps(resource.spec['EventPattern'])}"
    if isinstance(handler, Pipes):
        return f"{change.summary}, {handler.state(change.name)}"
    if isinstance(handler, Subscriptions):
        return "pending confirmation" if handler.pending(change.name) else "confirmed"
    if isinstance(handler, Alarms):
        return f"{change.summary}, state {handler.state(change.name)}"
    return change.summary


def _warn_missing_pipeline(session: Any, context: Context, out: Printer) -> None:
    sagemaker = session.client("sagemaker")
    for page in sagemaker.get_paginator("list_pipelines").paginate(
        PipelineNamePrefix=context.pipeline
    ):
        if any(p["PipelineName"] == context.pipeline for p in page["PipelineSummaries"]):
            return
    out(
        f"warning: pipeline {context.pipeline} does not exist in {context.region} yet; the "
        "triggers start it once `run_pipeline.py --target sagemaker upsert` has created it."
    )

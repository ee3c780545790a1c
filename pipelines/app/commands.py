"""Local-engine commands: `executions list|describe` and `registry list|approve|reject`."""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from pipelines.app import report
from pipelines.commandline import CommandArgs, add_command, add_group, argument, json_option
from pipelines.config import ProjectConfig
from pipelines.errors import UsageError, require_target
from pipelines.json_output import print_json, record, records
from pipelines.local.failures import explain_from_steps
from pipelines.local.records import ExecutionRecord, ExecutionStatus


def register(group: click.Group) -> None:
    executions = add_group(group, "executions", help="local: list and describe executions")
    add_command(
        executions,
        "list",
        _executions_list,
        help="recent local executions",
        params=[
            click.Option(["-n", "--limit"], type=int, default=20, help="how many (default 20)"),
            json_option(),
        ],
    )
    add_command(
        executions,
        "describe",
        _executions_describe,
        help="steps, parameters, failure reason and log paths",
        params=[argument("execution", "execution id, ARN or a unique id prefix"), json_option()],
    )

    registry = add_group(
        group, "registry", help="local: the model registry (list, approve, reject)"
    )
    group_option = ("--group", "model package group (default: pipeline.toml)")
    add_command(
        registry,
        "list",
        _registry_list,
        help="model package versions",
        params=[
            click.Option([group_option[0]], help=group_option[1]),
            click.Option(
                ["--status"],
                type=click.Choice(("Approved", "Rejected", "PendingManualApproval")),
                help="filter",
            ),
            json_option(),
        ],
    )
    for verb, status in (("approve", "Approved"), ("reject", "Rejected")):
        add_command(
            registry,
            verb,
            _registry_update,
            help=f"mark a version {status}",
            params=[
                argument("version", "version number or model package ARN"),
                click.Option([group_option[0]], help=group_option[1]),
                click.Option(["--description"], help="ApprovalDescription to record"),
                json_option(),
            ],
            approval_status=status,
        )


def _local_only(args: CommandArgs) -> None:
    require_target(
        args,
        "local",
        "executions and registry read the local engine's state; use `describe` and "
        "`status` for SageMaker",
    )


def _open(config: ProjectConfig):
    from pipelines.app.runner import open_engine

    return open_engine(config)


def _time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(start: float | None, end: float | None) -> str:
    from pipelines.app.progress import format_seconds

    return format_seconds(end - start) if start is not None and end is not None else "-"


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def _executions_list(args: CommandArgs, config: ProjectConfig) -> int:
    _local_only(args)
    state = _open(config).state
    executions = state.list_executions(args.limit)
    if args.json:
        print_json([{**record(e.to_dict()), "failure_detail": _why(state, e)} for e in executions])
        return 0
    if not executions:
        print(f"no local executions yet (state: {config.local_home / 'state.db'})")
        return 0
    rows = [
        (
            e.execution_id,
            e.status,
            _time(e.start_time),
            _duration(e.start_time, e.end_time),
            (_why(state, e) or "")[:80],
        )
        for e in executions
    ]
    for line in _table(("Execution", "Status", "Started", "Duration", "Why it failed"), rows):
        print(line)
    return 0


def _why(state: Any, execution: ExecutionRecord) -> str | None:
    """A failed execution's explanation (its FailureReason is SageMaker's generic one)."""
    if execution.status != ExecutionStatus.FAILED:
        return execution.failure_reason
    steps = state.list_steps(execution.execution_id)
    return explain_from_steps(steps) or execution.failure_reason


def describe_execution(config: ProjectConfig, execution: str) -> dict[str, Any]:
    """An execution, its steps and the input snapshot it ran on, as one JSON-ready document."""
    engine = _open(config)
    return report.describe(engine.state, engine.store, execution).to_json()


def _executions_describe(args: CommandArgs, config: ProjectConfig) -> int:
    _local_only(args)
    engine = _open(config)
    try:
        described = report.describe(engine.state, engine.store, args.execution)
    except LookupError as exc:
        raise UsageError(str(exc.args[0])) from exc
    if args.json:
        document = described.to_json()
        print_json(
            {
                **document,
                "execution": record(document["execution"]),
                "steps": records(document["steps"]),
            }
        )
        return 0
    for line in described.lines():
        print(line)
    return 0


def _group(args: CommandArgs, config: ProjectConfig) -> str:
    return args.group or config.pipeline.model_package_group


def _metric(package: dict[str, Any], config: ProjectConfig) -> str:
    metrics = package.get("EvaluationMetrics") or {}
    section = metrics.get(f"{config.pipeline.problem_type}_metrics") or {}
    value = (section.get(config.pipeline.metric) or {}).get("value")
    return f"{config.pipeline.metric}={value:.4f}" if isinstance(value, int | float) else "-"


def _registry_list(args: CommandArgs, config: ProjectConfig) -> int:
    _local_only(args)
    registry = _open(config).registry
    packages = registry.list(_group(args, config), args.status)
    if args.json:
        print_json(records(packages))
        return 0
    if not packages:
        print(f"no model packages in {_group(args, config)} yet")
        return 0
    rows = [
        (
            str(p["ModelPackageVersion"]),
            p["ModelApprovalStatus"],
            p["CreationTime"],
            _metric(p, config),
            (p.get("MetadataProperties") or {}).get("GeneratedBy", "").rsplit("/", 1)[-1],
            p.get("ModelDataUrl") or "-",
        )
        for p in packages
    ]
    print(f"Model package group {_group(args, config)}")
    headers = ("Version", "Approval", "Created", "Metric", "Execution", "Model data")
    for line in _table(headers, rows):
        print("  " + line)
    return 0


def _registry_update(args: CommandArgs, config: ProjectConfig) -> int:
    _local_only(args)
    from pipelines.local.registry import RegistryError

    registry = _open(config).registry
    group = None if str(args.version).startswith("arn:") else _group(args, config)
    try:
        package = registry.update_approval(
            args.version, args.approval_status, group=group, description=args.description
        )
    except RegistryError as exc:
        raise UsageError(str(exc.args[0])) from exc
    if args.json:
        print_json(record(package))
        return 0
    print(
        f"{package['ModelPackageGroupName']} version {package['ModelPackageVersion']} is now "
        f"{package['ModelApprovalStatus']} ({package['ModelPackageArn']})"
    )
    print(f"event written to {Path(config.local_home) / 'events.jsonl'}")
    return 0

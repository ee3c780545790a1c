"""`monitor` (local): the endpoint's monitoring job, its metrics, alarm and the retraining
run it starts. On AWS the stack schedules the same job (pipelines/stack/monitoring.py)."""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

import click

from pipelines.commandline import CommandArgs, add_command, json_option
from pipelines.config import ProjectConfig
from pipelines.errors import require_target
from pipelines.json_output import iso_time, print_json, record


def register(group: click.Group) -> None:
    add_command(
        group,
        "monitor",
        _monitor,
        help="local: check the requests `serve` captured for drift; an alarm retrains",
        description=(
            "Run the endpoint's monitoring job locally, as the stack's schedule runs it on "
            "AWS: processing/data_quality.py check over the requests `serve` captured in the "
            "window, against the served model's baseline. Its per-feature metrics go to the "
            "event log; when at least [drift].alarm_drifted_features features drifted, the "
            "drift alarm goes off and starts a retraining run on the captured windows."
        ),
        params=[
            click.Option(
                ["--window"],
                help="the window before --end: hours, or e.g. 90m, 2h, 1d "
                "(default [drift].monitoring_interval_hours)",
            ),
            click.Option(["--end"], help="the window's end, ISO 8601 (default: now)"),
            click.Option(
                ["--no-retrain"],
                is_flag=True,
                help="record metrics and the alarm, start no run",
            ),
            json_option(),
        ],
    )


def _monitor(args: CommandArgs, config: ProjectConfig) -> int:
    require_target(
        args,
        "local",
        "monitor runs the monitoring job locally; on AWS the stack schedules it "
        "(`stack deploy --target sagemaker`) and its metrics and alarm are in CloudWatch",
    )
    from pipelines.drift.monitor import parse_end, parse_window, run_monitor, summary_lines

    hours = parse_window(args.window) if args.window else None
    end = parse_end(args.end)
    result = run_monitor(
        config,
        end_time=end,
        window_hours=hours,
        retrain=not args.no_retrain,
        out=(lambda line: None) if args.json else print,
    )
    if args.json:
        document = record(result.record())
        window = result.window
        document["window"] = {"end_time": iso_time(window["end"]), "hours": float(window["hours"])}
        print_json({**document, "report": result.report})
    elif not result.succeeded or result.retrains:
        # The check's own lines were printed before any retraining run started.
        lines = summary_lines(result)
        print("\n".join(lines if not result.succeeded else lines[-len(result.retrains) :]))
    if not result.succeeded:
        return 1
    return 1 if any(run.exit_code for run in result.retrains) else 0

"""Commands: `watch DIR`, `schedule` and `notifications deliver` (local). On AWS the
schedule, the data-arrival trigger and the notifications are part of the project's stack
(`stack deploy --target sagemaker`, pipelines/stack/)."""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from pipelines.commandline import CommandArgs, add_command, add_group, argument, json_option
from pipelines.config import ProjectConfig
from pipelines.errors import UsageError, require_target
from pipelines.json_output import iso_time, print_json
from pipelines.settings.triggers import load_settings


def register(group: click.Group) -> None:
    add_command(
        group,
        "watch",
        _watch,
        help="local: start an execution for each new file in DIR",
        description=(
            "Start one local execution per new, complete file in DIR, on that file "
            '([triggers].data_arrival_input = "object") or on all of DIR ("prefix", '
            '"partitions"). '
            "Files already started are remembered across restarts; a file that cannot start "
            "moves to the dead-letter folder with a .reason.txt."
        ),
        params=[
            argument(
                "directory",
                "the folder to watch",
                type=click.Path(path_type=Path),
                metavar="DIR",
            ),
            click.Option(["--once"], is_flag=True, help="handle the files present, then exit"),
            click.Option(["--debounce-seconds"], type=float, help="unchanged this long = complete"),
            click.Option(["--poll-seconds"], type=float, help="seconds between scans"),
            click.Option(["--dead-letter-dir"], help="where files that cannot start go"),
        ],
    )
    add_command(
        group,
        "schedule",
        _schedule,
        help="local: run the pipeline on the configured cron ([triggers].schedule) and input "
        "([triggers].local_input)",
        params=[
            click.Option(["--max-ticks"], type=int, help="exit after this many ticks"),
            click.Option(
                ["--next"], type=int, metavar="N", help="print the next N run times and exit"
            ),
            json_option(),
        ],
    )

    notifications = add_group(
        group, "notifications", help="local: deliver notifications for the local engine's events"
    )
    add_command(
        notifications,
        "deliver",
        _deliver,
        help="send pending notifications to the local sinks",
        params=[
            click.Option(["--follow"], is_flag=True, help="keep delivering as events come"),
            click.Option(["--poll-seconds"], type=float, default=2.0, help="with --follow"),
            click.Option(
                ["--skip-existing"],
                is_flag=True,
                help="mark the whole log delivered, send nothing",
            ),
        ],
    )


def _local(args: CommandArgs, command: str) -> None:
    require_target(
        args,
        "local",
        f"{command} runs the local engine; on AWS the stack (`stack deploy --target "
        "sagemaker`) holds the schedule, the data-arrival trigger and the notifications",
    )


def _watch(args: CommandArgs, config: ProjectConfig) -> int:
    _local(args, "watch")
    from pipelines.eventbridge.notify import deliver_pending
    from pipelines.triggers.watch import Watcher

    settings = load_settings(config).triggers.watch
    overrides = {
        "debounce_seconds": args.debounce_seconds,
        "poll_seconds": args.poll_seconds,
        "dead_letter_dir": args.dead_letter_dir,
    }
    from pydantic import ValidationError

    try:
        settings = dataclasses.replace(
            settings, **{k: v for k, v in overrides.items() if v is not None}
        )
    except ValidationError as exc:
        # The options go through [triggers.watch]'s rules; name the option, not the key.
        problems = [
            f"--{str(error['loc'][0]).replace('_', '-')} {error['input']!r}: "
            + error["msg"].removeprefix("Value error, ")
            for error in exc.errors()
        ]
        raise UsageError("; ".join(problems)) from exc
    try:
        watcher = Watcher(config, args.directory, settings=settings, after_run=deliver_pending)
    except NotADirectoryError as exc:
        raise UsageError(str(exc)) from exc
    print(
        f"watching {watcher.directory} every {settings.poll_seconds:g} s (complete after "
        f"{settings.debounce_seconds:g} s unchanged); dead letters: {watcher.dead_letter}"
    )
    try:
        report = watcher.run(once=args.once)
    finally:
        watcher.close()
    if args.once:
        print(
            f"{len(report.succeeded)} succeeded, {len(report.failed)} failed, "
            f"{len(report.dead_lettered)} could not start"
        )
        return report.exit_code
    return 0


def _schedule(args: CommandArgs, config: ProjectConfig) -> int:
    _local(args, "schedule")
    from pipelines.eventbridge.notify import deliver_pending
    from pipelines.triggers.schedule import Scheduler, upcoming

    if args.json and not args.next:
        raise UsageError("schedule --json prints the run times: give --next N with it")
    if args.next:
        moments = upcoming(config, args.next)
        if args.json:
            print_json({"next_runs": [iso_time(moment) for moment in moments]})
            return 0
        for moment in moments:
            print(moment.isoformat())
        return 0
    if args.max_ticks is not None and args.max_ticks < 1:
        raise UsageError("--max-ticks must be at least 1")
    return Scheduler(config, after_run=deliver_pending).run(max_ticks=args.max_ticks)


def _deliver(args: CommandArgs, config: ProjectConfig) -> int:
    _local(args, "notifications")
    from pipelines.eventbridge import notify

    if args.follow:
        notify.follow(config, poll_seconds=args.poll_seconds)
        return 0
    count = notify.deliver_pending(config, skip_existing=args.skip_existing)
    if args.skip_existing:
        print("every sink now starts after the current end of the event log")
    else:
        sinks = len(load_settings(config).notifications.local_sinks)
        print(f"{count} notification delivery(ies) to {sinks} sink(s)")
    return 0

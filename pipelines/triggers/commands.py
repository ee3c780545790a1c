"""Commands: `watch DIR`, `schedule` and `notifications deliver` (local). On AWS the
schedule, the data-arrival trigger and the notifications are part of the project's stack
(`stack deploy --target sagemaker`, pipelines/stack/)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from pipelines.config import ProjectConfig
from pipelines.errors import UsageError, require_target


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    watch = subparsers.add_parser(
        "watch",
        parents=[common],
        help="local: start an execution for each new file in DIR",
        description=(
            "Start one local execution per new, complete file in DIR, on that file "
            '([triggers].data_arrival_input = "object") or on all of DIR ("prefix", '
            '"partitions"). '
            "Files already started are remembered across restarts; a file that cannot start "
            "moves to the dead-letter folder with a .reason.txt."
        ),
    )
    watch.add_argument("directory", type=Path, metavar="DIR")
    watch.add_argument("--once", action="store_true", help="handle the files present, then exit")
    watch.add_argument("--debounce-seconds", type=float, help="unchanged this long = complete")
    watch.add_argument("--poll-seconds", type=float, help="seconds between scans")
    watch.add_argument("--dead-letter-dir", help="where files that cannot start go")
    watch.set_defaults(handler=_watch)

    schedule = subparsers.add_parser(
        "schedule",
        parents=[common],
        help="local: run the pipeline on the configured cron ([triggers].schedule) and input "
        "([triggers].local_input)",
    )
    schedule.add_argument("--max-ticks", type=int, help="exit after this many ticks")
    schedule.add_argument(
        "--next", type=int, metavar="N", help="print the next N run times and exit"
    )
    schedule.set_defaults(handler=_schedule)

    notifications = subparsers.add_parser(
        "notifications",
        parents=[common],
        help="local: deliver notifications for the local engine's events",
    )
    actions = notifications.add_subparsers(
        dest="notifications_command", metavar="ACTION", required=True
    )
    deliver = actions.add_parser(
        "deliver", parents=[common], help="send pending notifications to the local sinks"
    )
    deliver.add_argument("--follow", action="store_true", help="keep delivering as events come")
    deliver.add_argument("--poll-seconds", type=float, default=2.0, help="with --follow")
    deliver.add_argument(
        "--skip-existing", action="store_true", help="mark the whole log delivered, send nothing"
    )
    deliver.set_defaults(handler=_deliver)


def _local(args: argparse.Namespace, command: str) -> None:
    require_target(
        args,
        "local",
        f"{command} runs the local engine; on AWS the stack (`stack deploy --target "
        "sagemaker`) holds the schedule, the data-arrival trigger and the notifications",
    )


def _watch(args: argparse.Namespace, config: ProjectConfig) -> int:
    _local(args, "watch")
    from pipelines.triggers.notify import deliver_pending
    from pipelines.triggers.settings import load_settings
    from pipelines.triggers.watch import Watcher

    settings = load_settings(config).triggers.watch
    overrides = {
        "debounce_seconds": args.debounce_seconds,
        "poll_seconds": args.poll_seconds,
        "dead_letter_dir": args.dead_letter_dir,
    }
    settings = dataclasses.replace(
        settings, **{k: v for k, v in overrides.items() if v is not None}
    )
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


def _schedule(args: argparse.Namespace, config: ProjectConfig) -> int:
    _local(args, "schedule")
    from pipelines.triggers.notify import deliver_pending
    from pipelines.triggers.schedule import Scheduler, upcoming

    if args.next:
        for moment in upcoming(config, args.next):
            print(moment.isoformat())
        return 0
    if args.max_ticks is not None and args.max_ticks < 1:
        raise UsageError("--max-ticks must be at least 1")
    return Scheduler(config, after_run=deliver_pending).run(max_ticks=args.max_ticks)


def _deliver(args: argparse.Namespace, config: ProjectConfig) -> int:
    _local(args, "notifications")
    from pipelines.triggers import notify
    from pipelines.triggers.settings import load_settings

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

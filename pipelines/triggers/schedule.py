"""`schedule`: the configured cron, run locally (the twin of the EventBridge Scheduler
schedule), with croniter and the configured IANA time zone.

At each tick an execution starts in a background thread on the configured input location
(`[triggers].local_input`, see `inputs`), unless one is still running: the
scheduler's own, or any local execution of this pipeline the state database reports as
Executing (another terminal, `watch`). Such ticks are skipped and say why. Ticks missed
while the machine slept are not replayed, as with Scheduler's flexible window OFF.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from pipelines.app import local_run
from pipelines.config import ProjectConfig
from pipelines.local.records import ExecutionStatus
from pipelines.local.state import State
from pipelines.settings.triggers import TriggerSettings, load_settings
from pipelines.triggers import inputs

StartExecution = Callable[[ProjectConfig, Mapping[str, str]], int]
Printer = Callable[[str], None]
# Sleep in slices so a changed wall clock (or Ctrl-C) is noticed promptly.
MAX_SLEEP_SECONDS = 30.0


def running_local_executions(config: ProjectConfig, stale_after: float) -> list[str]:
    """Ids of this pipeline's local executions still marked Executing (recent ones only: a
    row left Executing by a killed engine must not block the schedule forever)."""
    path = config.local_home / "state.db"
    if not path.exists():
        return []
    state = State(path)
    try:
        cutoff = time.time() - stale_after
        return [
            e.execution_id
            for e in state.list_executions(limit=50)
            if e.status == ExecutionStatus.EXECUTING
            and e.pipeline_name == config.pipeline.name
            and e.start_time >= cutoff
        ]
    finally:
        state.close()


class Scheduler:
    def __init__(
        self,
        config: ProjectConfig,
        *,
        start: StartExecution | None = None,
        settings: TriggerSettings | None = None,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        out: Printer = print,
        running: Callable[[], list[str]] | None = None,
        after_run: Callable[[ProjectConfig], object] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or load_settings(config).triggers
        self.zone = ZoneInfo(self.settings.timezone)
        self.cron = self.settings.local_cron
        self.start = start or local_run.run_local_execution
        self.now = now or (lambda: datetime.now(self.zone))
        self.sleep = sleep
        self.out = out
        self.running = running or (
            lambda: running_local_executions(config, self.settings.local_stale_after_seconds)
        )
        self.after_run = after_run
        self.thread: threading.Thread | None = None
        self.results: list[int | BaseException] = []

    def next_tick(self, after: datetime) -> datetime:
        return croniter(self.cron, after.astimezone(self.zone)).get_next(datetime)

    def run(self, *, max_ticks: int | None = None) -> int:
        tick = self.next_tick(self.now())
        self.out(
            f"schedule {self.settings.schedule} ({self.cron} in {self.settings.timezone}); "
            f"next run {tick.isoformat()}"
        )
        try:
            self._loop(tick, max_ticks)
        except KeyboardInterrupt:
            if self.thread is not None and self.thread.is_alive():
                self.out(
                    "interrupted: waiting for the running execution to finish "
                    "(Ctrl-C again to abandon it)"
                )
                self.thread.join()
            raise
        if self.thread is not None:
            self.thread.join()
        return 0

    def _loop(self, tick: datetime, max_ticks: int | None) -> None:
        ticks = 0
        while max_ticks is None or ticks < max_ticks:
            self._wait_until(tick)
            self._fire(tick)
            ticks += 1
            now = self.now()
            following = self.next_tick(tick)
            missed = 0
            while following <= now:
                missed += 1
                following = self.next_tick(following)
            if missed:
                self.out(f"missed {missed} tick(s) while busy or asleep; not replayed")
            tick = following

    def _wait_until(self, tick: datetime) -> None:
        while True:
            remaining = (tick - self.now()).total_seconds()
            if remaining <= 0:
                return
            self.sleep(min(remaining, MAX_SLEEP_SECONDS))

    def _fire(self, tick: datetime) -> None:
        label = tick.isoformat()
        if self.thread is not None and self.thread.is_alive():
            self.out(f"{label}: skipped, the execution this scheduler started is still running")
            return
        busy = self.running()
        if busy:
            self.out(f"{label}: skipped, local execution {', '.join(busy)} is still running")
            return
        location = inputs.local_input_location(self.config, self.settings)
        parameters = inputs.schedule_parameters(self.settings, location)
        self.out(f"{label}: starting a local execution on {location}")
        self.thread = threading.Thread(
            target=self._execute, args=(label, parameters), name="scheduled-run", daemon=True
        )
        self.thread.start()

    def _execute(self, label: str, parameters: dict[str, str]) -> None:
        try:
            code = self.start(self.config, parameters)
        except Exception as exc:
            self.results.append(exc)
            self.out(f"{label}: the execution could not start: {type(exc).__name__}: {exc}")
            return
        self.results.append(code)
        self.out(f"{label}: execution {'succeeded' if code == 0 else f'ended with exit {code}'}")
        if self.after_run is not None:
            try:
                self.after_run(self.config)
            except Exception as exc:
                self.out(f"warning: delivering notifications failed: {exc}")


def upcoming(
    config: ProjectConfig, count: int = 3, after: datetime | None = None
) -> list[datetime]:
    """The next `count` local fire times (for `schedule --next`)."""
    settings = load_settings(config).triggers
    zone = ZoneInfo(settings.timezone)
    moment = (after or datetime.now(zone)).astimezone(zone)
    iterator = croniter(settings.local_cron, moment)
    return [iterator.get_next(datetime) for _ in range(count)]

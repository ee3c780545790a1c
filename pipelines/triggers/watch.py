"""`watch DIR`: one local execution per new file in DIR, the local twin of the S3 rule.

- Polling (no new dependency): a file is started once its size and modification time have
  not changed for `debounce_seconds` (writers that rename a `*.part`/`*.tmp` file into place
  are never caught half-written: those names are ignored).
- A ledger (SQLite, `<local home>/triggers/watch.db`) records every file claimed, keyed by
  path + size + mtime, before its execution starts: a restarted watcher (or a second one)
  never starts the same file twice, and a file rewritten in place is new data.
- A file that cannot be started (the start raises, or returns something other than
  0 = succeeded / 1 = execution failed) moves to the dead-letter folder with
  `<name>.reason.txt`; moving it back into DIR retries it.
- Executions run one at a time, in the order the files became complete, each on what
  `[triggers].data_arrival_input` says (`inputs.watch_overrides`): the file itself
  ("object"), or the whole watched folder ("prefix", "partitions"); pending notifications
  are delivered after each one.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipelines.app import local_run
from pipelines.config import ProjectConfig
from pipelines.settings.triggers import TriggerSettings, WatchSettings, load_settings
from pipelines.triggers import inputs

StartExecution = Callable[[ProjectConfig, Mapping[str, str]], int]
Printer = Callable[[str], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    key          TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    status       TEXT NOT NULL,
    claimed_at   REAL NOT NULL,
    finished_at  REAL,
    exit_code    INTEGER,
    reason       TEXT
)
"""


class Ledger:
    """Which files were claimed for an execution (persistent across watcher restarts)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(_SCHEMA)

    @staticmethod
    def key(path: Path, size: int, mtime_ns: int) -> str:
        return f"{path.resolve()}|{size}|{mtime_ns}"

    def is_claimed(self, path: Path, size: int, mtime_ns: int) -> bool:
        row = self.conn.execute(
            "SELECT status FROM files WHERE key = ?", (self.key(path, size, mtime_ns),)
        ).fetchone()
        return row is not None and row[0] != "dead-lettered"

    def claim(self, path: Path, size: int, mtime_ns: int, sha256: str) -> bool:
        """True if this caller won the file; dead-lettered files can be claimed again."""
        cursor = self.conn.execute(
            "INSERT INTO files (key, path, size, mtime_ns, sha256, status, claimed_at) "
            "VALUES (?, ?, ?, ?, ?, 'starting', ?) "
            "ON CONFLICT (key) DO UPDATE SET status = 'starting', "
            "claimed_at = excluded.claimed_at, finished_at = NULL, exit_code = NULL, reason = NULL "
            "WHERE files.status = 'dead-lettered'",
            (
                self.key(path, size, mtime_ns),
                str(path.resolve()),
                size,
                mtime_ns,
                sha256,
                time.time(),
            ),
        )
        return cursor.rowcount == 1

    def finish(
        self, path: Path, size: int, mtime_ns: int, status: str, exit_code: int | None, reason: str
    ) -> None:
        self.conn.execute(
            "UPDATE files SET status = ?, exit_code = ?, reason = ?, finished_at = ? WHERE key = ?",
            (status, exit_code, reason or None, time.time(), self.key(path, size, mtime_ns)),
        )

    def entries(self) -> list[dict]:
        self.conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in self.conn.execute("SELECT * FROM files ORDER BY claimed_at")]
        finally:
            self.conn.row_factory = None

    def close(self) -> None:
        self.conn.close()


@dataclass
class WatchReport:
    succeeded: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)
    dead_lettered: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.dead_lettered else 0


class Watcher:
    def __init__(
        self,
        config: ProjectConfig,
        directory: Path,
        *,
        start: StartExecution | None = None,
        settings: WatchSettings | None = None,
        triggers: TriggerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        out: Printer = print,
        after_run: Callable[[ProjectConfig], object] | None = None,
    ) -> None:
        self.config = config
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            raise NotADirectoryError(f"{directory} is not a directory")
        self.triggers = triggers or load_settings(config).triggers
        self.settings = settings or self.triggers.watch
        dead = Path(self.settings.dead_letter_dir)
        self.dead_letter = dead if dead.is_absolute() else self.directory / dead
        self.start = start or local_run.run_local_execution
        self.clock = clock
        self.sleep = sleep
        self.out = out
        self.after_run = after_run
        self.ledger = Ledger(config.local_home / "triggers" / "watch.db")
        # path -> (size, mtime_ns, time first seen with that size and mtime)
        self.candidates: dict[Path, tuple[int, int, float]] = {}
        self.report = WatchReport()

    def close(self) -> None:
        self.ledger.close()

    def poll(self) -> list[Path]:
        """One scan: start every file that has become complete; returns them."""
        now = self.clock()
        ready: list[tuple[int, Path, int, int]] = []
        present = set()
        for path in sorted(self.directory.iterdir()):
            if not path.is_file() or self.settings.ignored(path.name):
                continue
            stat = path.stat()
            present.add(path)
            if self.ledger.is_claimed(path, stat.st_size, stat.st_mtime_ns):
                self.candidates.pop(path, None)
                continue
            seen = self.candidates.get(path)
            if seen is None or seen[:2] != (stat.st_size, stat.st_mtime_ns):
                self.candidates[path] = (stat.st_size, stat.st_mtime_ns, now)
                if self.settings.debounce_seconds > 0:
                    continue
                seen = self.candidates[path]
            if now - seen[2] >= self.settings.debounce_seconds:
                ready.append((stat.st_mtime_ns, path, stat.st_size, stat.st_mtime_ns))
        for gone in set(self.candidates) - present:
            del self.candidates[gone]
        started = []
        for _, path, size, mtime_ns in sorted(ready):
            self.candidates.pop(path, None)
            if self._start(path, size, mtime_ns):
                started.append(path)
        return started

    def _start(self, path: Path, size: int, mtime_ns: int) -> bool:
        try:
            digest = _sha256(path)
            after = path.stat()
        except FileNotFoundError:
            return False
        if (after.st_size, after.st_mtime_ns) != (size, mtime_ns):
            # Changed while hashing: not complete after all; debounce it again.
            self.candidates[path] = (after.st_size, after.st_mtime_ns, self.clock())
            return False
        if not self.ledger.claim(path, size, mtime_ns, digest):
            return False  # another watcher (or an earlier run of this one) has it
        overrides = inputs.watch_overrides(self.triggers, path, self.directory)
        shown = ", ".join(f"{name}={value}" for name, value in overrides.items())
        self.out(f"new file {path.name}: starting a local execution ({shown})")
        try:
            code = self.start(self.config, overrides)
        except KeyboardInterrupt:
            # Still claimed: a restarted watcher does not start this file again.
            self.ledger.finish(path, size, mtime_ns, "interrupted", None, "watcher interrupted")
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
            self._dead_letter(path, size, mtime_ns, None, reason)
            return True
        if code not in (0, 1):
            reason = f"the execution could not start (exit code {code})"
            self._dead_letter(path, size, mtime_ns, code, reason)
            return True
        self.ledger.finish(path, size, mtime_ns, "started", code, "")
        if code == 0:
            self.report.succeeded.append(path)
            self.out(f"{path.name}: execution succeeded")
        else:
            self.report.failed.append(path)
            self.out(f"{path.name}: execution failed (see `run_pipeline.py executions list`)")
        if self.after_run is not None:
            try:
                self.after_run(self.config)
            except Exception as exc:  # notifications must not stop the watcher
                self.out(f"warning: delivering notifications failed: {exc}")
        return True

    def _dead_letter(
        self, path: Path, size: int, mtime_ns: int, code: int | None, reason: str
    ) -> None:
        self.dead_letter.mkdir(parents=True, exist_ok=True)
        target = self.dead_letter / path.name
        if target.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            target = self.dead_letter / f"{path.stem}.{stamp}{path.suffix}"
        path.replace(target)
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        target.with_name(target.name + ".reason.txt").write_text(
            f"file: {path}\nmoved: {when}\n{reason.strip()}\n", encoding="utf-8"
        )
        first_line = reason.strip().splitlines()[0]
        self.ledger.finish(path, size, mtime_ns, "dead-lettered", code, reason)
        self.report.dead_lettered.append(target)
        self.out(f"{path.name}: could not start: {first_line} -> moved to {target}")

    def run(self, *, once: bool = False, max_polls: int | None = None) -> WatchReport:
        """Poll until interrupted; with `once`, until every file present has been handled."""
        polls = 0
        while True:
            self.poll()
            polls += 1
            if once and not self.candidates:
                return self.report
            if max_polls is not None and polls >= max_polls:
                return self.report
            self.sleep(self.settings.poll_seconds)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

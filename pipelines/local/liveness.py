"""Whether the engine process that owns an execution is still running.

An execution records its owner when it starts: the process id, the process's start time
(field 22 of /proc/<pid>/stat, clock ticks since boot), the boot id, the PID namespace and
the host name. A process id alone is not enough: after the owner dies the kernel may give
its number to an unrelated process. The start time tells them apart, and the boot id tells
a rebooted machine (where every earlier owner is gone) from a live one.

An owner is judged only from where that judgement is sound: the same host and the same PID
namespace. From another container or machine sharing the local home, it is `UNKNOWN`, and
the execution is left as it is. Without /proc (not Linux) only the process id is checked.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ALIVE, GONE, UNKNOWN = "alive", "gone", "unknown"
_PROC = Path("/proc")


@dataclass(frozen=True)
class Owner:
    pid: int
    start_ticks: int | None
    boot_id: str | None
    pid_namespace: str | None
    host: str

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(pid, _start_ticks(pid), _boot_id(), _pid_namespace(), socket.gethostname())

    @classmethod
    def from_record(cls, record: Any) -> Owner | None:
        if not isinstance(record, dict):
            return None
        try:
            return cls(**{key: record.get(key) for key in cls.__dataclass_fields__})
        except TypeError:
            return None

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    def status(self) -> str:
        """ALIVE, GONE, or UNKNOWN when this process cannot tell."""
        if self.host != socket.gethostname() or self.pid_namespace != _pid_namespace():
            return UNKNOWN
        if self.boot_id is not None and self.boot_id != _boot_id():
            return GONE  # the machine rebooted since
        if self.start_ticks is None:
            return _pid_exists(self.pid)
        started = _start_ticks(self.pid)
        if started is None:
            return GONE if not (_PROC / str(self.pid)).exists() else UNKNOWN
        return ALIVE if started == self.start_ticks else GONE

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


def _start_ticks(pid: int) -> int | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    fields = text.rpartition(")")[2].split()
    if fields and fields[0] in ("Z", "X"):
        return -1  # a zombie (dead, not yet reaped by its parent) matches no start time
    try:
        return int(fields[19])  # field 22 overall: starttime
    except (IndexError, ValueError):
        return None


def _boot_id() -> str | None:
    try:
        return (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink(_PROC / "self" / "ns" / "pid")
    except OSError:
        return None


def _pid_exists(pid: int) -> str:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return GONE
    except PermissionError:
        return ALIVE  # someone else's process holds the number: it exists
    return ALIVE

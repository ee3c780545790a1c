"""Wall time, peak memory and CPU of a command's whole process tree, helpers included.

wait4 alone gives the largest single process's RSS high-water mark and the CPU of the
children each process waited for: it misses what runs at the same time (a job's processes
next to the engine's) and every process that re-parents away, such as the warm Lambda
environments a run starts (new session, outliving the CLI) or a job whose parent died.

So this process becomes a child subreaper (Linux prctl): whatever a measured command starts
and leaves behind is re-parented here instead of to init. While the command runs, a thread
samples, every SAMPLE_SECONDS, the command's descendants plus this process's other children
(those re-parented here and the environments earlier commands left running) with psutil,
and keeps the peak of their summed RSS. CPU seconds (user + system, children included) are:

  the command's own wait4 usage (it and every descendant reaped inside the tree), plus, for
  each process outside it (re-parented here, or already running at the start), its CPU
  during the window: from wait4 if it ended and was reaped here, else its psutil times at
  the end minus those at the start.

Summed RSS counts shared pages (the interpreter, libraries) once per process, so it is an
upper bound of the memory the tree needs; the figure is never below wait4's largest single
process. A process that lives less than one sampling interval can escape the RSS peak (not
the CPU).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.02
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    load_at_start: float = 0.0

    def __add__(self, other: Measurement) -> Measurement:
        """Two commands run one after the other: times add, memory is the larger peak."""
        return Measurement(
            self.seconds + other.seconds,
            max(self.peak_rss_mb, other.peak_rss_mb),
            self.cpu_seconds + other.cpu_seconds,
            self.load_at_start or other.load_at_start,
        )


def become_subreaper() -> bool:
    """Adopt the orphans of every command this process starts (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def conditions() -> str:
    """The machine's state, which every figure depends on."""
    load = os.getloadavg()
    return (
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min)"
    )


def reap_orphans() -> None:
    """Collect adopted processes that have ended (environments stopped between commands)."""
    while True:
        try:
            pid, _, _ = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_measured(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> Measurement:
    """Run `command` to its end; SystemExit with its output's tail when it fails."""
    become_subreaper()
    reap_orphans()
    load = os.getloadavg()[0]
    me = psutil.Process()
    outside = {child.pid: _Outside(child) for child in me.children()}
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        sampler = _Sampler(process.pid, outside)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        sampler.stop()
        if process.returncode != 0:
            output.seek(0)
            tail = output.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"{' '.join(command)} failed:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime + sum(o.cpu_in_window() for o in outside.values())
    peak_mb = max(sampler.peak_rss, usage.ru_maxrss * 1024) / 2**20
    return Measurement(seconds, peak_mb, cpu, load)


class _Outside:
    """A process outside the command's own tree: its CPU at the start, its latest, its end."""

    def __init__(self, process: psutil.Process, new: bool = False) -> None:
        self.process = process
        self.start = 0.0 if new else _cpu(process)
        self.latest = self.start
        self.reaped: float | None = None

    def cpu_in_window(self) -> float:
        end = self.reaped if self.reaped is not None else self.latest
        return max(0.0, end - self.start)


class _Sampler(threading.Thread):
    def __init__(self, root: int, outside: dict[int, _Outside]) -> None:
        super().__init__(daemon=True)
        self.root, self.outside = root, outside
        self.peak_rss = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.sample()
            self._stopping.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        self.sample()  # what the environments did up to the command's end

    def sample(self) -> None:
        me = psutil.Process()
        tree: dict[int, psutil.Process] = {}
        try:
            root = psutil.Process(self.root)
            tree[root.pid] = root
            tree.update((p.pid, p) for p in root.children(recursive=True))
        except psutil.Error:
            pass  # the command has ended
        for child in me.children():
            if child.pid == self.root:
                continue
            known = self.outside.get(child.pid)
            if known is None:
                # Re-parented here during the window: all its CPU was spent in the window.
                known = self.outside[child.pid] = _Outside(child, new=True)
            if known.reaped is not None:
                continue
            if child.status() == psutil.STATUS_ZOMBIE:
                try:
                    _, _, usage = os.wait4(child.pid, 0)
                    known.reaped = usage.ru_utime + usage.ru_stime
                except ChildProcessError:
                    pass
                continue
            known.latest = max(known.latest, _cpu(child))
            tree[child.pid] = child
            with contextlib.suppress(psutil.Error):
                tree.update((p.pid, p) for p in child.children(recursive=True))
        total = 0
        for process in tree.values():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        self.peak_rss = max(self.peak_rss, total)


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system + times.children_user + times.children_system

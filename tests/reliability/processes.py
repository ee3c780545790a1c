"""A command of the CLI as its own process, ready once it prints the line that says so; and
what the tests need to tell whether processes are still running."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from waiting import FAILSAFE_SECONDS

from pipelines.config import PROJECT_ROOT

RUN_PIPELINE = str(PROJECT_ROOT / "run_pipeline.py")


class CliProcess:
    """`run_pipeline.py --config CONFIG ARGS...`, waited for until a stdout line contains
    `ready` and a URL; stopped with Ctrl-C (SIGINT) as a user stops it."""

    def __init__(self, config_path: Path, *args: str, ready: str) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by __exit__)
        self.process = subprocess.Popen(
            [sys.executable, "run_pipeline.py", "--config", str(config_path), *args],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.url = self._wait_for(ready)
        address = urlsplit(self.url)
        self.address = (address.hostname, address.port)

    def _wait_for(self, ready: str) -> str:
        # A thread reads the lines: a blocking read needs no timeout of its own, and the
        # wait below ends as soon as the line is there.
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                lines.put(line)
            lines.put("")

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + FAILSAFE_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if not line:
                break
            if ready in line:
                return next(word for word in line.split() if word.startswith("http://"))
        self.stop()
        raise AssertionError(f"the command never printed {ready!r}; stderr:\n{self.log()}")

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=FAILSAFE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> CliProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.stderr.close()


def cli(config_path: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`run_pipeline.py --config CONFIG ARGS...` to the end, output captured."""
    return subprocess.run(
        [sys.executable, RUN_PIPELINE, "--config", str(config_path), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=FAILSAFE_SECONDS,
        **kwargs,
    )


def running(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting for its parent to reap it)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return False
    return bool(fields) and fields[0] not in ("Z", "X")


def running_in_group(group: int) -> list[int]:
    """Every live (non-zombie) process whose process group is `group`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == group and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def kill_if_running(pids: list[int]) -> None:
    """Clean-up after a failed assertion: nothing of a test outlives it."""
    for pid in pids:
        if running(pid):
            os.kill(pid, signal.SIGKILL)

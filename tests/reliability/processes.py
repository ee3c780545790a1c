"""A command of the CLI as its own process, ready once it prints the line that says so."""

from __future__ import annotations

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

"""Invoking a local Lambda function: warm execution environments, as Lambda keeps them.

An environment (`lambda_host`, one process) is keyed by everything that would make it a
different deployment: the function's code, its name, the region, the state database it
answers SageMaker calls from, the store it answers S3 calls from, the interpreter and the
engine code serving it. An invocation
reuses the warm environment for its key when there is one and it is free; otherwise it
starts one (which stays warm for `keep_warm_seconds` after its last use). When the warm
environment is busy with another execution's invocation, a one-off environment answers, as
Lambda scales out. `keep_warm_seconds = 0` gives every invocation a fresh environment.

Failures keep Lambda's vocabulary: an init error, a handler exception (`errorType:
errorMessage`), a runtime that exits mid-invocation, a timeout (the environment is killed).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.local import job_env
from pipelines.local.executor import Cancelled
from pipelines.local.lambda_protocol import ACCEPTED, TOKEN_VARIABLE

ENGINE_ROOT = Path(__file__).resolve().parents[2]
# The engine code running inside an environment: a change to it needs a new environment.
_HOST_MODULES = (
    "lambda_host.py",
    "lambda_protocol.py",
    "sagemaker_api.py",
    "s3_api.py",
    "registry.py",
    "state.py",
    "storage.py",
)
_POLL_SECONDS = 0.01


class LambdaRuntimeError(RuntimeError):
    """The invocation failed; the message is the step's failure reason."""


@dataclass(frozen=True)
class Invocation:
    function_name: str
    source: Path
    event: dict[str, Any]
    state_db: Path
    region: str
    log_dir: Path
    timeout: float
    # The artifact store the function's S3 calls reach; None: no S3 API.
    store_root: Path | None = None


@dataclass(frozen=True)
class _Environment:
    pid: int
    port: int
    token: str


class LambdaRuntime:
    """Environments under `root` (a folder of the local home), warm for `keep_warm_seconds`."""

    def __init__(self, root: Path, keep_warm_seconds: float) -> None:
        self.root = Path(root)
        self.keep_warm_seconds = keep_warm_seconds

    def invoke(self, invocation: Invocation, cancel: threading.Event) -> tuple[Any, list[str]]:
        """The handler's result and the invocation's log paths."""
        invocation.log_dir.mkdir(parents=True, exist_ok=True)
        logs = [invocation.log_dir / "stdout.log", invocation.log_dir / "stderr.log"]
        for log in logs:
            log.write_bytes(b"")
        if self.keep_warm_seconds > 0:
            key = self._key(invocation)
            with self._exclusive(key) as free:
                if free:
                    port_file = self.root / f"{key}.json"
                    warm = _read_port_file(port_file)
                    if warm is not None:
                        answer = self._call(warm, port_file, invocation, logs, cancel)
                        if answer is not _NOT_STARTED:
                            return answer, _str(logs)
                    fresh = self._start(
                        invocation, port_file, self.root / f"{key}.log", self.keep_warm_seconds,
                        cancel,
                    )  # fmt: skip
                    self._retire_others(invocation.function_name, port_file)
                    return self._call_started(fresh, port_file, invocation, logs, cancel), _str(
                        logs
                    )
        port_file = invocation.log_dir / "runtime.json"
        one_off = self._start(invocation, port_file, invocation.log_dir / "init.log", 0, cancel)
        return self._call_started(one_off, port_file, invocation, logs, cancel), _str(logs)

    def stop_all(self) -> int:
        """Stop every warm environment under `root`; returns how many were running."""
        stopped = 0
        for port_file in sorted(self.root.glob("*.json")):
            environment = _read_port_file(port_file)
            if environment and _kill(environment.pid, port_file):
                stopped += 1
            port_file.unlink(missing_ok=True)
        return stopped

    # -- environments -------------------------------------------------------------------

    def _retire_others(self, function_name: str, current: Path) -> None:
        """Older environments of the function (earlier code) lose their port file: each
        exits once idle, after finishing an invocation another execution may have started."""
        for port_file in self.root.glob(f"{function_name}-*.json"):
            if port_file != current and port_file.stem.rsplit("-", 1)[0] == function_name:
                port_file.unlink(missing_ok=True)

    def _key(self, invocation: Invocation) -> str:
        digest = hashlib.sha256()
        for part in (
            invocation.function_name,
            str(invocation.source.resolve()),
            invocation.region,
            str(invocation.state_db.resolve()),
            str(invocation.store_root.resolve()) if invocation.store_root else "",
            sys.executable,
        ):
            digest.update(part.encode() + b"\0")
        digest.update(invocation.source.read_bytes())
        for module in _HOST_MODULES:
            digest.update((Path(__file__).parent / module).read_bytes())
        return f"{invocation.function_name}-{digest.hexdigest()[:16]}"

    @contextmanager
    def _exclusive(self, key: str) -> Iterator[bool]:
        """Whether this invocation has the warm environment to itself (flock, across processes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{key}.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _start(
        self,
        invocation: Invocation,
        port_file: Path,
        log: Path,
        keep_warm: float,
        cancel: threading.Event,
    ) -> _Environment:
        """A new environment, once its init phase has finished (the port file appears)."""
        port_file.unlink(missing_ok=True)
        token = secrets.token_hex(16)
        # As a job's: the interpreter's essentials, not the caller's environment (a function
        # on Lambda never sees its caller's variables or keys).
        env = job_env.job_environment(self.root / "home", {TOKEN_VARIABLE: token})
        store = ["--store", str(invocation.store_root.resolve())] if invocation.store_root else []
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "pipelines.local.lambda_host",
                 "--source", str(invocation.source.resolve()),
                 "--function-name", invocation.function_name,
                 "--state-db", str(invocation.state_db.resolve()),
                 "--region", invocation.region,
                 "--port-file", str(port_file.resolve()),
                 "--keep-warm", str(keep_warm),
                 *store],
                cwd=ENGINE_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,  # outlives this command; a kill takes its whole group
            )  # fmt: skip
        deadline = time.monotonic() + invocation.timeout
        while True:
            environment = _read_port_file(port_file)
            if environment and environment.pid == process.pid:
                return environment
            if process.poll() is not None:
                raise LambdaRuntimeError(
                    f"function {invocation.function_name} failed during init: {_tail(log)}"
                )
            if cancel.is_set() or time.monotonic() >= deadline:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                if cancel.is_set():
                    raise Cancelled()
                raise LambdaRuntimeError(
                    f"Task timed out after {invocation.timeout:g} seconds during init "
                    f"({invocation.function_name})"
                )
            time.sleep(_POLL_SECONDS)

    def _call_started(
        self,
        environment: _Environment,
        port_file: Path,
        invocation: Invocation,
        logs: list[Path],
        cancel: threading.Event,
    ) -> Any:
        """A call to an environment this invocation just started: it must answer."""
        answer = self._call(environment, port_file, invocation, logs, cancel)
        if answer is _NOT_STARTED:
            _stop(environment, port_file)
            raise LambdaRuntimeError(
                f"function {invocation.function_name} failed: Runtime.Unavailable: the new "
                f"environment did not accept the invocation"
            )
        return answer

    def _call(
        self,
        environment: _Environment,
        port_file: Path,
        invocation: Invocation,
        logs: list[Path],
        cancel: threading.Event,
    ) -> Any:
        """The handler's result, or _NOT_STARTED when the environment never took the call
        (it had stopped or was stopping): nothing ran, so another environment may answer."""
        name = invocation.function_name
        request = {
            "token": environment.token,
            "event": invocation.event,
            "stdout": str(logs[0]),
            "stderr": str(logs[1]),
            "timeout": invocation.timeout,
        }
        deadline = time.monotonic() + invocation.timeout
        accepted = False
        try:
            with socket.create_connection(("127.0.0.1", environment.port), timeout=5) as sock:
                sock.sendall(json.dumps(request).encode() + b"\n")
                lines = _Lines(sock, deadline, cancel)
                accepted = lines.next() == ACCEPTED
                answer = lines.next() if accepted else None
        except (Cancelled, TimeoutError):
            _stop(environment, port_file)
            if cancel.is_set():
                raise Cancelled() from None
            raise LambdaRuntimeError(
                f"Task timed out after {invocation.timeout:g} seconds ({name})"
            ) from None
        except OSError:
            answer = None
        if not accepted:
            _stop(environment, port_file)
            return _NOT_STARTED
        if answer is None:
            _stop(environment, port_file)
            raise LambdaRuntimeError(
                f"function {name} failed: Runtime.ExitError: the runtime exited during the "
                f"invocation (see {logs[1]})"
            )
        if "errorType" in answer:
            raise LambdaRuntimeError(
                f"function {name} failed: {answer['errorType']}: {answer['errorMessage']}"
            )
        return answer["result"]


_NOT_STARTED = object()


class _Lines:
    """JSON lines from the environment; None when it closed the connection first."""

    def __init__(self, sock: socket.socket, deadline: float, cancel: threading.Event) -> None:
        sock.settimeout(0.1)  # short waits: a cancelled execution stops the function promptly
        self.sock, self.deadline, self.cancel = sock, deadline, cancel
        self.buffer = bytearray()

    def next(self) -> Any:
        while b"\n" not in self.buffer:
            if self.cancel.is_set():
                raise Cancelled()
            if time.monotonic() >= self.deadline:
                raise TimeoutError()
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return None
            self.buffer += chunk
        line, _, rest = self.buffer.partition(b"\n")
        self.buffer = bytearray(rest)
        return json.loads(line)


def _read_port_file(path: Path) -> _Environment | None:
    try:
        data = json.loads(path.read_text())
        return _Environment(int(data["pid"]), int(data["port"]), str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _stop(environment: _Environment, port_file: Path) -> None:
    if _read_port_file(port_file) == environment:
        port_file.unlink(missing_ok=True)
    _kill(environment.pid, port_file)


def _kill(pid: int, port_file: Path) -> bool:
    """SIGKILL the environment's process group, only if `pid` still is that environment
    (a port file left by a killed environment may name a pid reused since)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:
        command = None  # no /proc (macOS): the pid is the environment's group leader
    if command is not None and str(port_file.resolve()).encode() not in command:
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except FileNotFoundError:
        lines = []
    return f"{lines[-1]} (log: {log})" if lines else f"no output (log: {log})"


def _str(paths: list[Path]) -> list[str]:
    return [str(path) for path in paths]

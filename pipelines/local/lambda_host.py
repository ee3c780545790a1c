"""One Lambda execution environment: the function is initialised once, then invoked.

AWS Lambda runs a function's module code (imports, clients created at module level) once per
execution environment and keeps the environment warm for later invocations. This process
does the same locally: it loads the function file as Lambda's Python runtime does (by path,
with its folder as the task root), serves the local registry's SageMaker API (and, with
`--store`, the artifact store's S3 API) on a port that stays the same for its whole life (so
clients created at import time keep working), then answers invocations from
`lambda_runtime` on a loopback socket.

It stops after `--keep-warm` idle seconds (0: after its first invocation), or, once idle,
when its port file is gone or names another process (the local home was removed, or newer
function code retired it). Its caller may be killed mid-invocation (the engine is not its
parent's keeper: environments outlive runs): the invocation then runs to its end or to the
function's timeout, enforced here by SIGALRM, its answer is dropped, and the environment
stays ready for the next one. Started by `lambda_runtime`, never by hand.

    python -m pipelines.local.lambda_host --source F --function-name N --state-db DB
        --region R --port-file P --keep-warm S [--store DIR]   (token in LAMBDA_RUNTIME_TOKEN)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import sys
import time
import traceback
import types
import uuid
from pathlib import Path
from typing import Any

from pipelines.local.lambda_protocol import ACCEPTED, TOKEN_VARIABLE
from pipelines.local.registry import ModelRegistry
from pipelines.local.sagemaker_api import LocalSageMakerApi
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

IDLE_CHECK_SECONDS = 0.5
# After the function's timeout, the caller stops the environment; this is only for a caller
# that is gone.
TIMEOUT_GRACE_SECONDS = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--state-db", type=Path, required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--keep-warm", type=float, required=True)
    parser.add_argument("--store", type=Path, help="the artifact store S3 calls reach")
    args = parser.parse_args(argv)
    token = os.environ.pop(TOKEN_VARIABLE)

    state = State(args.state_db)
    registry = ModelRegistry(state, args.region)
    store = ArtifactStore(args.store, digests=state) if args.store else None
    with LocalSageMakerApi(registry, store) as api, _listen() as listener:
        _aws_environment(api.url, args.region, args.function_name)
        handler = _load_handler(args.source)  # the init phase: an error here ends the process
        _write_port_file(args.port_file, listener.getsockname()[1], token)
        _serve(listener, handler, args, token)
    _remove_own_port_file(args.port_file)
    return 0


def _listen() -> socket.socket:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(IDLE_CHECK_SECONDS)
    return listener


def _aws_environment(endpoint: str, region: str, function_name: str) -> None:
    """Every AWS endpoint points at the local API: a function never reaches a real account."""
    for key in [key for key in os.environ if key.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ENDPOINT_URL_SAGEMAKER=endpoint,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_LAMBDA_FUNCTION_NAME=function_name,
    )


def _load_handler(source: Path) -> Any:
    task_root = source.resolve().parent
    os.chdir(task_root)
    sys.path[0] = str(task_root)  # Lambda's task root, not the engine's folder
    spec = importlib.util.spec_from_file_location("lambda_function", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise SystemExit(f"{source} defines no handler(event, context) function")
    return handler


def _write_port_file(path: Path, port: int, token: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"pid": os.getpid(), "port": port, "token": token}))
    os.replace(partial, path)


def _serve(listener: socket.socket, handler: Any, args: argparse.Namespace, token: str) -> None:
    last_used = time.monotonic()
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            idle = time.monotonic() - last_used
            if idle >= args.keep_warm or not _owns_port_file(args.port_file):
                return
            continue
        with connection:
            served = _invocation(connection, handler, args.function_name, token)
        last_used = time.monotonic()
        if served and args.keep_warm <= 0:
            return


def _invocation(connection: socket.socket, handler: Any, function_name: str, token: str) -> bool:
    connection.settimeout(None)
    # The answer follows ACCEPTED on the same connection: without this, Nagle's algorithm
    # holds it until the caller's delayed ACK of ACCEPTED arrives (up to 40 ms on Linux).
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with connection.makefile("rwb") as stream:
        try:
            request = json.loads(stream.readline())
        except ValueError:
            return False
        if not isinstance(request, dict) or request.get("token") != token:
            return False
        try:
            stream.write(json.dumps(ACCEPTED).encode() + b"\n")
            stream.flush()
        except OSError:
            return False  # the caller is gone before anything ran
        response = _run_handler(handler, request, function_name)
        try:
            stream.write(json.dumps(response, default=str).encode() + b"\n")
            stream.flush()
        except OSError:
            # The caller's engine stopped (killed) while the function ran: the result has no
            # one to go to. The environment stays usable for the next invocation.
            pass
    return True


def _run_handler(handler: Any, request: dict[str, Any], function_name: str) -> dict[str, Any]:
    deadline = time.monotonic() + float(request["timeout"])
    context = types.SimpleNamespace(
        function_name=function_name,
        aws_request_id=str(uuid.uuid4()),
        get_remaining_time_in_millis=lambda: max(0, int((deadline - time.monotonic()) * 1000)),
    )
    # Lambda ends an invocation at its timeout whether or not anyone waits for the answer:
    # the caller kills the environment then, and if the caller is gone (its engine was
    # killed), SIGALRM's default action ends this process at the same point.
    signal.setitimer(signal.ITIMER_REAL, float(request["timeout"]) + TIMEOUT_GRACE_SECONDS)
    try:
        with _redirected(request["stdout"], request["stderr"]):
            try:
                return {"result": handler(request["event"], context)}
            except Exception as error:  # the function's failure is the invocation's answer
                traceback.print_exc()
                return {"errorType": type(error).__name__, "errorMessage": str(error)}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class _redirected:
    """The invocation's stdout/stderr (file descriptors, so child processes follow) to its logs."""

    def __init__(self, stdout: str, stderr: str) -> None:
        self.targets = ((1, stdout), (2, stderr))
        self.saved: list[int] = []

    def __enter__(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, path in self.targets:
            self.saved.append(os.dup(fd))
            log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, fd)
            os.close(log)

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        for (fd, _), saved in zip(self.targets, self.saved, strict=True):
            os.dup2(saved, fd)
            os.close(saved)


def _owns_port_file(path: Path) -> bool:
    try:
        return json.loads(path.read_text())["pid"] == os.getpid()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _remove_own_port_file(path: Path) -> None:
    if _owns_port_file(path):
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())

"""The instances of one SageMaker job, run locally as one process per host.

SageMaker names a job's instances `algo-1` ... `algo-N` and tells each one which it is:
processing containers read `/opt/ml/config/resourceconfig.json` (`current_host`, `hosts`;
"Build Your Own Processing Container"), training containers
`/opt/ml/input/config/resourceconfig.json` and, through the training toolkit,
`SM_CURRENT_HOST` / `SM_HOSTS`. Every host runs the same entrypoint ("the toolkit runs the
entry point on every host"; the scikit-learn image adds no coordination of its own).

This module holds what the processing and training runners share:

- `share_of`: the objects of an S3 input that one host receives. `FullyReplicated` gives
  every host all of them; `ShardedByS3Key` gives each of n hosts "approximately 1/n of the
  number of S3 objects" (S3DataSource.S3DataDistributionType) and some hosts nothing when
  there are fewer objects than hosts. SageMaker does not document which object goes
  where, so scripts must not depend on it; locally the keys are taken in S3's listing order
  and dealt round-robin (host i gets objects i, i+n, i+2n, ...), which keeps the counts
  within one of each other;
- `run_hosts`: every host's process, at most `max_parallel` at a time (the hosts of a real
  job have a machine each; here they share this one), with the job's MaxRuntimeInSeconds
  and cancellation applying to all of them, and the first failure stopping the rest;
- `merge_folders`: what the hosts wrote to one output folder, combined. A processing
  output is uploaded from every instance to the same S3 URI, and a training job's model
  tarball aggregates every host's `/opt/ml/model` ("How Amazon SageMaker Processes
  Training Output": containers "should ensure no file/directory names clash"). Two hosts
  writing different bytes under one name would, on SageMaker, silently leave whichever
  upload came last (S3 PutObject keeps the last write), so locally the job fails instead,
  naming the file and the hosts.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

FULLY_REPLICATED = "FullyReplicated"
SHARDED_BY_S3_KEY = "ShardedByS3Key"
DISTRIBUTIONS = (FULLY_REPLICATED, SHARDED_BY_S3_KEY)
PROCESSING_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
TRAINING_RESOURCE_CONFIG = "/opt/ml/input/config/resourceconfig.json"
_POLL_SECONDS = 0.1
_KILL_GRACE_SECONDS = 5
_SHIM = Path(__file__).with_name("job_shim.py")

T = TypeVar("T")


class Cancelled(Exception):
    """The execution was stopped while the job ran."""


class HostClash(Exception):
    """Two hosts wrote different files under the same name in one output."""


def host_names(count: int) -> list[str]:
    """`algo-1` ... `algo-<count>`, SageMaker's names for a job's instances."""
    return [f"algo-{number}" for number in range(1, count + 1)]


def instance_count(value: object, where: str) -> int:
    """The InstanceCount of a job request as an integer >= 1 (the API's minimum)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{where} must be an integer, got {value!r}") from None
    if not number.is_integer() or number < 1:
        raise ValueError(f"{where} must be an integer of at least 1, got {value!r}")
    return int(number)


def share_of(objects: Sequence[T], distribution: str, host_index: int, host_count: int) -> list[T]:
    """The objects host number `host_index` (0-based) of `host_count` receives.

    `objects` are in S3's listing order (keys ascending, as ListObjectsV2 returns them, or
    a manifest's order); the result keeps that order.
    """
    if distribution == FULLY_REPLICATED:
        return list(objects)
    if distribution != SHARDED_BY_S3_KEY:
        raise ValueError(
            f"S3DataDistributionType {distribution!r} is not one of {', '.join(DISTRIBUTIONS)}"
        )
    if not 0 <= host_index < host_count:
        raise ValueError(f"host index {host_index} is not in 0..{host_count - 1}")
    return list(objects[host_index::host_count])


def processing_resource_config(host: str, hosts: Sequence[str]) -> dict:
    """/opt/ml/config/resourceconfig.json of a processing container."""
    return {"current_host": host, "hosts": list(hosts)}


def training_resource_config(host: str, hosts: Sequence[str], instance_type: object) -> dict:
    """/opt/ml/input/config/resourceconfig.json of a training container (one instance group)."""
    return {
        "current_host": host,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": list(hosts),
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": instance_type,
                "hosts": list(hosts),
            }
        ],
        "network_interface_name": "eth0",
    }


def host_folder(job_dir: Path, host: str, host_count: int) -> Path:
    """Where a host's `opt/ml` lives: the job folder itself for one host, else a subfolder."""
    return job_dir if host_count == 1 else job_dir / host


def log_folder(job_dir: Path, attempt: int, host: str, host_count: int) -> Path:
    attempt_dir = job_dir / "logs" / f"attempt-{attempt}"
    return attempt_dir if host_count == 1 else attempt_dir / host


# -- running the hosts ------------------------------------------------------------------


@dataclass
class HostRun:
    """One host's process: what to run, where, and where its stdout/stderr go."""

    host: str
    command: list[str]
    cwd: Path
    env: Mapping[str, str]
    log_dir: Path


@dataclass
class HostResult:
    host: str
    logs: list[str]
    exit_code: int | None = None
    timed_out: bool = False
    # Stopped by the engine because another host failed first (never started, or killed).
    stopped: bool = False
    seconds: float | None = None
    peak_rss_mb: float | None = None
    ended: float | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return not self.stopped and (self.timed_out or self.exit_code != 0)

    @property
    def stdout(self) -> str:
        return self.logs[0]

    @property
    def stderr(self) -> str:
        return self.logs[1]


def run_hosts(
    runs: Sequence[HostRun],
    *,
    timeout: float | None,
    cancel: threading.Event,
    max_parallel: int,
) -> list[HostResult]:
    """Run every host's process to completion; results in the order of `runs`.

    Each process gets its own process group, so a timeout, a cancellation or another
    host's failure kills whatever it started too, and runs through job_shim, so the group
    dies with this engine if nothing here gets to stop it. MaxRuntimeInSeconds counts from
    the start of the job, not of each host. Raises Cancelled (after killing every process)
    when `cancel` is set.
    """
    results = [HostResult(run.host, _log_paths(run.log_dir)) for run in runs]
    pending = list(range(len(runs)))
    running: dict[int, tuple[subprocess.Popen, float, list]] = {}
    deadline = time.monotonic() + timeout if timeout else None
    failed = False
    try:
        while pending or running:
            while pending and len(running) < max(1, max_parallel) and not failed:
                index = pending.pop(0)
                running[index] = _start(runs[index], results[index])
            if failed and pending:
                for index in pending:
                    results[index].stopped = True
                pending.clear()
            for index in list(running):
                process, started, handles = running[index]
                reaped = os.wait4(process.pid, os.WNOHANG)
                if reaped[0] == 0:
                    continue
                _, status, usage = reaped
                process.returncode = os.waitstatus_to_exitcode(status)
                _finish(results[index], process.returncode, started, usage, handles)
                del running[index]
                failed = failed or results[index].failed
            if failed and running:
                for index, (process, started, handles) in running.items():
                    _kill(process, results[index], started, handles)
                    results[index].stopped = True
                running.clear()
            if cancel.is_set():
                raise Cancelled()
            if deadline is not None and time.monotonic() >= deadline:
                for index, (process, started, handles) in running.items():
                    _kill(process, results[index], started, handles)
                    results[index].timed_out = True
                running.clear()
                for index in pending:
                    results[index].timed_out = True
                pending.clear()
            if running:
                time.sleep(_POLL_SECONDS)
    except BaseException:
        for index, (process, started, handles) in running.items():
            _kill(process, results[index], started, handles)
        raise
    return results


def first_failure(results: Sequence[HostResult]) -> HostResult | None:
    """The host whose failure ended the job: the first to fail, by the time it ended."""
    failures = [result for result in results if result.failed]
    return min(failures, key=lambda r: r.ended or 0.0) if failures else None


def write_host_summary(path: Path, results: Sequence[HostResult]) -> None:
    """job folder/hosts.json: each host's exit code, duration and peak RSS, for people and
    benchmarks (not a SageMaker document)."""
    rows = [{k: v for k, v in asdict(r).items() if k != "ended"} for r in results]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


def _log_paths(log_dir: Path) -> list[str]:
    return [str(log_dir / "stdout.log"), str(log_dir / "stderr.log")]


def _start(run: HostRun, result: HostResult) -> tuple[subprocess.Popen, float, list]:
    run.log_dir.mkdir(parents=True, exist_ok=True)
    out = open(result.stdout, "wb")  # noqa: SIM115 - closed when the process is reaped
    err = open(result.stderr, "wb")  # noqa: SIM115
    process = subprocess.Popen(
        shimmed(run.command),
        cwd=run.cwd,
        env=dict(run.env),
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,  # its own process group: a kill reaches its children
    )
    return process, time.monotonic(), [out, err]


def shimmed(command: Sequence[str]) -> list[str]:
    """`command` run through job_shim, which kills the job's process group if this engine
    dies without stopping it (kill -9, a crash): no job outlives the engine."""
    return [sys.executable, "-I", "-S", str(_SHIM), str(os.getpid()), "--", *command]


def _finish(result: HostResult, code: int | None, started: float, usage, handles: list) -> None:
    for handle in handles:
        handle.close()
    result.exit_code = code
    result.seconds = round(time.monotonic() - started, 3)
    result.ended = time.time()
    if usage is not None:
        # ru_maxrss is in KiB on Linux and covers the host's own descendants it waited for.
        result.peak_rss_mb = round(usage.ru_maxrss / 1024, 1)


def _kill(process: subprocess.Popen, result: HostResult, started: float, handles: list) -> None:
    """SIGTERM to the host's process group, SIGKILL after a grace period; reaps it."""
    _signal_group(process, signal.SIGTERM)
    usage = None
    deadline = time.monotonic() + _KILL_GRACE_SECONDS
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() >= deadline:
            _signal_group(process, signal.SIGKILL)
            _, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(_POLL_SECONDS / 2)
    process.returncode = os.waitstatus_to_exitcode(status)
    # What the host started may outlive it in its process group: end that too.
    _signal_group(process, signal.SIGKILL)
    _finish(result, process.returncode, started, usage, handles)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


# -- combining what the hosts wrote -----------------------------------------------------


def merge_folders(folders: Mapping[str, Path], label: str) -> list[tuple[str, Path]]:
    """(relative path, file or folder) of every entry under the hosts' `folders`, sorted.

    A file name two hosts both wrote is kept once when the bytes are identical; different
    bytes raise HostClash naming the file, the hosts and `label` (the output). Symlinks are
    skipped: SageMaker does not follow them when uploading ("How Amazon SageMaker
    Processing Configures Input and Output").
    """
    entries: dict[str, tuple[str, Path]] = {}
    for host, folder in folders.items():
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            relative = path.relative_to(folder).as_posix()
            seen = entries.get(relative)
            if seen is None:
                entries[relative] = (host, path)
                continue
            other_host, other = seen
            if path.is_dir() and other.is_dir():
                continue
            if path.is_file() and other.is_file() and filecmp.cmp(path, other, shallow=False):
                continue
            raise HostClash(
                f"hosts {other_host} and {host} both wrote {relative!r} to {label}, with "
                "different contents: SageMaker puts every instance's files under the same "
                "S3 location, so one would silently replace the other (S3 keeps the last "
                "write). Name each instance's files after its current_host (resourceconfig.json)."
            )
    return [
        (relative, path)
        for relative, (_, path) in sorted(
            entries.items(), key=lambda item: PurePosixPath(item[0]).parts
        )
    ]

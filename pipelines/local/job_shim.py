"""Runs one job process so that it cannot outlive the engine that started it.

    python -I -S job_shim.py <engine pid> -- <command> [args...]

The engine starts this shim in a new process group; the shim starts the job in that same
group and waits for it, exiting as the job did (its exit code, or its signal). The shim asks
Linux to send it SIGTERM when the engine's thread that started it dies (prctl
PR_SET_PDEATHSIG), whatever ended the engine: `kill -9`, a crash, an OOM kill. On that
signal, with its parent gone, it SIGKILLs its whole group: the job and everything the job
started that stayed in the group. Nothing publishes a job's outputs once the engine is gone,
so there is nothing for a gentler stop to save.

A SIGTERM while the engine is still its parent is the engine stopping the job (timeout,
cancellation, another host's failure): the whole group received it, the job handles it, and
the shim waits for the job as usual.

Standard library only, run with `-I -S` (no site-packages, no environment-driven imports):
it starts in a few milliseconds and is unaffected by the job's PYTHON* variables. Without
prctl (not Linux) the shim still runs the job; the engine's own exit paths then stop jobs.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
CANNOT_START = 127  # a shell's code for a command that could not be run


def _ask_for_parent_death_signal() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl: not Linux


def _kill_group() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: job_shim.py ENGINE_PID -- COMMAND [ARGS...]\n")
        return 2
    engine = int(argv[1])
    command = argv[3:]

    def on_terminate(signum: int, frame: object) -> None:
        if os.getppid() != engine:
            _kill_group()  # the engine is gone: so is everything it started here

    signal.signal(signal.SIGTERM, on_terminate)
    _ask_for_parent_death_signal()
    if os.getppid() != engine:
        return CANNOT_START  # the engine died before the signal was armed: start nothing
    try:
        child = os.posix_spawnp(command[0], command, os.environ)
    except OSError as error:
        sys.stderr.write(f"ERROR: cannot start {command[0]!r}: {error.strerror}\n")
        return CANNOT_START
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        # Die of the same signal, so the engine sees what the job saw.
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

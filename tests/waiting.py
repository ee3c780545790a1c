"""Waiting on readiness signals: a condition polled until it holds.

FAILSAFE_SECONDS only stops a broken test from hanging the suite; it is no margin any
assertion depends on. A test waits for the state it needs (a file appears, a process is
gone, a line is printed), however loaded the machine, and fails only if that state never
comes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FAILSAFE_SECONDS = 300.0
POLL_SECONDS = 0.02


def wait_until(condition: Callable[[], bool], what: str, seconds: float = FAILSAFE_SECONDS) -> None:
    """Return once `condition()` holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened within the {seconds:g} s failsafe: {what}")
        time.sleep(POLL_SECONDS)

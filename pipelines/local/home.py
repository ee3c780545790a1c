"""The local home (`[local].home`): whether it can be created and written, and what must
never be put into it.

Every failure here is a one-line error naming the path (a UsageError: exit code 2), never a
PermissionError or sqlite3 traceback. A home that exists but cannot be written is
read-only: commands that only read (executions list/describe, registry list, view, cost)
still work on it; commands that write say so.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pipelines.errors import UsageError


class HomeError(UsageError):
    """The local home cannot be used the way this command needs (exit code 2)."""


def is_read_only(home: Path, database: Path) -> bool:
    """True when `home` exists but this process cannot write it or its state database."""
    if not home.is_dir():
        return False
    if not os.access(home, os.W_OK | os.X_OK):
        return True
    return database.exists() and not os.access(database, os.W_OK)


def create(home: Path) -> None:
    """Make sure `home` exists as a folder; HomeError naming it (and the obstacle) if not."""
    try:
        home.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise HomeError(
            f"the local home {home} ([local].home) cannot be created: it exists and is not a folder"
        ) from None
    except OSError as exc:
        raise HomeError(
            f"the local home {home} ([local].home) cannot be created: {_why(exc)}"
        ) from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise read_only(home, "this command writes there")


def read_only(home: Path, what: str) -> HomeError:
    return HomeError(
        f"the local home {home} ([local].home) is read-only: {what}. Read-only commands "
        "(executions list|describe, registry list, view -o FILE, cost) still work on it"
    )


def describe_os_error(exc: OSError) -> str:
    return _why(exc)


def _why(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOTDIR:
        reason = "a part of the path is a file, not a folder"
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{reason}{where}"


def overlap(path: Path, home: Path) -> str | None:
    """How a local input `path` and the home overlap ("contains", "is inside", "is"), or
    None. Both are resolved first, so symlinks and `..` cannot hide an overlap."""
    source, target = path.resolve(), home.resolve()
    if source == target:
        return "is"
    if source in target.parents:
        return "contains"
    if target in source.parents:
        return "is inside"
    return None

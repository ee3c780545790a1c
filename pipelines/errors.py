"""The error every command raises for misuse (exit code 2), importable without the CLI."""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """A command was used in a way that cannot work; exit code 2, nothing was started."""


def require_target(args: argparse.Namespace, target: str, message: str) -> None:
    """Refuse a command given for the other target (`--target local|sagemaker`)."""
    if getattr(args, "target", "local") != target:
        raise UsageError(message)

"""Local notifications: the engine's event log matched against the AWS notification rules.

The local engine appends EventBridge-shaped events to `<local home>/events.jsonl`. Every
event is matched against `patterns.notification_rules` (the patterns the AWS rules use,
with the local account in the pipeline ARN) and each match is rendered with the rule's
input transformer, so the text is the SNS message AWS would send. Matches go to the
configured sinks: stdout, a JSON Lines file, or a webhook on 127.0.0.1/localhost.

Each sink keeps its own byte offset in `<local home>/triggers/notifications.json`, advanced
only after that sink accepted the event: every event reaches every sink once, and a sink
that is down (a stopped webhook) catches up on the next call. Deliveries are serialized
with a file lock, so concurrent callers (the runner, `watch`, `schedule`,
`notifications deliver --follow`) never deliver twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pipelines import arns
from pipelines.config import ProjectConfig
from pipelines.eventbridge.matcher import matches
from pipelines.eventbridge.patterns import RuleSpec, notification_rules
from pipelines.eventbridge.transformer import render_text
from pipelines.settings.triggers import (
    LOCAL_WEBHOOK_HOSTS,
    LocalSink,
    NotificationSettings,
    load_settings,
)

# The account the local engine writes into its ARNs (pipelines/local/events.py).
LOCAL_ACCOUNT = "000000000000"


@dataclass(frozen=True)
class Notification:
    rule: str
    message: str
    event: dict[str, Any]

    def document(self) -> dict[str, Any]:
        return {
            "delivered": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rule": self.rule,
            "message": self.message,
            "event": self.event,
        }


class DeliveryError(RuntimeError):
    """A sink did not accept a notification; it is retried on the next delivery."""


def events_path(config: ProjectConfig) -> Path:
    return config.local_home / "events.jsonl"


def state_dir(config: ProjectConfig) -> Path:
    return config.local_home / "triggers"


def notifications_for(
    config: ProjectConfig, event: dict[str, Any], account: str = LOCAL_ACCOUNT
) -> list[Notification]:
    """The notifications AWS would send for `event` (one per matching rule)."""
    return [
        _notification(config, rule, event, account)
        for rule in notification_rules(config, account)
        if matches(rule.pattern, event)
    ]


def _notification(
    config: ProjectConfig, rule: RuleSpec, event: dict[str, Any], account: str
) -> Notification:
    name = rule.name(config.pipeline.name)
    arn = arns.arn("events", config.aws.region, account, f"rule/{name}")
    message = render_text(rule.input_transformer, event, rule_name=name, rule_arn=arn)
    return Notification(name, message, event)


class StdoutSink:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def deliver(self, notification: Notification) -> None:
        stream = self.stream or sys.stdout
        stream.write(f"notification [{notification.rule}] {notification.message}\n")
        stream.flush()


class FileSink:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def deliver(self, notification: Notification) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(notification.document(), default=str) + "\n")
        except OSError as exc:
            raise DeliveryError(f"cannot append to {self.path}: {exc}") from exc


class WebhookSink:
    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        if urllib.parse.urlsplit(url).hostname not in LOCAL_WEBHOOK_HOSTS:
            raise ValueError(f"webhook {url!r} is not on {' or '.join(LOCAL_WEBHOOK_HOSTS)}")
        self.url = url
        self.timeout = timeout
        self.opener = opener

    def deliver(self, notification: Notification) -> None:
        # Imported here: it pulls in http.client and ssl, which every local run would
        # otherwise load at exit just to deliver to stdout.
        import urllib.request

        body = json.dumps(notification.document(), default=str).encode()
        opener = self.opener or urllib.request.urlopen
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with opener(request, timeout=self.timeout) as response:
                status = response.status
        except OSError as exc:  # URLError, HTTPError, refused connections, timeouts
            raise DeliveryError(f"POST {self.url} failed: {exc}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"POST {self.url} answered HTTP {status}")


def make_sink(
    sink: LocalSink, settings: NotificationSettings, stream: TextIO | None = None
) -> StdoutSink | FileSink | WebhookSink:
    if sink.kind == "stdout":
        return StdoutSink(stream)
    if sink.kind == "file":
        return FileSink(sink.target)
    return WebhookSink(sink.target, settings.webhook_timeout_seconds)


def read_lines(path: Path, offset: int) -> Iterator[tuple[dict[str, Any] | None, int]]:
    """(event, offset after it) for every complete line after `offset`; None for a line that
    is not JSON. A line still being written (no newline yet) is left for later."""
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    position = offset
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        position += len(line)
        if not line.strip():
            continue
        try:
            yield json.loads(line), position
        except ValueError:
            yield None, position


@contextlib.contextmanager
def locked(directory: Path, name: str = "notifications") -> Iterator[None]:
    """Holds `<directory>/<name>.lock` exclusively: readers of the event log that advance a
    stored offset (the notifier, the local rules) never consume an event twice."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load_offsets(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def _save_offsets(path: Path, offsets: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(offsets, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def deliver_pending(
    config: ProjectConfig,
    *,
    events_file: Path | None = None,
    stream: TextIO | None = None,
    sinks: dict[str, Any] | None = None,
    skip_existing: bool = False,
) -> int:
    """Deliver the notifications for events appended since the last call; returns the number
    of deliveries made (one per notification and sink). With `skip_existing`, every sink is
    moved to the end of the log without delivering (start "from now")."""
    settings = load_settings(config).notifications
    if not settings.enabled or not settings.local_sinks:
        return 0
    path = events_file or events_path(config)
    if sinks is None:
        sinks = {s.key: make_sink(s, settings, stream) for s in settings.local_sinks}
    directory = state_dir(config)
    offsets_path = directory / "notifications.json"
    delivered = 0
    with locked(directory):
        offsets = _load_offsets(offsets_path)
        if not path.exists():
            return 0
        stat = path.stat()
        for key, sink in sinks.items():
            mark = offsets.get(key, {})
            offset = mark.get("offset", 0)
            if mark.get("inode") != stat.st_ino or offset > stat.st_size:
                offset = 0  # the log was replaced or truncated: read it from the start
            try:
                for event, end in read_lines(path, offset):
                    if skip_existing:
                        offset = end
                        continue
                    if event is None:
                        print(
                            f"warning: skipped a line of {path} that is not JSON", file=sys.stderr
                        )
                    sent = 0
                    for notification in notifications_for(config, event) if event else ():
                        sink.deliver(notification)
                        sent += 1
                    delivered += sent
                    offset = end
                    if sent:
                        # Remember progress at once: a crash must not resend what went out.
                        offsets[key] = {"offset": offset, "inode": stat.st_ino}
                        _save_offsets(offsets_path, offsets)
            except DeliveryError as exc:
                print(f"warning: notification sink {key}: {exc}; will retry", file=sys.stderr)
            offsets[key] = {"offset": offset, "inode": stat.st_ino}
            _save_offsets(offsets_path, offsets)
    return delivered


def follow(
    config: ProjectConfig,
    *,
    poll_seconds: float = 2.0,
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    stream: TextIO | None = None,
) -> int:
    """Deliver as events arrive until `stop()` (or Ctrl-C); returns the deliveries made."""
    total = 0
    while True:
        total += deliver_pending(config, stream=stream)
        if stop():
            return total
        sleep(poll_seconds)

"""`[triggers]` and `[notifications]` from pipeline.toml: parsed, defaulted and validated.

Both sections are optional; every key has a default. Errors name the offending key, e.g.
"[triggers].timezone: 'Mars/Olympus' is not an IANA time zone".
"""

from __future__ import annotations

import fnmatch
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.config import ConfigError, ProjectConfig
from pipelines.triggers.cron import CronError, to_croniter

DEFAULT_SCHEDULE = "cron(0 2 * * ? *)"
# What a data-arrival run trains on: the arrived object alone, everything under the input
# prefix, or the newest `input_partition_window` dated partitions under it.
DATA_ARRIVAL_INPUTS = ("object", "prefix", "partitions")
MAX_PARTITION_WINDOW = 3650
# Longest resource-name suffix (pipelines/stack/); names must fit EventBridge's 64 characters.
LONGEST_SUFFIX = "-metric-below-threshold"
MAX_NAME_LENGTH = 64
LOCAL_WEBHOOK_HOSTS = ("127.0.0.1", "localhost")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class WatchSettings:
    debounce_seconds: float = 5.0
    poll_seconds: float = 1.0
    # Relative paths are inside the watched folder.
    dead_letter_dir: str = ".dead-letter"
    ignore: tuple[str, ...] = (".*", "*.tmp", "*.part", "*.partial", "*.crdownload", "*~")

    def ignored(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.ignore)


@dataclass(frozen=True)
class TriggerSettings:
    schedule: str = DEFAULT_SCHEDULE
    timezone: str = "UTC"
    schedule_enabled: bool = True
    # Static pipeline parameters for scheduled runs (empty: the pipeline's defaults).
    schedule_parameters: Mapping[str, str] = field(default_factory=dict)
    data_arrival_enabled: bool = True
    # The input location: s3://<bucket>/<input_prefix>. Nightly runs train on it (snapshotted,
    # see lambdas/snapshot_input.py); new objects under it start data-arrival runs.
    input_prefix: str = ""
    data_arrival_input: str = "object"
    # Newest dated partitions nightly (and "partitions" arrival) runs train on; 0: all.
    input_partition_window: int = 0
    # The input location of local `schedule` runs: a file or folder (relative to the project)
    # or an s3:// URI in the local store; empty: s3://<local bucket>/<input_prefix>.
    local_input: str = ""
    max_retry_attempts: int = 10
    max_event_age_seconds: int = 3600
    dlq_retention_seconds: int = 1_209_600
    max_receive_count: int = 5
    # A local execution still "Executing" after this long is treated as abandoned.
    local_stale_after_seconds: int = 86_400
    watch: WatchSettings = field(default_factory=WatchSettings)

    @property
    def local_cron(self) -> str:
        return to_croniter(self.schedule)


@dataclass(frozen=True)
class LocalSink:
    """Where matched local events go: "stdout", "file" (JSON Lines) or "webhook" (POST)."""

    kind: str
    target: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass(frozen=True)
class NotificationSettings:
    enabled: bool = True
    emails: tuple[str, ...] = ()
    alarm_period_seconds: int = 300
    alarm_evaluation_periods: int = 1
    local_sinks: tuple[LocalSink, ...] = (LocalSink("stdout"),)
    webhook_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class Settings:
    triggers: TriggerSettings
    notifications: NotificationSettings


def load_settings(config: ProjectConfig) -> Settings:
    """Both sections, validated against the rest of the configuration."""
    triggers = _triggers(config, _section(config, "triggers"))
    notifications = _notifications(config, _section(config, "notifications"))
    longest = config.pipeline.name + LONGEST_SUFFIX
    if len(longest) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"[pipeline].name {config.pipeline.name!r} is too long for the trigger resources: "
            f"{longest!r} exceeds {MAX_NAME_LENGTH} characters"
        )
    return Settings(triggers, notifications)


def _section(config: ProjectConfig, name: str) -> dict[str, Any]:
    raw = config.extra.get(name, {})
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    return dict(raw)


class _Reader:
    """Typed access to one raw section that remembers which keys were read."""

    def __init__(self, where: str, raw: Mapping[str, Any]) -> None:
        self.where = where
        self.raw = raw
        self.seen: set[str] = set()

    def get(self, key: str, kind: type, default: Any) -> Any:
        self.seen.add(key)
        if key not in self.raw:
            return default
        value = self.raw[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (kind is not bool and isinstance(value, bool)) or not isinstance(value, kind):
            raise ConfigError(f"{self.where}.{key} must be {kind.__name__}, got {value!r}")
        return value

    def between(self, key: str, kind: type, default: Any, low: float, high: float) -> Any:
        value = self.get(key, kind, default)
        if not low <= value <= high:
            raise ConfigError(f"{self.where}.{key} must be between {low} and {high}, got {value}")
        return value

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(key, list, list(default))
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{self.where}.{key} must be a list of strings, got {value!r}")
        return tuple(value)

    def finish(self) -> None:
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            raise ConfigError(f"unknown key(s) in {self.where}: {', '.join(unknown)}")


def _triggers(config: ProjectConfig, raw: dict[str, Any]) -> TriggerSettings:
    read = _Reader("[triggers]", raw)
    schedule = read.get("schedule", str, DEFAULT_SCHEDULE).strip()
    try:
        to_croniter(schedule)
    except CronError as exc:
        raise ConfigError(f"[triggers].schedule: {exc}") from None
    timezone = read.get("timezone", str, "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"[triggers].timezone: {timezone!r} is not an IANA time zone") from None
    parameters = read.get("schedule_parameters", dict, {})
    if not all(isinstance(v, str | int | float | bool) for v in parameters.values()):
        raise ConfigError("[triggers].schedule_parameters values must be strings or numbers")
    input_prefix = read.get("input_prefix", str, "") or f"{config.pipeline.s3_prefix}/incoming/"
    _check_input_prefix(config, input_prefix)
    arrival_input = read.get("data_arrival_input", str, "object")
    if arrival_input not in DATA_ARRIVAL_INPUTS:
        choices = ", ".join(f'"{choice}"' for choice in DATA_ARRIVAL_INPUTS)
        raise ConfigError(
            f"[triggers].data_arrival_input must be one of {choices}, got {arrival_input!r}"
        )
    window = read.between("input_partition_window", int, 0, 0, MAX_PARTITION_WINDOW)
    if arrival_input == "partitions" and window == 0:
        raise ConfigError(
            "[triggers].input_partition_window must be at least 1 when [triggers]."
            'data_arrival_input = "partitions" (0 means every object: use "prefix")'
        )
    watch_raw = read.get("watch", dict, {})
    settings = TriggerSettings(
        schedule=schedule,
        timezone=timezone,
        schedule_enabled=read.get("schedule_enabled", bool, True),
        schedule_parameters={
            str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in parameters.items()
        },
        data_arrival_enabled=read.get("data_arrival_enabled", bool, True),
        input_prefix=input_prefix,
        data_arrival_input=arrival_input,
        input_partition_window=window,
        local_input=read.get("local_input", str, ""),
        # Limits are those of the EventBridge and Scheduler RetryPolicy and SQS APIs.
        max_retry_attempts=read.between("max_retry_attempts", int, 10, 0, 185),
        max_event_age_seconds=read.between("max_event_age_seconds", int, 3600, 60, 86_400),
        dlq_retention_seconds=read.between("dlq_retention_seconds", int, 1_209_600, 60, 1_209_600),
        max_receive_count=read.between("max_receive_count", int, 5, 1, 1000),
        local_stale_after_seconds=read.between(
            "local_stale_after_seconds", int, 86_400, 60, 30 * 86_400
        ),
        watch=_watch(watch_raw),
    )
    read.finish()
    return settings


def _check_input_prefix(config: ProjectConfig, prefix: str) -> None:
    """The data-arrival prefix must not cover what the pipeline itself writes, or every run
    would start the next one."""
    if prefix.startswith("/") or prefix.startswith("s3://"):
        raise ConfigError(
            f"[triggers].input_prefix must be a key prefix inside the bucket (no leading '/' "
            f"or s3://), got {prefix!r}"
        )
    base = config.pipeline.s3_prefix.strip("/")
    for own in (
        f"{base}/executions/",
        f"{base}/code/",
        f"{base}/data/sample/",
        f"{base}/snapshots/",
    ):
        if own.startswith(prefix) or prefix.startswith(own):
            raise ConfigError(
                f"[triggers].input_prefix {prefix!r} overlaps s3://<bucket>/{own}, which the "
                "pipeline writes itself: each run would trigger the next. Use a separate "
                f"prefix such as {base}/incoming/"
            )


def _watch(raw: Mapping[str, Any]) -> WatchSettings:
    read = _Reader("[triggers.watch]", raw)
    defaults = WatchSettings()
    settings = WatchSettings(
        debounce_seconds=read.between(
            "debounce_seconds", float, defaults.debounce_seconds, 0, 3600
        ),
        poll_seconds=read.between("poll_seconds", float, defaults.poll_seconds, 0.01, 3600),
        dead_letter_dir=read.get("dead_letter_dir", str, defaults.dead_letter_dir)
        or defaults.dead_letter_dir,
        ignore=read.strings("ignore", defaults.ignore),
    )
    read.finish()
    return settings


def _notifications(config: ProjectConfig, raw: dict[str, Any]) -> NotificationSettings:
    read = _Reader("[notifications]", raw)
    emails = read.strings("emails", ())
    for email in emails:
        if not _EMAIL.match(email):
            raise ConfigError(f"[notifications].emails: {email!r} is not an email address")
    sinks = tuple(_sink(config, text) for text in read.strings("local_sinks", ("stdout",)))
    settings = NotificationSettings(
        enabled=read.get("enabled", bool, True),
        emails=tuple(dict.fromkeys(emails)),
        alarm_period_seconds=_alarm_period(read),
        alarm_evaluation_periods=read.between("alarm_evaluation_periods", int, 1, 1, 100),
        local_sinks=tuple(dict.fromkeys(sinks)),
        webhook_timeout_seconds=read.between("webhook_timeout_seconds", float, 5.0, 0.1, 120),
    )
    read.finish()
    return settings


def _alarm_period(read: _Reader) -> int:
    period = read.between("alarm_period_seconds", int, 300, 60, 86_400)
    if period % 60:
        raise ConfigError(
            f"[notifications].alarm_period_seconds must be a multiple of 60, got {period}"
        )
    return period


def _sink(config: ProjectConfig, text: str) -> LocalSink:
    where = "[notifications].local_sinks"
    if text == "stdout":
        return LocalSink("stdout")
    if text.startswith("file:"):
        path = text.removeprefix("file:")
        if not path:
            raise ConfigError(f"{where}: 'file:' needs a path, e.g. file:notifications.jsonl")
        resolved = Path(path) if Path(path).is_absolute() else config.root / path
        return LocalSink("file", str(resolved))
    if text.startswith(("http://", "https://")):
        host = urllib.parse.urlsplit(text).hostname
        if host not in LOCAL_WEBHOOK_HOSTS:
            raise ConfigError(
                f"{where}: webhook {text!r} must point at {' or '.join(LOCAL_WEBHOOK_HOSTS)} "
                "(local notifications never leave the machine)"
            )
        return LocalSink("webhook", text)
    raise ConfigError(
        f"{where}: {text!r} is not a sink; use 'stdout', 'file:<path>' or "
        "'http://127.0.0.1:<port>/<path>'"
    )

"""`[triggers]` and `[notifications]` from pipeline.toml, validated by pydantic when the
configuration loads.

Both sections are optional; every key has a default. Errors name the offending key, e.g.
"[triggers].timezone 'Mars/Olympus' is not an IANA time zone".
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from pipelines.config_fields import Section, between, one_of, project
from pipelines.settings.cron import CronError, to_croniter

if TYPE_CHECKING:
    from pipelines.config import ProjectConfig

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


# A dataclass (`watch DIR`'s options replace its values), strict key by key: a strict
# dataclass would refuse the TOML table itself.
@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class WatchSettings:
    debounce_seconds: Annotated[float, Strict(), between(0, 3600)] = 5.0
    poll_seconds: Annotated[float, Strict(), between(0.01, 3600)] = 1.0
    # Relative paths are inside the watched folder; empty: the default.
    dead_letter_dir: Annotated[str, Strict()] = ".dead-letter"
    # A list in TOML, a tuple here.
    ignore: tuple[Annotated[str, Strict()], ...] = (
        ".*",
        "*.tmp",
        "*.part",
        "*.partial",
        "*.crdownload",
        "*~",
    )

    @field_validator("dead_letter_dir")
    @classmethod
    def _dead_letter_dir(cls, value: str) -> str:
        return value or ".dead-letter"

    def ignored(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.ignore)


def _parameter_values(parameters: Any) -> Any:
    """Pipeline parameters are strings in StartPipelineExecution; TOML numbers and booleans
    are written as the pipeline reads them."""
    if not isinstance(parameters, Mapping):
        return parameters
    if not all(isinstance(v, str | int | float | bool) for v in parameters.values()):
        raise ValueError("values must be strings or numbers")
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in parameters.items()}


class TriggerSettings(Section):
    schedule: str = DEFAULT_SCHEDULE
    timezone: str = "UTC"
    schedule_enabled: bool = True
    # Static pipeline parameters for scheduled runs (empty: the pipeline's defaults).
    schedule_parameters: Annotated[dict[str, str], BeforeValidator(_parameter_values)] = Field(
        default_factory=dict
    )
    data_arrival_enabled: bool = True
    # The input location: s3://<bucket>/<input_prefix>. Nightly runs train on it (snapshotted,
    # see lambdas/snapshot_input.py); new objects under it start data-arrival runs. Empty in
    # pipeline.toml: "<[pipeline].s3_prefix>/incoming/".
    input_prefix: str = Field(default="", validate_default=True)
    data_arrival_input: Annotated[str, one_of(DATA_ARRIVAL_INPUTS)] = "object"
    # Newest dated partitions nightly (and "partitions" arrival) runs train on; 0: all.
    input_partition_window: Annotated[int, between(0, MAX_PARTITION_WINDOW)] = 0
    # The input location of local `schedule` runs: a file or folder (relative to the project)
    # or an s3:// URI in the local store; empty: s3://<local bucket>/<input_prefix>.
    local_input: str = ""
    # Limits are those of the EventBridge and Scheduler RetryPolicy and SQS APIs.
    max_retry_attempts: Annotated[int, between(0, 185)] = 10
    max_event_age_seconds: Annotated[int, between(60, 86_400)] = 3600
    dlq_retention_seconds: Annotated[int, between(60, 1_209_600)] = 1_209_600
    max_receive_count: Annotated[int, between(1, 1000)] = 5
    # A local execution still "Executing" after this long is treated as abandoned.
    local_stale_after_seconds: Annotated[int, between(60, 30 * 86_400)] = 86_400
    watch: WatchSettings = Field(default_factory=WatchSettings)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = value.strip()
        try:
            to_croniter(value)
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @field_validator("input_prefix")
    @classmethod
    def _input_prefix(cls, value: str, info: ValidationInfo) -> str:
        """The data-arrival prefix must not cover what the pipeline itself writes, or every
        run would start the next one."""
        config = project(info)
        if config is None:
            return value
        base = config.pipeline.s3_prefix.strip("/")
        prefix = value or f"{config.pipeline.s3_prefix}/incoming/"
        if prefix.startswith(("/", "s3://")):
            raise ValueError("must be a key prefix inside the bucket (no leading '/' or s3://)")
        for own in (
            f"{base}/executions/",
            f"{base}/code/",
            f"{base}/data/sample/",
            f"{base}/snapshots/",
        ):
            if own.startswith(prefix) or prefix.startswith(own):
                raise ValueError(
                    f"{prefix!r} overlaps s3://<bucket>/{own}, which the pipeline writes "
                    "itself: each run would trigger the next. Use a separate prefix such as "
                    f"{base}/incoming/"
                )
        return prefix

    @model_validator(mode="after")
    def _partitions_need_a_window(self) -> TriggerSettings:
        if self.data_arrival_input == "partitions" and self.input_partition_window == 0:
            raise ValueError(
                "input_partition_window must be at least 1 when [triggers]."
                'data_arrival_input = "partitions" (0 means every object: use "prefix")'
            )
        return self

    @property
    def local_cron(self) -> str:
        return to_croniter(self.schedule)


@dataclass(frozen=True, config=ConfigDict(extra="forbid", strict=True))
class LocalSink:
    """Where matched local events go: "stdout", "file" (JSON Lines) or "webhook" (POST)."""

    kind: str
    target: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


def _sink(text: Any, info: ValidationInfo) -> Any:
    """ "stdout", "file:<path>" (relative to the project) or a localhost webhook URL."""
    if not isinstance(text, str):
        return text  # a LocalSink already, or refused as one
    if text == "stdout":
        return LocalSink("stdout")
    if text.startswith("file:"):
        path = text.removeprefix("file:")
        if not path:
            raise ValueError("'file:' needs a path, e.g. file:notifications.jsonl")
        config = project(info)
        if not Path(path).is_absolute() and config is not None:
            path = str(config.root / path)
        return LocalSink("file", path)
    if text.startswith(("http://", "https://")):
        host = urllib.parse.urlsplit(text).hostname
        if host not in LOCAL_WEBHOOK_HOSTS:
            raise ValueError(
                f"webhook {text!r} must point at {' or '.join(LOCAL_WEBHOOK_HOSTS)} "
                "(local notifications never leave the machine)"
            )
        return LocalSink("webhook", text)
    raise ValueError(
        f"{text!r} is not a sink; use 'stdout', 'file:<path>' or 'http://127.0.0.1:<port>/<path>'"
    )


def _email(address: str) -> str:
    if not _EMAIL.match(address):
        raise ValueError(f"{address!r} is not an email address")
    return address


def _minutes(seconds: int) -> int:
    # CloudWatch alarm periods above a minute are whole minutes.
    if seconds % 60:
        raise ValueError("must be a multiple of 60")
    return seconds


def _distinct(items: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


class NotificationSettings(Section):
    enabled: bool = True
    emails: Annotated[
        tuple[Annotated[str, AfterValidator(_email)], ...], AfterValidator(_distinct)
    ] = Field(default=(), strict=False)
    alarm_period_seconds: Annotated[int, between(60, 86_400), AfterValidator(_minutes)] = 300
    alarm_evaluation_periods: Annotated[int, between(1, 100)] = 1
    local_sinks: Annotated[
        tuple[Annotated[LocalSink, BeforeValidator(_sink)], ...], AfterValidator(_distinct)
    ] = Field(default=(LocalSink("stdout"),), strict=False)
    webhook_timeout_seconds: Annotated[float, between(0.1, 120)] = 5.0


@dataclasses.dataclass(frozen=True)
class Settings:
    triggers: TriggerSettings
    notifications: NotificationSettings


def load_settings(config: ProjectConfig) -> Settings:
    """Both sections, validated against the rest of the configuration when it loaded."""
    return Settings(config.sections.triggers, config.sections.notifications)

"""[triggers] and [notifications]: defaults, and errors that name the offending key."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError
from pipelines.settings.triggers import LocalSink, load_settings


def test_defaults_are_a_nightly_utc_schedule_and_an_incoming_prefix(make_config) -> None:
    settings = load_settings(make_config())

    assert settings.triggers.schedule == "cron(0 2 * * ? *)"
    assert settings.triggers.timezone == "UTC"
    assert settings.triggers.local_cron == "0 2 * * *"
    assert settings.triggers.input_prefix == "fraud-detection-retraining/incoming/"
    assert settings.triggers.data_arrival_input == "object"
    assert settings.triggers.input_partition_window == 0
    assert settings.triggers.local_input == ""
    assert settings.notifications.local_sinks == (LocalSink("stdout"),)


def test_data_arrival_modes_and_a_window(make_config) -> None:
    triggers = load_settings(
        make_config({"data_arrival_input": "partitions", "input_partition_window": 3})
    ).triggers
    assert (triggers.data_arrival_input, triggers.input_partition_window) == ("partitions", 3)
    assert (
        load_settings(make_config({"data_arrival_input": "prefix"})).triggers.input_partition_window
        == 0
    )


def test_the_checked_in_pipeline_toml_sections_are_valid() -> None:
    from pipelines.config import load_config

    settings = load_settings(load_config(environ={}))
    assert settings.triggers.watch.dead_letter_dir == ".dead-letter"


def test_local_sinks_are_parsed_and_relative_files_resolve_against_the_project(
    make_config,
) -> None:
    config = make_config(
        notifications={
            "local_sinks": ["stdout", "file:out/notes.jsonl", "http://127.0.0.1:8080/hook"]
        }
    )
    sinks = load_settings(config).notifications.local_sinks

    assert sinks == (
        LocalSink("stdout"),
        LocalSink("file", str(config.root / "out/notes.jsonl")),
        LocalSink("webhook", "http://127.0.0.1:8080/hook"),
    )


@pytest.mark.parametrize(
    ("triggers", "notifications", "message"),
    [
        ({"timezone": "Mars/Olympus"}, {}, r"\[triggers\]\.timezone 'Mars/Olympus' is not an IANA"),
        ({"schedule": "cron(0 2 * * *)"}, {}, r"\[triggers\]\.schedule .*has 5 fields"),
        ({"schedule": "rate(1 day)"}, {}, r"\[triggers\]\.schedule .*not an AWS cron"),
        ({"max_retry_attempts": 500}, {}, r"\[triggers\]\.max_retry_attempts must be between"),
        ({"max_retry_attempts": "3"}, {}, r"\[triggers\]\.max_retry_attempts must be int"),
        ({"schedule_enabled": 1}, {}, r"\[triggers\]\.schedule_enabled must be bool"),
        ({"cron": "x"}, {}, r"unknown key\(s\) in \[triggers\]: cron"),
        ({"watch": {"debounce": 1}}, {}, r"unknown key\(s\) in \[triggers.watch\]: debounce"),
        (
            {"input_prefix": "fraud-detection-retraining/"},
            {},
            r"input_prefix .* overlaps .*executions/.*each run would trigger the next",
        ),
        ({"input_prefix": "s3://bucket/x/"}, {}, r"input_prefix must be a key prefix"),
        (
            {"input_prefix": "fraud-detection-retraining/snapshots/"},
            {},
            r"input_prefix .* overlaps .*snapshots/",
        ),
        (
            {"data_arrival_input": "folder"},
            {},
            r'\[triggers\]\.data_arrival_input must be one of "object", "prefix", "partitions", '
            r"got 'folder'",
        ),
        (
            {"data_arrival_input": "partitions"},
            {},
            r"\[triggers\]\.input_partition_window must be at least 1 when .*\"partitions\"",
        ),
        (
            {"input_partition_window": -1},
            {},
            r"\[triggers\]\.input_partition_window must be between 0 and 3650",
        ),
        ({"local_input": 3}, {}, r"\[triggers\]\.local_input must be str"),
        (
            {},
            {"emails": ["not-an-address"]},
            r"\[notifications\]\.emails\[0\] 'not-an-address' is not",
        ),
        (
            {},
            {"local_sinks": ["https://hooks.example.com/x"]},
            r"local_sinks\[0\] webhook .* must point at 127\.0\.0\.1 or localhost",
        ),
        ({}, {"local_sinks": ["syslog"]}, r"local_sinks\[0\] 'syslog' is not a sink"),
        ({}, {"alarm_period_seconds": 90}, r"alarm_period_seconds must be a multiple of 60"),
    ],
)
def test_invalid_values_are_rejected_naming_the_key(
    make_config, triggers, notifications, message
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(make_config(triggers, notifications))


def test_a_pipeline_name_too_long_for_the_resource_names_is_rejected(make_config) -> None:
    import dataclasses

    config = make_config()
    config = dataclasses.replace(
        config, pipeline=config.pipeline.model_copy(update={"name": "p" * 50})
    )
    with pytest.raises(ConfigError, match="too long for the trigger resources"):
        load_settings(config)

"""pipeline.toml as pydantic models: every section is validated when the file loads, and
each kind of mistake is refused with the file, the section, the key and the value."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest
from toml_writer import dump_toml

from pipelines.config import PROJECT_ROOT, ConfigError, load_config
from pipelines.settings.deployment import load_deployment
from pipelines.settings.triggers import load_settings


def write(tmp_path: Path, **sections: dict[str, Any]) -> Path:
    """The checked-in pipeline.toml with `sections` merged in, key by key (nested tables
    replace the file's)."""
    raw = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text())
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    path = tmp_path / "pipeline.toml"
    path.write_text(dump_toml(raw))
    return path


def refusal(tmp_path: Path, **sections: dict[str, Any]) -> str:
    path = write(tmp_path, **sections)
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    return str(error.value)


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        # A range rule on a core section.
        ({"retry": {"max_attempts": 21}}, "[retry].max_attempts must be between 1 and 20"),
        # A cross-field rule (model validator): the message starts with the key it is about.
        (
            {"pipeline": {"metric": "mse"}},
            "[pipeline].metric 'mse' is not a binary_classification metric",
        ),
        (
            {"orchestrator": {"poll_seconds": 600, "timeout_seconds": 120}},
            "[orchestrator].timeout_seconds (120) must be at least poll_seconds (600)",
        ),
        # A choice.
        ({"dr": {"storage_class": "COLD"}}, '[dr].storage_class must be one of "STANDARD"'),
        # A rule on a default derived from another section ([pipeline].s3_prefix).
        (
            {"triggers": {"input_prefix": "fraud-detection-retraining/code/"}},
            "[triggers].input_prefix 'fraud-detection-retraining/code/' overlaps",
        ),
        # A rule across sections.
        (
            {"dr": {"region": "us-east-1", "bucket": "replica-bucket"}},
            "[dr].region 'us-east-1' is the primary region ([aws].region)",
        ),
    ],
)
def test_each_rule_family_names_file_section_key_and_value(tmp_path, sections, expected):
    message = refusal(tmp_path, **sections)
    assert message.startswith(f"{tmp_path / 'pipeline.toml'}: {expected}")


def test_the_value_is_shown_when_the_rule_does_not_show_it(tmp_path):
    message = refusal(tmp_path, deployment={"serve_port": 70000})
    assert message.endswith("[deployment].serve_port must be between 0 and 65535, got 70000")


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"retry": {"max_attempts": "3"}}, "[retry].max_attempts must be int, got '3'"),
        ({"deployment": {"serve_port": 80.5}}, "[deployment].serve_port must be int, got 80.5"),
        ({"triggers": {"schedule_enabled": 1}}, "[triggers].schedule_enabled must be bool, got 1"),
        ({"pipeline": {"label_column": 7}}, "[pipeline].label_column must be str, got 7"),
        ({"retry": {"max_attempts": True}}, "[retry].max_attempts must be int, got True"),
    ],
)
def test_a_wrong_type_is_refused_not_converted(tmp_path, sections, expected):
    assert refusal(tmp_path, **sections).endswith(expected)


def test_an_int_for_a_float_is_what_toml_users_write(tmp_path):
    config = load_config(write(tmp_path, deployment={"idle_hours": 48}), environ={})
    assert load_deployment(config).idle_hours == 48.0


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"retry": {"attempts": 3, "backoff": 2}}, "unknown key(s) in [retry]: attempts, backoff"),
        ({"deployment": {"endpoint": "x"}}, "unknown key(s) in [deployment]: endpoint"),
        ({"triggers": {"watch": {"debounce": 1}}}, "unknown key(s) in [triggers.watch]: debounce"),
        ({"colour": {"hue": 1}}, "unknown section(s): colour"),
    ],
)
def test_unknown_keys_and_sections_are_refused(tmp_path, sections, expected):
    assert refusal(tmp_path, **sections) == f"{tmp_path / 'pipeline.toml'}: {expected}"


def test_a_nested_section_is_validated_with_its_own_path(tmp_path):
    assert refusal(tmp_path, triggers={"watch": {"poll_seconds": 0}}).endswith(
        "[triggers.watch].poll_seconds must be between 0.01 and 3600, got 0"
    )
    assert refusal(tmp_path, triggers={"watch": {"ignore": ["*.tmp", 3]}}).endswith(
        "[triggers.watch].ignore[1] must be str, got 3"
    )
    assert refusal(tmp_path, triggers={"watch": 5}).endswith(
        "[triggers.watch] must be a table, got 5"
    )
    watch = load_settings(
        load_config(write(tmp_path, triggers={"watch": {"poll_seconds": 2}}), environ={})
    ).triggers.watch
    assert (watch.poll_seconds, watch.debounce_seconds) == (2.0, 5.0)


def test_every_problem_is_reported_at_once(tmp_path):
    lines = refusal(tmp_path, retry={"max_attempts": 0, "interval_seconds": -1}).splitlines()
    path = tmp_path / "pipeline.toml"
    assert lines == [
        f"{path}: [retry].interval_seconds must be between 0 and 43200 (SageMaker's limit), got -1",
        f"{path}: [retry].max_attempts must be between 1 and 20 (SageMaker's limit), got 0",
    ]


def test_a_section_read_by_one_command_is_still_checked_when_the_file_loads(tmp_path):
    # Before, a bad [deployment] surfaced only when a deployment command read it.
    assert "[deployment].initial_instance_count" in refusal(
        tmp_path, deployment={"initial_instance_count": 0}
    )


def test_a_changed_copy_is_validated_again(tmp_path):
    config = load_config(environ={})
    copy = dataclasses.replace(config, extra={**config.extra, "deployment": {"serve_port": -1}})
    with pytest.raises(ConfigError, match=r"\[deployment\]\.serve_port must be between"):
        load_deployment(copy)
    assert load_deployment(config).serve_port == 8080


def test_defaults_come_from_the_other_sections():
    config = load_config(environ={}, overrides={"pipeline": {"name": "churn"}})
    assert load_deployment(config).endpoint_name == "churn-endpoint"
    assert config.sections.orchestrator.state_machine_name == "churn-orchestrator"


def test_a_derived_name_that_cannot_exist_points_at_its_source(tmp_path):
    message = refusal(tmp_path, pipeline={"name": "fraud_detection"})
    assert message.endswith(
        "[deployment].endpoint_name 'fraud_detection-endpoint' (from [pipeline].name; set "
        "endpoint_name to choose another) is not a usable endpoint name (letters, digits and "
        "hyphens, at most 46 characters, no leading or trailing hyphen)"
    )

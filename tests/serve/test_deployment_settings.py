"""[deployment]: defaults from the rest of the configuration, errors that name the key."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError
from pipelines.settings.deployment import DEFAULT_MAX_PAYLOAD_BYTES, load_deployment


def test_defaults_follow_the_pipeline(make_config) -> None:
    settings = load_deployment(make_config(deployment={}))
    assert settings.endpoint_name == "fraud-detection-retraining-endpoint"
    assert settings.instance_type == "ml.m5.large"  # [instances].inference_type
    assert (settings.initial_instance_count, settings.deploy_on_approval) == (1, True)
    assert (settings.idle_hours, settings.serve_port, settings.serve_host) == (
        24.0,
        8080,
        "127.0.0.1",
    )
    assert settings.max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES == 6 * 1024 * 1024
    assert (settings.serve_request_timeout_seconds, settings.serve_max_connections) == (30.0, 256)
    assert (settings.max_extracted_bytes, settings.max_extracted_files) == (1024**3, 10_000)


def test_explicit_values(make_config) -> None:
    settings = load_deployment(
        make_config(
            deployment={"endpoint_name": "fraud-scoring", "instance_type": "ml.c5.xlarge"},
            instances={"inference_type": "ml.t2.medium"},
        )
    )
    assert (settings.endpoint_name, settings.instance_type) == ("fraud-scoring", "ml.c5.xlarge")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"endpoint_name": "bad_name"}, "[deployment].endpoint_name 'bad_name'"),
        ({"endpoint_name": "e" * 47}, "at most 46 characters"),
        ({"instance_type": "m5.large"}, "[deployment].instance_type 'm5.large'"),
        ({"initial_instance_count": 0}, "[deployment].initial_instance_count must be between"),
        ({"idle_hours": 0}, "[deployment].idle_hours must be between 1"),
        ({"serve_port": 70000}, "[deployment].serve_port must be between 0 and 65535"),
        ({"max_payload_bytes": "6MB"}, "[deployment].max_payload_bytes must be int"),
        ({"deploy_on_approval": "yes"}, "[deployment].deploy_on_approval must be bool"),
        ({"endpoint": "x"}, "unknown key(s) in [deployment]: endpoint"),
        ({"serve_request_timeout_seconds": 0}, "[deployment].serve_request_timeout_seconds"),
        ({"serve_max_connections": 0}, "[deployment].serve_max_connections must be between"),
        ({"max_extracted_bytes": 0}, "[deployment].max_extracted_bytes must be between"),
        ({"max_extracted_files": "many"}, "[deployment].max_extracted_files must be int"),
    ],
)
def test_invalid_values_name_the_key(make_config, values, message) -> None:
    with pytest.raises(ConfigError) as error:
        load_deployment(make_config(deployment=values))
    assert message in str(error.value)

"""The SageMaker SDK's own config.yaml defaults reach the built definition, and opting out
(PIPELINE_SDK_DEFAULTS=ignore) leaves them out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipelines import sdk_defaults
from pipelines.config import PROJECT_ROOT, load_config

SUBNETS = ["subnet-0a1b2c3d4e5f60718"]
SECURITY_GROUPS = ["sg-0a1b2c3d4e5f60718"]
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAG = {"Key": "cost-center", "Value": "ml-platform"}
CONFIG_YAML = f"""\
SchemaVersion: '1.0'
SageMaker:
  ProcessingJob:
    NetworkConfig:
      VpcConfig:
        Subnets: {SUBNETS}
        SecurityGroupIds: {SECURITY_GROUPS}
    ProcessingOutputConfig:
      KmsKeyId: '{KEY}'
    ProcessingResources:
      ClusterConfig:
        VolumeKmsKeyId: '{KEY}'
    Tags:
      - Key: '{TAG["Key"]}'
        Value: '{TAG["Value"]}'
  TrainingJob:
    VpcConfig:
      Subnets: {SUBNETS}
      SecurityGroupIds: {SECURITY_GROUPS}
    OutputDataConfig:
      KmsKeyId: '{KEY}'
    ResourceConfig:
      VolumeKmsKeyId: '{KEY}'
    Tags:
      - Key: '{TAG["Key"]}'
        Value: '{TAG["Value"]}'
  Pipeline:
    Tags:
      - Key: '{TAG["Key"]}'
        Value: '{TAG["Value"]}'
"""
ROLE = "arn:aws:iam::111122223333:role/SageMakerExecutionRole"


@pytest.fixture
def sdk_config_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG_YAML, encoding="utf-8")
    monkeypatch.setenv(sdk_defaults.USER_OVERRIDE, str(path))
    monkeypatch.delenv(sdk_defaults.IGNORE_VARIABLE, raising=False)
    return path


def _job_steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}

    def walk(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            if step["Type"] == "Condition":
                walk(step["Arguments"]["IfSteps"])
                walk(step["Arguments"]["ElseSteps"])
            elif step["Type"] in ("Processing", "Training"):
                found[step["Name"]] = step

    walk(definition["Steps"])
    return found


def _build() -> dict[str, Any]:
    from pipelines.definition import get_pipeline
    from pipelines.sdk import offline_environment

    pipeline = get_pipeline(
        PROJECT_ROOT / "pipeline.toml", role=ROLE, default_bucket="my-bucket", region="us-east-1"
    )
    with offline_environment("us-east-1"):
        return json.loads(pipeline.definition())


def test_the_definition_carries_the_sdk_configs_vpc_kms_keys_and_tags(sdk_config_yaml):
    steps = _job_steps(_build())
    assert set(steps) == {"Preprocess", "DriftCheck", "Train", "Evaluate", "Baseline"}
    vpc = {"Subnets": SUBNETS, "SecurityGroupIds": SECURITY_GROUPS}
    for name, step in steps.items():
        arguments = step["Arguments"]
        assert TAG in arguments["Tags"], name
        if step["Type"] == "Processing":
            assert arguments["NetworkConfig"]["VpcConfig"] == vpc, name
            assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == KEY, name
            assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
        else:
            assert arguments["VpcConfig"] == vpc
            assert arguments["OutputDataConfig"]["KmsKeyId"] == KEY
            assert arguments["ResourceConfig"]["VolumeKmsKeyId"] == KEY
            # The project's own output location stays: config fills in, never replaces.
            assert arguments["OutputDataConfig"]["S3OutputPath"]


def test_opting_out_builds_as_if_there_were_no_config_yaml(sdk_config_yaml, monkeypatch):
    monkeypatch.setenv(sdk_defaults.IGNORE_VARIABLE, "ignore")
    for name, step in _job_steps(_build()).items():
        arguments = step["Arguments"]
        assert "Tags" not in arguments, name
        assert "NetworkConfig" not in arguments and "VpcConfig" not in arguments, name
        assert KEY not in json.dumps(arguments), name


def test_pipeline_tags_come_from_the_sdk_config(sdk_config_yaml):
    from pipelines.sdk import sdk_config, sdk_config_value

    assert sdk_config_value("SageMaker.Pipeline.Tags") == [TAG]
    # Building is offline: telemetry stays off whatever the file says.
    assert sdk_config()["SageMaker"]["PythonSDK"]["Modules"]["TelemetryOptOut"] is True


def test_the_definition_cache_is_keyed_on_the_sdk_config(sdk_config_yaml, monkeypatch):
    from pipelines.code_assets import project_code
    from pipelines.definition_cache import fingerprint

    config = load_config(PROJECT_ROOT / "pipeline.toml", environ={})
    code = project_code(config)
    before = fingerprint(config, "local", code)
    sdk_config_yaml.write_text(CONFIG_YAML.replace("ml-platform", "another-team"))
    edited = fingerprint(config, "local", code)
    monkeypatch.setenv(sdk_defaults.IGNORE_VARIABLE, "ignore")
    ignored = fingerprint(config, "local", code)
    assert len({before, edited, ignored}) == 3


def test_a_config_yaml_the_sdk_refuses_is_a_configuration_error_naming_it(sdk_config_yaml):
    from pipelines.config import ConfigError
    from pipelines.sdk import sdk_config

    sdk_config_yaml.write_text("SchemaVersion: '1.0'\nSageMaker:\n  TrainingJob: [not, a, map]\n")
    with pytest.raises(ConfigError, match=re.escape(str(sdk_config_yaml))):
        sdk_config()

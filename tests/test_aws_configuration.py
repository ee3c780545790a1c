"""Configuration as AWS users set it: AWS_REGION alone, AWS_PROFILE, partitions, and names
that keep their case (issue 11, part 3).

The CLI runs as a subprocess with a clean AWS environment and its own local home, so no
definition built earlier (in another region) is reused and nothing on this machine's AWS
configuration leaks in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from toml_writer import dump_toml

from pipelines import arns
from pipelines.code_assets import champion_function_arn
from pipelines.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config
from pipelines.eventbridge.matcher import matches
from pipelines.eventbridge.patterns import notification_rules
from pipelines.local.executor import job_arn
from pipelines.local.orchestrator import pipeline_arn as local_pipeline_arn

ROLE = "arn:aws:iam::111122223333:role/Deployer"


def _isolated_config(tmp_path: Path, **pipeline: str) -> Path:
    """A copy of the project's configuration and code with its own local home."""
    import tomllib

    for part in ("processing", "training", "evaluation", "lambdas"):
        if not (tmp_path / part).exists():
            shutil.copytree(PROJECT_ROOT / part, tmp_path / part)
    raw = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    raw["local"]["home"] = str(tmp_path / "home")
    raw["pipeline"].update(pipeline)
    path = tmp_path / "pipeline.toml"
    path.write_text(dump_toml(raw), encoding="utf-8")
    return path


def _cli(tmp_path: Path, *argv: str, **environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PIPELINE_"))}
    env.update(HOME=str(tmp_path), **environment)
    config = _isolated_config(tmp_path)
    return subprocess.run(
        [sys.executable, "run_pipeline.py", "--config", str(config), *argv],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def _regions_in(definition: str) -> set[str]:
    text = json.dumps(json.loads(definition))
    return {region for region in ("eu-west-1", "eu-central-1", "us-east-1") if region in text}


@pytest.mark.slow
def test_aws_region_alone_chooses_the_region_even_for_an_offline_build(tmp_path):
    result = _cli(
        tmp_path,
        "--target",
        "sagemaker",
        "--bucket",
        "b",
        "--role-arn",
        ROLE,
        "definition",
        AWS_REGION="eu-west-1",
    )
    assert result.returncode == 0, result.stderr
    assert _regions_in(result.stdout) == {"eu-west-1"}


@pytest.mark.slow
def test_aws_profile_region_is_used_for_sagemaker_and_a_missing_profile_is_a_usage_error(
    tmp_path,
):
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("[profile prod]\nregion = eu-central-1\n", encoding="utf-8")
    target = ("--target", "sagemaker", "--bucket", "b", "--role-arn", ROLE, "definition")

    result = _cli(tmp_path, *target, AWS_CONFIG_FILE=str(aws_config), AWS_PROFILE="prod")
    assert result.returncode == 0, result.stderr
    assert _regions_in(result.stdout) == {"eu-central-1"}

    # --profile is the same choice on the command line.
    result = _cli(tmp_path, "--profile", "prod", *target, AWS_CONFIG_FILE=str(aws_config))
    assert result.returncode == 0, result.stderr
    assert _regions_in(result.stdout) == {"eu-central-1"}

    missing = _cli(tmp_path, *target, AWS_CONFIG_FILE=str(aws_config), AWS_PROFILE="nope")
    assert missing.returncode == 2
    assert "AWS_PROFILE 'nope': no such profile" in missing.stderr


@pytest.mark.slow
def test_a_profile_this_machine_lacks_does_not_break_a_local_offline_build(tmp_path):
    result = _cli(tmp_path, "definition", AWS_PROFILE="only-on-the-deploy-box")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Version"] == "2020-12-01"


# -- partitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
    ],
)
def test_the_partition_is_botocores(region, partition):
    assert arns.partition(region) == partition


def test_arns_carry_the_regions_partition(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "cn-north-1")
    config = load_config(_isolated_config(tmp_path))
    target = config.target("local")
    assert champion_function_arn(config, target).startswith("arn:aws-cn:lambda:cn-north-1:")
    assert local_pipeline_arn("us-gov-west-1", "p").startswith("arn:aws-us-gov:sagemaker:")
    assert job_arn("cn-north-1", "1", "training-job", "J").startswith("arn:aws-cn:sagemaker:")
    patterns = json.dumps([rule.pattern for rule in notification_rules(config, "123")])
    assert "arn:aws-cn:sagemaker:cn-north-1:123:pipeline/" in patterns
    assert "arn:aws:" not in patterns


# -- names keep their case (the stack's targets and grants: tests/stack/test_template.py) --


def _execution_failed(pipeline_arn: str) -> dict:
    return {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
        "resources": [pipeline_arn, f"{pipeline_arn}/execution/abc"],
        "detail": {
            "pipelineArn": pipeline_arn,
            "pipelineExecutionArn": f"{pipeline_arn}/execution/abc",
            "currentPipelineExecutionStatus": "Failed",
        },
    }


def test_a_mixed_case_pipeline_matches_its_own_execution_events_in_either_spelling(tmp_path):
    config = load_config(_isolated_config(tmp_path, name="FraudRetraining"))
    (failed,) = [r for r in notification_rules(config, "123") if r.purpose == "execution-failed"]
    prefix = "arn:aws:sagemaker:us-east-1:123:pipeline/"
    # SageMaker writes names lower-cased in ARNs; a pattern must match that and the name as
    # the user typed it, and nothing else.
    assert matches(failed.pattern, _execution_failed(prefix + "fraudretraining"))
    assert matches(failed.pattern, _execution_failed(prefix + "FraudRetraining"))
    assert not matches(failed.pattern, _execution_failed(prefix + "fraudretraining-v2"))

"""`stack template` from the command line: offline, no credentials, the template CloudFormation
would get (and its SageMaker Projects variant)."""

from __future__ import annotations

import json

import pytest
from stack_config import BUCKET, ROLE_ARN

from pipelines.cli import main as cli_main


@pytest.fixture
def offline(monkeypatch, definition):
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIPELINE_BUCKET", BUCKET)
    monkeypatch.setenv("PIPELINE_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("AWS_REGION", "us-east-1")


def test_template_writes_the_stack_template_offline(offline, tmp_path, capsys) -> None:
    path = tmp_path / "template.json"
    assert cli_main(["--target", "sagemaker", "stack", "template", "-o", str(path)]) == 0
    assert capsys.readouterr().out == f"wrote {path}\n"
    body = json.loads(path.read_text())
    assert body["Resources"]["Pipeline"]["Type"] == "AWS::SageMaker::Pipeline"
    assert "Parameters" not in body

    assert cli_main(["--target", "sagemaker", "stack", "template", "--sagemaker-project"]) == 0
    published = json.loads(capsys.readouterr().out)
    assert set(published["Parameters"]) == {"SageMakerProjectName", "SageMakerProjectId"}
    assert "Default" not in published["Parameters"]["SageMakerProjectId"]


def test_template_needs_the_sagemaker_target_and_dr_needs_its_section(offline, capsys):
    assert cli_main(["stack", "template"]) == 2
    assert "add --target sagemaker" in capsys.readouterr().err
    assert cli_main(["--target", "sagemaker", "stack", "template", "--dr"]) == 2
    assert "--dr needs [dr] in pipeline.toml" in capsys.readouterr().err

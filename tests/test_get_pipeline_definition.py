"""`get-pipeline-definition` in process: the AWS template's arguments, its usage errors.

The installed command from an empty directory is tested in test_packaging.py."""

from __future__ import annotations

import json

import pytest

from pipelines.get_pipeline_definition import main

ROLE = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kwargs", "{region: x}"], "--kwargs is not JSON"),
        (["--kwargs", "[1, 2]"], "--kwargs must be a JSON object"),
        (["--kwargs", '{"regoin": "eu-west-1"}'], "unknown argument(s) regoin; expected"),
        (["--target", "cloud"], "'cloud' is not one of 'local', 'sagemaker'"),
        (["--frobnicate"], "No such option '--frobnicate'"),
    ],
)
def test_bad_usage_exits_2_naming_what_is_wrong(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_the_templates_arguments_build_the_sagemaker_definition_into_a_file(tmp_path, capsys):
    out = tmp_path / "definition.json"
    kwargs = {"region": "eu-west-1", "role": ROLE, "default_bucket": "team-bucket"}
    assert main(["--kwargs", json.dumps(kwargs), "-f", str(out)]) == 0
    assert capsys.readouterr().out == ""
    text = out.read_text(encoding="utf-8")
    definition = json.loads(text)
    assert [step["Name"] for step in definition["Steps"]][:2] == [
        "ResolveChampion",
        "SnapshotInput",
    ]
    # Pretty-printed as the template's script prints it, with the given role and bucket.
    assert text.startswith("{\n  ")
    assert ROLE in text and "s3://team-bucket/" in text
    assert "eu-west-1" in text

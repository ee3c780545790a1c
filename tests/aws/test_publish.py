"""`pipelines.publish(...)` against moto's server: the code the definition points at is in
the bucket, the Lambda zips and the sample too, and the pipeline is created, then updated.

The pipeline.toml lives alone in a temporary folder (as a notebook user's would), so the
job code and the Lambda handlers come from the package's bundle.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import boto3
import pytest
from moto_account import BUCKET, REGION, ROLE_ARN
from toml_writer import dump_toml

import pipelines
from pipelines.code_assets import lambda_functions, project_code, sample_data_uri, zip_asset
from pipelines.config import PROJECT_ROOT, load_config
from pipelines.stack.context import build_context

S3_URI = re.compile(r"s3://[^\"\s]+")


@pytest.fixture(scope="module")
def notebook_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module: its local home's definition cache spares rebuilds."""
    folder = tmp_path_factory.mktemp("notebook")
    raw = tomllib.loads((PROJECT_ROOT / "pipeline.toml").read_text(encoding="utf-8"))
    raw["local"]["home"] = str(folder / "home")
    (folder / "pipeline.toml").write_text(dump_toml(raw), encoding="utf-8")
    return folder


@pytest.fixture
def notebook_config(aws, notebook_folder: Path) -> Path:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    return notebook_folder / "pipeline.toml"


def _keys(prefix: str = "") -> set[str]:
    s3 = boto3.client("s3", region_name=REGION)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def test_publish_uploads_what_the_definition_references_and_upserts(notebook_config):
    arguments = {
        "region": REGION,
        "role": ROLE_ARN,
        "default_bucket": BUCKET,
        "pipeline_name": "notebook-pipeline",
        "base_job_prefix": "notebook",
    }
    first = pipelines.publish(notebook_config, tags={"team": "fraud"}, **arguments)
    assert first.created

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    described = sagemaker.describe_pipeline(PipelineName="notebook-pipeline")
    assert described["RoleArn"] == ROLE_ARN
    definition = described["PipelineDefinition"]
    config = load_config(
        notebook_config,
        overrides={
            "aws": {"bucket": BUCKET, "role_arn": ROLE_ARN},
            "pipeline": {"name": "notebook-pipeline", "s3_prefix": "notebook"},
        },
    )
    assert json.loads(definition) == json.loads(build_context(config).definition)

    # Every object the definition names under the bucket is there: the job code, the
    # sample (InputDataUrl's default) and the NO_CHAMPION marker's prefix.
    keys = _keys()
    referenced = {uri.removeprefix(f"s3://{BUCKET}/") for uri in S3_URI.findall(definition)}
    code = {key for key in referenced if "/code/" in key}
    assert len(code) == len(project_code(config).all())
    assert code <= keys
    target = config.target("sagemaker")
    assert sample_data_uri(config, target).removeprefix(f"s3://{BUCKET}/") in keys
    assert any(key.startswith("notebook/registry/no-champion/") for key in keys)
    # The pipeline's Lambda functions' zips, by content, where the stack reads them.
    for name, source in lambda_functions(config).items():
        assert (
            zip_asset(name, source).s3_uri(BUCKET, "notebook").removeprefix(f"s3://{BUCKET}/")
            in keys
        )
    # No stack was deployed here: publish says which functions the steps would miss.
    assert first.missing_functions == sorted(lambda_functions(config))

    tags = sagemaker.list_tags(ResourceArn=first.pipeline_arn)["Tags"]
    assert {"Key": "team", "Value": "fraud"} in tags
    assert {"Key": "project", "Value": "fraud-detection-retraining"} in tags  # [aws.tags]

    second = pipelines.publish(notebook_config, **arguments)
    assert not second.created
    assert second.pipeline_arn == first.pipeline_arn
    assert second.uploaded == []  # content-addressed: nothing changed, nothing sent
    assert set(second.unchanged) == {f"s3://{BUCKET}/{key}" for key in keys}


def test_publish_without_the_sample_leaves_it_out(notebook_config):
    published = pipelines.publish(
        notebook_config,
        upload_sample=False,
        region=REGION,
        role=ROLE_ARN,
        default_bucket=BUCKET,
        pipeline_name="notebook-pipeline",
        base_job_prefix="notebook",
    )
    assert published.created
    assert not [key for key in _keys() if key.endswith("transactions.csv")]
    assert [key for key in _keys() if "/code/" in key]

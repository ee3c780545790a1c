"""`publish(...)`: put the pipeline on SageMaker from a notebook, code included, in one call.

    import pipelines
    pipelines.publish(region="eu-west-1", role="arn:aws:iam::...:role/SageMakerRole",
                      default_bucket="my-bucket", pipeline_name="fraud-retraining")

The SDK's `get_pipeline(...).upsert()` sends the definition and nothing else, while this
definition points at its job code by content-addressed S3 URIs (pipelines/code_assets.py):
an upserted pipeline whose code is not in the bucket fails at its first job. `publish`
does what `run-pipeline --target sagemaker stack deploy` does for the pipeline alone, with
the same pieces: it checks the definition as CreatePipeline would, uploads the job code,
the Lambda zips, the NO_CHAMPION marker and (unless told not to) the bundled sample, each
only if not already there, then creates or updates the pipeline with its tags.

The Lambda functions the pipeline's steps invoke (and the triggers, the model package
group, the alarms) are the stack's: `publish` uploads their zips but creates no function.
`Published.missing_functions` names those not deployed yet (run `stack deploy` once).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from pipelines.aws.pipeline_ops import find_pipeline
from pipelines.aws.pipeline_request import pipeline_request
from pipelines.code_assets import lambda_functions, sample_data_uri
from pipelines.config import ProjectConfig
from pipelines.conformance.preflight import check_upsert
from pipelines.definition import template_config
from pipelines.sdk import sdk_config_value
from pipelines.stack import package
from pipelines.stack.context import build_context


@dataclass(frozen=True)
class Published:
    """What `publish` did."""

    pipeline_arn: str
    # True: CreatePipeline; False: UpdatePipeline of an existing pipeline.
    created: bool
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Lambda functions the definition invokes that do not exist in the account yet.
    missing_functions: list[str] = field(default_factory=list)


def publish(
    config: ProjectConfig | str | Path | None = None,
    *,
    upload_sample: bool = True,
    tags: Mapping[str, str] | None = None,
    session: boto3.Session | None = None,
    **template_arguments: str | None,
) -> Published:
    """Upload the pipeline's code, the Lambda zips and the sample, then upsert the pipeline.

    Takes what `get_pipeline` takes (region, role, default_bucket, pipeline_name,
    model_package_group_name, base_job_prefix, sagemaker_project_name, ...), each defaulting
    to pipeline.toml, and always builds for SageMaker. `upload_sample=False` leaves the
    sample out (the InputDataUrl parameter then needs a value at start). `tags` are added to
    [aws.tags], the SageMaker project's tags and the SDK config's SageMaker.Pipeline.Tags.
    """
    config, _ = template_config(config, target="sagemaker", **template_arguments)
    ctx = build_context(config)
    request = pipeline_request(config, ctx.definition, ctx.target.role_arn)
    check_upsert(json.loads(ctx.definition), request)

    session = session or boto3.Session(region_name=config.aws.region)
    objects = package.artifacts(ctx)
    if not upload_sample:
        sample = sample_data_uri(config, ctx.target)
        objects = [obj for obj in objects if obj.uri != sample]
    uploaded = package.upload(session.client("s3"), objects)

    all_tags = {**ctx.stack_tags(), **_sdk_pipeline_tags(), **(tags or {})}
    tag_list = [{"Key": key, "Value": value} for key, value in all_tags.items()]
    sagemaker = session.client("sagemaker")
    existing = find_pipeline(sagemaker, config.pipeline.name)
    if existing is None:
        arn = sagemaker.create_pipeline(**request, **({"Tags": tag_list} if tag_list else {}))[
            "PipelineArn"
        ]
    else:
        arn = sagemaker.update_pipeline(**request)["PipelineArn"]
        if tag_list:
            sagemaker.add_tags(ResourceArn=arn, Tags=tag_list)
    return Published(
        pipeline_arn=arn,
        created=existing is None,
        uploaded=uploaded.sent,
        unchanged=uploaded.unchanged,
        missing_functions=_missing_functions(session, config),
    )


def _missing_functions(session: boto3.Session, config: ProjectConfig) -> list[str]:
    client = session.client("lambda")
    missing = []
    for name in sorted(lambda_functions(config)):
        try:
            client.get_function(FunctionName=name)
        except client.exceptions.ResourceNotFoundException:
            missing.append(name)
    return missing


def _sdk_pipeline_tags() -> dict[str, str]:
    """SageMaker.Pipeline.Tags of the SDK's config.yaml, which the SDK's own upsert adds."""
    found: Any = sdk_config_value("SageMaker.Pipeline.Tags") or []
    return {tag["Key"]: tag["Value"] for tag in found}

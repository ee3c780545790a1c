"""The configurations the template tests build from: pipeline.toml with the SageMaker
target set and chosen sections, and small readers of template bodies."""

from __future__ import annotations

import dataclasses

from pipelines.config import ProjectConfig, load_config

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "my-ml-bucket"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"
NAME = "fraud-detection-retraining"


def make_config(
    *, pipeline: dict | None = None, aws: dict | None = None, **sections: dict
) -> ProjectConfig:
    """pipeline.toml with the SageMaker target set, [pipeline]/[aws] overrides, and extra
    sections merged key by key into the file's own."""
    config = load_config(
        environ={},
        overrides={
            "aws": {"bucket": BUCKET, "role_arn": ROLE_ARN, **(aws or {})},
            "pipeline": pipeline or {},
        },
    )
    extra = dict(config.extra)
    for name, values in sections.items():
        extra[name] = {**extra.get(name, {}), **values}
    return dataclasses.replace(config, extra=extra)


def resources_of(body: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in body["Resources"].items() if v["Type"] == kind}


def statements(role: dict) -> dict[str, dict]:
    """A role's inline permissions by Sid."""
    (policy,) = role["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}

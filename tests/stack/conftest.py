"""Templates built offline from the project's configuration with chosen sections.

The pipeline definition is built once per session (the SDK import takes seconds) and shared:
these tests are about what surrounds it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from pipelines.config import ProjectConfig, load_config
from pipelines.stack.context import StackContext, build_context
from pipelines.stack.template import build

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


@pytest.fixture(scope="session")
def definition() -> str:
    from pipelines.definition_cache import load_definition

    return load_definition(make_config(), "sagemaker")[0]


@pytest.fixture
def context(definition: str) -> Callable[..., StackContext]:
    def make(config: ProjectConfig | None = None, **kwargs: Any) -> StackContext:
        return build_context(config or make_config(), definition=definition, **kwargs)

    return make


@pytest.fixture
def template(context: Callable[..., StackContext]) -> Callable[..., dict]:
    """The template body (a dict, as CloudFormation reads the JSON)."""

    def make(config: ProjectConfig | None = None, **kwargs: Any) -> dict:
        return json.loads(build(context(config, **kwargs)).json())

    return make


def resources_of(body: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in body["Resources"].items() if v["Type"] == kind}


def statements(role: dict) -> dict[str, dict]:
    """A role's inline permissions by Sid."""
    (policy,) = role["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}

"""Templates built offline from the project's configuration with chosen sections.

The pipeline definition is built once per session (the SDK import takes seconds) and shared:
these tests are about what surrounds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from stack_config import make_config

from pipelines.config import ProjectConfig
from pipelines.stack.context import StackContext, build_context
from pipelines.stack.template import build


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

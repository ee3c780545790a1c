"""`[deployment]` from pipeline.toml, validated by pydantic when the configuration loads.

The section is optional; every key has a default. Errors name the offending key, e.g.
"[deployment].serve_port must be between 0 and 65535, got 70000".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, ValidationInfo, field_validator

from pipelines.config_fields import Section, between, project

if TYPE_CHECKING:
    from pipelines.config import ProjectConfig

# SageMaker's real-time invocation payload limit.
DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# What `serve` unpacks from a model.tar.gz at most: far above this project's models (a few
# MB), far below a decompression bomb's reach.
DEFAULT_MAX_EXTRACTED_BYTES = 1024**3
DEFAULT_MAX_EXTRACTED_FILES = 10_000
# SageMaker endpoint names: letters, digits and hyphens. Models and endpoint configs are named
# "<endpoint>-v<N>-<8 hex>" within SageMaker's 63 characters, which leaves 46 for the
# endpoint (room for six-digit versions), and the deploy Lambda's role is scoped to
# "<endpoint>-v*".
MAX_ENDPOINT_NAME = 46
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# On every model, endpoint config and endpoint the project deploys: `endpoints list|cleanup`
# never touch an endpoint without it.
MARKER_KEY = "pipeline-deploy"


class DeploymentSettings(Section):
    # Empty in pipeline.toml: "<[pipeline].name>-endpoint".
    endpoint_name: str = Field(default="", validate_default=True)
    # Empty in pipeline.toml: [instances].inference_type.
    instance_type: str = Field(default="", validate_default=True)
    initial_instance_count: Annotated[int, between(1, 100)] = 1
    deploy_on_approval: bool = True
    # CloudWatch keeps 1-hour data points for 455 days.
    idle_hours: Annotated[float, between(1, 24 * 455)] = 24.0
    serve_host: str = "127.0.0.1"
    serve_port: Annotated[int, between(0, 65535)] = 8080
    max_payload_bytes: Annotated[int, between(1, 100 * 1024 * 1024)] = DEFAULT_MAX_PAYLOAD_BYTES
    serve_threads: Annotated[int, between(1, 64)] = 8
    # The whole request, headers and body, whatever the client's pace.
    serve_request_timeout_seconds: Annotated[float, between(0.1, 3600)] = 30.0
    serve_max_connections: Annotated[int, between(1, 10_000)] = 256
    max_extracted_bytes: Annotated[int, between(1, 1024**4)] = DEFAULT_MAX_EXTRACTED_BYTES
    max_extracted_files: Annotated[int, between(1, 10_000_000)] = DEFAULT_MAX_EXTRACTED_FILES

    @field_validator("endpoint_name")
    @classmethod
    def _endpoint_name(cls, value: str, info: ValidationInfo) -> str:
        config = project(info)
        derived = not value and config is not None
        if derived:
            value = f"{config.pipeline.name}-endpoint"
        if value and (not _ENDPOINT_NAME.match(value) or len(value) > MAX_ENDPOINT_NAME):
            origin = " (from [pipeline].name; set endpoint_name to choose another)"
            raise ValueError(
                f"{value!r}{origin if derived else ''} is not a usable endpoint name (letters, "
                f"digits and hyphens, at most {MAX_ENDPOINT_NAME} characters, no leading or "
                "trailing hyphen)"
            )
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str, info: ValidationInfo) -> str:
        config = project(info)
        value = value or (config.instances.inference_type if config else "")
        if value and not value.startswith("ml."):
            raise ValueError(f"{value!r} is not a SageMaker instance type (e.g. ml.m5.large)")
        return value


def load_deployment(config: ProjectConfig) -> DeploymentSettings:
    return config.sections.deployment


def deploy_tags(config: ProjectConfig) -> dict[str, str]:
    """Project tags plus the marker `endpoints list|cleanup` looks for."""
    return {**config.aws.tags, MARKER_KEY: config.pipeline.name}


def deploy_function_name(config: ProjectConfig) -> str:
    return f"{config.pipeline.name}-deploy-model"

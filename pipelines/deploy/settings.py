"""`[deployment]` from pipeline.toml: parsed, defaulted and validated.

The section is optional; every key has a default. Errors name the offending key, e.g.
"[deployment].serve_port must be between 0 and 65535, got 70000".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.config import ConfigError, ProjectConfig

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


@dataclass(frozen=True)
class DeploymentSettings:
    endpoint_name: str
    instance_type: str
    initial_instance_count: int = 1
    deploy_on_approval: bool = True
    idle_hours: float = 24.0
    serve_host: str = "127.0.0.1"
    serve_port: int = 8080
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    serve_threads: int = 8
    serve_request_timeout_seconds: float = 30.0
    serve_max_connections: int = 256
    max_extracted_bytes: int = DEFAULT_MAX_EXTRACTED_BYTES
    max_extracted_files: int = DEFAULT_MAX_EXTRACTED_FILES


def load_deployment(config: ProjectConfig) -> DeploymentSettings:
    raw = config.extra.get("deployment", {})
    if not isinstance(raw, Mapping):
        raise ConfigError("[deployment] must be a table")
    known = set(DeploymentSettings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) in [deployment]: {', '.join(unknown)}")

    def get(key: str, kind: type, default: Any) -> Any:
        value = raw.get(key, default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (kind is not bool and isinstance(value, bool)) or not isinstance(value, kind):
            raise ConfigError(f"[deployment].{key} must be {kind.__name__}, got {value!r}")
        return value

    def between(key: str, kind: type, default: Any, low: float, high: float) -> Any:
        value = get(key, kind, default)
        if not low <= value <= high:
            raise ConfigError(f"[deployment].{key} must be between {low} and {high}, got {value}")
        return value

    endpoint_name = get("endpoint_name", str, "") or f"{config.pipeline.name}-endpoint"
    if not _ENDPOINT_NAME.match(endpoint_name) or len(endpoint_name) > MAX_ENDPOINT_NAME:
        raise ConfigError(
            f"[deployment].endpoint_name {endpoint_name!r} is not a usable endpoint name "
            f"(letters, digits and hyphens, at most {MAX_ENDPOINT_NAME} characters, no "
            "leading or trailing hyphen)"
        )
    instance_type = get("instance_type", str, "") or config.instances.inference_type
    if not instance_type.startswith("ml."):
        raise ConfigError(
            f"[deployment].instance_type {instance_type!r} is not a SageMaker instance type "
            "(e.g. ml.m5.large)"
        )
    host = get("serve_host", str, "127.0.0.1")
    return DeploymentSettings(
        endpoint_name=endpoint_name,
        instance_type=instance_type,
        initial_instance_count=between("initial_instance_count", int, 1, 1, 100),
        deploy_on_approval=get("deploy_on_approval", bool, True),
        # CloudWatch keeps 1-hour data points for 455 days.
        idle_hours=between("idle_hours", float, 24.0, 1, 24 * 455),
        serve_host=host,
        serve_port=between("serve_port", int, 8080, 0, 65535),
        max_payload_bytes=between(
            "max_payload_bytes", int, DEFAULT_MAX_PAYLOAD_BYTES, 1, 100 * 1024 * 1024
        ),
        serve_threads=between("serve_threads", int, 8, 1, 64),
        # The whole request, headers and body, whatever the client's pace.
        serve_request_timeout_seconds=between(
            "serve_request_timeout_seconds", float, 30.0, 0.1, 3600
        ),
        serve_max_connections=between("serve_max_connections", int, 256, 1, 10_000),
        max_extracted_bytes=between(
            "max_extracted_bytes", int, DEFAULT_MAX_EXTRACTED_BYTES, 1, 1024**4
        ),
        max_extracted_files=between(
            "max_extracted_files", int, DEFAULT_MAX_EXTRACTED_FILES, 1, 10_000_000
        ),
    )


def deploy_tags(config: ProjectConfig) -> dict[str, str]:
    """Project tags plus the marker `endpoints list|cleanup` looks for."""
    return {**config.aws.tags, MARKER_KEY: config.pipeline.name}


def deploy_function_name(config: ProjectConfig) -> str:
    return f"{config.pipeline.name}-deploy-model"

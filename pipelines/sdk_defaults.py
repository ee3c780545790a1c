"""Which SageMaker Python SDK config.yaml files ("intelligent defaults") a build honours.

The SDK reads an administrator's file, then a user's (SAGEMAKER_ADMIN_CONFIG_OVERRIDE and
SAGEMAKER_USER_CONFIG_OVERRIDE, else its default paths, platformdirs' site and user config
folders + sagemaker/config.yaml): VPC, KMS keys, tags, environment, ... for processing and
training jobs, and tags for the pipeline. pipelines/sdk.py loads them with the SDK's own
loader; this module only names them, without importing the SDK, so that the definition
cache (pipelines/definition_cache.py) can key on their content.

Opt out: PIPELINE_SDK_DEFAULTS=ignore builds as if there were no config.yaml.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

IGNORE_VARIABLE = "PIPELINE_SDK_DEFAULTS"
IGNORE_VALUE = "ignore"
ADMIN_OVERRIDE = "SAGEMAKER_ADMIN_CONFIG_OVERRIDE"
USER_OVERRIDE = "SAGEMAKER_USER_CONFIG_OVERRIDE"
_APP_NAME = "sagemaker"
_FILE_NAME = "config.yaml"


def honoured(environ: Mapping[str, str] | None = None) -> bool:
    """False when the user opted out (PIPELINE_SDK_DEFAULTS=ignore)."""
    environ = os.environ if environ is None else environ
    return environ.get(IGNORE_VARIABLE, "").strip().lower() != IGNORE_VALUE


def sources(environ: Mapping[str, str] | None = None) -> list[str]:
    """The admin then the user config the SDK reads: files, folders or s3:// URIs."""
    from platformdirs import site_config_dir, user_config_dir

    environ = os.environ if environ is None else environ
    return [
        environ.get(ADMIN_OVERRIDE, os.path.join(site_config_dir(_APP_NAME), _FILE_NAME)),
        environ.get(USER_OVERRIDE, os.path.join(user_config_dir(_APP_NAME), _FILE_NAME)),
    ]


def fingerprint(environ: Mapping[str, str] | None = None) -> bytes:
    """What changes when the defaults a build would apply may change."""
    if not honoured(environ):
        return b"ignored"
    digest = hashlib.sha256()
    for source in sources(environ):
        digest.update(source.encode() + b"\0")
        path = Path(source)
        if path.is_dir():
            path = path / _FILE_NAME
        # An S3 config is keyed by its URI only: reading it would be a network call.
        if not source.startswith("s3://") and path.is_file():
            digest.update(path.read_bytes())
    return digest.digest()

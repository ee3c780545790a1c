"""SageMaker Pipelines retraining project: definition, local engine and AWS tooling.

From a notebook: `pipelines.get_pipeline(...)` builds the pipeline (the AWS MLOps project
template's arguments: region, role, default_bucket, pipeline_name, ...) and
`pipelines.publish(...)` uploads its code, Lambda zips and sample, then upserts it.
"""

from __future__ import annotations

from typing import Any

# Loaded on first use (PEP 562): both import the SageMaker SDK, which every other entry point of the
# package (the CLI's local commands, the container-side helpers) must not pay for.
_LAZY = {"get_pipeline": "pipelines.definition", "publish": "pipelines.publishing"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")

"""Reuse a built definition while nothing that shapes it has changed.

Importing the SageMaker SDK alone takes seconds, which would dominate a fully cached local
rerun. The definition is a pure function of the code that builds it, the configuration,
the job code and the SDK version (the definition tests prove builds are byte-identical), so
it is stored under a fingerprint of exactly those inputs and rebuilt when any of them moves.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import metadata
from pathlib import Path

from pipelines import sdk_defaults
from pipelines.code_assets import ProjectCode, project_code
from pipelines.config import ProjectConfig

# The modules whose source decides what get_pipeline() emits.
_BUILDER_MODULES = (
    "definition.py",
    "sdk.py",
    "code_assets.py",
    "config.py",
    "settings/drift.py",
    "sdk_defaults.py",
)


def fingerprint(config: ProjectConfig, target: str, code: ProjectCode) -> str:
    digest = hashlib.sha256()
    package_dir = Path(__file__).parent
    for module in _BUILDER_MODULES:
        digest.update(module.encode() + b"\0" + (package_dir / module).read_bytes())
    digest.update(repr(config).encode())
    digest.update(target.encode())
    for asset in code.all():
        digest.update(f"{asset.name}:{asset.digest}".encode())
    digest.update(metadata.version("sagemaker").encode())
    # The SDK's config.yaml defaults enter the definition (VPC, KMS keys, tags).
    digest.update(sdk_defaults.fingerprint())
    return digest.hexdigest()[:24]


def load_definition(
    config: ProjectConfig, target: str = "local", code: ProjectCode | None = None
) -> tuple[str, ProjectCode]:
    """The definition JSON for `target` and the code it references, built only on a miss."""
    code = code or project_code(config)
    path = config.local_home / "definitions" / f"{target}-{fingerprint(config, target, code)}.json"
    if path.is_file():
        return path.read_text(encoding="utf-8"), code

    from pipelines.definition import definition_json  # the slow SDK import, only on a miss

    text = definition_json(config, target, code)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a concurrent reader never sees half a document.
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
        ) as handle:
            handle.write(text)
        os.replace(handle.name, path)
    except OSError:
        pass  # a read-only or uncreatable home: the next command builds it again
    return text, code

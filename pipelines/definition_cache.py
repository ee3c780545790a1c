"""Reuse a built definition while nothing that shapes it has changed.

Importing the SageMaker SDK alone takes seconds, which would dominate a fully cached local
rerun. The definition is a pure function of the code that builds it, the configuration,
the job code and the SDK version (the definition tests prove builds are byte-identical), so
it is stored under a fingerprint of exactly those inputs and rebuilt when any of them moves.

Job code enters the definition only as content-addressed URIs (code_assets: `.../code/
<digest>/<file>`; the SDK never reads an s3:// code location). So an edit to a job script,
with the builder, configuration and SDK unchanged, needs no rebuild: the last definition
built for that shape gets the new URIs in place of the old ones (no SDK import), which is
byte for byte what a build would emit (tests/test_definition_cache.py). The shape's record
(`<target>-<shape>.uris.json`) names that definition and the URIs it holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

from pipelines import sdk_defaults
from pipelines.code_assets import ProjectCode, code_uri, project_code
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


def shape_fingerprint(config: ProjectConfig, target: str) -> str:
    """Everything the definition depends on except the job code's content."""
    digest = hashlib.sha256()
    package_dir = Path(__file__).parent
    for module in _BUILDER_MODULES:
        digest.update(module.encode() + b"\0" + (package_dir / module).read_bytes())
    digest.update(repr(config).encode())
    digest.update(target.encode())
    digest.update(metadata.version("sagemaker").encode())
    # The SDK's config.yaml defaults enter the definition (VPC, KMS keys, tags).
    digest.update(sdk_defaults.fingerprint())
    return digest.hexdigest()[:24]


def fingerprint(config: ProjectConfig, target: str, code: ProjectCode) -> str:
    digest = hashlib.sha256(shape_fingerprint(config, target).encode())
    for asset in code.all():
        digest.update(f"{asset.name}:{asset.digest}".encode())
    return digest.hexdigest()[:24]


def load_definition(
    config: ProjectConfig, target: str = "local", code: ProjectCode | None = None
) -> tuple[str, ProjectCode]:
    """The definition JSON for `target` and the code it references, built only on a miss."""
    code = code or project_code(config)
    folder = config.local_home / "definitions"
    path = folder / f"{target}-{fingerprint(config, target, code)}.json"
    if path.is_file():
        return path.read_text(encoding="utf-8"), code

    uris = {asset.name: code_uri(asset, config, config.target(target)) for asset in code.all()}
    record = folder / f"{target}-{shape_fingerprint(config, target)}.uris.json"
    text = _with_new_uris(record, uris)
    if text is None:
        from pipelines.definition import definition_json  # the slow SDK import, only on a miss

        text = definition_json(config, target, code)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(path, text)
        _write(record, json.dumps({"definition": path.name, "uris": uris}))
    except OSError:
        pass  # a read-only or uncreatable home: the next command builds it again
    return text, code


def _with_new_uris(record: Path, uris: dict[str, str]) -> str | None:
    """The definition last built for this shape with `uris` in place of its code URIs, or
    None when there is none (or it does not hold every URI it was recorded with)."""
    try:
        built = json.loads(record.read_text(encoding="utf-8"))
        text = (record.parent / built["definition"]).read_text(encoding="utf-8")
        old = built["uris"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(old, dict) or set(old) != set(uris):
        return None
    if any(not isinstance(uri, str) or uri not in text for uri in old.values()):
        return None
    # Each URI ends in its asset's own file name, so no new URI equals another's old one.
    for name, uri in old.items():
        text = text.replace(uri, uris[name])
    return text


def _write(path: Path, text: str) -> None:
    # Write then rename, so a concurrent reader never sees half a document.
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
    ) as handle:
        handle.write(text)
    os.replace(handle.name, path)

"""SageMaker manifest files (`S3DataType=ManifestFile`), read from the local store.

The format (S3DataSource / ProcessingS3Input in the SageMaker API reference): a JSON array
whose first element is `{"prefix": "s3://bucket/common/prefix/"}` and whose other elements are
keys relative to that prefix; SageMaker appends each to the prefix to get the objects the
channel reads, and each must exist and be readable. A job places every object below the
channel's local path by that relative key.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.local.storage import ArtifactStore, StoreError, parse_uri

_MISSING_SHOWN = 3


class ManifestError(ValueError):
    """The manifest is missing, malformed or lists objects that do not exist."""


def manifest_objects(store: ArtifactStore, uri: str) -> list[tuple[str, str]]:
    """(object URI, relative key) for every object the manifest at `uri` lists, in order."""
    try:
        data = store.read_bytes(uri)
    except StoreError:
        raise ManifestError(f"the manifest file {uri} does not exist") from None
    try:
        document: Any = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"the manifest file {uri} is not valid JSON: {exc}") from None
    head = document[0] if isinstance(document, list) and document else None
    prefix = head.get("prefix") if isinstance(head, dict) else None
    if not isinstance(prefix, str) or not prefix.startswith("s3://"):
        raise ManifestError(
            f'the manifest file {uri} must be a JSON array starting with {{"prefix": '
            f'"s3://bucket/prefix/"}}, got {str(document)[:120]}'
        )
    try:
        parse_uri(prefix)
    except StoreError as exc:
        raise ManifestError(f"the manifest file {uri}: prefix {exc}") from None
    objects = []
    for position, relative in enumerate(document[1:], start=1):
        if not isinstance(relative, str) or not relative:
            raise ManifestError(
                f"the manifest file {uri}: element {position} must be a non-empty key relative "
                f"to the prefix, got {relative!r}"
            )
        objects.append((prefix + relative, relative))
    return objects


def missing_objects(store: ArtifactStore, objects: list[tuple[str, str]]) -> list[str]:
    """The listed objects that are not in the store (or whose keys the store refuses)."""
    missing = []
    for object_uri, _ in objects:
        try:
            present = store.path_for(object_uri).is_file()
        except StoreError:
            present = False
        if not present:
            missing.append(object_uri)
    return missing


def describe_missing(uri: str, missing: list[str]) -> str:
    shown = ", ".join(missing[:_MISSING_SHOWN])
    more = f" and {len(missing) - _MISSING_SHOWN} more" if len(missing) > _MISSING_SHOWN else ""
    count = len(missing)
    return f"the manifest file {uri} lists {count} object(s) that do not exist: {shown}{more}"

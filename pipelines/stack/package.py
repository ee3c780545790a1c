"""What the stack needs in S3 before CloudFormation runs: uploaded content-addressed.

The job code the definition points at, the Lambda functions' zips, the bundled sample (the
definition's default input), the NO_CHAMPION marker, and the template itself (CloudFormation
reads templates over 51,200 bytes from S3 only). Every key is derived from the content, so
an upload never replaces an object another deployment still uses, and an object already
there with the same bytes is not sent again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipelines import arns
from pipelines.code_assets import (
    NO_CHAMPION_MARKER,
    code_uri,
    no_champion_uri,
    sample_data_uri,
)
from pipelines.stack.context import StackContext

DIGEST_LENGTH = 16


@dataclass(frozen=True)
class S3Object:
    uri: str
    data: bytes

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("s3://").partition("/")[0]

    @property
    def key(self) -> str:
        return self.uri.removeprefix("s3://").partition("/")[2]


@dataclass
class Uploaded:
    sent: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def artifacts(ctx: StackContext) -> list[S3Object]:
    """Everything the template and the definition reference, besides the template."""
    config, target = ctx.config, ctx.target
    objects = [
        S3Object(code_uri(asset, config, target), asset.data) for asset in ctx.job_code.all()
    ]
    objects += [
        S3Object(f"s3://{ctx.bucket}/{function.key(ctx.s3_prefix)}", function.package.data)
        for function in ctx.functions.values()
    ]
    objects.append(S3Object(sample_data_uri(config, target), config.sample_data_path.read_bytes()))
    objects.append(S3Object(no_champion_uri(config, target) + NO_CHAMPION_MARKER, b""))
    return objects


def template_object(ctx: StackContext, name: str, body: str) -> S3Object:
    data = body.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()[:DIGEST_LENGTH]
    return S3Object(f"s3://{ctx.bucket}/{ctx.s3_prefix}/stack/{digest}/{name}", data)


def template_url(obj: S3Object, region: str) -> str:
    """The HTTPS URL CloudFormation reads a template from (virtual-hosted style)."""
    return f"https://{obj.bucket}.s3.{region}.{arns.dns_suffix(region)}/{obj.key}"


def upload(s3: Any, objects: Iterable[S3Object]) -> Uploaded:
    result = Uploaded()
    for obj in objects:
        (result.sent if upload_if_changed(s3, obj) else result.unchanged).append(obj.uri)
    return result


def upload_if_changed(s3: Any, obj: S3Object) -> bool:
    """Put the object unless an identical one is already there. True if uploaded."""
    try:
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key)
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
    else:
        # Single-part uploads have the MD5 as their ETag.
        if (
            head["ContentLength"] == len(obj.data)
            and head["ETag"].strip('"') == hashlib.md5(obj.data, usedforsecurity=False).hexdigest()
        ):
            return False
    s3.put_object(Bucket=obj.bucket, Key=obj.key, Body=obj.data)
    return True

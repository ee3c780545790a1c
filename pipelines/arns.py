"""ARNs in the region's partition (`aws`, `aws-cn`, `aws-us-gov`, ...).

The partition comes from botocore's own partition table (`botocore/data/partitions.json`:
explicit regions first, then each partition's region pattern), read as data: importing
botocore costs most of a second here, and local commands that only format ARNs must not
pay for it.

SageMaker names resources in ARNs in lower case (`ListPipelines` returns
`.../pipeline/abalonepipeline` for the pipeline `AbalonePipeline`, as in the AWS CLI
reference output), while the pipeline and model package group *names* keep their case.
Code that matches or grants on such an ARN therefore must not depend on its case:
`name_arns()` gives both spellings for IAM policies, and event patterns compare ARNs with
`equals-ignore-case`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

DEFAULT_PARTITION = "aws"


@functools.cache
def _partitions() -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(next(iter(spec.submodule_search_locations))) / "data" / "partitions.json"
    try:
        return json.loads(data.read_text(encoding="utf-8"))["partitions"]
    except (OSError, ValueError, KeyError):
        return []


def partition(region: str) -> str:
    """The partition a region belongs to, as botocore resolves it ("aws" if unknown)."""
    partitions = _partitions()
    for entry in partitions:
        if region in (entry.get("regions") or {}):
            return entry["id"]
    for entry in partitions:
        if re.match(entry.get("regionRegex", "$^"), region):
            return entry["id"]
    return DEFAULT_PARTITION


def dns_suffix(region: str) -> str:
    """The region's domain (amazonaws.com, amazonaws.com.cn, ...), as botocore resolves it."""
    wanted = partition(region)
    for entry in _partitions():
        if entry.get("id") == wanted:
            return entry.get("outputs", {}).get("dnsSuffix", "amazonaws.com")
    return "amazonaws.com"


def arn(service: str, region: str, account: str, resource: str, *, regional: bool = True) -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>` (IAM: no region)."""
    where = region if regional else ""
    return f"arn:{partition(region)}:{service}:{where}:{account}:{resource}"


def sagemaker_arn(region: str, account: str, kind: str, name: str, *rest: str) -> str:
    """A SageMaker resource ARN in SageMaker's own spelling: the name lower-cased."""
    return arn("sagemaker", region, account, "/".join([kind, name.lower(), *rest]))


def name_arns(region: str, account: str, kind: str, name: str, *rest: str) -> list[str]:
    """Both spellings of a SageMaker resource ARN (the name as given and lower-cased), for
    IAM policies: IAM compares resource ARNs case-sensitively."""
    given = arn("sagemaker", region, account, "/".join([kind, name, *rest]))
    canonical = sagemaker_arn(region, account, kind, name, *rest)
    return sorted({given, canonical})

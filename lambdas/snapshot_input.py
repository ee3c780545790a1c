"""Lambda: freeze what InputDataUrl names into an immutable, content-addressed snapshot.

Runs as the pipeline's SnapshotInput LambdaStep (on AWS Lambda, or in the local engine against
its artifact store, which answers the same S3 calls). SageMaker's step cache compares a
step's request, never the data behind an S3 URI, so Preprocess reads a SageMaker manifest
whose key is derived from the objects' keys, sizes and ETags: the same data gives the same
request (a cache hit), a new or changed object gives a new manifest URI (a new request, a
retrain). Input event:

    {"InputDataUrl": "s3://bucket/key-or-folder", "InputPartitionWindow": 0,
     "SnapshotPrefix": "s3://bucket/<prefix>/snapshots/"}

What InputDataUrl names: the object with exactly that key, if there is one; otherwise the
folder `<key>/` (every object below it, at any depth; the bucket root for an empty key).
In a folder, only data objects count: names ending in .csv, .csv.gz, .parquet or .pq (what
Preprocess reads), outside folders or files whose name starts with "." or "_" (hidden
files, `_SUCCESS` markers, `_temporary/` and `.spark-staging/` work folders); folder markers
(keys ending in "/") and every other name (temporary `*.part`/`*.tmp` uploads, README.txt)
are ignored and counted in the record. InputPartitionWindow = N > 0 keeps only the N newest
dated partitions: folders named `<name>=YYYY-MM-DD` (or `=YYYYMMDD`), `YYYY-MM-DD`, or the
three levels `YYYY/MM/DD` (or `year=YYYY/month=MM/day=DD`); objects in no dated partition
are then left out. 0 keeps everything.

Writes, under SnapshotPrefix + fingerprint + "/", `manifest.json` (SageMaker's ManifestFile
format: `[{"prefix": "s3://bucket/common/prefix/"}, "relative/key", ...]`) and
`snapshot.json` (the record: objects with sizes and ETags, counts, bytes, fingerprint, when it
was first taken). Both are written once: a snapshot that already exists is reused as is.

Output parameters: ManifestUri, SnapshotUri, Fingerprint (strings), ObjectCount and
TotalBytes (integers). No data object at all is an error naming the URI.

Self-contained: only the standard library and botocore (boto3's core; both in the Lambda
Python runtime).
Permissions: s3:ListBucket on the input location and the snapshot prefix, s3:PutObject on
the snapshot prefix.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import re

import botocore.session
from botocore.exceptions import ClientError

DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
MANIFEST_NAME = "manifest.json"
RECORD_NAME = "snapshot.json"
FINGERPRINT_LENGTH = 32
IGNORED_EXAMPLES = 20
# A dated partition folder: name=YYYY-MM-DD/ (or name=YYYYMMDD/), YYYY-MM-DD/, YYYY/MM/DD/
# and year=YYYY/month=MM/day=DD/. Only folders count, never a file name.
_DATE_FOLDER = re.compile(
    r"(?:^|/)(?:[A-Za-z_][\w.-]*=)?(?P<y1>\d{4})-?(?P<m1>\d{2})-?(?P<d1>\d{2})/"
    r"|(?:^|/)(?:year=)?(?P<y2>\d{4})/(?:month=)?(?P<m2>\d{1,2})/(?:day=)?(?P<d2>\d{1,2})/"
)


@functools.cache
def _client(service: str):
    """The environment's client for `service`, made at its first invocation and reused by the
    later ones (Lambda's best practices: "Take advantage of execution environment reuse",
    initialize SDK clients once, not per invocation); a warm invocation no longer pays ~10 ms
    for a new client. botocore's own session, not boto3's: the same client, calls and errors
    (boto3.client is a wrapper around it), without importing boto3 (its resources, its
    session) or registering its handlers, which this function never uses: about 0.1 CPU s
    less of every cold start, measured on the local engine (import and client)."""
    return _session().create_client(service)


@functools.cache
def _session():
    return botocore.session.get_session()


class SnapshotError(Exception):
    """The input cannot be snapshotted; the message names the URI and why."""


def handler(event: dict, context: object) -> dict:
    source = str(event.get("InputDataUrl") or "")
    window = _window(event.get("InputPartitionWindow", 0))
    bucket, key = _split(source, "InputDataUrl")
    snapshot_bucket, snapshot_key = _split(str(event["SnapshotPrefix"]), "SnapshotPrefix")
    s3 = _client("s3")

    exact = _exact_object(s3, bucket, key)
    if exact is not None:
        folder = key.rpartition("/")[0]
        prefix = f"{folder}/" if folder else ""
        objects, ignored = [exact], []
    else:
        prefix = f"{key.rstrip('/')}/" if key.strip("/") else ""
        objects, ignored = _data_objects(_list(s3, bucket, prefix), prefix)
    partitions = None
    if window:
        objects, partitions, outside = _newest_partitions(objects, prefix, window, source)
        ignored += outside
    if not objects:
        raise SnapshotError(_nothing_found(source, ignored))

    entries = sorted(
        (
            {
                "key": o["Key"][len(prefix) :],
                "size": o["Size"],
                "etag": o["ETag"],
                "last_modified": _iso(o["LastModified"]),
            }
            for o in objects
        ),
        key=lambda entry: entry["key"],
    )
    manifest_prefix = f"s3://{bucket}/{prefix}"
    fingerprint = _fingerprint(manifest_prefix, entries)
    folder = f"{snapshot_key.rstrip('/')}/{fingerprint}/"
    manifest_uri = f"s3://{snapshot_bucket}/{folder}{MANIFEST_NAME}"
    record_uri = f"s3://{snapshot_bucket}/{folder}{RECORD_NAME}"
    total_bytes = sum(entry["size"] for entry in entries)
    existing = {o["Key"] for o in _list(s3, snapshot_bucket, folder)}
    if {folder + MANIFEST_NAME, folder + RECORD_NAME} - existing:
        record = {
            "fingerprint": fingerprint,
            "source": source,
            "partition_window": window,
            "partitions": partitions,
            "manifest": manifest_uri,
            "prefix": manifest_prefix,
            "object_count": len(entries),
            "total_bytes": total_bytes,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "objects": entries,
            "ignored": {"count": len(ignored), "examples": ignored[:IGNORED_EXAMPLES]},
        }
        # The record first: a manifest that exists always has its record beside it.
        _put_json(s3, snapshot_bucket, folder + RECORD_NAME, record, indent=1)
        manifest = [{"prefix": manifest_prefix}, *(entry["key"] for entry in entries)]
        _put_json(s3, snapshot_bucket, folder + MANIFEST_NAME, manifest)
    return {
        "ManifestUri": manifest_uri,
        "SnapshotUri": record_uri,
        "Fingerprint": fingerprint,
        "ObjectCount": len(entries),
        "TotalBytes": total_bytes,
    }


def _window(value: object) -> int:
    try:
        window = int(str(value).strip())
    except ValueError:
        raise SnapshotError(f"InputPartitionWindow must be an integer, got {value!r}") from None
    if window < 0:
        raise SnapshotError(
            f"InputPartitionWindow must be 0 (every object) or a number of newest dated "
            f"partitions, got {window}"
        )
    return window


def _split(uri: str, name: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise SnapshotError(f"{name} must be an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _exact_object(s3, bucket: str, key: str) -> dict | None:
    """The object whose key is exactly `key`, found by listing (no s3:GetObject needed)."""
    if not key or key.endswith("/"):
        return None
    try:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    except ClientError as error:
        raise _listing_error(f"s3://{bucket}/{key}", error) from None
    found = page.get("Contents") or []
    return found[0] if found and found[0]["Key"] == key else None


def _list(s3, bucket: str, prefix: str) -> list[dict]:
    objects = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects.extend(page.get("Contents") or [])
    except ClientError as error:
        raise _listing_error(f"s3://{bucket}/{prefix}", error) from None
    return objects


def _listing_error(uri: str, error: ClientError) -> SnapshotError:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", str(error))
    hint = " (the function's role needs s3:ListBucket there)" if code == "AccessDenied" else ""
    return SnapshotError(f"cannot list {uri}: {code}: {message}{hint}")


def _data_objects(objects: list[dict], prefix: str) -> tuple[list[dict], list[dict]]:
    kept, ignored = [], []
    for item in objects:
        relative = item["Key"][len(prefix) :]
        reason = _ignore_reason(relative)
        if reason:
            ignored.append({"key": relative, "reason": reason})
        else:
            kept.append(item)
    return kept, ignored


def _ignore_reason(relative: str) -> str | None:
    if not relative or relative.endswith("/"):
        return "folder marker"
    parts = relative.split("/")
    if any(part.startswith((".", "_")) for part in parts):
        return "hidden or temporary name (a path part starts with '.' or '_')"
    if not parts[-1].lower().endswith(DATA_SUFFIXES):
        return f"not a data file ({', '.join(DATA_SUFFIXES)})"
    return None


def partition_date(relative: str) -> datetime.date | None:
    """The date of the first dated partition folder in a key relative to the input folder."""
    for match in _DATE_FOLDER.finditer(relative):
        form = "1" if match.group("y1") else "2"
        year, month, day = (int(match.group(part + form)) for part in "ymd")
        try:
            return datetime.date(year, month, day)
        except ValueError:
            continue
    return None


def _newest_partitions(
    objects: list[dict], prefix: str, window: int, source: str
) -> tuple[list[dict], list[str], list[dict]]:
    dated = [(partition_date(o["Key"][len(prefix) :]), o) for o in objects]
    dates = sorted({day for day, _ in dated if day is not None}, reverse=True)
    if objects and not dates:
        raise SnapshotError(
            f"InputPartitionWindow={window}, but no data object under {source} is in a dated "
            "partition folder (dt=YYYY-MM-DD/, YYYY-MM-DD/ or YYYY/MM/DD/); use 0 for every "
            "object"
        )
    chosen = set(dates[:window])
    kept = [o for day, o in dated if day in chosen]
    outside = [
        {"key": o["Key"][len(prefix) :], "reason": f"outside the newest {window} partition(s)"}
        for day, o in dated
        if day not in chosen
    ]
    return kept, [day.isoformat() for day in sorted(chosen)], outside


def _fingerprint(manifest_prefix: str, entries: list[dict]) -> str:
    """Changes exactly when the manifest or any listed object's content would."""
    canonical = json.dumps(
        {"prefix": manifest_prefix, "objects": [[e["key"], e["size"], e["etag"]] for e in entries]},
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:FINGERPRINT_LENGTH]


def _nothing_found(source: str, ignored: list[dict]) -> str:
    message = f"no data objects found at {source} (InputDataUrl)"
    if ignored:
        examples = "; ".join(f"{i['key']}: {i['reason']}" for i in ignored[:3])
        message += f": {len(ignored)} object(s) ignored ({examples})"
    else:
        message += ": no object has this key and the folder below it is empty"
    return message


def _put_json(s3, bucket: str, key: str, document: object, indent: int | None = None) -> None:
    body = json.dumps(document, indent=indent, sort_keys=isinstance(document, dict)).encode()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        raise SnapshotError(f"cannot write s3://{bucket}/{key}: {code}: {message}") from None


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime.datetime) else str(value)

"""The local artifact store behind S3's REST API, for function code that calls boto3 itself.

The SnapshotInput Lambda lists and writes objects with `boto3.client("s3")`. In a local
execution environment every AWS endpoint points at the local API server, and this answers
its S3 requests (path-style, as botocore sends them to a custom endpoint) in S3's wire
format from the `ArtifactStore`: ListObjectsV2 (prefix, delimiter, max-keys, continuation
tokens, start-after, `encoding-type=url`), PutObject (Content-MD5 and CRC32/SHA checksums
verified, aws-chunked bodies decoded), GetObject, HeadObject and HeadBucket. ETags follow
S3 for single-part objects: the MD5 of the bytes in hex, in double quotes. A bucket exists
when the store has its folder; keys the store refuses (`..`, absolute) are refused here too.
Anything else is answered with NotImplemented naming what is served.

PutObject's conditional writes behave as S3 documents them (User Guide, "How to prevent
object overwrites with conditional writes"; API reference, PutObject): `If-None-Match: *`
writes only if no object has the key (else 412 PreconditionFailed), `If-Match: <ETag>` only
if the object exists (else 404 NoSuchKey) with that ETag (else 412). The test and the write
are one step for every writer of this API: each PUT holds an exclusive lock (`flock`, so
several engine processes and Lambda environments sharing the store agree), which is what
makes a claim written with them (lambdas/resolve_champion.py) hold locally as it does on S3.
Writes the engine makes to the store directly do not take it: none of them is conditional.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import secrets
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from xml.etree import ElementTree

from pipelines.local.storage import ArtifactStore, StoreError

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000
SERVED = "ListObjectsV2, PutObject, GetObject, HeadObject and HeadBucket"
# In the store's root, where no bucket can be (a bucket name cannot start with a dot).
WRITE_LOCK = ".s3-api-writes.lock"
PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold"
_CHECKSUMS = {
    "x-amz-checksum-sha1": lambda data: hashlib.sha1(data, usedforsecurity=False).digest(),
    "x-amz-checksum-sha256": lambda data: hashlib.sha256(data).digest(),
    "x-amz-checksum-crc32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
}


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


class S3Api:
    """One request in (method, raw path with query, headers, body), one Response out."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        request_id = secrets.token_hex(8).upper()
        try:
            response = self._route(method, target, {k.lower(): v for k, v in headers.items()}, body)
        except S3Error as error:
            response = _error(error, request_id, with_body=method != "HEAD")
        response.headers.setdefault("x-amz-request-id", request_id)
        return response

    def _route(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        parts = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        bucket, _, key = urllib.parse.unquote(parts.path).lstrip("/").partition("/")
        if not bucket:
            raise _not_implemented(f"{method} / (ListBuckets)")
        if not key:
            if method == "GET" and query.get("list-type") == ["2"]:
                return self.list_objects_v2(bucket, query)
            if method == "HEAD" and not query:
                self._bucket(bucket)
                return Response(200, {"Content-Length": "0"})
            raise _not_implemented(
                f"{method} on bucket {bucket} with {sorted(query) or 'no'} query"
            )
        if query:
            # Sub-resources (?tagging, ?acl, ?uploads, ...) are other operations.
            raise _not_implemented(f"{method} on {key} with ?{'&'.join(sorted(query))}")
        if method == "PUT":
            if "x-amz-copy-source" in headers:
                raise _not_implemented("CopyObject")
            return self.put_object(bucket, key, headers, body)
        if method in ("GET", "HEAD"):
            return self.get_object(bucket, key, with_body=method == "GET")
        raise _not_implemented(f"{method} on an object")

    # -- operations ---------------------------------------------------------------------

    def list_objects_v2(self, bucket: str, query: Mapping[str, list[str]]) -> Response:
        self._bucket(bucket)

        def one(name: str) -> str:
            return (query.get(name) or [""])[0]

        prefix, delimiter, token, start_after = (
            one("prefix"),
            one("delimiter"),
            one("continuation-token"),
            one("start-after"),
        )
        encode = one("encoding-type") == "url"
        try:
            max_keys = min(int(one("max-keys") or MAX_KEYS), MAX_KEYS)
        except ValueError:
            raise S3Error(400, "InvalidArgument", "max-keys must be an integer") from None
        if max_keys < 0:
            raise S3Error(400, "InvalidArgument", "max-keys must not be negative")
        after = ""
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise S3Error(
                    400, "InvalidArgument", "The continuation token provided is incorrect"
                ) from None
        try:
            keys = self.store.object_keys(bucket, prefix)
        except StoreError as exc:
            raise S3Error(400, "InvalidArgument", str(exc)) from None
        # Keys and common prefixes in one sorted sequence (a common prefix sorts where its
        # first key does and before anything after its last), then one page of it.
        entries: list[tuple[str, bool]] = []
        for key in keys:
            if start_after and key <= start_after:
                continue
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            entry = key[: cut + len(delimiter)] if cut >= 0 else key
            if not entries or entries[-1][0] != entry:
                entries.append((entry, cut >= 0))
        if after:
            entries = [e for e in entries if e[0] > after]
        page = entries[:max_keys]
        truncated = 0 < max_keys < len(entries)
        contents = [entry for entry, is_prefix in page if not is_prefix]
        common = [entry for entry, is_prefix in page if is_prefix]
        last = page[-1][0] if page else ""

        root = ElementTree.Element("ListBucketResult", xmlns=NAMESPACE)

        def add(parent: ElementTree.Element, tag: str, text: object) -> None:
            ElementTree.SubElement(parent, tag).text = str(text)

        def encoded(text: str) -> str:
            return urllib.parse.quote(text, safe="/") if encode else text

        add(root, "Name", bucket)
        add(root, "Prefix", encoded(prefix))
        if delimiter:
            add(root, "Delimiter", encoded(delimiter))
        add(root, "MaxKeys", max_keys)
        if encode:
            add(root, "EncodingType", "url")
        add(root, "KeyCount", len(contents) + len(common))
        add(root, "IsTruncated", "true" if truncated else "false")
        if token:
            add(root, "ContinuationToken", token)
        if truncated:
            add(root, "NextContinuationToken", base64.urlsafe_b64encode(last.encode()).decode())
        if start_after:
            add(root, "StartAfter", encoded(start_after))
        for key in contents:
            path = self.store.path_for(f"s3://{bucket}/{key}")
            info = path.stat()
            item = ElementTree.SubElement(root, "Contents")
            add(item, "Key", encoded(key))
            add(item, "LastModified", _iso(info.st_mtime))
            add(item, "ETag", f'"{self.store.etag(path)}"')
            add(item, "Size", info.st_size)
            add(item, "StorageClass", "STANDARD")
        for entry in common:
            add(ElementTree.SubElement(root, "CommonPrefixes"), "Prefix", encoded(entry))
        return _xml(200, root)

    def put_object(
        self, bucket: str, key: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        self._bucket(bucket)
        if "aws-chunked" in headers.get("content-encoding", "") or headers.get(
            "x-amz-content-sha256", ""
        ).startswith("STREAMING-"):
            body = _decode_chunked(body)
        expected_md5 = headers.get("content-md5")
        if expected_md5 and base64.b64decode(expected_md5) != hashlib.md5(body).digest():
            raise S3Error(
                400, "BadDigest", "The Content-MD5 you specified did not match what we received."
            )
        for header, digest in _CHECKSUMS.items():
            claimed = headers.get(header)
            if claimed and base64.b64decode(claimed) != digest(body):
                name = header.removeprefix("x-amz-checksum-").upper()
                raise S3Error(
                    400,
                    "BadDigest",
                    f"The {name} you specified did not match the calculated checksum.",
                )
        uri = self._object_uri(bucket, key)
        if key.endswith("/"):
            raise S3Error(
                400,
                "InvalidArgument",
                f"the local artifact store cannot hold folder-marker keys ({key!r})",
            )
        if_match, if_none_match = headers.get("if-match"), headers.get("if-none-match")
        if if_none_match is not None and if_none_match.strip() != "*":
            # S3 takes only the asterisk here (PutObject: "Expects the '*' character").
            raise _not_implemented(f"If-None-Match: {if_none_match} (only * is accepted)")
        with self._writing():
            path = self.store.path_for(uri)
            if if_match is not None:
                if not path.is_file():
                    raise S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
                if _unquoted(if_match) != self.store.etag(path):
                    raise S3Error(
                        412, "PreconditionFailed", PRECONDITION_FAILED, Condition="If-Match"
                    )
            if if_none_match is not None and path.is_file():
                raise S3Error(
                    412, "PreconditionFailed", PRECONDITION_FAILED, Condition="If-None-Match"
                )
            try:
                self.store.put_bytes(body, uri)
            except StoreError as exc:
                raise S3Error(400, "InvalidArgument", str(exc)) from None
            etag = self.store.etag(path)
        response = Response(200, {"ETag": f'"{etag}"', "Content-Length": "0"})
        for header in _CHECKSUMS:
            if header in headers:
                response.headers[header] = headers[header]
        return response

    def get_object(self, bucket: str, key: str, *, with_body: bool) -> Response:
        self._bucket(bucket)
        path = self.store.path_for(self._object_uri(bucket, key))
        if not path.is_file():
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        info = path.stat()
        headers = {
            "ETag": f'"{self.store.etag(path)}"',
            "Last-Modified": formatdate(info.st_mtime, usegmt=True),
            "Content-Length": str(info.st_size),
            "Content-Type": "binary/octet-stream",
            "Accept-Ranges": "bytes",
        }
        return Response(200, headers, path.read_bytes() if with_body else b"")

    # -- helpers ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One PUT at a time across every process serving this store."""
        with (self.store.root / WRITE_LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _bucket(self, bucket: str) -> None:
        try:
            exists = self.store.bucket_exists(bucket)
        except StoreError:
            exists = False
        if not exists:
            raise S3Error(
                404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket
            )

    def _object_uri(self, bucket: str, key: str) -> str:
        uri = f"s3://{bucket}/{key}"
        try:
            self.store.path_for(uri)
        except StoreError as exc:
            raise S3Error(400, "InvalidArgument", str(exc), Key=key) from None
        return uri


def _unquoted(etag: str) -> str:
    """An ETag as a client sends it, quoted or bare (S3 accepts both) -> the hex digits."""
    return etag.strip().strip('"')


def _not_implemented(what: str) -> S3Error:
    return S3Error(
        501,
        "NotImplemented",
        f"the local S3 API serves {SERVED} only, not {what}",
    )


def _error(error: S3Error, request_id: str, *, with_body: bool) -> Response:
    if not with_body:  # HEAD: the status says it all, as in S3
        return Response(error.status, {"Content-Length": "0"})
    root = ElementTree.Element("Error")
    for tag, text in (("Code", error.code), ("Message", str(error)), *error.details.items()):
        ElementTree.SubElement(root, tag).text = text
    ElementTree.SubElement(root, "RequestId").text = request_id
    return _xml(error.status, root)


def _xml(status: int, root: ElementTree.Element) -> Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)
    return Response(
        status, {"Content-Type": "application/xml", "Content-Length": str(len(body))}, body
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _decode_chunked(body: bytes) -> bytes:
    """An aws-chunked body ("<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n" ... "0\\r\\n"
    and optional trailers) back to the object's bytes."""
    data, position = bytearray(), 0
    while True:
        end = body.find(b"\r\n", position)
        if end < 0:
            raise S3Error(400, "IncompleteBody", "the aws-chunked body ended inside a chunk header")
        size = int(body[position:end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(data)
        start = end + 2
        data += body[start : start + size]
        position = start + size + 2

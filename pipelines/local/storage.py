"""The local artifact store: `s3://bucket/key` is the file `<root>/bucket/key`.

Objects are files and never change after they are written (a new put replaces the file, it
does not rewrite it), which is what lets jobs see their inputs through hard links instead of
copies and lets content digests be memoised on (path, size, mtime, inode). Every URI is
checked before it touches the file system: keys that would leave the store (`..`, absolute
keys, backslashes, symlinks pointing out) are refused with a `StoreError` naming the URI.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

_BUCKET_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9.\-]{0,61}[a-z0-9])?$")
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
# MD5 digests (S3 ETags) share the digest memo with sha256 ones, keyed "md5:<absolute path>"
# (no absolute path starts with it).
_MD5_MEMO_PREFIX = "md5:"


class StoreError(ValueError):
    """A URI cannot be used with the store; the message names the URI and why."""


class DigestMemo(Protocol):
    """Remembers file digests by (path, size, mtime_ns, inode) across processes."""

    def get_digest(self, path: str, size: int, mtime_ns: int, inode: int) -> str | None: ...

    def put_digest(self, path: str, size: int, mtime_ns: int, inode: int, digest: str) -> None: ...


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_uri(uri: str) -> S3Location:
    """Split and validate `s3://bucket/key`; the key may be empty or end with '/' (a prefix)."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise StoreError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise StoreError(f"{uri!r}: the bucket name is empty")
    if not _BUCKET_PATTERN.match(bucket) or ".." in bucket:
        raise StoreError(f"{uri!r}: {bucket!r} is not a valid bucket name")
    if "\\" in key or "\0" in key:
        raise StoreError(f"{uri!r}: keys may not contain backslashes or NUL characters")
    if key.startswith("/"):
        raise StoreError(f"{uri!r}: the key is absolute (starts with '/')")
    parts = key.split("/")
    # A trailing '/' marks a prefix; any other empty segment would collapse on disk.
    inner = parts[:-1] if parts and parts[-1] == "" else parts
    for part in inner:
        if part in ("", ".", ".."):
            raise StoreError(f"{uri!r}: the key has a {part or 'empty'!r} path segment")
    return S3Location(bucket, key)


def join_uri(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *(p.strip("/") for p in parts)])


class ArtifactStore:
    """Files under `root`, addressed by s3:// URIs."""

    def __init__(self, root: Path | str, digests: DigestMemo | None = None) -> None:
        self.root = Path(root).resolve()
        # A read-only home: an absent store reads as empty (writes are refused before this).
        with contextlib.suppress(PermissionError):
            self.root.mkdir(parents=True, exist_ok=True)
        self._digests = digests

    # -- addressing ---------------------------------------------------------------------

    def path_for(self, uri: str) -> Path:
        """The file (or folder, for a prefix) a URI maps to; refuses anything outside root."""
        location = parse_uri(uri)
        path = self.root / location.bucket / location.key
        # resolve() follows symlinks already on disk, so a link planted in the store that
        # points elsewhere is caught here too.
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise StoreError(f"{uri!r} resolves outside the artifact store ({resolved})")
        return path

    def uri_for(self, path: Path) -> str:
        relative = Path(path).resolve().relative_to(self.root)
        return "s3://" + relative.as_posix()

    def exists(self, uri: str) -> bool:
        """True if an object has exactly this key, or the prefix has at least one object."""
        path = self.path_for(uri)
        if path.is_file():
            return True
        return next(iter(self.list(uri)), None) is not None

    # -- writing ------------------------------------------------------------------------

    def put_bytes(self, data: bytes, uri: str) -> bool:
        """Write `data` at `uri` unless identical bytes are already there. True if written."""
        path = self.path_for(uri)
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        self._publish(Path(temp), path)
        return True

    def put_file(self, source: Path | str, uri: str, *, link: bool = False) -> bool:
        """Put a local file at `uri`. `link=True` hard-links files the engine owns (job
        outputs); files of the user are copied so marking them read-only cannot touch theirs.
        Returns False when an identical file is already there."""
        source = Path(source)
        path = self.path_for(uri)
        if path.is_file() and self._same_content(source, path):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f".put-{os.getpid()}-{id(source)}-{path.name}"
        temp.unlink(missing_ok=True)
        known = self._memoised_digest(source)
        if link:
            try:
                os.link(source, temp)
            except OSError:
                shutil.copyfile(source, temp)
        else:
            shutil.copyfile(source, temp)
        self._publish(temp, path)
        if known and self._digests is not None:
            # The copy has the source's bytes: spare the next fingerprint a re-hash.
            info = path.stat()
            self._digests.put_digest(
                str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ino, known
            )
        return True

    def put_dir(self, source: Path | str, uri: str, *, link: bool = False) -> list[str]:
        """Put every file under `source` at `uri/<relative path>`; returns the URIs written."""
        source = Path(source)
        written = []
        for file in _files_under(source):
            target = join_uri(uri, file.relative_to(source).as_posix())
            self.put_file(file, target, link=link)
            written.append(target)
        return written

    def upload_dir(self, source: Path | str, uri: str) -> list[str]:
        """A job's output folder to its S3Output URI (hard links: the job folder is ours)."""
        return self.put_dir(source, uri, link=True)

    def _publish(self, temp: Path, path: Path) -> None:
        # Objects are immutable: readers holding a hard link keep the old bytes, and the
        # digest memo sees a new inode, so a replaced object is never mistaken for the old.
        os.chmod(temp, _READ_ONLY)
        os.replace(temp, path)

    def _same_content(self, source: Path, path: Path) -> bool:
        a, b = source.stat(), path.stat()
        if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
            return True
        return a.st_size == b.st_size and self.file_digest(source) == self.file_digest(path)

    # -- reading ------------------------------------------------------------------------

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of every object whose key starts with the prefix (S3 semantics), sorted."""
        location = parse_uri(prefix_uri)
        base = self.path_for(prefix_uri)
        if location.key and not location.key.endswith("/") and base.is_file():
            return [prefix_uri]
        directory_key = location.key.rpartition("/")[0]
        directory = self.root / location.bucket / directory_key
        if not directory.is_dir():
            return []
        uris = []
        for file in _files_under(directory):
            key = "/".join(filter(None, [directory_key, file.relative_to(directory).as_posix()]))
            if key.startswith(location.key):
                uris.append(f"s3://{location.bucket}/{key}")
        return sorted(uris)

    def object_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key of `bucket` starting with `prefix`, sorted as S3 lists them (UTF-8 byte
        order, which is code point order). Unlike `list`, an object whose key equals the prefix
        does not hide its longer siblings ("a.csv" also matches "a.csv.bak"), as in S3."""
        location = parse_uri(f"s3://{bucket}/{prefix}")
        self.path_for(location.uri)  # refuses a prefix that would leave the store
        directory_key = prefix.rpartition("/")[0]
        directory = self.root / bucket / directory_key
        if not directory.is_dir():
            return []
        keys = []
        for file in _files_under(directory):
            key = "/".join(filter(None, [directory_key, file.relative_to(directory).as_posix()]))
            if key.startswith(prefix):
                keys.append(key)
        return sorted(keys)

    def bucket_exists(self, bucket: str) -> bool:
        parse_uri(f"s3://{bucket}/")
        return (self.root / bucket).is_dir()

    def local_name(self, prefix_uri: str, object_uri: str) -> str:
        """Where an object of an S3Prefix lands below the job's local path, as SageMaker does
        it: an exact key match keeps its file name; a folder-like prefix ('.../test' or
        '.../test/') is stripped; a partial name ('.../tr' for 'train.csv') keeps the name
        relative to the prefix's last '/'."""
        prefix_key = parse_uri(prefix_uri).key
        key = parse_uri(object_uri).key
        if key == prefix_key:
            return PurePosixPath(key).name
        rest = key[len(prefix_key) :]
        if prefix_key.endswith("/") or rest.startswith("/"):
            return rest.lstrip("/")
        return key[len(prefix_key.rpartition("/")[0]) :].lstrip("/")

    def download_prefix(self, uri: str, dest: Path | str) -> list[Path]:
        """Every object under the prefix into `dest`, hard-linked where possible."""
        return self.place(
            [(object_uri, self.local_name(uri, object_uri)) for object_uri in self.list(uri)], dest
        )

    def place(self, objects: Iterable[tuple[str, str]], dest: Path | str) -> list[Path]:
        """Each (object URI, relative name) at `dest/<relative name>`, hard-linked where
        possible; a name that would land outside `dest` is refused."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        placed = []
        for object_uri, name in objects:
            target = dest / name
            if root not in target.resolve().parents:
                raise StoreError(f"{object_uri!r} would be placed outside {dest} (as {name!r})")
            source = self.path_for(object_uri)
            if not source.is_file():
                raise StoreError(f"{object_uri!r}: no such object in the local artifact store")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
            placed.append(target)
        return placed

    def read_bytes(self, uri: str) -> bytes:
        path = self.path_for(uri)
        if not path.is_file():
            raise StoreError(f"{uri!r}: no such object in the local artifact store")
        return path.read_bytes()

    # -- content digests ----------------------------------------------------------------

    def _memoised_digest(self, path: Path) -> str | None:
        if self._digests is None:
            return None
        info = path.stat()
        return self._digests.get_digest(
            str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ino
        )

    def file_digest(self, path: Path | str) -> str:
        """sha256 of a file, memoised on (path, size, mtime_ns, inode)."""
        path = Path(path)
        info = path.stat()
        key = (str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ino)
        if self._digests is not None:
            known = self._digests.get_digest(*key)
            if known:
                return known
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if self._digests is not None:
            self._digests.put_digest(*key, digest)
        return digest

    def etag(self, path: Path | str) -> str:
        """S3's ETag of a single-part object: the MD5 of its bytes, in hex (S3 sends it in
        double quotes). Memoised like `file_digest`, under its own memo key."""
        path = Path(path)
        info = path.stat()
        key = (f"{_MD5_MEMO_PREFIX}{path.resolve()}", info.st_size, info.st_mtime_ns, info.st_ino)
        if self._digests is not None:
            known = self._digests.get_digest(*key)
            if known:
                return known
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "md5").hexdigest()
        if self._digests is not None:
            self._digests.put_digest(*key, digest)
        return digest

    def fingerprint(self, uri: str) -> str:
        """Digest of everything under a prefix (names and contents): changes when any does."""
        digest = hashlib.sha256()
        objects = self.list(uri)
        for object_uri in objects:
            digest.update(self.local_name(uri, object_uri).encode() + b"\0")
            digest.update(self.file_digest(self.path_for(object_uri)).encode() + b"\n")
        return digest.hexdigest() if objects else "empty"

    def path_digest(self, path: Path | str) -> str:
        """Digest of a local file or folder (names and contents), for content addressing."""
        path = Path(path)
        if path.is_file():
            return self.file_digest(path)
        digest = hashlib.sha256()
        for file in _files_under(path):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(self.file_digest(file).encode() + b"\n")
        return digest.hexdigest()


def _files_under(directory: Path) -> Iterator[Path]:
    """Regular files below `directory`, sorted, skipping the store's temporary files and any
    symlink (a link could point anywhere; S3 has no links)."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(root, d)))
        for name in sorted(files):
            full = Path(root, name)
            if name.startswith(".put-") or full.is_symlink() or not full.is_file():
                continue
            yield full


def write_tarball_reproducibly(
    entries: Iterable[tuple[str, Path]], destination: Path, compresslevel: int = 1
) -> None:
    """A .tar.gz of (name, file or folder) entries, in the order given, whose bytes depend
    only on the names, kinds and contents: every member has mtime 0, uid/gid 0 and no owner
    names, mode 0644 (0755 for folders and executable files), and the gzip header carries
    neither a time nor a file name. Two identical training outputs pack to identical bytes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with (
        destination.open("wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel
        ) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, path in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
                continue
            info.size = path.stat().st_size
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            with path.open("rb") as handle:
                archive.addfile(info, handle)


def extract_tarball_safely(tarball: Path | str, dest: Path | str) -> list[str]:
    """Extract a .tar(.gz) into `dest`, refusing absolute names, '..', links that leave
    `dest` (or that later members could be written through), devices and FIFOs."""
    tarball, dest = Path(tarball), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    names = []
    try:
        with tarfile.open(tarball) as archive:
            members = archive.getmembers()
            for member in members:
                _check_member(tarball, root, member)
                names.append(member.name)
            # The "data" filter re-checks every member at extraction time (including links
            # created by earlier members), so a check/extract race cannot be exploited.
            archive.extractall(root, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise StoreError(f"{tarball}: unsafe archive member: {exc}") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise StoreError(f"{tarball}: cannot extract: {exc}") from exc
    return names


def _check_member(tarball: Path, root: Path, member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or "\\" in name or PurePosixPath(name).is_absolute():
        raise StoreError(f"{tarball}: member {name!r} has an absolute path")
    if ".." in PurePosixPath(name).parts:
        raise StoreError(f"{tarball}: member {name!r} contains '..'")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise StoreError(f"{tarball}: member {name!r} is a device or FIFO")
    if member.issym() or member.islnk():
        target = member.linkname
        base = (root / name).parent if member.issym() else root
        resolved = (base / target).resolve() if not target.startswith("/") else Path(target)
        if resolved != root and root not in resolved.parents:
            raise StoreError(f"{tarball}: link {name!r} -> {target!r} points outside the folder")

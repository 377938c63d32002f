"""The one door for storage URLs: manifests, plan files and state all open through here.

``open_source(uri)`` turns a local path (file, folder searched recursively, or glob) or an
object-store URI into ManifestFile values carrying the bytes and an etag, so that a plan can
record exactly what it read. ``read_object``/``write_object`` serve single files such as saved
plans. This module is the only place that looks at a URL's scheme.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..display import display_name
from ..errors import ManifestWarning, Problem, SourceError

if TYPE_CHECKING:
    from .remote import ObjectStore

MANIFEST_SUFFIXES = (".yaml", ".yml", ".csv")
REMOTE_SCHEMES = ("s3://", "gs://", "az://", "abfss://")
MAX_MANIFEST_BYTES_ENV = "LAC_MAX_MANIFEST_BYTES"
# Parsing holds a manifest many times over in memory (nodes, values, frames): refuse a file
# bigger than this before reading it, rather than let the machine run out of memory.
DEFAULT_MAX_MANIFEST_BYTES = 256 * 2**20


def max_manifest_bytes() -> int:
    """The largest manifest file accepted: ``LAC_MAX_MANIFEST_BYTES``, or 256 MiB."""
    raw = os.environ.get(MAX_MANIFEST_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_MANIFEST_BYTES
    try:
        return int(raw)
    except ValueError:
        raise SourceError(f"{MAX_MANIFEST_BYTES_ENV}={raw!r}: expected a number of bytes") from None


def check_manifest_size(name: str, size: int) -> None:
    """Raise SourceError naming the manifest when ``size`` is over the limit."""
    limit = max_manifest_bytes()
    if size > limit:
        raise SourceError(f"{name}: {size:,} bytes is over the manifest size limit of {limit:,} bytes "
                          f"({MAX_MANIFEST_BYTES_ENV}); split it into several files or raise the limit")


Stamp = tuple[int, int, int, int]  # a local file's inode, size, modification and change times (ns)
_SETTLED_NS = 2_000_000_000  # a file changed this close to its hashing may change again within its timestamp


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class ManifestFile:
    """One manifest as read: its display name (path or URI), bytes, and etag or generation; ``sha256``
    is the bytes' digest when the reader already took it (a local file's etag is made from it). A local
    file whose digest was known from its stamp (``KnownDigests``) is not read until its bytes are asked for
    (``content``): a plan remembered as a no-op needs only the digest."""

    name: str
    data: bytes
    etag: str
    sha256: bytes = b""
    path: Path | None = None  # where the bytes are read from, when they were not read yet
    stamp: Stamp | None = None  # the file's stamp when its digest was taken

    def content_digest(self) -> bytes:
        """sha256 of the bytes as read (kept when the bytes are let go)."""
        return self.sha256 or hashlib.sha256(self.data).digest()

    def without_bytes(self) -> ManifestFile:
        """This file, its bytes let go and not to be read again (its name, etag and digest kept)."""
        return replace(self, data=b"", path=None)

    def content(self) -> bytes:
        """The bytes: as read, or read now from a file not read yet, which must still be the file whose
        digest was taken (the same stamp, or the same bytes); SourceError otherwise."""
        if self.path is None:
            return self.data
        changed = SourceError(f"{self.name}: changed while this run read it; run again")
        try:
            with self.path.open("rb") as fh:
                stamp = _stamp(os.fstat(fh.fileno()))
                if self.stamp is not None and stamp[1] != self.stamp[1]:  # other bytes: not read (it may have grown)
                    raise changed
                data = fh.read(stamp[1] + 1)
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read: {exc.strerror or exc}") from exc
        if stamp != self.stamp and hashlib.sha256(data).digest() != self.sha256:
            raise changed
        return data


class KnownDigests:
    """The digests of local manifests taken by earlier runs, each with the stamp of the file it was taken
    from (resolved path -> (stamp, sha256)), and those this run takes. A file whose stamp is the one recorded
    has those bytes: its inode, size and change time are the same (no write leaves the change time, which
    no user can set, as it was), so it need not be read to be hashed. A digest is recorded only for a file
    last changed well before it was hashed: a write within the file system's timestamp granularity after
    the hashing could otherwise leave the stamp as it was."""

    def __init__(self, known: dict[str, tuple[Stamp, bytes]] | None = None) -> None:
        self.known = known or {}
        self.taken: dict[str, tuple[Stamp, bytes]] = {}

    def get(self, path: Path, stamp: Stamp) -> bytes | None:
        """The digest recorded for the file at ``path`` stamped ``stamp``; None when there is none."""
        where = str(path.resolve())
        found = self.known.get(where)
        if found is None or found[0] != stamp:
            return None
        self.taken[where] = found  # (kept at the next write: a file read is among the last to go)
        return found[1]

    def take(self, path: Path, stamp: Stamp, digest: bytes, started_ns: int) -> None:
        """Record the digest of the file at ``path`` hashed from ``started_ns`` on, stamped ``stamp`` before and
        after it was read."""
        if max(stamp[2], stamp[3]) < started_ns - _SETTLED_NS:
            self.taken[str(path.resolve())] = (stamp, digest)


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


@dataclass(frozen=True)
class ObjectURI:
    """An object-store URI split into parts, so no other module has to read a scheme.

    ``service`` is ``s3``, ``gcs`` or ``azure``; ``bucket`` the bucket or container; ``key`` the object
    key or prefix ('' for the whole bucket); ``account`` the Azure storage account named by an
    abfss:// URI (az:// takes it from the environment) and ``endpoint_suffix`` its cloud's DNS suffix.
    ``root`` is the URI up to the key, so child objects print the way the user wrote the URI.
    """

    service: str
    bucket: str
    key: str
    root: str
    account: str = ""
    endpoint_suffix: str = ""

    def child(self, key: str) -> str:
        return self.root + key

    def __str__(self) -> str:
        return self.root + self.key


def _split_abfss(uri: str, rest: str) -> ObjectURI:
    authority, _, key = rest.partition("/")
    container, at, host = authority.partition("@")
    account, dot, suffix = host.partition(".dfs.")
    if not (container and at and account and dot and suffix):
        raise SourceError(f"{uri}: expected abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH")
    return ObjectURI("azure", container, key, f"abfss://{authority}/", account, suffix)


def parse_object_uri(uri: str) -> ObjectURI:
    """Split an s3://, gs://, az:// or abfss:// URI; raise SourceError when it names no bucket."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in _SERVICES:
        raise SourceError(f"{uri}: unsupported scheme; use a local path, s3://, gs://, az:// or abfss://")
    if scheme == "abfss":
        return _split_abfss(uri, rest)
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise SourceError(f"{uri}: the URI names no bucket or container")
    return ObjectURI(_SERVICES[scheme], bucket, key, f"{scheme}://{bucket}/")


_SERVICES = {"s3": "s3", "gs": "gcs", "az": "azure", "abfss": "azure"}


def open_object_store(uri: str | ObjectURI) -> tuple[ObjectStore, ObjectURI]:
    """Return the client for the bucket an object-store URI names, and the parsed URI.

    Each SDK is imported only when its scheme is used; errors are SourceError.
    """
    loc = uri if isinstance(uri, ObjectURI) else parse_object_uri(uri)
    if loc.service == "s3":
        from .s3 import S3ObjectStore

        return S3ObjectStore(loc), loc
    if loc.service == "gcs":
        from .gcs import GCSObjectStore

        return GCSObjectStore(loc), loc
    from .azure import AzureObjectStore

    return AzureObjectStore(loc), loc


def _read_local(path: Path, display: str, digests: KnownDigests | None = None) -> ManifestFile:
    """The file at ``path``, read and hashed; or, when ``digests`` knows its digest for the file as it is
    stamped now, not read: its bytes are read when asked for (``ManifestFile.content``)."""
    try:
        with path.open("rb") as fh:
            before = _stamp(os.fstat(fh.fileno()))
            check_manifest_size(display, before[1])
            known = digests.get(path, before) if digests is not None else None
            if known is not None:
                return ManifestFile(display, b"", known.hex()[:32], known, path, before)
            started = time.time_ns()
            data = fh.read()
            after = _stamp(os.fstat(fh.fileno()))
    except OSError as exc:
        raise SourceError(f"{display}: cannot read: {exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).digest()
    if digests is not None and after == before and len(data) == before[1]:
        digests.take(path, before, digest, started)
    return ManifestFile(display, data, digest.hex()[:32], digest)


def _translate(pattern: str) -> re.Pattern[str]:
    """A glob as a regex over '/'-separated relative paths: ``**`` spans any number of folders,
    ``*`` and ``?`` stay inside one name, ``[...]`` is a class."""
    out, parts = [], pattern.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        regex, j = "", 0
        while j < len(part):
            ch = part[j]
            end = part.find("]", j + 2) if ch == "[" else -1
            if ch == "*":
                regex += "[^/]*"
            elif ch == "?":
                regex += "[^/]"
            elif end != -1:
                body = part[j + 1:end]
                regex += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
                j = end
            else:
                regex += re.escape(ch)
            j += 1
        out.append(regex + ("" if last else "/"))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _walk(top: Path, skip_hidden: bool = True) -> list[Path]:
    """Every file under ``top``, following directory links but never into a folder already seen
    (a link loop or a second way to the same folder); each link not followed is a warning."""
    seen: set[tuple[int, int]] = set()
    files: list[Path] = []
    for folder, dirs, names in os.walk(top, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:  # reached through a link: report it, do not descend
            dirs[:] = []
            real = os.path.relpath(os.path.realpath(folder))
            warnings.warn(ManifestWarning(Problem(display_name(os.path.relpath(folder)), 0, "", (
                f"directory link to {display_name(real)}, which is read already (a link loop?): not followed"))),
                stacklevel=3)
            continue
        seen.add((info.st_dev, info.st_ino))
        if skip_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        dirs.sort()
        files.extend(Path(folder, n) for n in names if not (skip_hidden and n.startswith(".")))
    return files


def _glob(path: Path) -> list[Path]:
    """Files matching a glob; ``**`` is walked by ``_walk`` so that link loops end."""
    text = str(path)
    if "**" not in text:
        return [Path(m) for m in glob.glob(text)]
    parts = Path(text).parts
    fixed = next(i for i, part in enumerate(parts) if any(ch in part for ch in "*?["))
    top = Path(*parts[:fixed]) if fixed else Path(".")
    pattern = _translate("/".join(parts[fixed:]))
    return [f for f in _walk(top) if pattern.match(f.relative_to(top).as_posix())]


def _inside(files: list[Path], within: Path | None, spec: str) -> list[Path]:
    if within is None:
        return files
    root = within.resolve()
    for f in files:
        if not f.resolve().is_relative_to(root):
            shown = display_name(os.path.relpath(f))
            where = shown if shown == display_name(spec) else f"{display_name(spec)}: {shown}"
            raise SourceError(f"{where} resolves outside the project folder; set allow_outside_root: true in "
                              "lac.yaml to read it")
    return files


def _open_local(spec: str, base: Path | None, within: Path | None = None,
                exclude: frozenset[Path] = frozenset(), digests: KnownDigests | None = None) -> list[ManifestFile]:
    path = Path(spec) if base is None or os.path.isabs(spec) else base / spec
    shown = display_name(spec if base is None else os.path.relpath(path))
    if any(ch in spec for ch in "*?["):
        files = [f for f in sorted(_glob(path), key=str) if f.is_file()]
        if not files:
            raise SourceError(f"{display_name(spec)}: the pattern matches no file")
    elif path.is_dir():
        files = sorted((p for p in _walk(path) if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file()), key=str)
    elif path.is_file():
        return [_read_local(p, shown, digests) for p in _inside([path], within, spec)]
    else:
        raise SourceError(f"{display_name(spec)}: no such file or directory")
    files = [f for f in files if f.resolve() not in exclude]
    return [_read_local(f, display_name(os.path.relpath(f)), digests) for f in _inside(files, within, spec)]


def open_source(uri: str, base: Path | None = None, *, within: Path | None = None,
                exclude: frozenset[Path] = frozenset(), digests: KnownDigests | None = None) -> list[ManifestFile]:
    """Return every manifest at ``uri``, sorted by name; raise SourceError when it cannot be read.

    Relative local paths resolve against ``base`` (the folder of lac.yaml) when given. With
    ``within``, a local file that resolves outside that folder (through ``..`` or a link) is an
    error; files whose resolved path is in ``exclude`` (lac.yaml itself) are skipped. With ``digests``,
    a local file they know, stamped as when it was hashed, is not read until its bytes are asked for,
    and the digests of the files read are added to them.
    """
    if is_remote(uri):
        from .remote import open_remote

        return open_remote(*open_object_store(uri))
    if "://" in uri:
        raise SourceError(f"{uri}: unsupported scheme; use a local path, s3://, gs://, az:// or abfss://")
    return _open_local(uri, base, within, exclude, digests)


def read_object(uri: str) -> bytes:
    """Return the bytes of one file or object (a saved plan, a state file)."""
    if is_remote(uri):
        from .remote import read_remote

        return read_remote(*open_object_store(uri))
    try:
        return Path(uri).read_bytes()
    except OSError as exc:
        raise SourceError(f"{uri}: cannot read: {exc.strerror or exc}") from exc


def write_object(uri: str, data: bytes | Iterable[bytes], *, owned: bool = False,
                 check_replace: Callable[[Path], None] | None = None) -> None:
    """Write one file or object whole (``data`` may come in pieces). A local file goes through
    ``write_local_file``: replaced atomically when absent or regular, written in place when a device,
    FIFO or socket; ``owned`` and ``check_replace`` are passed on (see there)."""
    if is_remote(uri):
        from .remote import write_remote

        write_remote(*open_object_store(uri), data if isinstance(data, bytes) else b"".join(data))
        return
    from .local_output import write_local_file

    write_local_file(uri, data, owned=owned, check_replace=check_replace)

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SourceError

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


@dataclass(frozen=True)
class ManifestFile:
    """One manifest as read: its display name (path or URI), bytes, and etag or generation."""

    name: str
    data: bytes
    etag: str


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


def _local_etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _read_local(path: Path, display: str) -> ManifestFile:
    try:
        check_manifest_size(display, path.stat().st_size)
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{display}: cannot read: {exc.strerror or exc}") from exc
    return ManifestFile(display, data, _local_etag(data))


def _open_local(spec: str, base: Path | None) -> list[ManifestFile]:
    path = Path(spec) if base is None or os.path.isabs(spec) else base / spec
    shown = spec if base is None else os.path.relpath(path)
    if any(ch in spec for ch in "*?["):
        matches = sorted(glob.glob(str(path), recursive=True))
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            raise SourceError(f"{spec}: the pattern matches no file")
        return [_read_local(f, os.path.relpath(f)) for f in files]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        return [_read_local(f, os.path.relpath(f)) for f in files]
    if path.is_file():
        return [_read_local(path, shown)]
    raise SourceError(f"{spec}: no such file or directory")


def open_source(uri: str, base: Path | None = None) -> list[ManifestFile]:
    """Return every manifest at ``uri``, sorted by name; raise SourceError when it cannot be read.

    Relative local paths resolve against ``base`` (the folder of lac.yaml) when given.
    """
    if is_remote(uri):
        from .remote import open_remote

        return open_remote(*open_object_store(uri))
    if "://" in uri:
        raise SourceError(f"{uri}: unsupported scheme; use a local path, s3://, gs://, az:// or abfss://")
    return _open_local(uri, base)


def read_object(uri: str) -> bytes:
    """Return the bytes of one file or object (a saved plan, a state file)."""
    if is_remote(uri):
        from .remote import read_remote

        return read_remote(*open_object_store(uri))
    try:
        return Path(uri).read_bytes()
    except OSError as exc:
        raise SourceError(f"{uri}: cannot read: {exc.strerror or exc}") from exc


def write_object(uri: str, data: bytes, *, owned: bool = False,
                 check_replace: Callable[[Path], None] | None = None) -> None:
    """Write one file or object whole. A local file goes through ``write_local_file``: replaced
    atomically when absent or regular, written in place when a device, FIFO or socket; ``owned``
    and ``check_replace`` are passed on (see there)."""
    if is_remote(uri):
        from .remote import write_remote

        write_remote(*open_object_store(uri), data)
        return
    from .local_output import write_local_file

    write_local_file(uri, data, owned=owned, check_replace=check_replace)

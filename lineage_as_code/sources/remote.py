"""Object-store sources: what s3://, gs://, az:// and abfss:// have in common.

``ObjectStore`` is the small seam every service module (``s3``, ``gcs``, ``azure``) implements:
list keys under a prefix (recursively, across pages), get an object with its version token (S3
ETag, GCS generation, Azure ETag), and put/delete conditionally. Manifests are read through it
here; remote state stores (``state/remote.py``) build their compare-and-swap and locks on the same
conditional operations. Service modules translate their SDK's errors into SourceError (or
ObjectChangedError for a failed precondition) with messages that name the URI, never credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ..errors import SourceError
from . import MANIFEST_SUFFIXES, ManifestFile, ObjectURI, check_manifest_size

# Reading many small manifests is latency-bound; a few requests in flight hide most of it.
READ_PARALLELISM = 8


class ObjectChangedError(SourceError):
    """A conditional write or delete failed: the object exists, is gone, or changed since read."""


class ObjectStore(Protocol):
    """One bucket or container of one object-store service."""

    locking: str  # "conditional-put" (S3, GCS) or "lease" (Azure): how state locks are taken

    def list(self, prefix: str) -> Iterator[str]:
        """Yield every key under ``prefix``, recursively, following pagination."""
        ...

    def get(self, key: str) -> tuple[bytes, str] | None:
        """Return (bytes, version token) of the object, or None when it does not exist."""
        ...

    def put(self, key: str, data: bytes, *, match: str | None = None, absent: bool = False) -> str:
        """Write the object whole and return its new version token.

        ``match``: only if the current version is this one; ``absent``: only if no object exists.
        Raises ObjectChangedError when the condition does not hold.
        """
        ...

    def delete(self, key: str, *, match: str | None = None) -> None:
        """Delete the object (only at version ``match`` where the service can check it)."""
        ...


def _is_manifest(key: str, prefix: str) -> bool:
    relative = key[len(prefix):]
    # Same rule as local folders: manifest suffixes only, nothing inside hidden folders.
    return key.lower().endswith(MANIFEST_SUFFIXES) and not any(p.startswith(".") for p in relative.split("/"))


def _read_all(store: ObjectStore, loc: ObjectURI, keys: list[str]) -> list[ManifestFile]:
    def one(key: str) -> ManifestFile:
        found = store.get(key)
        if found is None:
            raise SourceError(f"{loc.child(key)}: the object disappeared while reading; retry")
        # The listing carries no sizes through the ObjectStore seam, so the limit is checked once
        # the object is read: the download is bounded by the object, the parse is refused.
        check_manifest_size(loc.child(key), len(found[0]))
        return ManifestFile(loc.child(key), found[0], found[1])

    with ThreadPoolExecutor(max_workers=min(READ_PARALLELISM, max(1, len(keys)))) as pool:
        return list(pool.map(one, keys))


def open_remote(store: ObjectStore, loc: ObjectURI) -> list[ManifestFile]:
    """Return the object ``loc`` names, or every manifest under it as a prefix, sorted by name.

    A key that is an object is read as a single file; otherwise it is a folder-like prefix
    (``manifests`` lists ``manifests/...`` but not ``manifests-old/...``). Raises SourceError when
    neither exists.
    """
    if loc.key and not loc.key.endswith("/"):
        found = store.get(loc.key)
        if found is not None:
            check_manifest_size(str(loc), len(found[0]))
            return [ManifestFile(str(loc), found[0], found[1])]
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    keys = sorted(k for k in store.list(prefix) if _is_manifest(k, prefix))
    if not keys:
        raise SourceError(f"{loc}: no such object, and no manifest (*.yaml, *.yml, *.csv) under this prefix")
    return _read_all(store, loc, keys)


def read_remote(store: ObjectStore, loc: ObjectURI) -> bytes:
    """Return the bytes of the one object ``loc`` names; SourceError when it does not exist."""
    found = store.get(loc.key)
    if found is None:
        raise SourceError(f"{loc}: no such object")
    return found[0]


def write_remote(store: ObjectStore, loc: ObjectURI, data: bytes) -> None:
    """Replace the object ``loc`` names (object writes are atomic: readers see old or new)."""
    if not loc.key or loc.key.endswith("/"):
        raise SourceError(f"{loc}: name an object, not a bucket or prefix")
    store.put(loc.key, data)

"""A local cache of each target's translated resources, keyed by what they were built from.

Re-planning unchanged manifests is the common case in CI; parsing and translating a million
column edges is most of a plan's time. The key covers the manifests' digest (bytes and parse
settings), the target's settings and policy, and the tool's version, so a hit is exactly what a
fresh translate would return. The cache lives under the project's ``.lac/cache/`` and is safe to
delete; one file per target is kept. Set ``LAC_NO_CACHE=1`` to bypass it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .config import TargetConfig
from .targets.base import Resource


@dataclass(frozen=True)
class CachedResources:
    resources: list[Resource]
    column_edges: int

    def __reduce__(self) -> tuple[Any, ...]:
        # Bodies are pickled one by one and revived only when read: a no-op re-plan never reads
        # the bodies of a million column edges.
        packed = [(r.address, r.kind, pickle.dumps(dict(r.body), protocol=pickle.HIGHEST_PROTOCOL), r.source,
                   r.requires, r.edges, r.hash) for r in self.resources]
        return (_revive, (packed, self.column_edges))


class LazyBody(Mapping[str, Any]):
    """A resource body kept pickled until first read."""

    __slots__ = ("_packed", "_value")

    def __init__(self, packed: bytes) -> None:
        self._packed = packed
        self._value: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._value is None:
            self._value = pickle.loads(self._packed)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _revive(packed: list[tuple[Any, ...]], column_edges: int) -> CachedResources:
    resources = [Resource(address, kind, LazyBody(body), source, requires, edges, digest)
                 for address, kind, body, source, requires, edges, digest in packed]
    return CachedResources(resources, column_edges)


class ResourceCache:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder or Path()
        self.enabled = folder is not None and os.environ.get("LAC_NO_CACHE", "") in ("", "0")

    @staticmethod
    def key(digest: str, target: TargetConfig) -> str:
        material = repr((__version__, digest, target.type, sorted(target.settings.items(), key=str), target.policy))
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def _path(self, target: str, key: str) -> Path:
        return self.folder / f"{target}-{key}.pickle"

    def get(self, target: str, key: str) -> CachedResources | None:
        """The cached resources, or None (a miss, a corrupt file, or the cache is off)."""
        if not self.enabled:
            return None
        try:
            with open(self._path(target, key), "rb") as fh:
                value = pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            return None
        return value if isinstance(value, CachedResources) else None

    def put(self, target: str, key: str, value: CachedResources) -> None:
        """Store ``value``; failures to write are ignored (the cache is only an accelerator)."""
        if not self.enabled:
            return
        path = self._path(target, key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for old in self.folder.glob(f"{target}-*.pickle"):
                old.unlink(missing_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            return

"""Reading a project's manifests: from the paths given on the command line, or lac.yaml's list.

Returns the Lineage together with what was read (names and etags), so that plans can record a
digest of exactly the bytes they were built from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .config import Config
from .errors import ConfigError
from .manifest import ManifestInput, build_lineage
from .model import Lineage, bulk_allocation
from .sources import ManifestFile, open_source


@dataclass(frozen=True)
class LoadedManifests:
    lineage: Lineage
    files: tuple[ManifestFile, ...]

    @property
    def digest(self) -> str:
        """sha256 over every manifest's name and content, in name order."""
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.name):
            h.update(f.name.encode() + b"\0" + hashlib.sha256(f.data).digest())
        return h.hexdigest()


def load_manifests(config: Config, paths: Sequence[str] | None = None) -> LoadedManifests:
    """Read, validate and merge the manifests; raise ManifestError/SourceError/ConfigError."""
    specs = list(paths or [])
    base = None
    if not specs:
        if not config.manifests:
            raise ConfigError("no manifests given: pass paths or list them under 'manifests' in lac.yaml")
        specs, base = list(config.manifests), config.root
    files: dict[str, ManifestFile] = {}
    for spec in specs:
        for item in open_source(spec, base):
            files.setdefault(item.name, item)
    ordered = tuple(files[name] for name in sorted(files))
    with bulk_allocation():
            lineage = build_lineage((ManifestInput(f.name, f.data) for f in ordered), config.manifest_defaults,
                                config.field_separator)
    return LoadedManifests(lineage, ordered)

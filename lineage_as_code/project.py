"""Reading a project's manifests: from the paths given on the command line, or lac.yaml's list.

``read_manifests`` only fetches bytes (and etags); the Lineage is parsed on first use, so a plan
whose targets' resources are cached for the same digest never parses at all. The digest covers
exactly the bytes a plan was built from.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from .cache import ResourceCache
from .config import Config
from .errors import ConfigError, ManifestWarning, Problem
from .manifest import EdgeLimits, ManifestInput, build_lineage
from .model import Lineage, bulk_allocation, give_back_freed_memory
from .sources import ManifestFile, is_remote, open_source


@dataclass(frozen=True)
class LoadedManifests:
    files: tuple[ManifestFile, ...]  # their bytes are empty once the lineage is parsed (names and etags stay)
    defaults: Mapping[str, str] = field(default_factory=dict)
    field_separator: str | None = None
    edge_limits: EdgeLimits = field(default_factory=EdgeLimits)

    @cached_property
    def lineage(self) -> Lineage:
        """The validated, merged lineage; raises ManifestError listing every problem. The warnings the
        parse emits are emitted as usual and kept in ``notes`` (a cached plan repeats them). Once parsed,
        the manifests' bytes are let go (their digest is taken first), each as soon as its parser has read
        it: at a million rows they are hundreds of megabytes the rest of a plan never reads. What the parse
        freed is given back too. A parse that failed fails the same way when asked again; a lineage let go
        (``let_go``) is an error to ask for."""
        _ = self.digest
        if self.__dict__.get("let_go") or self.bytes_gone:
            raise RuntimeError("the manifests' lineage was let go: a run that needs it after planning must keep it")
        failed = self.__dict__.get("failed")
        if failed is not None:  # the bytes were handed to that parse: the same error again
            raise failed
        inputs = [ManifestInput(f.name, f.content(), handed_over=True) for f in reversed(self.files)]
        object.__setattr__(self, "files", tuple(f.without_bytes() for f in self.files))
        try:
            with bulk_allocation(), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ManifestWarning)
                lineage = build_lineage(_handed_over(inputs), self.defaults, self.field_separator,
                                        self.edge_limits)
        except Exception as exc:  # a ManifestError, or whatever stopped the parse half way
            self.__dict__["failed"] = exc
            raise
        finally:
            give_back_freed_memory()
        self.__dict__["notes"] = tuple(w.message.problem for w in caught if isinstance(w.message, ManifestWarning))
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return lineage

    @property
    def parsed(self) -> bool:
        return "lineage" in self.__dict__ or "let_go" in self.__dict__

    def hand_over(self) -> Lineage:
        """The lineage, for its last use: let go here (as by ``let_go``) and returned ``owned``, so that the
        one it is handed to, holding the only reference, may free it as it goes (``Lineage.take``)."""
        lineage = self.lineage
        self.let_go()
        return replace(lineage, owned=True)

    def let_go(self) -> None:
        """Drop the parsed lineage (its bytes went when it was parsed): a run whose targets have translated
        it needs it no more, and at a million rows it is hundreds of megabytes its translation does not
        refer to. Unparsed (every target was served from the cache), drop the manifests' bytes instead,
        their digest taken first: an apply of a 200 MB file served from the cache held them to its end.
        Asking for the lineage afterwards is an error, never a parse of nothing."""
        if self.parsed:
            self.__dict__.pop("lineage", None)
            self.__dict__["let_go"] = True
            return
        _ = self.digest
        object.__setattr__(self, "files", tuple(f.without_bytes() for f in self.files))
        self.__dict__["bytes_let_go"] = True

    @property
    def bytes_gone(self) -> bool:
        """Whether the manifests' bytes were let go unparsed (``let_go``): their lineage is then read again."""
        return bool(self.__dict__.get("bytes_let_go"))

    @property
    def notes(self) -> tuple[Problem, ...]:
        """The warnings parsing the manifests gave (empty before they are parsed)."""
        return self.__dict__.get("notes", ())

    @cached_property
    def digest(self) -> str:
        """sha256 over every manifest's name and content, in name order, and the parse settings."""
        h = hashlib.sha256(repr((sorted(self.defaults.items()), self.field_separator)).encode())
        for f in sorted(self.files, key=lambda f: f.name):
            h.update(f.name.encode("utf-8", "surrogateescape") + b"\0" + f.content_digest())
        return h.hexdigest()


def _handed_over(inputs: list[ManifestInput]) -> Iterator[ManifestInput]:
    """``inputs`` last to first, each removed from the list as it is given: once a parser has taken its
    bytes, nothing here holds them."""
    while inputs:
        yield inputs.pop()


def read_manifests(config: Config, paths: Sequence[str] | None = None, remember: bool = False) -> LoadedManifests:
    """Fetch the manifests' bytes (no parsing); raise SourceError/ConfigError.

    Paths given on the command line are read as given. Those listed in lac.yaml must resolve
    inside the project folder unless ``allow_outside_root`` is set, and never include lac.yaml.
    With ``remember`` (a plan's read, which has a cache), the digests of local files are kept in the cache
    with the files' stamps, and a file stamped as when it was hashed is not read until it is parsed: a plan
    remembered as a no-op then reads no manifest at all.
    """
    specs = list(paths or [])
    base = within = None
    if not specs:
        if not config.manifests:
            raise ConfigError("no manifests given: pass paths or list them under 'manifests' in lac.yaml")
        specs, base = list(config.manifests), config.root
        within = None if config.allow_outside_root else config.root
    exclude = frozenset({config.source} if config.source else ())
    files: dict[str, ManifestFile] = {}
    cache = ResourceCache(config.cache_dir) if remember else None
    digests = cache.known_digests() if cache is not None else None
    for spec in specs:
        for item in open_source(spec, base, within=within, exclude=exclude, digests=digests):
            files.setdefault(item.name, item)
    if cache is not None and digests is not None:
        cache.put_digests(digests)
    return LoadedManifests(tuple(files[name] for name in sorted(files)), dict(config.manifest_defaults),
                           config.field_separator, config.edge_limits)


def load_manifests(config: Config, paths: Sequence[str] | None = None) -> LoadedManifests:
    """Read, validate and merge the manifests; raise ManifestError/SourceError/ConfigError."""
    loaded = read_manifests(config, paths)
    _ = loaded.lineage
    return loaded


def canonical_file(name: str, root: str) -> str:
    """A manifest's name as state records it: relative to the project root for a local file (so the
    same file has one name whatever folder lac runs from, on any machine), the URI for an object."""
    if not name or is_remote(name):
        return name
    return os.path.relpath(os.path.realpath(name), os.path.realpath(root))

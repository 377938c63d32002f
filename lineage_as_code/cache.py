"""A local cache of each target's translated resources, keyed by what they were built from.

Re-planning unchanged manifests is the common case in CI; parsing and translating a million
column edges is most of a plan's time. The key covers the manifests' digest (bytes and parse
settings), the target's settings and policy, the tool's version and the SQL parser's (derived
lineage depends on it), so a hit is exactly what a fresh translate would return.

The cache lives under the project's ``.lac/cache/``, where a pull request can put files, so it is
untrusted input: it is plain data (JSON, never pickle: nothing in it can run), and every file is
signed with HMAC-SHA256 under a key kept outside the project (in the user's cache folder, created
on first use). A file that is unsigned, signed with another key, corrupt or of another shape is a
miss, never an error. Safe to delete; one file per target is kept. ``LAC_NO_CACHE=1`` bypasses it.

File shape: the canonical JSON of every body, one after another; then the resources' fields, a column
each (``cache_columns.COLUMNS``): their addresses, sources and every edge key once as JSON arrays of strings, their
hashes one after another at a fixed width (or a JSON array where they differ in width), and as arrays of
little-endian integers where each body lies (bytes ``start`` to ``end``) and where an asset's placeholder
flag goes in it when known, each kind (an index in the header's ``kinds``), how many addresses each
requires and which (the index of the resource at that address in the file, or ``-1 - i`` for the ``i``-th
of ``literals``) and how many edges each has and their keys (indices in ``keys``); then a header line ``{"format", "key", "column_edges", "count", "heads",
"columns", "kinds", "hash_width", "notes", "mac"}`` (``heads``: where the columns begin; ``columns``: where
each lies after it), last because the file is written as it is made and the mac covers everything before
it and the rest of the header. ``notes`` are the manifests' warnings, which a plan from the cache repeats.
A translation writes its bodies into the file as it makes them (``spill``), so a plan does not hold a
million of them; bodies are parsed only when read, so a no-op re-plan never parses them. A column is
written and read whole, by C code (json, numpy): a resource at a time, as lines of JSON, writing and
reading a million of them took 5.7 s each.

``digests.json`` keeps the digest of each local manifest with its file's stamp (inode, size, modification
and change times) when it was hashed, signed like the rest: a run whose manifests are as stamped takes
their digests from it, and reads their bytes only if it parses them (a plan remembered as a no-op never does).
"""

from __future__ import annotations

import glob
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from . import __version__
from .cache_columns import UNPLACED_AT, columns_of, encoded, resources_of
from .canonical import LazyBody
from .config import TargetConfig
from .errors import Problem, SourceError
from .opened import Opened, Spill, open_at, read_opened
from .plan.contract import Resource, ResourceTable, made_whole
from .plan.model import TargetPlan
from .plan.planfile import target_doc, target_from_doc
from .sources import KnownDigests, Stamp

CACHE_FORMAT = 5
NOOP_FORMAT = 1
DIGESTS_FORMAT = 1
DIGESTS_NAME = "digests.json"  # the manifests' digests, by their files' stamps
DIGESTS_KEPT = 10_000  # files whose digests are kept
KEY_FILE_ENV = "LAC_CACHE_KEY_FILE"


@dataclass(frozen=True)
class CachedResources:
    resources: Sequence[Resource]  # a ResourceTable, or a list
    column_edges: int
    notes: tuple[Problem, ...] = ()  # the warnings parsing the manifests gave: a plan from the cache repeats them


@dataclass(frozen=True)
class CachedFile:
    """A cache file found and its MAC checked (``ResourceCache.find``): its header, where its columns and
    bodies are read, how many of its bytes are signed, and the warnings parsing the manifests gave."""

    header: Mapping[str, Any]
    bodies: bytes | Opened
    cut: int
    notes: tuple[Problem, ...]


def _key_file() -> Path:
    configured = os.environ.get(KEY_FILE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lineage-as-code" / "cache.key"


def _signing_key() -> bytes | None:
    """The machine's cache signing key (made on first use, readable by its owner only); None when it
    cannot be read or made, which turns the cache off."""
    path = _key_file()
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cache.key.", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # appears whole or not at all; a racing run's key wins
        finally:
            os.unlink(tmp)
        return path.read_bytes()
    except OSError:
        try:
            return path.read_bytes() if len(path.read_bytes()) >= 32 else None
        except OSError:
            return None


@cache
def _parser_version() -> str:
    try:
        return metadata.version("sqlglot")
    except metadata.PackageNotFoundError:
        return ""


_TAIL = 1 << 16  # bytes of a cache file's end read first, to find its header line
_BLOCK = 1 << 23  # bytes of bodies signed at a time


def _read_signed(path: Path, signing: bytes, key: str) -> tuple[dict[str, Any], bytes | Opened, int] | None:
    """(header, where the bodies and columns are read, how many bytes of it the MAC covers) of the cache
    file at ``path`` when it is one of this format, for ``key``, and its MAC holds; None otherwise. The file
    is kept open and signed a block at a time as it is read, never held: its columns are read again, each
    whole, and its bodies each when needed. Where the system cannot read at an offset, the file is read
    whole and kept."""
    kept = open_at(path, "the translation cache")
    if kept is None:
        whole, _ = read_opened(path, "the translation cache")
        bodies: bytes | Opened = whole
        size = len(whole)
    else:
        bodies, size = kept
    at = max(0, size - _TAIL)
    tail = bodies[at:size]
    if not tail.endswith(b"\n"):
        return None
    while (nl := tail.rfind(b"\n", 0, len(tail) - 1)) < 0 and at > 0:  # a header longer than the tail read
        start = max(0, at - len(tail))
        tail, at = bodies[start:at] + tail, start
    cut = at + nl + 1
    header = json.loads(tail[nl + 1:])
    if not isinstance(header, dict):
        return None
    given = str(header.pop("mac", ""))  # the header is signed without it
    heads = header.get("heads")
    if not (header.get("format") == CACHE_FORMAT and header.get("key") == key and type(heads) is int
            and 0 <= heads <= cut):
        return None
    signed = hmac.new(signing, digestmod=hashlib.sha256)
    for start in range(0, cut, _BLOCK):
        signed.update(bodies[start:min(start + _BLOCK, cut)])
    if not hmac.compare_digest(given, _mac(signing, header, signed.hexdigest())):
        return None
    return header, bodies, cut


def _signed(signing: bytes, doc: Mapping[str, Any]) -> str:
    return hmac.new(signing, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(),
                    hashlib.sha256).hexdigest()


def _mac(signing: bytes, header: Mapping[str, Any], lines_mac: str) -> str:
    """HMAC-SHA256 over the header (without its mac) and the lines' own HMAC: nothing in the file is
    unsigned, and the lines are signed as they are written."""
    material = json.dumps(dict(header), sort_keys=True, separators=(",", ":")).encode() + b"\n" + lines_mac.encode()
    return hmac.new(signing, material, hashlib.sha256).hexdigest()


class ResourceCache:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder or Path()
        self.enabled = folder is not None and os.environ.get("LAC_NO_CACHE", "") in ("", "0")

    @staticmethod
    def key(digest: str, target: TargetConfig) -> str:
        material = repr((__version__, _parser_version(), digest, target.type,
                         sorted(target.settings.items(), key=str), target.policy))
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def _path(self, target: str, key: str) -> Path:
        return self.folder / f"{target}-{key}.json"

    def _noop_path(self, target: str) -> Path:
        return self.folder / f"{target}.noop.json"

    @staticmethod
    def noop_key(key: str, *facts: object) -> str:
        """The key of a remembered no-op plan: the translation's ``key`` and every other fact the plan
        of one target is a function of (state lineage, the digest of its entries, the target's held
        digest, the ownership marker, refresh)."""
        return hashlib.sha256(repr((key, *facts)).encode()).hexdigest()

    def get_noop(self, target: str, key: str) -> tuple[TargetPlan, tuple[Problem, ...]] | None:
        """The plan remembered under ``key`` for ``target`` (one that found nothing to do) and the
        manifests' warnings; None when there is none, it is for other facts, or not signed by this
        machine's key (a file a pull request put there is a miss)."""
        doc = self._get_signed(self._noop_path(target), NOOP_FORMAT)
        if doc is None:
            return None
        try:
            if doc["key"] != key:
                return None
            plan = target_from_doc(doc["plan"])
            if plan.changes or plan.name != target:
                return None
            return plan, tuple(Problem(str(f), int(n), str(k), str(m)) for f, n, k, m in doc["notes"])
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None

    def put_noop(self, target: str, key: str, plan: TargetPlan, notes: tuple[Problem, ...]) -> None:
        """Remember that the plan of ``target`` under ``key`` found nothing to do (best effort)."""
        signing = _signing_key() if self.enabled else None
        if signing is None or plan.changes:
            return
        doc: dict[str, Any] = {"format": NOOP_FORMAT, "key": key, "plan": target_doc(plan),
                               "notes": [[p.file, p.line, p.field, p.message] for p in notes]}
        self._put_signed(self._noop_path(target), doc, signing)

    def _put_signed(self, path: Path, doc: dict[str, Any], signing: bytes) -> None:
        """Write ``doc`` with its MAC to ``path``, replacing it whole (best effort)."""
        doc["mac"] = _signed(signing, doc)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(json.dumps(doc).encode())
                os.replace(tmp, path)
            except OSError:
                os.unlink(tmp)
                raise
        except OSError:
            return

    def _get_signed(self, path: Path, form: int) -> dict[str, Any] | None:
        """The document at ``path`` without its MAC, when it is of format ``form`` and signed by this machine's
        key; None otherwise (a file a pull request put there is a miss)."""
        signing = _signing_key() if self.enabled else None
        if signing is None:
            return None
        try:
            doc = json.loads(path.read_bytes())
            given = str(doc.pop("mac"))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None
        if not (hmac.compare_digest(given, _signed(signing, doc)) and doc.get("format") == form):
            return None
        return doc

    def known_digests(self) -> KnownDigests | None:
        """The manifests' digests earlier runs took, each with its file's stamp (``sources.KnownDigests``);
        None when the cache is off."""
        if not self.enabled:
            return None
        doc = self._get_signed(self.folder / DIGESTS_NAME, DIGESTS_FORMAT)
        known: dict[str, tuple[Stamp, bytes]] = {}
        try:
            for path, (ino, size, mtime, ctime, digest) in (doc or {}).get("files", {}).items():
                stamp = (int(ino), int(size), int(mtime), int(ctime))
                known[str(path)] = (stamp, bytes.fromhex(digest))
        except (TypeError, ValueError, AttributeError):
            known = {}
        return KnownDigests(known)

    def put_digests(self, digests: KnownDigests) -> None:
        """Keep the digests this run took or used, and those of other files earlier runs took, up to
        ``DIGESTS_KEPT`` files (best effort)."""
        signing = _signing_key() if self.enabled else None
        if signing is None or not digests.taken or all(digests.known.get(p) == v for p, v in digests.taken.items()):
            return
        files = {path: known for path, known in digests.known.items() if path not in digests.taken}
        files.update(digests.taken)  # last: the files this run read are the last to go
        kept = dict(list(files.items())[-DIGESTS_KEPT:])
        self._put_signed(self.folder / DIGESTS_NAME, {"format": DIGESTS_FORMAT, "files": {
            path: [*stamp, digest.hex()] for path, (stamp, digest) in kept.items()}}, signing)

    def get(self, target: str, key: str) -> CachedResources | None:
        """The cached resources, or None (a miss, a file that is corrupt or not signed by this
        machine's key, or the cache is off): ``read`` of what ``find`` found."""
        found = self.find(target, key)
        return self.read(found) if found is not None else None

    def find(self, target: str, key: str) -> CachedFile | None:
        """The cache file of ``target`` for ``key``, its MAC checked but its resources not yet read, or None
        (as ``get``). A run that finds every target's can let the manifests' bytes go before it reads them."""
        signing = _signing_key() if self.enabled else None
        if signing is None:
            return None
        try:
            found = _read_signed(self._path(target, key), signing, key)
            if found is None:
                return None
            header, bodies, cut = found
            notes = tuple(Problem(str(f), int(n), str(k), str(m)) for f, n, k, m in header["notes"])
            return CachedFile(header, bodies, cut, notes)
        except (OSError, SourceError, ValueError, TypeError, KeyError, IndexError, RecursionError):
            # (SourceError: the file cut while it was read)
            return None

    @staticmethod
    def read(found: CachedFile) -> CachedResources | None:
        """The resources of a cache file ``find`` found, as a ``ResourceTable`` (within ``resources_made_whole``:
        made one by one); None when they cannot be read after all (the file cut in place since, or columns that
        are not as written)."""
        whole = made_whole()
        try:
            table = resources_of(found.header, found.bodies, found.cut, compact=not whole)
            return CachedResources(table.resources() if whole else table, int(found.header["column_edges"]),
                                   found.notes)
        except (OSError, SourceError, ValueError, TypeError, KeyError, IndexError, RecursionError):
            return None

    def spill(self, target: str) -> Spill | None:
        """A new cache file for ``target``, for a translation to write its bodies into as it makes them
        (``bodies_spilled_to``); ``put`` finishes it, and whoever made it ``discard``s it if ``put`` is not
        reached. None when the cache is off or no file can be made."""
        signing = _signing_key() if self.enabled else None
        if signing is None:
            return None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target}-", suffix=".tmp", dir=self.folder)
        except OSError:
            return None
        return Spill(fd, tmp, hmac.new(signing, digestmod=hashlib.sha256), tmp)

    def put(self, target: str, key: str, value: CachedResources, spill: Spill | None = None) -> None:
        """Store ``value`` signed; failures to write are ignored (the cache is only an accelerator).

        Written as it is encoded, signed as it goes: a million resources never exist as one text in memory
        (that text, its lines and its bytes were most of an apply's peak). ``spill`` is the file
        ``spill(target)`` gave, where the translation wrote its bodies; the bodies that are not there yet are
        added, then the resources' columns, then the header. Once the file is in place, each of
        ``value``'s resources whose body was added here is swapped, in its list, for the same resource whose
        body is read from that file when needed (``LazyBody``; the file is kept open, so a run that replaces
        it later changes nothing here): the run goes on without holding the bodies' text, at a million
        Lineage Builder rows about 190 MB."""
        signing = _signing_key() if self.enabled else None
        if signing is None:
            return
        if spill is None or spill.mac is None or not spill.path:
            spill = self.spill(target)
            if spill is None:
                return
        path = self._path(target, key)
        resources = value.resources
        spans = array("q")  # where each body is in the file: start, end
        placed = array("q")  # where each body's placeholder flag goes, when known (``TextBody.placed``)
        added = []  # the resources whose bodies were added here
        table = resources if isinstance(resources, ResourceTable) else None
        try:
            for i in range(len(resources)):
                span = table.span_at(i, spill) if table is not None else None
                if span is None:
                    body = table.body_at(i) if table is not None else resources[i].body
                    span = body.span_in(spill) if type(body) is LazyBody else None
                if span is None:
                    data = encoded(body)
                    begin = spill.add(data)
                    span = (begin, begin + len(data))
                    added.append(i)
                spans.extend(span)
                place = table.placed_at(i) if table is not None else getattr(resources[i].body, "placed", None)
                placed.append(UNPLACED_AT if place is None else place)
            heads = spill.size
            header: dict[str, Any] = {"format": CACHE_FORMAT, "key": key, "column_edges": value.column_edges,
                                      "count": len(resources), "heads": heads, "columns": {}}
            for name, parts in columns_of(resources, spans, placed, header):
                start = spill.size - heads
                for part in parts:
                    spill.add(part)
                header["columns"][name] = [start, spill.size - heads]
            spill.add(b"\n")  # the header's line starts after the last newline (a header holds none)
            spill.flush()
            if spill.failed:
                raise OSError("the cache file was not written whole")
            header["notes"] = [[p.file, p.line, p.field, p.message] for p in value.notes]
            header["mac"] = _mac(signing, header, spill.mac.hexdigest())
            spill.mac = None  # the header is not part of what it signs
            spill.add(json.dumps(header).encode() + b"\n")
            spill.flush()
            if spill.failed:
                raise OSError("the cache file was not written whole")
            mine = glob.escape(target) + "-" + "[0-9a-f]" * 32  # not a target whose name starts with this one's
            for old in (*self.folder.glob(f"{mine}.json"), *self.folder.glob(f"{mine}.pickle")):
                old.unlink(missing_ok=True)
            os.replace(spill.path, path)
            spill.path = ""
        except (TypeError, ValueError, OSError):  # a body that is not plain JSON data is not cached
            spill.discard()
            return
        if table is not None:  # every body is now in the file: the table reads them all from there
            if added:
                table.read_from(spill, spans[0::2], spans[1::2], placed)
            return
        listed = cast("list[Resource]", resources)
        for i in added:  # one at a time: each text goes as its resource is swapped
            r = listed[i]
            body = LazyBody(spill, spans[2 * i], spans[2 * i + 1], None if placed[i] == UNPLACED_AT else placed[i])
            listed[i] = Resource(r.address, r.kind, body, r.source, r.requires, r.edges, r.hash)

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

File shape: the canonical JSON of every body, one after another; then one line per resource,
``[address, kind, source, requires, edges, hash, start, end]`` (its body: bytes ``start`` to ``end``; an
address required that is an asset's earlier in the file, as that asset's index; each edge as two indices
in ``keys``); then a header line ``{"format", "key", "column_edges", "count", "heads", "keys", "notes",
"mac"}`` (``heads``: where the resource lines begin; ``keys``: every edge key, once), last because the
file is written as it is made and the mac covers everything before it and the rest of the header.
``notes`` are the manifests' warnings, which a plan from the cache repeats. A translation writes its
bodies into the file as it makes them (``spill``), so a plan does not hold a million of them; bodies
are parsed only when read, so a no-op re-plan never parses them.
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
from json.encoder import encode_basestring  # json.dumps(ensure_ascii=False) of a str, in C
from pathlib import Path
from typing import Any

from . import __version__
from .canonical import LazyBody, canonical_text, encoder, plain_value
from .config import TargetConfig
from .errors import Problem, SourceError
from .opened import Opened, Spill, byte_positions, open_at, read_opened
from .plan.contract import ASSET, Resource
from .plan.model import TargetPlan
from .plan.planfile import target_doc, target_from_doc

CACHE_FORMAT = 4
NOOP_FORMAT = 1
_CHUNK = 10_000  # resources encoded and written (and head lines parsed) at a time
KEY_FILE_ENV = "LAC_CACHE_KEY_FILE"


@dataclass(frozen=True)
class CachedResources:
    resources: list[Resource]
    column_edges: int
    notes: tuple[Problem, ...] = ()  # the warnings parsing the manifests gave: a plan from the cache repeats them


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


_body_json = encoder(sort_keys=True, ascii_only=False, default=plain_value)  # what is not plain data is not cached


class _Places:
    """Where the strings a cache file's resource lines refer to are written: each asset's address as the
    index of its resource in the file, each edge key as its index in the file's key table (the header's
    ``keys``). A string met again is written as that number, and read back as one string: JSON would
    otherwise make a string per occurrence, and sharing them again by value cost a hit of a million
    resources about 4 s. Kept by the string itself (its hash is cached in it, and the translation shares
    each among the resources it makes, so a lookup compares by identity), each number as its text."""

    def __init__(self) -> None:
        self.assets: dict[str, str] = {}  # address -> index of its resource
        self.keyed: dict[str, str] = {}  # key -> index in keys
        self.keys: list[str] = []

    def add(self, resources: Sequence[Resource], start: int) -> None:
        """Note the assets among ``resources``, the file's resources from index ``start`` on."""
        for i, r in enumerate(resources, start):
            if r.kind == ASSET and type(r.address) is str:
                self.assets[r.address] = str(i)

    def key(self, key: str) -> str:
        """The index of ``key`` in the key table, added when new; TypeError for a key that is not a string."""
        place = self.keyed.get(key)
        if place is None:
            if type(key) is not str:
                raise TypeError("an edge key that is not a string is not cached")
            place = self.keyed[key] = str(len(self.keys))
            self.keys.append(key)
        return place


def _head(r: Resource, start: int, end: int, places: _Places) -> bytes:
    """``[address, kind, source, requires, edges, hash, start, end]`` as compact JSON (UTF-8 as is), written
    from its strings (a cache of a million resources writes a million heads): each address required is
    the index of its resource in the file where ``places`` knows it (else the address), each edge a pair of
    indices in the key table. TypeError or ValueError where a field is not a string or an edge not a pair:
    such a resource is not cached."""
    q = encode_basestring
    requires = edges = ""
    if r.requires:
        at = places.assets.get
        requires = ",".join([at(a) or q(a) for a in r.requires])  # (an index is never "")
    if r.edges:
        known, key = places.keyed.get, places.key
        edges = ",".join([f"[{known(a) or key(a)},{known(b) or key(b)}]" for a, b in r.edges])
    return f"[{q(r.address)},{q(r.kind)},{q(r.source)},[{requires}],[{edges}],{q(r.hash)},{start},{end}]".encode()


def _encoded(body: Any) -> bytes:
    """A body's canonical JSON, UTF-8: a body that keeps its text encoded (``TextBody``) gives it as it is;
    TypeError or ValueError where a body is not plain JSON data."""
    encoded = getattr(body, "encoded", None)
    return encoded() if encoded is not None else canonical_text(body, _body_json).encode()


def _resources(lines: bytes, bodies: bytes | Opened, limit: int, keys: list[str]) -> list[Resource]:
    """The resources of a cache file's resource ``lines``: found by where its newlines are (looked for a
    few MB at a time), a chunk of lines parsed by one ``json.loads`` (a million calls of it were most of a
    no-op re-plan), every body left where it is (``bodies``: the file kept open, or its bytes, whose first
    ``limit`` bytes are bodies) until read; ``keys``: the file's key table."""
    import numpy as np

    if not lines:
        return []
    ends = byte_positions(np.frombuffer(lines, dtype=np.uint8), 10)
    if not len(ends) or int(ends[-1]) != len(lines) - 1:
        raise ValueError("not a cache file's lines")
    starts = np.concatenate([np.zeros(1, dtype=ends.dtype), ends[:-1] + 1])
    out: list[Resource] = []
    addresses: list[str] = []  # every resource's address so far, by index
    shared: dict[str, str] = {}  # one string per kind
    table = dict(enumerate(keys))  # (a dict: an index out of the table is a KeyError, never another key)
    for at in range(0, len(ends), _CHUNK):  # in chunks: the joined text stays small
        first, last = int(starts[at]), int(ends[min(at + _CHUNK, len(ends)) - 1])
        # JSON text holds no raw newline: the chunk's lines, made one array
        heads = json.loads(b"[" + lines[first:last].replace(b"\n", b",") + b"]")
        out += _chunk(heads, shared, bodies, limit, addresses, table)
    return out


def _literal(value: Any) -> str:
    """An address required that is written as itself; TypeError for anything but a string."""
    if type(value) is not str:
        raise TypeError("not a cached resource")
    return value


def _chunk(heads: list[Any], shared: dict[str, str], bodies: bytes | Opened, limit: int, addresses: list[str],
           keys: Mapping[int, str]) -> list[Resource]:
    """Resources of parsed head lines, each taken and checked as it comes (a pass per field over a million
    resources cost twice as much: each pass reads every value again). ``addresses`` (of the file's resources
    before these, extended with theirs) and ``keys`` (the file's key table, by index) give the strings their
    indices stand for. TypeError, ValueError, IndexError or KeyError for anything that is not a cached
    resource as written."""
    out = []
    share = shared.setdefault
    at, key, add = addresses.__getitem__, keys.__getitem__, addresses.append
    for head in heads:
        address, kind, source, requires, edges, digest, start, end = head
        if not (type(address) is str and type(kind) is str and type(source) is str and type(digest) is str
                and type(requires) is list and type(edges) is list
                and type(start) is int and type(end) is int and 0 <= start <= end <= limit):
            raise TypeError("not a cached resource")
        add(address)
        held = tuple([at(a) if type(a) is int and a >= 0 else _literal(a) for a in requires]) if requires else ()
        pairs = tuple([(key(a), key(b)) for a, b in edges]) if edges else ()
        out.append(Resource(address, share(kind, kind), LazyBody(bodies, start, end), source, held, pairs, digest))
    return out


_TAIL = 1 << 16  # bytes of a cache file's end read first, to find its header line
_BLOCK = 1 << 23  # bytes of bodies signed at a time


def _read_signed(path: Path, signing: bytes, key: str) -> tuple[dict[str, Any], bytes, bytes | Opened] | None:
    """(header, resource lines, where the bodies are read) of the cache file at ``path`` when it is one of
    this format, for ``key``, and its MAC holds; None otherwise. The file is kept open and its bodies (most
    of its bytes) are signed a block at a time as they are read, never held: they are read again, each when
    it is needed. Where the system cannot read at an offset, the file is read whole and kept."""
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
    for start in range(0, heads, _BLOCK):
        signed.update(bodies[start:min(start + _BLOCK, heads)])
    lines = bodies[heads:cut]
    signed.update(lines)
    if not hmac.compare_digest(given, _mac(signing, header, signed.hexdigest())):
        return None
    return header, lines, bodies


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
        signing = _signing_key() if self.enabled else None
        if signing is None:
            return None
        try:
            doc = json.loads(self._noop_path(target).read_bytes())
            given = str(doc.pop("mac"))
            if not (hmac.compare_digest(given, _signed(signing, doc)) and doc["format"] == NOOP_FORMAT
                    and doc["key"] == key):
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
        doc["mac"] = _signed(signing, doc)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target}.noop-", suffix=".tmp", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(json.dumps(doc).encode())
                os.replace(tmp, self._noop_path(target))
            except OSError:
                os.unlink(tmp)
                raise
        except OSError:
            return

    def get(self, target: str, key: str) -> CachedResources | None:
        """The cached resources, or None (a miss, a file that is corrupt or not signed by this
        machine's key, or the cache is off)."""
        signing = _signing_key() if self.enabled else None
        if signing is None:
            return None
        try:
            found = _read_signed(self._path(target, key), signing, key)
            if found is None:
                return None
            header, lines, bodies = found
            keys = header["keys"]
            if not (type(keys) is list and set(map(type, keys)) <= {str}):
                return None
            resources = _resources(lines, bodies, header["heads"], keys)
            if len(resources) != header.get("count"):
                return None
            return CachedResources(resources, int(header["column_edges"]),
                                   tuple(Problem(str(f), int(n), str(k), str(m)) for f, n, k, m in header["notes"]))
        except (OSError, SourceError, ValueError, TypeError, KeyError, IndexError, RecursionError):
            # (SourceError: the file cut while it was read)
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
        added, then the resource lines, then the header. Once the file is in place, each of
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
        added = []  # the resources whose bodies were added here
        try:
            for i, r in enumerate(resources):
                body = r.body
                span = body.span_in(spill) if type(body) is LazyBody else None
                if span is None:
                    data = _encoded(body)
                    begin = spill.add(data)
                    span = (begin, begin + len(data))
                    added.append(i)
                spans.extend(span)
            heads = spill.size
            places = _Places()
            for start in range(0, len(resources), _CHUNK):
                stop = min(start + _CHUNK, len(resources))
                places.add(resources[start:stop], start)  # read back, these are known once their chunk is
                spill.add(b"\n".join([_head(r, spans[2 * i], spans[2 * i + 1], places)
                                      for i, r in zip(range(start, stop), resources[start:stop])]) + b"\n")
            spill.flush()
            if spill.failed:
                raise OSError("the cache file was not written whole")
            header: dict[str, Any] = {
                "format": CACHE_FORMAT, "key": key, "column_edges": value.column_edges, "count": len(resources),
                "heads": heads, "keys": places.keys,
                "notes": [[p.file, p.line, p.field, p.message] for p in value.notes]}
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
        for i in added:  # one at a time: each text goes as its resource is swapped
            r = resources[i]
            resources[i] = Resource(r.address, r.kind, LazyBody(spill, spans[2 * i], spans[2 * i + 1]), r.source,
                                    r.requires, r.edges, r.hash)

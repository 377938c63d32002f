"""State: the ledger of what this tool created in each target, and the lock around changing it.

A State is a frozen value: a lineage id (fixed at the first write), a serial that grows with
every write, and per target a map of address -> StateEntry (vendor id, content hash, kind).
Only resources in state are ever deleted. Stores share one protocol (read, compare-and-swap
write, lock, unlock, force-unlock) so the same contract tests run against every backend.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import NamedTuple, Protocol

from ..errors import LockError, StateError
from ..model import bulk_allocation

FORMAT_VERSION = 1


class StateEntry(NamedTuple):
    """One managed resource: its kind, the vendor's id for it, and the hash of what was written.
    (A tuple: states hold hundreds of thousands of these.)"""

    kind: str
    id: str
    hash: str
    partial: bool = False
    edges: tuple[tuple[str, str], ...] = ()
    file: str = ""  # the manifest file that declared it: a plan of some files prunes only what they declared
    # A write whose outcome is unknown (a lost reply on a target whose ambiguous-failure policy is hold):
    # kept as if written, reported by every plan, re-sent only by ``lac apply --retry-uncertain``.
    uncertain: bool = False


def _entry_doc(entry: StateEntry) -> list[object]:
    """An entry as ``[kind, id, hash, partial, edges, file?, uncertain?]``: arrays parse twice as fast as
    objects; the optional tail is left out when empty, so older states read unchanged."""
    doc: list[object] = [entry.kind, entry.id, entry.hash, 1 if entry.partial else 0, entry.edges]
    if entry.file or entry.uncertain:
        doc.append(entry.file)
    if entry.uncertain:
        doc.append(1)
    return doc


def _entry(item: list[object]) -> StateEntry:
    kind, vid, digest, partial, edges, *rest = item
    file = rest[0] if rest else ""
    if not (isinstance(kind, str) and isinstance(vid, str) and isinstance(digest, str) and isinstance(file, str)
            and isinstance(edges, list) and len(rest) <= 2):
        raise TypeError("a state entry must be [kind, id, hash, partial, edges, file?, uncertain?] with strings")
    return StateEntry(kind, vid, digest, bool(partial), tuple((str(a), str(b)) for a, b in edges) if edges else (),
                      file, len(rest) > 1 and bool(rest[1]))


@dataclass(frozen=True)
class State:
    lineage: str = ""
    serial: int = 0
    targets: Mapping[str, Mapping[str, StateEntry]] = field(default_factory=lambda: MappingProxyType({}))

    def entries(self, target: str) -> Mapping[str, StateEntry]:
        return self.targets.get(target, MappingProxyType({}))

    def updated(self, target: str, put: Mapping[str, StateEntry], drop: set[str]) -> State:
        """Return the next state: entries put/dropped for ``target``, serial + 1, lineage fixed."""
        current = {k: v for k, v in self.entries(target).items() if k not in drop}
        current.update(put)
        targets = dict(self.targets)
        targets[target] = MappingProxyType(dict(sorted(current.items())))
        return State(self.lineage or str(uuid.uuid4()), self.serial + 1, MappingProxyType(dict(sorted(targets.items()))))

    def to_json(self) -> bytes:
        """The state document: ``{"format_version", "lineage", "serial", "targets": {target:
        {address: [kind, vendor id, content hash, partial 0|1, [[source, target], ...], file?, uncertain 1?]}}}``,
        one resource per line so that it diffs well; arrays parse twice as fast as objects."""
        lines = [(f'{{"format_version":{FORMAT_VERSION},"lineage":{json.dumps(self.lineage)},'
                  f'"serial":{self.serial},"targets":{{')]
        for t_index, (target, entries) in enumerate(sorted(self.targets.items())):
            lines.append(("," if t_index else "") + f"{json.dumps(target)}:{{")
            body = [f"{json.dumps(a)}:{json.dumps(_entry_doc(e), separators=(',', ':'))}"
                    for a, e in sorted(entries.items())]
            lines.append(",\n".join(body))
            lines.append("}")
        lines.append("}}")
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> State:
        try:
            with bulk_allocation():
                doc = json.loads(data)
                if doc.get("format_version") != FORMAT_VERSION:
                    raise StateError(f"{where}: unsupported state format {doc.get('format_version')!r}")
                targets = {t: MappingProxyType({a: _entry(item) for a, item in entries.items()})
                           for t, entries in doc["targets"].items()}
            return cls(str(doc["lineage"]), int(doc["serial"]), MappingProxyType(targets))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(f"{where}: state file is corrupt ({exc}); restore it from a backup") from exc


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock, for what, since when: shown to anyone who finds it taken."""

    id: str
    operation: str
    who: str
    created: str

    @classmethod
    def new(cls, operation: str) -> LockInfo:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        who = f"{user}@{socket.gethostname()} pid {os.getpid()}"
        return cls(str(uuid.uuid4()), operation, who, datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LockInfo:
        try:
            return cls(**json.loads(data))
        except (ValueError, TypeError):
            return cls("?", "?", "unknown (unreadable lock file)", "?")

    def describe(self) -> str:
        return f"lock {self.id} held by {self.who} for {self.operation} since {self.created}"


def locked_error(location: str, holder: LockInfo | None, unknown: str) -> LockError:
    """The error for a lock someone else holds: who, for what, since when, and the way out."""
    described = holder.describe() if holder else unknown
    return LockError(f"{location} is locked: {described}. If that run is dead, "
                     f"run 'lac force-unlock {holder.id if holder else '<id>'}'")


JUST_RELEASED = "another run, which has just released it; run again"


class StateStore(Protocol):
    """Where state lives. Every backend gives the same guarantees."""

    location: str

    def read(self) -> State:
        """Return the current state (an empty State when none was written yet)."""
        ...

    def write(self, state: State, expected_serial: int) -> None:
        """Replace the state if its serial is still ``expected_serial``; else StateConflictError."""
        ...

    def lock(self, operation: str) -> LockInfo:
        """Take the lock or raise LockError naming the holder."""
        ...

    def unlock(self, lock: LockInfo) -> None: ...

    def force_unlock(self, lock_id: str) -> None:
        """Remove a stale lock if its id matches; LockError otherwise."""
        ...


def open_state_store(location: str) -> StateStore:
    """Return the store for a local path or an s3://, gs://, az:// URI."""
    if location.startswith(("s3://", "gs://", "az://", "abfss://")):
        from .remote import open_remote_store

        return open_remote_store(location)
    from .local import LocalStateStore

    return LocalStateStore(location)

"""State in an object store (s3://, gs://, az://, abfss://), with the local store's guarantees.

The state is one object; its lock is a second object beside it (``<state>.lock``) holding the
LockInfo JSON. Writes are compare-and-swap twice over: the serial read back must be the one
expected, and the put is conditional on the version read (S3 ETag ``If-Match``, GCS
``ifGenerationMatch``, Azure ``If-Match``), so two writers racing between read and put cannot both
win. The lock is taken with a create-only put (S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``);
Azure uses a blob lease instead (``state/azure.py``). Object-store errors become StateError or
LockError naming the location.
"""

from __future__ import annotations

import time

from ..errors import LockError, SourceError, StateConflictError, StateError
from ..sources import open_object_store
from ..sources.remote import ObjectChangedError, ObjectStore
from . import JUST_RELEASED, LockInfo, State, locked_error, peek_serial


def _state_error(exc: SourceError) -> StateError:
    return StateError(str(exc))  # already names the object and what to check


class RemoteStateStore:
    """State at ``location``; the lock is taken by a create-only put of ``<key>.lock``."""

    def __init__(self, location: str, store: ObjectStore, key: str) -> None:
        if not key or key.endswith("/"):
            raise StateError(f"{location}: the state path must name an object, e.g. {location.rstrip('/')}/state.json")
        self.location = location
        self.store = store
        self.key = key
        self.lock_key = key + ".lock"

    def _get(self, key: str) -> tuple[bytes, str] | None:
        try:
            return self.store.get(key)
        except SourceError as exc:
            raise _state_error(exc) from exc

    def read(self) -> State:
        found = self._get(self.key)
        return State() if found is None else State.from_json(found[0], self.location)

    def write(self, state: State, expected_serial: int) -> None:
        found = self._get(self.key)
        lineage, serial = ("", 0) if found is None else peek_serial(found[0], self.location)
        if serial != expected_serial or (lineage and lineage != state.lineage):
            raise self._conflict(serial, expected_serial)
        try:
            if found is None:
                self.store.put(self.key, state.to_json(), absent=True)
            else:
                self.store.put(self.key, state.to_json(), match=found[1])
        except ObjectChangedError as exc:
            raise self._conflict(None, expected_serial) from exc
        except SourceError as exc:
            raise _state_error(exc) from exc

    def _conflict(self, serial: int | None, expected: int) -> StateConflictError:
        now = f"serial {serial}" if serial is not None else "written by another run"
        return StateConflictError(f"{self.location}: state changed underneath this run ({now}, expected "
                                  f"{expected}); re-run plan")

    def _locked_error(self) -> LockError:
        # A leased lock (Azure) is taken before its holder's details are written into it: give the
        # holder a moment so the message can name it.
        for pause in (0.0, 0.05, 0.1, 0.2, 0.4):
            time.sleep(pause)
            found = self._get(self.lock_key)
            if found is None:
                return locked_error(self.location, None, JUST_RELEASED)
            if found[0]:
                return locked_error(self.location, LockInfo.from_json(found[0]), "")
        return locked_error(self.location, None, "another run (its lock is still being written)")

    def lock(self, operation: str) -> LockInfo:
        info = LockInfo.new(operation)
        try:
            self._acquire(info)
        except ObjectChangedError as exc:
            raise self._locked_error() from exc
        except SourceError as exc:
            raise _state_error(exc) from exc
        return info

    def _acquire(self, info: LockInfo) -> None:
        """Take the lock for ``info``; ObjectChangedError when someone else holds it."""
        self.store.put(self.lock_key, info.to_json(), absent=True)

    def unlock(self, lock: LockInfo) -> None:
        self.force_unlock(lock.id)

    def _held(self, lock_id: str) -> tuple[LockInfo, str]:
        found = self._get(self.lock_key)
        if found is None:
            raise LockError(f"{self.location} is not locked")
        holder = LockInfo.from_json(found[0])
        if holder.id != lock_id:
            raise LockError(f"lock id {lock_id} does not match the {holder.describe()}")
        return holder, found[1]

    def force_unlock(self, lock_id: str) -> None:
        _, version = self._held(lock_id)
        try:
            self.store.delete(self.lock_key, match=version)
        except ObjectChangedError as exc:
            raise LockError(f"{self.location}: the lock changed hands while removing it; check it again") from exc
        except SourceError as exc:
            raise _state_error(exc) from exc


def open_remote_store(location: str) -> RemoteStateStore:
    """Return the state store for an object URI; Azure containers lock with a blob lease."""
    try:
        store, loc = open_object_store(location)
    except SourceError as exc:
        raise _state_error(exc) from exc
    if store.locking == "lease":
        from .azure import LeasedStateStore

        return LeasedStateStore(location, store, loc.key)
    return RemoteStateStore(location, store, loc.key)

"""Local state file with a lock file beside it (``state.json.lock``, linked into place whole).

Writes go to a temporary file that replaces the state atomically, so a crash leaves either the
old or the new state, never a torn one.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LockError, StateConflictError, StateError
from . import JUST_RELEASED, LockInfo, State, locked_error


class LocalStateStore:
    def __init__(self, location: str) -> None:
        self.location = location
        self.path = Path(location)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def read(self) -> State:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StateError(f"{self.location}: cannot read state: {exc.strerror}") from exc
        return State.from_json(data, self.location)

    def write(self, state: State, expected_serial: int) -> None:
        current = self.read()
        if current.serial != expected_serial or (current.lineage and current.lineage != state.lineage):
            raise StateConflictError(
                f"{self.location}: state changed underneath this run (serial {current.serial}, expected "
                f"{expected_serial}); re-run plan")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                fh.write(state.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StateError(f"{self.location}: cannot write state: {exc.strerror}") from exc

    def lock(self, operation: str) -> LockInfo:
        info = LockInfo.new(operation)
        try:
            self._take(info)
        except OSError as exc:
            raise StateError(f"{self.location}: cannot take the lock: {exc.strerror or exc}") from exc
        return info

    def _take(self, info: LockInfo) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise StateError(f"{self.location}: cannot create the state folder: {exc.filename} is a file") from exc
        # The lock file appears complete or not at all: it is written under a private name and then
        # hard-linked into place, and link() fails if the name exists. A racing run therefore never
        # reads a half-written lock and can always name the holder.
        tmp = self.lock_path.with_name(f".{self.lock_path.name}.{os.getpid()}.{info.id}.tmp")
        try:
            tmp.write_bytes(info.to_json())
            try:
                os.link(tmp, self.lock_path)
            except FileExistsError:
                raise self._locked_error() from None
            except OSError:
                # Filesystems without hard links: fall back to an exclusive create.
                self._create_exclusive(info)
        finally:
            tmp.unlink(missing_ok=True)

    def _create_exclusive(self, info: LockInfo) -> None:
        try:
            fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise self._locked_error() from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(info.to_json())

    def _locked_error(self) -> LockError:
        try:
            holder: LockInfo | None = LockInfo.from_json(self.lock_path.read_bytes())
        except FileNotFoundError:
            holder = None  # released between our attempt and this read
        return locked_error(self.location, holder, JUST_RELEASED)

    def unlock(self, lock: LockInfo) -> None:
        self.force_unlock(lock.id)

    def force_unlock(self, lock_id: str) -> None:
        try:
            holder = LockInfo.from_json(self.lock_path.read_bytes())
        except FileNotFoundError:
            raise LockError(f"{self.location} is not locked") from None
        if holder.id != lock_id:
            raise LockError(f"lock id {lock_id} does not match the {holder.describe()}")
        self.lock_path.unlink(missing_ok=True)

"""Local state file with a lock file beside it (``state.json.lock``, linked into place whole).

Writes go through the one local writer (``sources/local_output.py``): a temporary file beside the
state, removed if anything fails, replaces it atomically, so a crash or a full disk leaves either
the old or the new state, never a torn one nor a stray temporary file. The previous state is kept
as ``state.json.backup`` on every write, as Terraform does. The state is a file lac owns, so a
state path that is a symlink, a device or a folder is refused before anything is changed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from ..errors import LockError, SourceError, StateConflictError, StateError
from ..opened import open_at
from ..sources.local_output import resolve_destination, write_local_file
from . import HEAD_BYTES, JUST_RELEASED, LockInfo, State, locked_error, peek_head, peek_serial


class LocalStateStore:
    def __init__(self, location: str) -> None:
        self.location = location
        self.path = Path(location)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.backup_path = self.path.with_name(self.path.name + ".backup")

    def _unreadable(self, exc: OSError) -> StateError:
        return StateError(f"{self.location}: cannot read state: {exc.strerror}")

    def _read_bytes(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unreadable(exc) from exc

    def read(self) -> State:
        """The state on disk, of which only the first bytes through the targets are read; its content
        section (most of a large state's bytes) is read from the file, kept open, when a write or an
        update's field diff needs it (``opened.py``)."""
        try:
            kept = open_at(self.path, "the state file", StateError)
            if kept is None:
                return State.from_json(self.path.read_bytes(), self.location)
            return State.from_file(*kept, self.location)
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise self._unreadable(exc) from exc

    def _on_disk(self) -> tuple[str, int] | None:
        """(lineage, serial) of the state on disk, None when there is none. Read from its first bytes
        when this tool laid it out: a write's compare-and-swap needs no more, and an apply of a million
        resources writes a state of hundreds of megabytes several times. Else from the whole file."""
        try:
            with self.path.open("rb") as fh:
                head = fh.read(HEAD_BYTES)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unreadable(exc) from exc
        found = peek_head(head)
        if found is not None:
            return found
        data = self._read_bytes()
        return None if data is None else peek_serial(data, self.location)

    def write(self, state: State, expected_serial: int) -> None:
        previous = self._on_disk()
        lineage, serial = previous or ("", 0)
        if serial != expected_serial or (lineage and lineage != state.lineage):
            raise StateConflictError(
                f"{self.location}: state changed underneath this run (serial {serial}, expected "
                f"{expected_serial}); re-run plan")
        try:
            if previous is not None:
                self._keep_backup()
            write_local_file(self.location, state.json_pieces(), owned=True)
        except SourceError as exc:
            raise StateError(f"cannot write state: {exc}") from exc

    def _keep_backup(self) -> None:
        """Make ``state.json.backup`` the state about to be replaced: a hard link to it where the
        filesystem allows (no copy), else a copy of its bytes."""
        tmp = self.backup_path.with_name(f".{self.backup_path.name}.{uuid.uuid4().hex}.tmp")
        try:
            os.link(self.path, tmp)
            os.replace(tmp, self.backup_path)
        except OSError:
            previous = self._read_bytes()
            if previous is not None:
                write_local_file(str(self.backup_path), previous, owned=True)
        finally:
            tmp.unlink(missing_ok=True)

    def lock(self, operation: str) -> LockInfo:
        info = LockInfo.new(operation)
        try:
            resolve_destination(self.path, self.location, owned=True)  # refused now, not after the apply
        except SourceError as exc:
            raise StateError(str(exc)) from exc
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

    def _read_lock(self) -> LockInfo | None:
        """The holder named by the lock file; None when there is none; LockError when the lock path
        is not a file lac could have written (a folder, say), which only a person can sort out."""
        try:
            return LockInfo.from_json(self.lock_path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LockError(f"{self.location}: the lock path {self.lock_path} cannot be read ({exc.strerror}); "
                            "it is not a lock lac wrote: remove it by hand once no run is using the state") from exc

    def _locked_error(self) -> LockError:
        return locked_error(self.location, self._read_lock(), JUST_RELEASED)

    def unlock(self, lock: LockInfo) -> None:
        self.force_unlock(lock.id)

    def force_unlock(self, lock_id: str) -> None:
        holder = self._read_lock()
        if holder is None:
            raise LockError(f"{self.location} is not locked")
        if holder.id != lock_id:
            raise LockError(f"lock id {lock_id} does not match the {holder.describe()}")
        self.lock_path.unlink(missing_ok=True)

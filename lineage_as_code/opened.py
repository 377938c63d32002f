"""A file kept open after it was read, so that parts of it are read again at their offsets when they
are needed rather than its bytes kept in memory for the whole run.

The descriptor is the very file that was read (never opened again by name): a writer that replaces
the file whole (a new file renamed over it, as this tool writes its state and its cache) leaves the
bytes read through it as they were. A read that comes back short (the file cut in place by someone
else meanwhile) is an error naming the file, never a guess.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import weakref
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path
from typing import Any

from .errors import LineageAsCodeError, SourceError

_AHEAD = 1 << 18  # bytes read at once where small reads follow one another


class _Ahead:
    """The bytes read past the end of a small read that began where the one before it ended: a batch's
    bodies, read in the order they were written (a translation's, a cache file's), are then a system call
    per few hundred bodies rather than one each. A read anywhere else is made alone: bodies asked for in
    another order (by content hash) read no more than they need."""

    __slots__ = ("at", "data", "last")

    def __init__(self) -> None:
        self.data, self.at, self.last = b"", 0, -1

    def get(self, fd: int, start: int, stop: int, limit: int) -> bytes | None:
        """Bytes ``start`` to ``stop`` from those read ahead, or read with the ones after them (never past
        ``limit``) when this read begins where the last one ended; None when they are to be read alone. A
        file is read at an offset only; OSError as ``os.pread`` raises it."""
        at, data = self.at, self.data
        follows, self.last = start == self.last, stop
        if at <= start and stop <= at + len(data):
            return data[start - at:stop - at]
        if not follows or stop - start >= _AHEAD or not hasattr(os, "pread"):
            return None
        data = os.pread(fd, max(min(start + _AHEAD, limit), stop) - start, start)
        if len(data) < stop - start:  # (the caller's own read says what went wrong)
            return None
        self.data, self.at = data, start
        return data[:stop - start]


class Opened:
    """``opened[start:stop]``: those bytes of the file, read when asked for."""

    __slots__ = ("__weakref__", "_ahead", "_error", "_fd", "_name", "_what")

    def __init__(self, fd: int, name: str, what: str, error: type[LineageAsCodeError] = SourceError) -> None:
        self._fd, self._name, self._what, self._error = fd, name, what, error
        self._ahead = _Ahead()
        weakref.finalize(self, os.close, fd)

    def __getitem__(self, span: slice) -> bytes:
        start, stop = span.start, span.stop
        try:
            ahead = self._ahead.get(self._fd, start, stop, start + _AHEAD)
            if ahead is not None:
                return ahead
            data = os.pread(self._fd, stop - start, start)
        except OSError as exc:
            raise self._error(f"{self._name}: cannot read {self._what}: {exc.strerror}") from exc
        if len(data) != stop - start:
            raise self._error(f"{self._name}: {self._what} changed while this run read it; run again")
        return data

    def whole(self) -> bytes:
        """Every byte of the file, from its start to its end as it is now. OSError as ``read`` raises it."""
        with os.fdopen(os.dup(self._fd), "rb") as fh:  # (a descriptor of its own: this one stays open)
            fh.seek(0)
            return fh.read()


def read_opened(path: Path, what: str, error: type[LineageAsCodeError] = SourceError) -> tuple[bytes, Opened | None]:
    """The bytes of ``path``, and the file kept open for later reads where the system can read at an
    offset (else None: whoever needs them again keeps the bytes). OSError as ``open`` raises it."""
    kept = open_at(path, what, error)
    if kept is None:
        return path.read_bytes(), None
    return kept[0].whole(), kept[0]


def open_at(path: Path, what: str, error: type[LineageAsCodeError] = SourceError) -> tuple[Opened, int] | None:
    """``path`` kept open for reads at offsets, none made yet, and its size; None where the system cannot
    read at an offset (whoever needs the bytes then reads them whole). OSError as ``open`` raises it."""
    if not hasattr(os, "pread"):
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
    except BaseException:
        os.close(fd)
        raise
    return Opened(fd, str(path), what, error), size


def byte_positions(data: Any, byte: int, step: int = 1 << 26) -> Any:
    """The positions of ``byte`` in ``data`` (a numpy byte array, such as a large file's bytes), looked for
    ``step`` bytes at a time: a comparison of the whole at once is a bool array as large as the file."""
    import numpy as np

    found = [np.flatnonzero(data[at:at + step] == byte) + at for at in range(0, len(data), step)]
    return np.concatenate([np.zeros(0, dtype=np.int64), *found])


class Spill:
    """Bytes appended to a file as they are made, and read back by position as ``Opened`` reads
    (``spill[start:stop]``): a translation's million bodies held on disk, not in memory. They are written a
    few MB at a time, each chunk fed first to ``mac`` when one is given (the cache signs what it writes as
    it goes). Should a write fail (a full disk), what was not written stays in memory and is read from
    there, and ``failed`` says the file is not whole: the run goes on, only the file is not to be used."""

    __slots__ = ("__weakref__", "_ahead", "_chunk", "_fd", "_flushed", "_held", "_held_at", "_pending", "failed", "mac",
                 "name", "path", "size")

    def __init__(self, fd: int, name: str, mac: Any = None, path: str = "", chunk: int = 1 << 23) -> None:
        self._fd, self.name, self.mac, self._chunk = fd, name, mac, chunk
        self.path = path  # the file's name while it is being written ("" when none reaches it)
        self.size = 0  # bytes added
        self._flushed = 0  # bytes written to the file, or held where they could not be
        self._pending: list[bytes] = []
        self._held: list[bytes] = []  # chunks that could not be written, and where each starts
        self._held_at: list[int] = []
        self.failed = False
        self._ahead = _Ahead()
        weakref.finalize(self, os.close, fd)

    @classmethod
    def anonymous(cls) -> Spill | None:
        """A spill to a file of the system's temporary folder that no name reaches (removed at once, so
        gone with the run whatever ends it); None where none can be made."""
        try:
            fd, path = tempfile.mkstemp(prefix="lac-bodies-")
        except OSError:
            return None
        try:
            os.unlink(path)
        except OSError:
            os.close(fd)
            return None
        return cls(fd, "a temporary file")

    def add(self, data: bytes) -> int:
        """Append ``data``; where it starts."""
        start = self.size
        self._pending.append(data)
        self.size = start + len(data)
        if self.size - self._flushed >= self._chunk:
            self.flush()
        return start

    def add_all(self, data: list[bytes]) -> list[int]:
        """Append each of ``data``, one after another; where each starts, then where the last ends (no copy of
        them joined: they are written with the next chunk)."""
        bounds = list(accumulate(map(len, data), initial=self.size))
        self._pending += data
        self.size = bounds[-1]
        if self.size - self._flushed >= self._chunk:
            self.flush()
        return bounds

    def flush(self) -> None:
        """Write what was added since the last flush."""
        if not self._pending:
            return
        chunk = b"".join(self._pending)
        self._pending = []
        start, self._flushed = self._flushed, self.size
        if self.mac is not None:
            self.mac.update(chunk)
        if not self.failed:
            try:
                with memoryview(chunk) as view:
                    written = 0
                    while written < len(chunk):
                        written += os.write(self._fd, view[written:])
                return
            except OSError:
                self.failed = True
        self._held.append(chunk)
        self._held_at.append(start)

    def __getitem__(self, span: slice) -> bytes:
        start, stop = span.start, span.stop
        if stop > self._flushed:
            self.flush()
        if self._held_at and start >= self._held_at[0]:
            i = bisect_right(self._held_at, start) - 1
            at = self._held_at[i]
            return self._held[i][start - at:stop - at]
        try:
            ahead = self._ahead.get(self._fd, start, stop, self._held_at[0] if self._held_at else self._flushed)
            if ahead is not None:
                return ahead
            if hasattr(os, "pread"):
                data = os.pread(self._fd, stop - start, start)
            else:  # read at the place, then back to the end, where the next write goes
                os.lseek(self._fd, start, os.SEEK_SET)
                data = os.read(self._fd, stop - start)
                os.lseek(self._fd, 0, os.SEEK_END)
        except OSError as exc:
            raise SourceError(f"{self.name}: cannot read back what this run wrote: {exc.strerror}") from exc
        if len(data) != stop - start:
            raise SourceError(f"{self.name}: cut while this run read it; run again")
        return data

    def discard(self) -> None:
        """Remove the file's name, if it still has one (what was added stays readable through the descriptor)."""
        if self.path:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = ""

"""A file kept open after it was read, so that parts of it are read again at their offsets when they
are needed rather than its bytes kept in memory for the whole run.

The descriptor is the very file that was read (never opened again by name): a writer that replaces
the file whole (a new file renamed over it, as this tool writes its state and its cache) leaves the
bytes read through it as they were. A read that comes back short (the file cut in place by someone
else meanwhile) is an error naming the file, never a guess.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

from .errors import LineageAsCodeError, SourceError


class Opened:
    """``opened[start:stop]``: those bytes of the file, read when asked for.

    With ``ahead``, spans asked for one after the other in the file's order (the bodies of a cache file as
    a plan lists them or an apply sends them) are read ahead, ``AHEAD`` bytes at a time, and cut from what
    was read: a system call per span cost about 6 us, a million of them 12% of an apply. A span asked for
    anywhere else is read alone. Without it (a state file, whose sections are read whole and must read as
    the file holds them each time: an edit in place is then found), every span is read when asked for."""

    __slots__ = ("__weakref__", "_ahead", "_error", "_fd", "_name", "_read_ahead", "_what")
    AHEAD = 1 << 20  # bytes read at once for spans asked for in order
    NEAR = 1 << 16  # how far past the last span the next may start and still count as in order

    def __init__(self, fd: int, name: str, what: str, error: type[LineageAsCodeError] = SourceError,
                 ahead: bool = False) -> None:
        self._fd, self._name, self._what, self._error, self._read_ahead = fd, name, what, error, ahead
        # (where the last span ended, where the bytes read ahead start, those bytes): one value, replaced
        # whole, so a reader in another thread sees a consistent one
        self._ahead: tuple[int, int, bytes] = (-1, 0, b"")
        weakref.finalize(self, os.close, fd)

    def __getitem__(self, span: slice) -> bytes:
        start, stop = span.start, span.stop
        last, at, read = self._ahead
        if at <= start and stop <= at + len(read):
            self._ahead = (stop, at, read)
            return read[start - at:stop - at]
        if self._read_ahead and 0 <= start - last <= self.NEAR and stop - start < self.AHEAD:
            read = self._read(start, self.AHEAD, stop - start)
            self._ahead = (stop, start, read)
            return read[:stop - start]
        self._ahead = (stop, at, read)
        return self._read(start, stop - start, stop - start)

    def _read(self, start: int, size: int, least: int) -> bytes:
        """``size`` bytes from ``start`` (fewer at the file's end, never fewer than ``least``)."""
        try:
            data = os.pread(self._fd, size, start)
        except OSError as exc:
            raise self._error(f"{self._name}: cannot read {self._what}: {exc.strerror}") from exc
        if len(data) < least:
            raise self._error(f"{self._name}: {self._what} changed while this run read it; run again")
        return data


def read_opened(path: Path, what: str, error: type[LineageAsCodeError] = SourceError,
                ahead: bool = False) -> tuple[bytes, Opened | None]:
    """The bytes of ``path``, and the file kept open for later reads where the system can read at an
    offset (else None: whoever needs them again keeps the bytes), reading ahead with ``ahead`` (``Opened``).
    OSError as ``open`` raises it."""
    if not hasattr(os, "pread"):
        return path.read_bytes(), None
    fd = os.open(path, os.O_RDONLY)
    try:
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read()
    except BaseException:
        os.close(fd)
        raise
    return data, Opened(fd, str(path), what, error, ahead)


def byte_positions(data: Any, byte: int, step: int = 1 << 26) -> Any:
    """The positions of ``byte`` in ``data`` (a numpy byte array, such as a large file's bytes), looked for
    ``step`` bytes at a time: a comparison of the whole at once is a bool array as large as the file."""
    import numpy as np

    found = [np.flatnonzero(data[at:at + step] == byte) + at for at in range(0, len(data), step)]
    return np.concatenate([np.zeros(0, dtype=np.int64), *found])

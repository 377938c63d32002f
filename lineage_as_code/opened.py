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
    """``opened[start:stop]``: those bytes of the file, read when asked for."""

    __slots__ = ("__weakref__", "_error", "_fd", "_name", "_what")

    def __init__(self, fd: int, name: str, what: str, error: type[LineageAsCodeError] = SourceError) -> None:
        self._fd, self._name, self._what, self._error = fd, name, what, error
        weakref.finalize(self, os.close, fd)

    def __getitem__(self, span: slice) -> bytes:
        start, stop = span.start, span.stop
        try:
            data = os.pread(self._fd, stop - start, start)
        except OSError as exc:
            raise self._error(f"{self._name}: cannot read {self._what}: {exc.strerror}") from exc
        if len(data) != stop - start:
            raise self._error(f"{self._name}: {self._what} changed while this run read it; run again")
        return data


def read_opened(path: Path, what: str, error: type[LineageAsCodeError] = SourceError) -> tuple[bytes, Opened | None]:
    """The bytes of ``path``, and the file kept open for later reads where the system can read at an
    offset (else None: whoever needs them again keeps the bytes). OSError as ``open`` raises it."""
    if not hasattr(os, "pread"):
        return path.read_bytes(), None
    fd = os.open(path, os.O_RDONLY)
    try:
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read()
    except BaseException:
        os.close(fd)
        raise
    return data, Opened(fd, str(path), what, error)


def byte_positions(data: Any, byte: int, step: int = 1 << 26) -> Any:
    """The positions of ``byte`` in ``data`` (a numpy byte array, such as a large file's bytes), looked for
    ``step`` bytes at a time: a comparison of the whole at once is a bool array as large as the file."""
    import numpy as np

    found = [np.flatnonzero(data[at:at + step] == byte) + at for at in range(0, len(data), step)]
    return np.concatenate([np.zeros(0, dtype=np.int64), *found])

"""Writing one local output file (saved plans, graphs, state) without ever breaking what is there.

Every local write of the tool goes through ``write_local_file``. What it does depends on what the
destination is: absent or a regular file, the bytes go to a temporary file beside it (an
unpredictable name, removed on every failure path) that is then renamed over it, so a reader sees
the old or the new content, never a torn one; a character device, FIFO or socket (``/dev/null``,
``/dev/stdout``, a named pipe) is written in place, because replacing it with a regular file would
break every other program that uses it; a symlink is followed and the same rule applied to what it
points at, unless the caller owns the file (state), where a link is refused; a directory or a
block device is an error. Errors are SourceError naming the path.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from ..errors import SourceError

ReplaceCheck = Callable[[Path], None]


@cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fail(shown: str, exc: OSError) -> SourceError:
    return SourceError(f"{shown}: cannot write: {exc.strerror or exc}")


def resolve_destination(path: Path, shown: str, *, owned: bool = False) -> tuple[Path, os.stat_result | None]:
    """Return the file a write to ``path`` really lands on, and its lstat (None when absent).

    A symlink resolves to its final target; with ``owned`` (a file the command keeps, such as
    state) a symlink is refused instead. A directory or block device is refused. Raises SourceError.
    """
    try:
        info: os.stat_result | None = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        info = None  # creating its folder reports a file in the way
    except OSError as exc:
        raise _fail(shown, exc) from exc
    if info is not None and stat.S_ISLNK(info.st_mode):
        if owned:
            raise SourceError(f"{shown} is a symbolic link; this file is written by lac itself, so it must be a "
                              "regular file (point the configuration at the link's target instead)")
        path = Path(os.path.realpath(path))
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None  # a dangling link: the file it names is created
        except OSError as exc:
            raise _fail(shown, exc) from exc
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise SourceError(f"{shown} is a directory; name a file to write to")
        if stat.S_ISBLK(info.st_mode):
            raise SourceError(f"{shown} is a block device; refusing to write to it")
        if owned and not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{shown} is not a regular file; this file is written by lac itself")
    return path, info


Data = bytes | Iterable[bytes]  # whole, or in pieces (a large plan is written as it is serialised)


def _pieces(data: Data) -> Iterable[bytes]:
    return (data,) if isinstance(data, bytes) else data


def _write_in_place(path: Path, info: os.stat_result, data: Data) -> None:
    if stat.S_ISSOCK(info.st_mode):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(path))
            for piece in _pieces(data):
                sock.sendall(piece)
        return
    # No O_TRUNC or O_CREAT: the node exists and is not a regular file; it is only written to.
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "wb") as fh:
        for piece in _pieces(data):
            fh.write(piece)


def _write_atomic(path: Path, info: os.stat_result | None, data: Data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for piece in _pieces(data):
                fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
            # mkstemp makes 0600; keep the mode of the file replaced, or what a plain create gives.
            os.fchmod(fh.fileno(), stat.S_IMODE(info.st_mode) if info else 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise


def write_local_file(location: str, data: Data, *, owned: bool = False,
                     check_replace: ReplaceCheck | None = None) -> None:
    """Write ``data`` to the local file ``location`` by the rules in the module docstring.

    ``owned`` marks a file the command keeps (state): links and special files are refused.
    ``check_replace`` is called with the resolved path before an existing regular file is replaced
    and may raise to refuse. Raises SourceError when the file cannot be written; nothing is left
    behind when it fails.
    """
    path, info = resolve_destination(Path(location), location, owned=owned)
    if info is not None and stat.S_ISREG(info.st_mode) and check_replace is not None:
        check_replace(path)
    try:
        if info is None or stat.S_ISREG(info.st_mode):
            _write_atomic(path, info, data)
        else:
            _write_in_place(path, info, data)
    except FileExistsError as exc:
        raise SourceError(f"{location}: cannot create its folder: {exc.filename} is a file") from exc
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise SourceError(f"{location}: cannot create its folder: a part of the path is a file") from exc
        raise _fail(location, exc) from exc

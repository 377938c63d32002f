"""Outputs never replace what is not a regular file (issue 20) and never destroy what they should not.

Every ``--out`` goes through one writer: a device node, a FIFO or a socket is written in place and
stays what it was; a symlink is followed; a folder is an error; ``-`` is standard output; a failed
write leaves no temporary file. A saved plan never replaces the state or a file that is not a plan.
No test here writes to the machine's real ``/dev/null``: device nodes are made with ``mknod`` in a
temporary folder, which needs root.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURE

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")

# (command, the arguments before --out): every command of this version that has an --out
OUTPUTS = {
    "plan": ("plan",),
    "plan-markdown": ("plan", "--format", "markdown"),
    "graph-html": ("graph", "--format", "html"),
    "graph-mermaid": ("graph",),
    "graph-dot": ("graph", "--format", "dot"),
}


def project(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE / "manifests", tmp_path / "manifests")
    shutil.copy(FIXTURE / "lac.yaml", tmp_path / "lac.yaml")
    return tmp_path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@needs_root
@pytest.mark.parametrize("command", list(OUTPUTS))
def test_a_character_device_stays_a_device(command: str, lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    node = root / "nulldev"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a private /dev/null
    result = lac(*OUTPUTS[command], "--out", "nulldev", cwd=root)
    assert result.code == 0, result.err
    info = os.lstat(node)
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)
    assert leftovers(root) == []


@contextmanager
def reading(fifo: Path) -> Iterator[list[bytes]]:
    """Read everything written to ``fifo`` on a thread, as ``cat fifo`` would."""
    got: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    yield got
    reader.join(timeout=30)


@pytest.mark.parametrize("command", ["plan", "graph-html"])
def test_a_fifo_is_written_in_place(command: str, lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    fifo = root / "pipe"
    os.mkfifo(fifo)
    with reading(fifo) as got:
        result = lac(*OUTPUTS[command], "--out", "pipe", cwd=root)
    assert result.code == 0, result.err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and (b'"format_version"' in got[0] if command == "plan" else b"<html" in got[0])


def test_a_unix_socket_is_written_to_not_replaced(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    path = root / "sock"
    got: list[bytes] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                chunks = iter(lambda: conn.recv(65536), b"")
                got.append(b"".join(chunks))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        result = lac("graph", "--out", "sock", cwd=root)
        thread.join(timeout=30)
    assert result.code == 0, result.err
    assert stat.S_ISSOCK(os.lstat(path).st_mode) and got and b"flowchart" in got[0]


@needs_root
def test_a_symlink_to_a_device_is_followed_and_the_device_kept(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    os.mknod(root / "nulldev", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    (root / "out.json").symlink_to("nulldev")
    assert lac("plan", "--out", "out.json", cwd=root).code == 0
    assert (root / "out.json").is_symlink() and stat.S_ISCHR(os.lstat(root / "nulldev").st_mode)


def test_a_symlink_to_a_file_keeps_the_link_and_updates_its_target(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "plans").mkdir()
    (root / "latest.json").symlink_to("plans/plan-1.json")  # dangling until the first plan
    assert lac("plan", "--out", "latest.json", cwd=root).code == 0
    assert (root / "latest.json").is_symlink()
    assert json.loads((root / "plans" / "plan-1.json").read_text())["summary"]["create"] == 10
    assert lac("graph", "--out", "g.mmd", cwd=root).code == 0
    (root / "g-link.mmd").symlink_to("g.mmd")
    assert lac("graph", "--format", "dot", "--out", "g-link.mmd", cwd=root).code == 0
    assert (root / "g-link.mmd").is_symlink() and (root / "g.mmd").read_text().startswith("digraph")


@pytest.mark.parametrize("command", ["plan", "graph-html"])
def test_a_directory_is_a_clear_error(command: str, lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "out").mkdir()
    result = lac(*OUTPUTS[command], "--out", "out", cwd=root)
    assert result.code == 1 and "Traceback" not in result.err
    assert "out is a directory" in result.err
    assert list((root / "out").iterdir()) == []


def test_dash_is_standard_output_for_every_out(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    saved = lac("plan", "--out", "-", cwd=root)
    assert saved.code == 0 and json.loads(saved.out)["summary"]["create"] == 10
    assert "10 to create" in saved.err  # the rendering moves to stderr, the plan owns stdout
    for fmt, marker in (("html", "<html"), ("mermaid", "flowchart"), ("dot", "digraph")):
        graph = lac("graph", "--format", fmt, "--out", "-", cwd=root)
        assert graph.code == 0 and marker in graph.out and not (root / "-").exists()
    assert not (root / "-").exists()


def test_a_plan_file_is_replaced_whole_and_keeps_its_mode(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    assert lac("plan", "--out", "plan.json", cwd=root).code == 0
    os.chmod(root / "plan.json", 0o640)
    assert lac("plan", "--out", "plan.json", cwd=root).code == 0
    assert stat.S_IMODE(os.stat(root / "plan.json").st_mode) == 0o640
    assert json.loads((root / "plan.json").read_text())["summary"]["create"] == 10
    assert leftovers(root) == []


@pytest.mark.parametrize("name", [".lac/state.json", ".lac/state.json.backup", "./.lac/../.lac/state.json"])
def test_plan_out_refuses_the_state_file(name: str, lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    (root / "manifests" / "extra.yaml").write_text(
        "version: 1\nprocesses:\n  - id: extra\n    inputs: ['snowflake:db.s.a']\n    outputs: ['snowflake:db.s.b']\n")
    lac("apply", "--auto-approve", cwd=root)
    before = {p.name: p.read_bytes() for p in (root / ".lac").iterdir() if p.is_file()}
    result = lac("plan", "--out", name, cwd=root)
    assert result.code == 1 and "state file" in result.err
    assert {p.name: p.read_bytes() for p in (root / ".lac").iterdir() if p.is_file()} == before


def test_plan_out_refuses_a_file_that_is_not_a_plan(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    manifest = next((root / "manifests").iterdir())
    text = manifest.read_bytes()
    result = lac("plan", "--out", str(manifest), cwd=root)
    assert result.code == 1 and "is not a lineage-as-code plan" in result.err
    assert manifest.read_bytes() == text
    (root / "empty.json").write_text("")  # what mktemp gives: fine to fill
    assert lac("plan", "--out", "empty.json", cwd=root).code == 0
    assert lac("plan", "--out", "empty.json", cwd=root).code == 0  # an earlier plan: fine to replace


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a read-only folder's permissions")
def test_a_failed_write_leaves_no_temporary_file(lac: Any, tmp_path: Path) -> None:
    root = project(tmp_path)
    out = root / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        result = lac("plan", "--out", "ro/plan.json", cwd=root)
    finally:
        out.chmod(0o700)
    assert result.code == 1 and "cannot write" in result.err and list(out.iterdir()) == []

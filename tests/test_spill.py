"""A spill: bodies written to a file as a translation makes them and read back by position, so a plan of
a million resources does not hold their text; a full disk never loses one."""

from __future__ import annotations

import os

import pytest

from lineage_as_code.errors import SourceError
from lineage_as_code.opened import Spill


def _spill(tmp_path, chunk: int = 64) -> Spill:
    path = tmp_path / "bodies.tmp"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return Spill(fd, str(path), path=str(path), chunk=chunk)  # a few bodies a write: reads cross written and pending


def test_what_was_added_is_read_back_wherever_it_lies(tmp_path):
    spill = _spill(tmp_path)
    texts = [f'{{"key":"t{i}","name":"table {"é" * (i % 5)}"}}'.encode() for i in range(50)]
    spans = [(start, start + len(t)) for t, start in ((t, spill.add(t)) for t in texts)]
    assert spill.size == sum(map(len, texts))
    assert [spill[a:b] for a, b in reversed(spans)] == texts[::-1]  # the last ones still pending: written first
    assert (tmp_path / "bodies.tmp").read_bytes() == b"".join(texts)


def test_runs_added_at_once_read_back_as_the_bodies_added_one_by_one(tmp_path):
    spill = _spill(tmp_path)
    texts = [f'{{"key":"t{i}","name":"{"é" * (i % 7)}"}}'.encode() for i in range(60)]
    bounds = [spill.add(texts[0])]
    for run in (texts[1:4], [], texts[4:5], texts[5:40], texts[40:]):  # runs smaller and larger than a write
        at = spill.add_all(run)
        assert at[0] == spill.size - sum(map(len, run)) and at[-1] == spill.size and len(at) == len(run) + 1
        bounds += at[:-1]
    spans = list(zip(bounds, [*bounds[1:], spill.size], strict=True))
    assert [spill[a:b] for a, b in reversed(spans)] == texts[::-1]
    assert (tmp_path / "bodies.tmp").read_bytes() == b"".join(texts)


def _disk_full_after(writes: int, monkeypatch) -> list[int]:
    """Make every ``os.write`` after the first ``writes`` fail as a full disk does; the sizes of those tried."""
    written = os.write
    calls: list[int] = []

    def fill(fd, data):
        calls.append(len(data))
        if len(calls) > writes:
            raise OSError(28, "No space left on device")
        return written(fd, data)
    monkeypatch.setattr(os, "write", fill)
    return calls


def test_a_full_disk_keeps_what_it_could_not_write_and_says_the_file_is_not_whole(tmp_path, monkeypatch):
    spill = _spill(tmp_path)
    texts = [f"body number {i:03}".encode() for i in range(40)]
    calls = _disk_full_after(2, monkeypatch)
    spans = [(start, start + len(t)) for t, start in ((t, spill.add(t)) for t in texts)]
    spill.flush()
    assert spill.failed and len(calls) == 3  # no write tried after the failed one
    assert [spill[a:b] for a, b in spans] == texts


def test_a_spill_cut_under_this_run_is_an_error_naming_it(tmp_path):
    spill = _spill(tmp_path)
    start = spill.add(b"x" * 200)
    spill.flush()
    os.truncate(tmp_path / "bodies.tmp", 10)
    with pytest.raises(SourceError, match="bodies.tmp: cut while this run read it"):
        _ = spill[start:start + 200]


def test_a_discarded_spill_loses_its_name_not_its_bodies(tmp_path):
    spill = _spill(tmp_path, chunk=1 << 20)
    start = spill.add(b'{"a":1}')
    spill.discard()
    assert not (tmp_path / "bodies.tmp").exists() and spill[start:start + 7] == b'{"a":1}'
    anonymous = Spill.anonymous()
    assert anonymous is not None and not anonymous.path
    at = anonymous.add(b"[]")
    assert anonymous[at:at + 2] == b"[]"


def test_bodies_read_in_the_order_they_were_written_are_the_ones_written(tmp_path, monkeypatch):
    """A run reads a batch's bodies in the order they were written (read ahead of each other): every one is
    its own bytes, across the file, what a full disk kept in memory, and what is still to be written."""
    spill = _spill(tmp_path, chunk=4096)
    _disk_full_after(40, monkeypatch)
    texts = [f'{{"key":"t{i}","name":"{"x" * (i % 97)}"}}'.encode() for i in range(3000)]
    spans = [(start, start + len(t)) for t, start in ((t, spill.add(t)) for t in texts)]
    assert spill.failed and spill.size > 40 * 4096  # some bodies in the file, the rest held, the last pending
    for _ in range(2):
        assert [spill[a:b] for a, b in spans] == texts
    assert [spill[a:b] for a, b in spans[::3]] == texts[::3]  # skipping some: each read alone

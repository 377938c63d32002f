"""The resource cache: a re-plan of unchanged manifests skips parsing; any change is seen."""

from __future__ import annotations

import hmac
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage_as_code import project
from lineage_as_code.cache import CachedResources, ResourceCache
from lineage_as_code.plan.contract import Resource
from tests.conftest import FIXTURE


@pytest.fixture
def root(tmp_path):
    shutil.copytree(FIXTURE / "manifests", tmp_path / "manifests")
    shutil.copy(FIXTURE / "lac.yaml", tmp_path / "lac.yaml")
    return tmp_path


def forbid_parsing(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("manifests were parsed")
    monkeypatch.setattr(project, "build_lineage", refuse)


def test_an_unchanged_project_plans_from_the_cache_without_parsing(lac, root, monkeypatch):
    first = lac("plan", cwd=root)
    assert list((root / ".lac" / "cache").glob("local-*.json"))
    forbid_parsing(monkeypatch)
    assert lac("plan", cwd=root).out == first.out


def test_an_edited_manifest_misses_the_cache(lac, root, monkeypatch):
    lac("plan", cwd=root)
    path = root / "manifests" / "reporting.csv"
    path.write_text(path.read_text().replace("Revenue dashboard extract", "Revenue extract"))
    result = lac("plan", "--format", "json", cwd=root)
    assert '"name": "Revenue extract"' in result.out


def test_a_changed_target_setting_misses_the_cache(lac, root):
    lac("plan", cwd=root)
    text = (root / "lac.yaml").read_text().replace("input_handling: PARTIAL", "input_handling: UPSERT")
    (root / "lac.yaml").write_text(text)
    assert "asset the target lacks (UPSERT)" in lac("plan", cwd=root).out


def test_a_corrupt_cache_is_ignored_and_lac_no_cache_bypasses_it(lac, root, monkeypatch):
    expected = lac("plan", cwd=root).out
    for cached in (root / ".lac" / "cache").glob("*.json"):
        cached.write_bytes(b"not a cache file")
    assert lac("plan", cwd=root).out == expected
    monkeypatch.setenv("LAC_NO_CACHE", "1")
    forbid_parsing(monkeypatch)
    with pytest.raises(AssertionError, match="manifests were parsed"):
        lac("plan", cwd=root)


def test_a_committed_pickle_in_the_cache_folder_never_runs(lac, root, tmp_path_factory):
    expected = lac("plan", cwd=root).out
    proof = tmp_path_factory.mktemp("proof") / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {proof}",))
    for cached in (root / ".lac" / "cache").glob("*.json"):
        cached.with_suffix(".pickle").write_bytes(pickle.dumps(Payload()))
        cached.write_bytes(pickle.dumps(Payload()))
    assert lac("plan", cwd=root).out == expected
    assert not proof.exists()


def test_a_forged_cache_file_is_a_miss_not_a_plan(lac, root, monkeypatch):
    """A cache file a pull request commits (right name, right shape, other content) is not signed by
    this machine's key: the plan comes from the manifests."""
    expected = lac("plan", cwd=root).out
    cached = next((root / ".lac" / "cache").glob("local-*.json"))
    forged = cached.read_bytes().replace(b"Revenue dashboard extract", b"Injected by a pull request")
    assert forged != cached.read_bytes()
    cached.write_bytes(forged)
    result = lac("plan", "--format", "json", cwd=root)
    assert "Injected" not in result.out and "Revenue dashboard extract" in result.out
    monkeypatch.setenv("LAC_CACHE_KEY_FILE", str(root / "another.key"))
    assert lac("plan", cwd=root).out == expected


def test_a_plan_from_the_cache_repeats_the_warnings_the_manifests_gave(lac, root, monkeypatch):
    """Never silently: a warning naming a file and line is shown by every plan, not only the one that parsed."""
    (root / "manifests" / "compiled.yaml").write_text(
        "version: 1\ncompiled_from: dbt\nprocesses:\n  - {id: dup, inputs: [pg:db.s.a], outputs: [pg:db.s.b]}\n")
    (root / "manifests" / "by_hand.yaml").write_text(
        "version: 1\nprocesses:\n  - {id: dup, inputs: [pg:db.s.a], outputs: [pg:db.s.c]}\n")
    first = lac("plan", cwd=root)
    assert "by_hand.yaml:3: process 'dup' is written by hand here and wins" in first.err, first.err
    forbid_parsing(monkeypatch)
    again = lac("plan", cwd=root)
    assert again.out == first.out and again.err.count("is written by hand here and wins") == 1
    assert "by_hand.yaml:3: process 'dup' is written by hand here and wins" in again.err


def test_a_target_the_cache_serves_and_one_it_misses_plan_alike_and_warn_once(lac, root):
    """Of two targets, those the cache misses translate the lineage (the last one taking it apart as it
    goes): each plans every resource, and the manifests' warnings are said once, never once per target."""
    config = root / "lac.yaml"
    config.write_text(config.read_text() + "  second:\n    type: duckdb\n    path: .lac/second.duckdb\n")
    (root / "manifests" / "compiled.yaml").write_text(
        "version: 1\ncompiled_from: dbt\nprocesses:\n  - {id: dup, inputs: [pg:db.s.a], outputs: [pg:db.s.b]}\n")
    (root / "manifests" / "by_hand.yaml").write_text(
        "version: 1\nprocesses:\n  - {id: dup, inputs: [pg:db.s.a], outputs: [pg:db.s.c]}\n")
    first = lac("plan", "--format", "json", cwd=root)
    local, second = json.loads(first.out)["targets"]
    assert [c["address"] for c in local["changes"]] == [c["address"] for c in second["changes"]]
    assert "process.dup" in [c["address"] for c in second["changes"]]
    assert first.err.count("is written by hand here and wins") == 1, first.err
    for served, missed in (("local", "second"), ("second", "local")):
        for cached in (root / ".lac" / "cache").glob(f"{missed}-*.json"):
            cached.unlink()
        again = lac("plan", "--format", "json", cwd=root)
        assert again.out == first.out, served
        assert again.err.count("by_hand.yaml:3: process 'dup' is written by hand here and wins") == 1, again.err


def test_a_cache_file_whose_header_was_edited_is_a_miss(lac, root, monkeypatch):
    expected = lac("plan", cwd=root).out
    cached = next((root / ".lac" / "cache").glob("local-*.json"))
    rest, _, head = cached.read_bytes().rstrip(b"\n").rpartition(b"\n")  # the header is the last line
    assert b'"notes": []' in head
    cached.write_bytes(rest + b"\n" + head.replace(b'"notes": []', b'"notes": [["x.yaml", 1, "", "injected"]]') + b"\n")
    forbid_parsing(monkeypatch)
    with pytest.raises(AssertionError, match="manifests were parsed"):
        lac("plan", cwd=root)
    monkeypatch.undo()
    assert lac("plan", cwd=root).out == expected


# A plan that found nothing to do is remembered, signed, under every input of that target's plan; the
# next one with the same inputs is not diffed again. Any change to an input is a miss.

def remembered_noop(lac, root, monkeypatch):
    """Apply, then plan once (which finds nothing to do and remembers it); return that plan's output."""
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    first = lac("plan", "--detailed-exitcode", cwd=root)
    assert first.code == 0 and (root / ".lac" / "cache" / "local.noop.json").exists()
    return first


def forbid_diffing(monkeypatch):
    from lineage_as_code.cache import ResourceCache
    from lineage_as_code.targets.duckdb import DuckDBTarget

    def refuse(*_a, **_k):
        raise AssertionError("the plan was worked out again")
    monkeypatch.setattr(ResourceCache, "find", refuse)
    monkeypatch.setattr(DuckDBTarget, "read", refuse)


def test_a_second_plan_with_nothing_to_do_is_remembered_not_worked_out_again(lac, root, monkeypatch):
    first = remembered_noop(lac, root, monkeypatch)
    forbid_diffing(monkeypatch)
    again = lac("plan", "--detailed-exitcode", cwd=root)
    assert again.code == 0 and again.out == first.out
    assert lac("apply", "--auto-approve", cwd=root).code == 0


def test_a_row_edited_or_deleted_in_the_store_is_seen_after_a_remembered_plan(lac, root, monkeypatch):
    import duckdb

    remembered_noop(lac, root, monkeypatch)
    with duckdb.connect(str(root / ".lac" / "lineage.duckdb")) as db:
        process = db.execute("SELECT address FROM processes ORDER BY address LIMIT 1").fetchone()[0]
        db.execute("UPDATE processes SET name = 'edited by hand' WHERE address = ?", [process])
    edited = lac("plan", "--detailed-exitcode", cwd=root)
    assert edited.code == 2 and f"~ {process}" in edited.out and "changed in the target" in edited.out
    assert lac("apply", "--auto-approve", cwd=root).code == 0
    assert lac("plan", "--detailed-exitcode", cwd=root).code == 0  # remembered again
    with duckdb.connect(str(root / ".lac" / "lineage.duckdb")) as db:
        db.execute("DELETE FROM processes WHERE address = ?", [process])
    deleted = lac("plan", "--detailed-exitcode", cwd=root)
    assert deleted.code == 2 and f"+ {process}" in deleted.out


@pytest.mark.parametrize(("table", "column", "value", "seen"), [
    ("assets", "name", "'edited'", True), ("assets", "content_hash", "'0'", True),
    ("assets", "partial", "NOT partial", True), ("assets", "managed_by", "'someone else'", True),
    ("assets", "row_hash", "'0'", True), ("processes", "sql", "'select 2'", True),
    ("processes", "managed_by", "'someone else'", True), ("assets", "updated_at", "updated_at - INTERVAL 1 DAY", False),
])
def test_an_edit_of_anything_a_plan_reads_from_the_store_is_not_remembered_past(lac, root, monkeypatch, table, column,
                                                                                value, seen):
    """A remembered plan is keyed on what the store holds: any edit of what a plan reads of a row (its
    fields, the hashes it carries, its ownership marker) makes the next plan read the store again; the time
    a row was written is not read, and an edit of it leaves the plan remembered."""
    import duckdb

    from lineage_as_code.targets.duckdb import DuckDBTarget

    remembered_noop(lac, root, monkeypatch)
    with duckdb.connect(str(root / ".lac" / "lineage.duckdb")) as db:
        address = db.execute(f"SELECT address FROM {table} ORDER BY address LIMIT 1").fetchone()[0]
        db.execute(f"UPDATE {table} SET {column} = {value} WHERE address = ?", [address])
    reads = []
    real = DuckDBTarget.read
    monkeypatch.setattr(DuckDBTarget, "read", lambda self, *a, **k: reads.append(1) or real(self, *a, **k))
    lac("plan", cwd=root)
    assert bool(reads) is seen


def test_a_state_changed_since_a_remembered_plan_is_diffed(lac, root, monkeypatch):
    remembered_noop(lac, root, monkeypatch)
    state = root / ".lac" / "state.json"
    lines = state.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith('"process.'))
    address = lines[at].split('":', 1)[0][1:]
    del lines[at]  # state forgot one process: the store's row carries this project's marker
    lines[at - 1] = lines[at - 1].rstrip(",") + ("," if lines[at].startswith('"') else "")
    state.write_text("\n".join(lines))
    again = lac("plan", "--detailed-exitcode", cwd=root)
    assert again.code == 2 and f"= {address}" in again.out, again.out


def test_a_forged_or_edited_noop_record_is_a_miss(lac, root, monkeypatch):
    first = remembered_noop(lac, root, monkeypatch)
    path = root / ".lac" / "cache" / "local.noop.json"
    edited = path.read_text().replace('"unchanged": ', '"unchanged": 1000')
    assert edited != path.read_text()
    path.write_text(edited)
    again = lac("plan", cwd=root)
    assert again.out == first.out and "1000" not in again.out
    monkeypatch.setenv("LAC_CACHE_KEY_FILE", str(root / "another.key"))
    forbid_diffing(monkeypatch)
    with pytest.raises(AssertionError, match="worked out again"):
        lac("plan", cwd=root)


def test_a_plan_of_some_files_is_remembered_apart_from_the_whole_project(lac, root, monkeypatch):
    whole = remembered_noop(lac, root, monkeypatch)
    part = lac("plan", "manifests/orders.yaml", cwd=root)
    assert part.code == 0 and part.out != whole.out
    assert lac("plan", "manifests/orders.yaml", cwd=root).out == part.out
    assert lac("plan", cwd=root).out == whole.out


def _cached(tmp_path):
    from lineage_as_code.cache import CachedResources, ResourceCache
    from lineage_as_code.plan.contract import Resource

    cache = ResourceCache(tmp_path / "cache")
    resources = [Resource(f"asset.a{i}", "asset", {"key": f"a{i}", "name": f"table {i}"}, "m.csv:2") for i in range(3)]
    cache.put("local", "k" * 32, CachedResources(resources, 0))
    hit = cache.get("local", "k" * 32)
    assert hit is not None
    return cache, hit, next((tmp_path / "cache").glob("local-*.json"))


def test_bodies_read_after_their_cache_file_was_replaced_are_the_signed_ones(tmp_path):
    """A run reads its cached bodies from the file whose signature it checked, even when another run
    replaces that file (as the cache writer does: a new file renamed over it)."""
    _, hit, path = _cached(tmp_path)
    other = path.with_name("other.tmp")
    other.write_bytes(path.read_bytes().replace(b"table ", b"forged"))
    os.replace(other, path)
    assert [dict(r.body) for r in hit.resources] == [{"key": f"a{i}", "name": f"table {i}"} for i in range(3)]


def test_a_cache_file_cut_while_its_bodies_are_read_is_an_error_naming_it(tmp_path):
    from lineage_as_code.errors import SourceError

    _, hit, path = _cached(tmp_path)
    with open(path, "r+b") as fh:
        fh.truncate(10)
    with pytest.raises(SourceError, match=f"{path.name}: the translation cache changed while this run read it"):
        dict(hit.resources[-1].body)


def test_a_run_that_wrote_the_cache_reads_its_bodies_from_the_file_it_wrote(tmp_path):
    """Once cached, a translation's bodies are read from the file when needed (their text is not held for the
    rest of the run), and are the bodies that were written even when another run replaces the file."""
    from lineage_as_code.cache import CachedResources, ResourceCache
    from lineage_as_code.canonical import TextBody, canonical_json, canonical_text
    from lineage_as_code.plan.contract import Resource

    bodies = [{"key": f"a{i}", "name": f"table {i}", "tags": ["x", i]} for i in range(3)]
    written = [Resource(f"asset.a{i}", "asset", TextBody(canonical_json(b).encode()) if i else b, "m.csv:2", (),
                        (), f"h{i}") for i, b in enumerate(bodies)]
    resources = list(written)
    ResourceCache(tmp_path / "cache").put("local", "k" * 32, CachedResources(resources, 0))
    (path,) = (tmp_path / "cache").glob("local-*.json")
    other = path.with_name("other.tmp")
    other.write_bytes(path.read_bytes().replace(b"table ", b"forged"))
    os.replace(other, path)
    assert [r.body is w.body for r, w in zip(resources, written)] == [False] * 3  # swapped: read from the file
    assert [(r.address, r.hash, r.source) for r in resources] == [(w.address, w.hash, w.source) for w in written]
    assert [dict(r.body) for r in resources] == bodies
    assert [canonical_text(r.body) for r in resources] == [canonical_json(b) for b in bodies]


def test_a_translation_that_cannot_be_cached_keeps_its_bodies(tmp_path):
    from datetime import date

    from lineage_as_code.cache import CachedResources, ResourceCache
    from lineage_as_code.plan.contract import Resource

    body = {"key": "a", "when": date(2026, 1, 1)}  # not plain JSON data: not cached
    resources = [Resource("asset.a", "asset", body, "m.csv:2")]
    ResourceCache(tmp_path / "cache").put("local", "k" * 32, CachedResources(resources, 0))
    assert resources[0].body is body and not list((tmp_path / "cache").glob("local-*.json"))


_TEXT = st.text(alphabet='ab."\\/:\u00e9\u2028\n\x00 ', max_size=5)
_FIELDS = st.tuples(_TEXT, _TEXT, _TEXT, st.lists(_TEXT, max_size=3), st.lists(st.tuples(_TEXT, _TEXT), max_size=3),
                    _TEXT)


def _fields(r: Resource) -> tuple[object, ...]:
    return r.address, r.kind, r.source, r.requires, r.edges, r.hash, dict(r.body)


@settings(max_examples=200, deadline=None)
@given(st.lists(_FIELDS, min_size=1, max_size=6), st.booleans())
def test_cached_resources_come_back_field_for_field_with_their_shared_strings_shared(made, same_width) -> None:
    """Any resources whose fields are strings (escapes, control characters, non-ASCII, empty, an address
    twice) read back as written, field for field, in order; an address required that is a resource's in the
    file comes back as that resource's very string, an edge key met twice as one string, whatever the
    hashes' widths."""
    import tempfile

    resources = [Resource("asset.a" + str(i), "asset", {"k": i}, "m.csv:1", hash="f" * 64 if same_width else "")
                 for i in range(2)]
    for i, (address, kind, source, requires, edges, digest) in enumerate(made):
        hashed = ("%064x" % i) if same_width else digest  # noqa: UP031 (a hash of 64 hex digits, as sha256 writes)
        resources.append(Resource(address, kind or "process", {"n": i, "s": address}, source,
                                  (*requires, resources[i % 2].address), tuple(edges), hashed or "h"))
    with tempfile.TemporaryDirectory() as folder:
        cache = ResourceCache(Path(folder))
        cache.put("local", "k" * 32, CachedResources(list(resources), 3))
        hit = cache.get("local", "k" * 32)
        assert hit is not None and hit.column_edges == 3
        assert [_fields(r) for r in hit.resources] == [_fields(r) for r in resources]
        for r in hit.resources[2:]:
            assert r.requires[-1] is hit.resources[0].address or r.requires[-1] is hit.resources[1].address
        keys = [key for r in hit.resources for edge in r.edges for key in edge]
        assert len({id(key) for key in keys}) == len(set(keys))


@pytest.mark.parametrize("odd", [
    Resource("process.p", "process", {"x": 1}, "m.csv:2", (7,), (("a", "b"),), "h"),
    Resource("process.p", "process", {"x": 1}, "m.csv:2", (), (("a", 7),), "h"),
    Resource("process.p", "process", {"x": 1}, "m.csv:2", (), (("a", "b", "c"),), "h"),
    Resource("process.p", "process", {"x": 1}, 12, (), (), "h"),  # type: ignore[arg-type]
    Resource("process.p", 3, {"x": 1}, "m.csv:2", (), (), "h"),  # type: ignore[arg-type]
    Resource("process.p", "process", {"x": 1}, "m.csv:2", (), (), 5),  # type: ignore[arg-type]
    Resource("process.\ud800", "process", {"x": 1}, "m.csv:2", (), (), "h"),
], ids=["required", "edge key", "edge of three", "source", "kind", "hash", "lone surrogate"])
def test_a_resource_whose_fields_are_not_strings_is_not_cached(tmp_path, odd):
    """A field that is not a string, or not one UTF-8 can hold, or an edge that is not a pair (a resource built
    by hand) could not be read back as written: nothing is cached, and the plan goes on."""
    cache = ResourceCache(tmp_path / "cache")
    cache.put("local", "k" * 32, CachedResources([Resource("asset.a", "asset", {"k": 1}, "m.csv:1"), odd], 0))
    assert cache.get("local", "k" * 32) is None and not list((tmp_path / "cache").glob("local-*.json"))


def test_cached_bodies_read_in_any_order_are_the_ones_written(tmp_path):
    """Each cached body is read from the file where it lies, whatever order a run asks for them in."""
    import random

    written = [{"key": f"a{i}", "name": "t\u00e9" * (i % 7), "n": i} for i in range(60)]
    cache = ResourceCache(tmp_path / "cache")
    cache.put("local", "k" * 32, CachedResources([Resource(f"asset.a{i:02}", "asset", b, "m.csv:2")
                                                  for i, b in enumerate(written)], 0))
    for order in (list(range(60)), list(range(59, -1, -1)), random.Random(7).sample(range(60), 60)):
        hit = cache.get("local", "k" * 32)
        assert hit is not None
        assert {i: dict(hit.resources[i].body) for i in order} == dict(enumerate(written))


def test_a_cache_file_is_read_and_checked_a_block_at_a_time_however_it_is_cut(tmp_path, monkeypatch):
    """A hit reads the header from the file's end and signs the bodies a block at a time without holding
    them: whatever the sizes (a header longer than the end first read, blocks smaller than a body), a file
    as written is a hit with its bodies, and a byte changed in any block of bodies is a miss."""
    from lineage_as_code import cache as cache_module
    from lineage_as_code.errors import Problem

    written = [{"key": f"a{i}", "name": f"table {i}"} for i in range(40)]
    notes = tuple(Problem("m.csv", n, "name", "a warning " * 5) for n in range(30))  # a header of a few KB
    cache = ResourceCache(tmp_path / "cache")
    cache.put("local", "k" * 32, CachedResources([Resource(f"asset.a{i:02}", "asset", b, "m.csv:2")
                                                  for i, b in enumerate(written)], 0, notes))
    path = next((tmp_path / "cache").glob("local-*.json"))
    data = path.read_bytes()
    for tail, block in ((8, 3), (100, 64), (1 << 16, 1 << 23)):
        monkeypatch.setattr(cache_module, "_TAIL", tail)
        monkeypatch.setattr(cache_module, "_BLOCK", block)
        hit = cache.get("local", "k" * 32)
        assert hit is not None and hit.notes == notes
        assert [dict(r.body) for r in hit.resources] == written
        for at in (data.index(b"table 1"), data.index(b"table 39")):  # the first block of bodies, and the last
            path.write_bytes(data[:at] + b"T" + data[at + 1:])
            assert cache.get("local", "k" * 32) is None, (tail, block, at)
            path.write_bytes(data)


def test_cached_requires_and_edges_come_back_as_written_never_regrouped(tmp_path):
    """The addresses a process requires and its edges' keys are read back as written, each pair a pair:
    an edge that is not a pair (no translation makes one) is never cut into pairs of other keys."""
    asset = Resource("asset.pg:db.s.a", "asset", {"key": "pg:db.s.a"}, "m.csv:2")
    process = Resource("process.p", "process", {"name": "p"}, "m.csv:3", ("asset.pg:db.s.a", "asset.pg:db.s.b"),
                       (("pg:db.s.a", "pg:db.s.b"), ("pg:db.s.a", "pg:db.s.c")))
    odd = Resource("process.q", "process", {"name": "q"}, "m.csv:4", (), (("pg:db.s.a", "pg:db.s.b", "pg:db.s.c"),))
    cache = ResourceCache(tmp_path / "cache")
    cache.put("local", "k" * 32, CachedResources([asset, process], 0))
    hit = cache.get("local", "k" * 32)
    assert hit is not None
    assert [(r.address, r.requires, r.edges) for r in hit.resources] == [
        (r.address, r.requires, r.edges) for r in (asset, process)]
    cache.put("local", "q" * 32, CachedResources([asset, process, odd], 0))
    hit = cache.get("local", "q" * 32)
    assert hit is None or [r.edges for r in hit.resources] == [r.edges for r in (asset, process, odd)]


def _resigned(path, change, placed=None):
    """Write the cache file at ``path`` again with ``change(columns, header)`` done to its columns (name ->
    bytes) and header, the columns laid out again after its bodies (or as ``placed`` changes where they
    are said to lie), and signed with this machine's key: a file this machine could have written."""
    from lineage_as_code import cache as cache_module

    data = path.read_bytes()
    cut = data.rfind(b"\n", 0, len(data) - 1) + 1
    header = json.loads(data[cut:])
    header.pop("mac")
    heads = header["heads"]
    columns = {name: data[heads + start:heads + end] for name, (start, end) in header["columns"].items()}
    change(columns, header)
    signed = bytearray(data[:heads])
    header["columns"] = {}
    for name, blob in columns.items():
        header["columns"][name] = [len(signed) - heads, len(signed) - heads + len(blob)]
        signed += blob
    signed += b"\n"
    if placed is not None:
        placed(header["columns"])
    signing = cache_module._signing_key()
    header["mac"] = cache_module._mac(signing, header, hmac.new(signing, bytes(signed), "sha256").hexdigest())
    path.write_bytes(bytes(signed) + json.dumps(header).encode() + b"\n")


def _ints(values, kind="<i8"):
    import numpy as np

    return np.asarray(values, dtype=kind).tobytes()


def _set(name, value):
    def change(columns, header):
        columns[name] = value
    return change


_ASSET = Resource("asset.pg:db.s.a", "asset", {"key": "pg:db.s.a"}, "m.csv:2")
_PROCESS = Resource("process.p", "process", {"name": "p"}, "m.csv:3", (_ASSET.address, "asset.elsewhere"),
                    (("pg:db.s.a", "pg:db.s.b"),))
# each a change to a signed file's columns that points something nowhere, or says what no file written holds
_NOWHERE = {
    "a body past the bodies": _set("spans", _ints([0, 10, 10, 99_999])),
    "a body ending before it starts": _set("spans", _ints([0, 10, 10, 5])),
    "a body before the file": _set("spans", _ints([-4, 10, 10, 20])),
    "too few places": _set("spans", _ints([0, 10])),
    "a required index past the resources": _set("requires", _ints([2, -1])),
    "a literal that is not there": _set("requires", _ints([0, -2])),
    "requires that do not add up": _set("require_counts", _ints([0, 3], "<i4")),
    "a negative count": _set("require_counts", _ints([3, -1], "<i4")),
    "an edge key past the table": _set("edges", _ints([0, 2])),
    "a negative edge key": _set("edges", _ints([-1, 1])),
    "half an edge": _set("edges", _ints([0, 1, 1])),
    "edges that do not add up": _set("edge_counts", _ints([0, 2], "<i4")),
    "a kind that is not in the header": _set("kind_codes", _ints([0, 2], "<i4")),
    "an address that is a number": _set("addresses", b'["asset.pg:db.s.a",7]'),
    "one address too few": _set("addresses", b'["asset.pg:db.s.a"]'),
    "a key that is not a string": _set("keys", b'["pg:db.s.a",null]'),
    "a hash cut short": lambda columns, header: columns.update(hashes=columns["hashes"][:-1]),
    "a hash not ASCII": lambda columns, header: columns.update(hashes=columns["hashes"][:-2] + "\u00e9".encode()),
    "a column missing": lambda columns, header: columns.pop("literals"),
    "a column more": _set("extra", b"[]"),
    "a kind that is not a string": lambda columns, header: header.update(kinds=["asset", 1]),
}


@pytest.mark.parametrize("change", list(_NOWHERE.values()), ids=list(_NOWHERE))
def test_a_signed_cache_file_whose_columns_point_nowhere_is_a_miss(tmp_path, change):
    """Where each body lies, each index (a required address, an edge key, a kind) and each count is checked
    against what it points into, not trusted, even in a file this machine signed: a miss, never another
    string or another body."""
    cache = ResourceCache(tmp_path / "cache")
    cache.put("local", "k" * 32, CachedResources([_ASSET, _PROCESS], 0))
    path = next((tmp_path / "cache").glob("local-*.json"))
    _resigned(path, lambda columns, header: None)  # as written, laid out and signed again: a hit
    hit = cache.get("local", "k" * 32)
    assert hit is not None and [_fields(r) for r in hit.resources] == [_fields(r) for r in (_ASSET, _PROCESS)]
    assert hit.resources[1].requires[0] is hit.resources[0].address  # one string, not a copy
    _resigned(path, change)
    assert cache.get("local", "k" * 32) is None


@pytest.mark.parametrize("where", [[0, 10**9], [-1, 4], [5, 4], [0, "4"]], ids=["past the end", "before the columns",
                                                                                  "backwards", "not a number"])
def test_a_signed_cache_file_whose_column_lies_outside_it_is_a_miss(tmp_path, where):
    cache = ResourceCache(tmp_path / "cache")
    cache.put("local", "k" * 32, CachedResources([_ASSET, _PROCESS], 0))
    path = next((tmp_path / "cache").glob("local-*.json"))
    _resigned(path, lambda columns, header: None, placed=lambda places: places.update(keys=where))
    assert cache.get("local", "k" * 32) is None


def test_a_plan_reads_back_the_bodies_its_translation_wrote_aside(lac, root, monkeypatch):
    """A translation writes its bodies to the cache file (or, with the cache off, to a file no name reaches)
    as it makes them; what the plan shows is what it shows with every body held in memory."""
    from lineage_as_code.opened import Spill

    spilled = lac("plan", "--format", "json", cwd=root)
    monkeypatch.setenv("LAC_NO_CACHE", "1")
    anonymous = lac("plan", "--format", "json", cwd=root)
    monkeypatch.setattr(Spill, "anonymous", classmethod(lambda cls: None))
    held = lac("plan", "--format", "json", cwd=root)
    assert spilled.out == anonymous.out == held.out and '"after": {' in held.out


def test_an_apply_writes_the_bodies_its_translation_wrote_aside(lac, tmp_path, monkeypatch):
    """An apply reads each body back from where its translation wrote it (the cache file, or with the cache
    off a file no name reaches) as it writes it to the store and to state: the store and state's content
    are what an apply that held every body in memory writes."""
    import duckdb

    from lineage_as_code.opened import Spill

    def applied(name: str) -> tuple[object, ...]:
        root = tmp_path / name
        shutil.copytree(FIXTURE / "manifests", root / "manifests")
        shutil.copy(FIXTURE / "lac.yaml", root / "lac.yaml")
        assert lac("apply", "--auto-approve", cwd=root).code == 0
        with duckdb.connect(str(root / ".lac" / "lineage.duckdb"), read_only=True) as db:
            rows = tuple(db.execute(f"SELECT * EXCLUDE (updated_at, managed_by, row_hash) FROM {table} ORDER BY ALL").fetchall()
                         for table in ("assets", "processes")) + tuple(
                db.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in ("edges", "column_edges"))
        state = json.loads((root / ".lac" / "state.json").read_bytes())
        return rows, state["content"], {t: {a: e[:5] for a, e in entries.items()}
                                        for t, entries in state["targets"].items()}

    spilled = applied("cached")
    monkeypatch.setenv("LAC_NO_CACHE", "1")
    anonymous = applied("anonymous")
    monkeypatch.setattr(Spill, "anonymous", classmethod(lambda cls: None))
    held = applied("held")
    assert spilled == anonymous == held and held[1] and held[0][0] and held[0][1]

"""A translation's resources kept as columns (``ResourceTable``): a plan of them is the plan of the same
resources made one by one, whatever state and the target hold; a cache file gives them back as they were;
and a million of them hold a fraction of the memory their objects did."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage_as_code.canonical import bodies_spilled_to
from lineage_as_code.config import InputHandling, Policy
from lineage_as_code.manifest import ManifestInput, build_lineage
from lineage_as_code.opened import Spill
from lineage_as_code.plan.build import TargetInput, build_target_plan
from lineage_as_code.plan.contract import Digests, ResourceTable
from lineage_as_code.plan.model import column
from lineage_as_code.state import StateEntry
from lineage_as_code.targets.base import ASSET, Capabilities, Current
from lineage_as_code.targets.lineage_resources import lineage_resources

FIELDS = ("address", "kind", "action", "after", "after_hash", "prior", "source", "reason", "requires", "edges",
          "placeholder", "owner")


def native_csv(processes: int) -> bytes:
    """Many small processes: one input and one output each, two column edges (two rows)."""
    rows = ["process_id,process_name,source,target,source_column,target_column,transform"]
    for n in range(processes):
        source, target = f"pg:shop.raw.t{n % 7}", f"pg:shop.stg.out_{n}"
        rows += [f"p{n},Load {n},{source},{target},id,id,", f"p{n},Load {n},{source},{target},amount,amount,sum"]
    return ("\n".join(rows) + "\n").encode()


def translated(processes: int) -> ResourceTable:
    table = lineage_resources(build_lineage([ManifestInput("m.csv", native_csv(processes))]))
    assert isinstance(table, ResourceTable)
    return table


TABLE = translated(12)
ADDRESSES = list(TABLE.addresses)


@st.composite
def held(draw: st.DrawFn) -> tuple[dict[str, StateEntry], dict[str, Current]]:
    """What state records and the target holds: each address unknown, recorded as written, recorded with
    another hash, or held by the target alone (this project's, or unmarked)."""
    state: dict[str, StateEntry] = {}
    current: dict[str, Current] = {}
    for i, address in enumerate(ADDRESSES):
        how = draw(st.sampled_from(("none", "same", "changed", "ours", "unmarked", "gone")))
        kind, digest = TABLE.kinds[i], TABLE.hashes[i]
        recorded = f"{digest}:partial" if kind == ASSET else digest
        if how in ("same", "changed", "gone"):
            state[address] = StateEntry(kind, address, recorded if how != "changed" else "0" * 64, kind == ASSET)
        if how in ("same", "changed"):
            current[address] = Current(address, kind, address, recorded, kind == ASSET, "lin")
        elif how in ("ours", "unmarked"):
            current[address] = Current(address, kind, address, recorded, kind == ASSET,
                                       "lin" if how == "ours" else "")
    return state, current


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(held(), st.sampled_from(list(InputHandling)), st.booleans())
def test_a_plan_of_the_table_is_the_plan_of_its_resources_one_by_one(found, mode, refreshed):
    state, current = found
    caps = Capabilities(max_batch_size=5, adopt_by_hash=True)
    policy = Policy(input_handling=mode, fail_on_errors=False)
    plans = [build_target_plan(TargetInput("t", "fake", caps, policy, desired, current, refreshed), state, "lin", "lin")
             for desired in (TABLE, TABLE.resources())]
    by_table, by_list = plans
    assert by_table.changes == by_list.changes
    for name in FIELDS:
        assert list(column(by_table.changes, name)) == list(column(by_list.changes, name)), name
    assert (by_table.unchanged, by_table.skipped, by_table.unmanaged, by_table.warnings) == \
        (by_list.unchanged, by_list.skipped, by_list.unmanaged, by_list.warnings)


def test_a_first_plan_keeps_its_creates_as_positions_and_makes_them_when_read():
    plan = build_target_plan(TargetInput("t", "fake", Capabilities(max_batch_size=5), Policy(), TABLE, {}), {})
    changes = plan.changes
    assert len(changes) == len(TABLE) and "pending" in repr(changes)
    assert [c.address for c in changes] == sorted(TABLE.addresses)
    one = changes[len(changes) - 1]
    assert one.after.to_dict() == TABLE[TABLE.addresses.index(one.address)].body.to_dict()


def test_digests_read_as_the_hex_text_they_were_made_from():
    import hashlib

    made = [hashlib.sha256(str(n).encode()).digest() for n in range(5)]
    digests = Digests(b"".join(made[:2]))
    digests.extend(Digests(b"".join(made[2:])))
    assert list(digests) == [d.hex() for d in made] and digests[-1] == made[-1].hex()
    assert digests[1:3] == [made[1].hex(), made[2].hex()] and digests.hex(1, 3) == made[1].hex() + made[2].hex()


def _held_bytes(make):
    """The bytes what ``make()`` returns holds (and the value)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = make()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, value
    finally:
        tracemalloc.stop()


def test_a_translation_holds_its_resources_as_columns_not_objects(tmp_path):
    lineage = build_lineage([ManifestInput("m.csv", native_csv(20_000))])
    spill = Spill.anonymous()
    try:
        def translate() -> ResourceTable:
            with bodies_spilled_to(spill):
                table = lineage_resources(lineage)
            spill.flush()  # (the bodies' text on disk, not in what is measured)
            return table
        table_bytes, table = _held_bytes(translate)
        objects_bytes, objects = _held_bytes(table.resources)
    finally:
        spill.discard()
    assert len(table) == len(objects) > 40_000
    # the columns, the strings they hold included, against the objects one by one beside them (which share
    # those strings): the columns hold less than the objects alone add
    assert table_bytes < objects_bytes, (table_bytes / len(table), objects_bytes / len(table))


def test_a_table_comes_back_from_the_cache_as_written_whatever_its_hashes(tmp_path):
    """A translation's table read back from its cache file: the same resources, field for field, its hashes
    kept as their bytes where every one is lowercase hex of a SHA-256, and as written where one is not."""
    from lineage_as_code.cache import CachedResources, ResourceCache

    cache = ResourceCache(tmp_path / "cache")
    spill = cache.spill("local")
    assert spill is not None
    with bodies_spilled_to(spill):
        table = translated(5)
    cache.put("local", "k" * 32, CachedResources(table, 0), spill=spill)
    hit = cache.get("local", "k" * 32)
    assert hit is not None and isinstance(hit.resources, ResourceTable) and isinstance(hit.resources.hashes, Digests)
    assert [(r.address, r.kind, r.source, r.requires, r.edges, r.hash, r.body.to_dict()) for r in hit.resources] == \
        [(r.address, r.kind, r.source, r.requires, r.edges, r.hash, r.body.to_dict()) for r in table]
    odd = table.resources()
    odd[0] = dataclasses.replace(odd[0], hash=odd[0].hash.upper())  # 64 characters, not as sha256 writes them
    cache.put("local", "j" * 32, CachedResources(odd, 0))
    again = cache.get("local", "j" * 32)
    assert again is not None and list(again.resources.hashes) == [r.hash for r in odd]


def test_a_translation_for_an_apply_gives_the_same_resources_made_one_by_one():
    """An apply makes every resource, so its translation makes them as it goes (no table to copy them
    from): the same resources, hashes and body texts as the table's, in the same order."""
    from lineage_as_code.plan.contract import resources_made_whole

    with resources_made_whole():
        made = lineage_resources(build_lineage([ManifestInput("m.csv", native_csv(12))]))
    assert type(made) is list and made == TABLE
    assert [(r.hash, r.body.encoded()) for r in made] == [(r.hash, r.body.encoded()) for r in TABLE]


def test_a_table_made_without_a_spill_reads_its_bodies_from_the_cache_file_once_written(tmp_path):
    """A table whose bodies were kept in memory (no spill) is written to the cache whole, and from then on
    reads each body from the file (its text no longer held), the same bodies."""
    from lineage_as_code.cache import CachedResources, ResourceCache
    from lineage_as_code.canonical import LazyBody

    table = translated(4)
    before = [r.body.to_dict() for r in table]
    assert not isinstance(table.body_at(0), LazyBody)
    ResourceCache(tmp_path / "cache").put("local", "k" * 32, CachedResources(table, 0))
    assert all(isinstance(table.body_at(i), LazyBody) for i in range(len(table)))
    assert [r.body.to_dict() for r in table] == before

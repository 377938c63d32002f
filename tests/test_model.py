"""The model's values are built by a faster ``__init__`` than dataclasses writes, and must behave
exactly as the dataclass declares them; a bulk build leaves nothing for the collector to rescan, and
the command line hands everything back to it when a command ends."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import shutil

import numpy as np
import pytest

from lineage_as_code.model import (
    Asset,
    AssetTable,
    Lineage,
    Process,
    ProcessBlock,
    SourceLocation,
    bulk_allocation,
    slot_init,
)
from lineage_as_code.plan.contract import Resource
from lineage_as_code.plan.model import Action, Change, Skip
from tests.conftest import FIXTURE


@pytest.mark.parametrize("cls", [SourceLocation, Asset, Process, Resource, Change, Skip])
def test_parameters_are_the_dataclass_declaration(cls: type) -> None:
    params = inspect.signature(cls.__init__).parameters
    declared = [f for f in dataclasses.fields(cls) if f.init]
    assert list(params)[1:] == [f.name for f in declared]
    for f in declared:
        default = params[f.name].default
        if f.default is not dataclasses.MISSING:
            assert default == f.default
        elif f.default_factory is dataclasses.MISSING:
            assert default is inspect.Parameter.empty


def test_defaults_factories_and_post_init_apply() -> None:
    a = Asset("snowflake", "DB", "S", "T")
    assert (a.type, a.connection, a.ids, a.key) == ("table", "", (), "snowflake:DB.S.T")
    p = Process("p1", "load", (a,), (a,))
    assert p.source == SourceLocation("<memory>") and p.attributes == () and p.columns == ()
    assert Process("p2", "load", (), ()).source is not p.source  # a factory per value, never shared
    r = Resource("process:p1", "process", {"id": "p1"})
    assert len(r.hash) == 64 and r.hash == Resource("process:p1", "process", {"id": "p1"}, hash="").hash
    c = Change(target="duckdb", address="process:p1", kind="process", action=Action.CREATE, after_hash="h")
    assert (c.after, c.prior, c.requires, c.owner, c.prior_body) == (None, None, (), "", None)


def test_keywords_positions_and_missing_arguments_as_declared() -> None:
    assert Asset("pg", "d", "s", "t", type="view") == Asset(platform="pg", database="d", schema="s", name="t",
                                                             type="view")
    with pytest.raises(TypeError):
        Asset("pg", "d", "s")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Asset("pg", "d", "s", "t", colour="red")  # type: ignore[call-arg]
    assert dataclasses.replace(Asset("pg", "d", "s", "t"), name="u").key == "pg:d.s.u"


def test_values_stay_frozen_and_hashable() -> None:
    a = Asset("pg", "d", "s", "t")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "u"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Change("t", "a", "process", Action.DELETE).address = "b"  # type: ignore[misc]
    assert len({a, Asset("pg", "d", "s", "t")}) == 1


def test_keyword_only_fields_are_refused() -> None:
    with pytest.raises(TypeError, match="keyword-only"):
        @slot_init
        @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
        class Pair:
            left: str
            right: str


def test_a_bulk_build_is_set_aside_and_the_command_line_hands_it_back(lac, tmp_path) -> None:
    before = gc.get_freeze_count()
    with bulk_allocation():
        built = [Asset("pg", "d", "s", f"t{i}") for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= before + len(built)  # not rescanned by the collections that follow
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    assert lac("plan", cwd=project).code == 0
    assert gc.get_freeze_count() == 0  # an in-process caller's garbage is collectable again


def test_a_process_block_reads_as_the_tuple_of_its_processes():
    """A parser's processes kept as columns: indexing (from either end), slicing, iterating, equality and
    hashing give what the tuple of the same Processes gives; an index past either end is an IndexError."""
    a, b, c = (Asset("pg", "d", "s", n) for n in "abc")
    processes = (Process("p", "P", (a,), (b,), attributes=(("k", "v"),), source=SourceLocation("m.csv", 2)),
                 Process("q", "Q", (a, b), (c,), source=SourceLocation("m.csv", 4)))
    block = ProcessBlock(["p", "q"], ["P", "Q"], [a, b, c], np.array([0, 0, 1]), np.array([0, 1, 3]),
                         np.array([1, 2]), np.array([0, 1, 2]), attributes=[(("k", "v"),), ()], columns=[(), ()],
                         file="m.csv", lines=[2, 4])
    assert len(block) == 2 and block == processes and list(block) == list(processes)
    assert (block[0], block[-1], block[1:], block[::-1]) == (processes[0], processes[-1], processes[1:], processes[::-1])
    assert [p.source for p in block] == [p.source for p in processes]
    assert hash(block) == hash(processes)
    for past in (2, -3):
        with pytest.raises(IndexError):
            block[past]
    lineage = Lineage.build_sorted(block, {x.key: x for x in (a, b, c)})
    assert (lineage.edge_count, lineage.column_edge_count) == (3, 0) == (
        Lineage.build(processes).edge_count, Lineage.build(processes).column_edge_count)


def test_an_asset_table_reads_as_the_dict_of_its_assets_by_key():
    """A parser's assets kept as columns, sorted by key: lookups (hits, misses, non-strings), iteration,
    values, items and positions give what the dict of the same Assets gives."""
    assets = sorted((Asset("pg", "d", "s", n, t, c) for n, t, c in (("b", "view", ""), ("a", "table", "prod"),
                                                                      ("c.d", "table", ""))), key=lambda a: a.key)
    table = AssetTable([a.key for a in assets], *(list(column) for column in zip(
        *((a.platform, a.database, a.schema, a.name, a.type, a.connection) for a in assets), strict=True)))
    by_key = {a.key: a for a in assets}
    assert table == by_key and len(table) == 3 and list(table) == list(by_key)
    assert list(table.values()) == assets and list(table.items()) == list(by_key.items())
    assert table["pg:d.s.b"] == by_key["pg:d.s.b"] and table.get("pg:d.s.`c.d`").name == "c.d"
    assert [table.get(k) for k in ("pg:d.s.z", "", 3)] == [None, None, None]
    assert "pg:d.s.a" in table and "pg:d.s.aa" not in table and None not in table
    with pytest.raises(KeyError):
        table["pg:d.s.0"]
    positions = table.positions()
    assert (positions[0], positions[-1], positions[1:]) == (assets[0], assets[-1], assets[1:])
    assert [a.key for a in table.values()] == [a.key for a in assets]  # each built with its key

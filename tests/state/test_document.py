"""The state reader accepts exactly what ``schemas/state.schema.json`` accepts: its fast path
never lets through an entry the schema refuses, and whatever the fast path leaves to the schema
is decided by the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lineage_as_code.errors import StateError
from lineage_as_code.manifest.validate import load_schema
from lineage_as_code.state import State, document
from lineage_as_code.state.document import check_envelope, plain_columns
from lineage_as_code.state.local import LocalStateStore

SCHEMA = load_schema("state")
ENTRY = Draft202012Validator({**SCHEMA["$defs"]["entry"], "$defs": SCHEMA["$defs"]})

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.floats(allow_nan=False), st.text(max_size=3))
edge = st.one_of(st.lists(st.text(max_size=2), min_size=2, max_size=2), st.lists(scalars, max_size=3), scalars)
entries = st.one_of(
    st.tuples(st.text(max_size=3), st.text(max_size=3), st.text(max_size=3), st.sampled_from([0, 1, 1.0, True, 2]),
              st.lists(edge, max_size=3)).map(list),
    st.lists(st.one_of(scalars, st.lists(edge, max_size=2)), max_size=6),
    scalars,
    # as this tool writes them, with a file and an uncertain flag or not (lengths mixed within a target)
    st.tuples(st.text(max_size=3), st.text(max_size=3), st.text(max_size=3), st.sampled_from([0, 1]),
              st.lists(st.lists(st.text(max_size=2), min_size=2, max_size=2), max_size=2),
              st.one_of(st.text(max_size=3), scalars), st.sampled_from([0, 1, 1.0, True, 2]),
              st.integers(5, 7)).map(lambda t: list(t[:t[-1]])),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(entries, min_size=1, max_size=3))
def test_entries_are_read_exactly_when_the_schema_accepts_them(raws: list[Any]) -> None:
    valid = all(ENTRY.is_valid(raw) for raw in raws)
    doc = {"format_version": 1, "lineage": "x", "serial": 1,
           "targets": {"t": {f"asset.a{i}": raw for i, raw in enumerate(raws)}}}
    fast = plain_columns(doc["targets"]["t"]) is not None
    assert fast <= valid  # the fast path never admits what the schema refuses
    try:
        state = State.from_json(json.dumps(doc).encode(), "state.json")
    except StateError as exc:
        assert not valid, raws
        assert "state file is corrupt" in str(exc)
        return
    assert valid, raws
    for i, raw in enumerate(raws):
        entry = state.entries("t")[f"asset.a{i}"]
        assert (entry.kind, entry.id, entry.hash, entry.partial) == (raw[0], raw[1], raw[2], bool(raw[3]))
        assert entry.edges == tuple((a, b) for a, b in raw[4])
        assert (entry.file, entry.uncertain) == (raw[5] if len(raw) > 5 else "", len(raw) > 6 and raw[6] == 1)


def _laid_out(rows: list[tuple[str, Any]], ascii_only: bool) -> bytes:
    """A state whose target ``t`` holds ``rows`` (address, entry: anything), one line each, in the layout
    this tool writes."""
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)
    lines = ",\n".join(f"{dumps(address)}:{dumps(raw)}" for address, raw in rows)
    return b'{"format_version":1,"lineage":"x","serial":1,"targets":{\n"t":{\n' + lines.encode() + b"\n}\n}\n}\n"


def _read_entries(data: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        entries = State.from_json(data, "state.json").entries("t")
        return {a: tuple(e) for a, e in entries.items()}, ""
    except StateError as exc:
        return None, str(exc)


plain = st.text(alphabet="ab.:/ ", max_size=3)
wide = st.text(alphabet="ab\u00e9", max_size=3)  # (written as is, or escaped: ascii_only)
addresses = st.one_of(plain, st.text(max_size=3))
flag = st.sampled_from([0, 1, 1, 0, 2])  # (2: what the schema refuses, in the same plain spelling)
as_written = st.tuples(plain, plain, plain, flag, st.lists(st.lists(plain, min_size=2, max_size=2), max_size=2),
                       wide, flag, st.integers(5, 7)).map(lambda t: list(t[:t[-1]]))


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.lists(st.tuples(plain, as_written), max_size=4),  # (else most sections hold a line read whole)
                 st.lists(st.tuples(addresses, st.one_of(as_written, entries)), max_size=4)), st.booleans())
def test_entries_read_as_columns_are_what_reading_them_as_json_gives(rows: list[tuple[str, Any]],
                                                                     ascii_only: bool) -> None:
    """State's entries in this tool's layout are read a run of lines at a time into columns where each line is
    plainly valid (strings without escapes); whatever they hold (escapes, other spellings, control
    characters, an address twice, entries the schema refuses), the entries read, or the error, are those of
    the general reading, and the schema decides."""
    from unittest import mock

    from lineage_as_code.state.entries import LineEntries

    data = _laid_out(rows, ascii_only)
    read = _read_entries(data)
    with mock.patch.object(LineEntries, "read", return_value=None):
        assert read == _read_entries(data)
    if read[0] is not None:
        assert all(ENTRY.is_valid(raw) for raw in dict(rows).values())
        assert list(read[0]) == list(dict(rows))  # in the file's order, an address twice at its first place


@pytest.mark.parametrize("line", [
    r'"a\x":["asset","a","h",0,[],"m.csv"]',  # an address
    r'"a":["asset","a\u12","h",0,[],"m.csv"]',  # an id
    r'"a":["asset","a","h",0,[["k\q","b"]],"m.csv"]',  # an edge's key
    r'"a":["asset","a","h",0,[],"m\'.csv"]',  # a file
    '"a":["asset","a","h",0,[],"m\\\t.csv"]',  # a backslash before a tab
])
def test_an_escape_json_does_not_have_is_an_error_as_the_general_reading_words_it(line: str) -> None:
    """A state's lines in this tool's layout holding an escape JSON does not have are not JSON: an error, in
    whichever field, as the general reading words it."""
    data = _laid_out([("b", ["asset", "b", "h", 0, [], "m.csv"])], True)
    data = data.replace(b"\n}\n}", f",\n{line}\n}}\n}}".encode(), 1)
    read = _read_entries(data)
    assert read[0] is None and "state file is corrupt" in read[1], read


def test_a_state_of_plain_entries_is_read_as_columns_and_still_reads_each_entry_whole() -> None:
    """The columns answer what a plan asks of every entry (its hash, what the target should hold) without
    making an entry, and give each entry whole when asked."""
    state = _ledger(60)
    read = State.from_json(state.to_json(), "state.json").entries("local")
    assert read.hash_of("process.p1") == "h1" and read.hash_of("process.p0") is None  # type: ignore[attr-defined]
    assert read.recorded("asset.pg:db.s.a3") == ("asset", "asset.pg:db.s.a3", "h3:full", False)  # type: ignore[attr-defined]
    assert dict(read) == dict(state.entries("local"))
    assert sorted(read.uncertain()) == sorted(a for a, e in state.entries("local").items() if e.uncertain)  # type: ignore[attr-defined]


ENVELOPE = Draft202012Validator(SCHEMA)
names = st.sampled_from(["local", "cat", "", "x" * 3])
fields = {
    "format_version": st.one_of(st.sampled_from([1, 1.0, True, 2, "1"]), scalars),
    "lineage": st.one_of(st.text(max_size=3), st.just("l" * 200), st.just("l" * 201), scalars),
    "serial": st.one_of(st.sampled_from([0, -1, 1.0, 1.5, True, 2 ** 53 - 1, 2 ** 53, "3"]), scalars),
    "targets": st.one_of(st.dictionaries(names, st.one_of(st.just({}), scalars), max_size=2), scalars),
    "content": st.one_of(st.dictionaries(names, st.one_of(st.just({}), scalars), max_size=2), scalars),
    "other": scalars}
VALID = {"format_version": 1, "lineage": "l", "serial": 3, "targets": {"local": {}}}


@st.composite
def envelopes(draw: Any) -> dict[str, Any]:
    """A valid envelope with one or two fields dropped or set to anything (most documents near the line)."""
    doc = dict(VALID)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=2)):
        if draw(st.booleans()) and name in doc:
            del doc[name]
        else:
            doc[name] = draw(fields[name])
    return doc


@settings(max_examples=600, deadline=None)
@given(envelopes())
def test_the_envelope_check_refuses_exactly_what_the_schema_refuses(doc: dict[str, Any]) -> None:
    """The compiled check that lets a cached plan skip jsonschema gives the schema's verdict."""
    try:
        check_envelope(doc, "state.json")
    except StateError as exc:
        assert not ENVELOPE.is_valid(doc), doc
        assert "state file is corrupt" in str(exc)
        return
    assert ENVELOPE.is_valid(doc), doc


def _ledger(n: int) -> State:
    from types import MappingProxyType

    from lineage_as_code.state import StateEntry

    entries = {}
    for i in range(n):
        if i % 3:
            entries[f"process.p{i}"] = StateEntry("process", f"vendor-{i}", f"h{i}", False,
                                                  ((f"pg:db.s.a{i}", f"pg:db.s.b{i}"),), f"m{i % 2}.yaml", i % 7 == 0)
        else:
            entries[f"asset.pg:db.s.a{i}"] = StateEntry("asset", f"asset.pg:db.s.a{i}", f"h{i}:full", i % 2 == 0)
    return State("lineage-1", 4, MappingProxyType({"local": MappingProxyType(entries), "other": MappingProxyType({})}))


def test_a_large_section_read_a_piece_at_a_time_is_the_section(monkeypatch: Any) -> None:
    """Entries are parsed a few MB at a time, so a million of them never exist twice; cut anywhere, from
    one line per piece to all in one, they are read the same."""
    state = _ledger(60)
    data = state.to_json()
    for size in (1, 50, 300, 10 ** 9):
        monkeypatch.setattr(document, "PIECE", size)
        read = State.from_json(data, "state.json")
        assert dict(read.entries("local")) == dict(state.entries("local")), size
        assert dict(read.entries("other")) == {}


def test_a_section_read_from_the_file_a_block_at_a_time_is_the_section(monkeypatch: Any, tmp_path: Path) -> None:
    """A state read from a file kept open parses its entries as it reads them from the file again, a block at
    a time, never holding the whole section: cut anywhere, blocks read the same entries; an edit in place
    anywhere in the section, even in its first block, is an error once the last block is read."""
    store = LocalStateStore(str(tmp_path / "state.json"))
    state = _ledger(60)
    store.write(state, expected_serial=0)
    written = State("lineage-1", 5, state.targets)
    for size in (1, 7, 50, 300, 10 ** 9):
        monkeypatch.setattr(document, "PIECE", size)
        assert dict(store.read().entries("local")) == dict(written.entries("local")), size
    monkeypatch.setattr(document, "PIECE", 64)
    held = store.read()
    data = (tmp_path / "state.json").read_bytes()
    with open(tmp_path / "state.json", "r+b") as fh:  # the first entry's hash, the file the same length
        fh.seek(data.index(b'"h0:full"') + 1)
        fh.write(b"X")
    with pytest.raises(StateError, match="the state file was changed in place while this run read it"):
        held.entries("local")


def test_a_section_whose_lines_are_not_one_entry_each_is_read_whole(monkeypatch: Any) -> None:
    """An entry spread over lines by hand cannot be cut at its line ends: the section is read whole."""
    monkeypatch.setattr(document, "PIECE", 1)
    state = _ledger(9)
    data = state.to_json().replace(b'["process","vendor-1",', b'[\n"process",\n"vendor-1",\n')
    assert data != state.to_json()
    assert dict(State.from_json(data, "state.json").entries("local")) == dict(state.entries("local"))


def test_an_address_twice_in_a_section_is_read_as_a_whole_read_reads_it(monkeypatch: Any) -> None:
    """JSON keeps the last of two equal names, so a whole read never sees a bad first spelling; a read
    in pieces, which would see it, must read such a section whole."""
    data = _ledger(9).to_json()
    bad_first = b'"process.p8":["process",8,"h8",0,[]],\n'
    twice = data.replace(b'"process.p1":', bad_first + b'"process.p1":', 1)
    assert twice.count(b'"process.p8":') == 2
    whole = State.from_json(twice, "state.json").entries("local")
    assert whole["process.p8"].id == "vendor-8"
    monkeypatch.setattr(document, "PIECE", 1)
    assert dict(State.from_json(twice, "state.json").entries("local")) == dict(whole)


def test_a_corrupt_entry_in_a_later_piece_is_named(monkeypatch: Any) -> None:
    monkeypatch.setattr(document, "PIECE", 1)
    data = _ledger(30).to_json().replace(b'"process.p28":["process","vendor-28"', b'"process.p28":["process",28')
    try:
        State.from_json(data, "state.json").entries("local")
    except StateError as exc:
        assert "state file is corrupt" in str(exc) and "process.p28" in str(exc)
    else:
        raise AssertionError("a corrupt entry was read")

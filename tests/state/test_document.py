"""The state reader accepts exactly what ``schemas/state.schema.json`` accepts, entry by entry:
its fast path never lets through an entry the schema refuses, and anything the fast path leaves
to the schema is decided by the schema."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lineage_as_code.errors import StateError
from lineage_as_code.manifest.validate import load_schema
from lineage_as_code.state.document import build_entry

SCHEMA = load_schema("state")
ENTRY = Draft202012Validator({**SCHEMA["$defs"]["entry"], "$defs": SCHEMA["$defs"]})

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.floats(allow_nan=False), st.text(max_size=3))
edge = st.one_of(st.lists(st.text(max_size=2), min_size=2, max_size=2), st.lists(scalars, max_size=3), scalars)
entries = st.one_of(
    st.tuples(st.text(max_size=3), st.text(max_size=3), st.text(max_size=3), st.sampled_from([0, 1, 1.0, True, 2]),
              st.lists(edge, max_size=3)).map(list),
    st.lists(st.one_of(scalars, st.lists(edge, max_size=2)), max_size=6),
    scalars,
)


@settings(max_examples=400, deadline=None)
@given(entries)
def test_an_entry_is_read_exactly_when_the_schema_accepts_it(raw: Any) -> None:
    valid = ENTRY.is_valid(raw)
    try:
        kind, vid, digest, partial, edges = build_entry(raw, "state.json", "t", "a")
    except StateError as exc:
        assert not valid, raw
        assert "state file is corrupt" in str(exc)
        return
    assert valid, raw
    assert (kind, vid, digest, partial) == (raw[0], raw[1], raw[2], bool(raw[3]))
    assert edges == tuple((a, b) for a, b in raw[4])


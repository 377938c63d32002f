import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lineage_as_code.manifest.refs import (
    RefError,
    build_asset,
    parse_asset,
    parse_assets,
    plain_parts,
    scan_ref,
    split_ref,
)
from lineage_as_code.model import Asset


def test_segments_are_right_aligned_and_defaults_fill_the_rest():
    asset = parse_asset("raw.orders", {"platform": "snowflake", "database": "ANALYTICS"})
    assert (asset.platform, asset.database, asset.schema, asset.name) == ("snowflake", "ANALYTICS", "raw", "orders")
    assert asset.key == "snowflake:ANALYTICS.raw.orders"


def test_backticks_quote_dotted_segments_and_the_key_round_trips():
    asset = parse_asset("bigquery:`my-proj.eu`.sales.orders", {})
    assert asset.database == "my-proj.eu"
    assert asset.key == "bigquery:`my-proj.eu`.sales.orders"
    assert parse_asset(asset.key, {}) == asset


def test_doubled_backtick_is_a_literal_backtick():
    assert split_ref("p:`a``b`.c") == ("p", ["a`b", "c"])


@pytest.mark.parametrize("text", ["", "a..b", "p:`open.x", "a.b.c.d", ".a", "orders"])
def test_malformed_references_raise_with_a_reason(text):
    with pytest.raises(RefError):
        parse_asset(text, {})


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab.:`x ", max_size=12))
def test_the_fast_path_splits_exactly_as_the_full_tokenizer(text):
    def outcome(fn):
        try:
            return fn(text.strip())
        except RefError as exc:
            return str(exc)
    if text.strip():
        assert outcome(split_ref) == outcome(scan_ref)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab.:`x \u00a0", max_size=14),
       st.sampled_from([{}, {"platform": "pg"}, {"platform": "pg", "database": "D", "type": "view", "connection": "c"}]))
@example("pg:db.sch.orders", {"type": "view"})
@example(" pg:db.sch.orders", {})
@example("pg:db.sch.ord\x1fers", {})
@example("pg:db.sch.orders.x", {})
@example("pg:db.sch:x.y", {})
@example("pg:db.sch", {"database": "D"})
@example("db.sch.orders", {"platform": "pg"})
def test_references_parse_as_the_tokenizer_reads_them_with_the_key_the_model_builds(text, defaults):
    """A plain reference is its own key and skips the tokenizer: the same asset either way."""
    try:
        want: Asset | str = build_asset(*split_ref(text), defaults)
    except RefError as exc:
        want = str(exc)
    try:
        one: Asset | str = parse_asset(text, defaults)
    except RefError as exc:
        one = str(exc)
    (got,) = parse_assets([text], defaults)
    assert got == want and one == want
    if isinstance(got, Asset):
        assert got.key == Asset(got.platform, got.database, got.schema, got.name).key
        assert isinstance(one, Asset) and one.key == got.key


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.text(alphabet="ab.:`x \n\u2028", max_size=10), max_size=5))
@example(["pg:d.s.a\npg:d.s.b", ""])  # two plain lines in one text, and a text of none: as many lines as texts
@example(["pg:d.s.a\n", "pg:d.s.b"])
@example(["pg:d.s.a", "pg:d.s.b"])
@example([])
def test_references_read_together_are_plain_exactly_when_each_one_is(texts):
    """A file's references are split in one scan when every one is plain (``platform:db.schema.name``, its own
    key): the same parts each one parses into, and none at all when any one is not."""
    found = plain_parts(texts)
    part = r"[^.:\s`]+"  # no dot, colon, blank or backtick: nothing a key quotes
    each = [parse_asset(t, {}) if re.fullmatch(f"{part}:{part}\\.{part}\\.{part}", t) else None for t in texts]
    if any(a is None for a in each):
        assert found is None
    else:
        assert found == [(a.platform, a.database, a.schema, a.name) for a in each if a is not None]
        assert [a.key for a in each if a is not None] == texts

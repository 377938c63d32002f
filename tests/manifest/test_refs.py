import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage_as_code.manifest.refs import RefError, parse_asset, scan_ref, split_ref


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

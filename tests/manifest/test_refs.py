import pytest

from lineage_as_code.manifest.refs import RefError, parse_asset, split_ref


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

"""Canonical JSON written without a parse (a key added in place, a cached body's own text) is the text
the general encoder writes: the content hashes and stored bodies of an apply depend on it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lineage_as_code.cache import CachedResources, ResourceCache
from lineage_as_code.canonical import LazyBody, canonical_json, canonical_text, indented_json, key_place, with_key
from lineage_as_code.model import Asset, Lineage, Process
from lineage_as_code.plan.creates import After as _After
from lineage_as_code.targets.lineage_resources import asset_body, lineage_resources

# text with what JSON escapes, and what the fast path looks at: quotes, colons, commas, brackets
_text = st.text(alphabet=st.sampled_from(list('ab:,"{}[]\\\n é/pz\u2028')), max_size=8) | st.sampled_from(
    ["partial", "part", "partials", "platform", "name", "type"])
_json = st.recursive(st.none() | st.booleans() | st.integers() | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3), max_leaves=6)
_flat = st.dictionaries(_text, st.none() | st.booleans() | st.integers() | _text, max_size=8)


@settings(max_examples=400, deadline=None)
@given(body=_flat | st.dictionaries(_text, _json, max_size=5), key=_text | st.just("partial"), value=_json)
def test_a_key_added_to_canonical_text_gives_the_text_of_the_object_with_it(body, key, value):
    body.pop(key, None)
    text = canonical_json(body)
    assert with_key(text, key, value) == canonical_json({**body, key: value})
    assert with_key(text, key, value, key_place(text, key)) == with_key(text, key, value)  # a place kept


def test_a_key_set_to_one_and_to_true_keeps_each_value():
    """``True == 1`` (and ``False == 0``): the members written by value must not be confused."""
    for value, written in ((1, "1"), (True, "true"), (0, "0"), (False, "false"), (1, "1"), (None, "null")):
        assert with_key('{"a":1}', "partial", value) == f'{{"a":1,"partial":{written}}}'


@settings(max_examples=200, deadline=None)
@given(body=_flat, partial=st.booleans())
def test_a_cached_assets_body_with_its_placeholder_flag_writes_as_its_dict(body, partial):
    text = ("\n" + canonical_json(body) + "\t").encode()
    cached = LazyBody(text, 1, len(text) - 1)
    assert canonical_text(cached) == canonical_json(body)
    after = _After(cached, partial)
    flagged = canonical_json({**body, "partial": partial})
    assert after.encoded() == flagged.encode()  # (UTF-8, as state's content holds it) the place not yet known
    assert canonical_text(after) == flagged == canonical_json(dict(after))
    assert canonical_text(after) == flagged  # again, from the place found
    assert after.encoded() == flagged.encode()  # spliced as bytes at the place found, where the text is ASCII
    assert json.loads(canonical_text(after)) == {**body, "partial": partial}
    other = _After(cached, not partial)  # another change's view of the same body: the place the body kept
    assert other.encoded() == canonical_json({**body, "partial": not partial}).encode()
    assert canonical_text(other) == canonical_json({**body, "partial": not partial})


@settings(max_examples=200, deadline=None)
@given(body=_flat, key=_text)
def test_a_body_keeps_the_place_of_its_placeholder_flag_and_of_no_other_key(body, key):
    body.pop("partial", None)
    text = canonical_json(body)
    cached = LazyBody(text.encode(), 0, len(text.encode()))
    assert cached.place_of("partial", text) == key_place(text, "partial")
    assert cached.place_of(key, text) == key_place(text, key)  # asked after "partial": not its place


@settings(max_examples=300, deadline=None)
@given(fields=st.tuples(_text, _text, _text, _text.filter(bool), _text | st.integers(), _text), partial=st.booleans())
def test_an_assets_body_with_its_placeholder_flag_writes_as_its_dict(fields, partial):
    """Written straight from the asset's fields; a field that is not a string (a type built by hand) by the
    encoder: the text is the dict's either way."""
    asset = Asset(*fields)
    resources = lineage_resources(Lineage.build([Process("p", "P", (), (asset,))]))
    with tempfile.TemporaryDirectory() as folder:  # and read back from the translation cache
        cache = ResourceCache(Path(folder))
        cache.put("local", "k" * 32, CachedResources(list(resources), 0))
        hit = cache.get("local", "k" * 32)
        assert hit is not None
        for found in (resources, hit.resources):
            (body,) = [r.body for r in found if r.kind == "asset"]
            after = _After(body, partial)
            assert after.encoded() == canonical_json({**asset_body(asset), "partial": partial}).encode()
            assert canonical_text(after) == canonical_json({**asset_body(asset), "partial": partial})
            assert canonical_text(after) == canonical_json(dict(after))


_any = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | _text,
                    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                    | st.dictionaries(_text, inner, max_size=3), max_leaves=12)


@settings(max_examples=500, deadline=None)
@given(_any | st.dictionaries(st.integers() | st.booleans(), _any, max_size=2))
def test_a_plan_change_is_written_as_json_writes_it_indented(value):
    """What a saved plan and ``--format json`` hold: the text of ``json.dumps(indent=2, sort_keys=True)``,
    floats (NaN and infinities too), tuples, and keys json must turn into text included."""
    try:
        expected = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    except TypeError:  # keys of more than one type: json cannot sort them, nor can the plan writer
        return
    assert indented_json(value) == expected
    assert indented_json(value, "    ") == expected.replace("\n", "\n    ")  # where a plan puts a change

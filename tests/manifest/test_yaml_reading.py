"""YAML is read from libyaml's events when it can be, and by composing nodes otherwise: both readings give
the same value, the same line for every field and the same problems, on every document."""

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage_as_code.compile.writer import build_manifest_yaml
from lineage_as_code.manifest import yaml_reader
from lineage_as_code.manifest.refs import parse_asset
from lineage_as_code.manifest.yaml_reader import _from_events, _from_nodes, _Unsure, load_yaml
from lineage_as_code.model import Process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"


def _both(text: str) -> tuple[tuple[str, dict, list], tuple[str, dict, list]]:
    """(what load_yaml gives, what composing nodes gives): values by repr, so types, key order and NaN count;
    the line of every path composing knows, and of a path below each (its nearest ancestor's line), asked for
    shallow paths first, as a read does, then deep ones."""
    value, lines, problems = load_yaml("m.yaml", text.encode())
    ref_value, ref_lines, ref_problems = _from_nodes("m.yaml", text)
    paths = sorted(ref_lines._lines, key=len)
    paths += [(*p, "below") for p in paths]
    asked = [lines.line(p) for p in paths]
    return (repr(value), asked, problems), (repr(ref_value), [ref_lines.line(p) for p in paths], ref_problems)


DOCUMENTS = {
    "manifest": """version: 1
defaults: {platform: snowflake, database: ANALYTICS}
processes:
  - id: build
    name: "Build: marts"
    sql: |
      select *
      from raw.orders -- a comment
    inputs: [raw.orders, 'raw.customers']
    outputs:
      - {ref: marts.orders, alias: o}
    columns:
      - from: [raw.orders.id]
        to: o.id
        transform: >
          folded
          text
""",
    "scalars that are not strings": """a: yes
b: No
c: on
d: 0o17
e: 017
f: 0x1F
g: 1_000
h: 1:30
i: 1.5e3
j: .inf
k: -.Inf
l: .nan
m: ~
n: null
o:
p: 2024-01-02
q: 2024-01-02 10:11:12.5 +02:00
r: '123'
s: "true"
t: +12
u: -0.0
v: 0b101
w: 190:20:30.15
""",
    "keys that are not strings": "1: a\ntrue: b\n~: c\n2024-01-01: d\n1.5: e\n",
    "keys that construct to one value": "1: a\n01: b\n0o1: c\n",
    "a lone scalar": "just text\n",
    "an empty document": "",
    "a comment only": "# nothing\n",
    "an explicit empty document": "---\n...\n",
    "a list at the top": "- a\n- [b, {c: d}]\n- - e\n  - f\n",
    "empty collections": "a: []\nb: {}\nc: [[], {}]\n",
    "unicode and a byte order mark": "\ufeffname: caf\u00e9 \u2603\nid: \u00fc\n",
    "long and multi-line": "a: " + "x" * 5000 + "\nb: |-\n  l1\n  l2\n\n  l4\nc: \"esc\\taped\\n\"\n",
    "anchors and aliases": "a: &x {p: 1}\nb: *x\nc: [*x, *x]\n",
    "a merge key": "base: &b {platform: pg, schema: s}\nthis:\n  <<: *b\n  schema: t\n",
    "a merge of several": "a: &a {x: 1}\nb: &b {y: 2}\nc: {<<: [*a, *b], z: 3}\n",
    "a quoted merge key": "a: {'<<': 1}\n",
    "a merge tag as a value": "a: <<\n",
    "a value tag": "a: =\n",
    "explicit tags": "a: !!str 12\nb: !!int '7'\nc: ! 12\nd: !!binary aGk=\ne: !!set {x, y}\n",
    "an unknown tag": "a: !custom x\n",
    "a duplicate key": "a: 1\nb: 2\na: 3\n",
    "a duplicate nested key": "p:\n  - id: x\n    id: y\n",
    "a complex key": "? [a, b]\n: c\n",
    "a mapping key": "? {a: 1}\n: c\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "a syntax error": "a: [1, 2\nb: 3\n",
    "a bad indent": "a:\n  b: 1\n c: 2\n",
    "a tab": "a:\n\tb: 1\n",
    "a control character": "a: \x07\n",
    "nesting past the limit": "a: " + "[" * 80 + "]" * 80 + "\n",
    "nesting at the limit": "a: " + "[" * 62 + "]" * 62 + "\n",
    "deep block nesting": "".join("  " * i + f"k{i}:\n" for i in range(70)) + "  " * 70 + "v\n",
    "an alias bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(6)),
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_both_readings_agree_on_value_lines_and_problems(name):
    got, reference = _both(DOCUMENTS[name])
    assert got == reference


@pytest.mark.parametrize("name", ["manifest", "scalars that are not strings", "keys that are not strings",
                                  "keys that construct to one value", "a list at the top", "empty collections",
                                  "unicode and a byte order mark", "long and multi-line", "nesting at the limit"])
def test_documents_without_anchors_tags_merges_or_duplicates_are_read_from_events(name):
    value, lines = _from_events(DOCUMENTS[name].lstrip("\ufeff"))
    assert repr(value) == repr(_from_nodes("m.yaml", DOCUMENTS[name])[0])
    assert lines


@pytest.mark.parametrize("name", ["anchors and aliases", "a merge key", "explicit tags", "a duplicate key",
                                  "a complex key", "two documents", "a merge tag as a value", "a value tag",
                                  "nesting past the limit", "a quoted merge key"])
def test_what_only_composing_reads_exactly_is_left_to_it(name):
    with pytest.raises(_Unsure):
        _from_events(DOCUMENTS[name])


def test_a_read_keeps_the_lines_of_the_top_two_levels_and_finds_deeper_ones_when_asked():
    text = "version: 1\nprocesses:\n  - id: a\n    inputs:\n      - x.y\n  - id: b\n"
    value, lines, _ = load_yaml("m.yaml", text.encode())
    assert value["processes"][1]["id"] == "b"
    kept = dict(lines._lines)
    assert kept == {(): 1, ("version",): 1, ("processes",): 2, ("processes", 0): 3, ("processes", 1): 6}
    assert lines.line(("processes", 0, "inputs", 0)) == 5
    assert lines.line(("processes", 1, "id")) == 6
    assert lines.line(("processes", 0, "id")) == 3


def test_problems_keep_their_lines_when_the_document_is_read_again():
    value, lines, problems = load_yaml("m.yaml", b"version: 1\nprocesses:\n  - id: a\n    id: b\n")
    assert [(p.line, p.field, p.message) for p in problems] == [(4, "processes[0].id", "duplicate key")]
    assert value == {"version": 1, "processes": [{"id": "b"}]}
    assert lines.line(("processes", 0, "id")) == 4


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_examples_are_read_from_events(path):
    text = path.read_text("utf-8-sig")
    value, lines = _from_events(text)
    reference = _from_nodes(path.name, text)
    assert (repr(value), lines) == (repr(reference[0]), reference[1]._lines)


def test_what_compile_writes_is_read_from_events():
    asset, out = parse_asset("snowflake:DB.s.yes", {}), parse_asset("snowflake:DB.s.on", {})
    text = build_manifest_yaml([Process(id="0123", name="true", inputs=(asset,), outputs=(out,), sql="select 1")],
                               "dbt").decode()
    value, _ = _from_events(text)
    assert value == _from_nodes("m.yaml", text)[0]


# Scalars whose first character starts an implicit type, in every quoting style yaml writes.
_TRICKY = st.one_of(
    st.sampled_from(["yes", "No", "on", "OFF", "y", "n", "true", "null", "~", "", "0", "017", "0o17", "0x1f",
                     "1_0", "1:30", "-1.5", ".inf", ".NaN", "+3", "2024-01-02", "2024-01-02T03:04:05Z", "<<", "=",
                     "a: b", "- x", "#c", "&a", "*a", "!t", "%p", "@x", "`x", "'q'", '"q"', "{a}", "[a]", "\t x",
                     "x\ny", " lead", "trail ", "\u00e9", "\u2603"]),
    st.text(alphabet="yYnNoOtTfF01-+.:~=<_ xae9\n", max_size=8),
)
_KEYS = st.one_of(_TRICKY, st.integers(-5, 5), st.booleans(), st.none())
_LEAVES = st.one_of(_TRICKY, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none())
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES, st.sampled_from([None, True, False]), st.sampled_from([None, "'", '"', "|", ">"]),
       st.sampled_from([2, 4]))
def test_any_document_yaml_writes_is_read_alike_both_ways(value, flow, style, indent):
    text = yaml.dump({"version": 1, "doc": value}, Dumper=yaml.SafeDumper, default_flow_style=flow,
                     default_style=style, indent=indent, allow_unicode=True, sort_keys=False)
    got, reference = _both(text)
    assert got == reference


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a:", " b", "- c", "  - d", ": e", "? f", "[g", "]", "{h", "}", ",", "&i", "*i",
                                 "!!str", "'j'", '"k', "<<:", "l: m", "\n", "  ", "#", "---", "...", "n: |", "o: >-"]),
                max_size=12))
def test_fragments_of_yaml_are_read_alike_both_ways(parts):
    got, reference = _both("".join(parts))
    assert got == reference


def _plain_values(count: int) -> str:
    return "version: 1\nprocesses:\n" + "".join(f"  - id: p{i}\n" for i in range(count))


@pytest.fixture
def small_limits(monkeypatch):
    """What a document may hold, and aliases add, made small enough to cross in a test."""
    monkeypatch.setattr(yaml_reader, "MAX_DOCUMENT_NODES", 40)
    monkeypatch.setattr(yaml_reader, "MAX_EXPANDED_NODES", 10)


def test_a_large_document_without_aliases_is_no_alias_bomb(small_limits):
    """15 processes are 33 values: three times what aliases may add, fewer than a document may hold."""
    text = _plain_values(15)
    value, _, problems = load_yaml("m.yaml", text.encode())
    assert problems == [] and len(value["processes"]) == 15
    assert _both(text)[0] == _both(text)[1]


@pytest.mark.parametrize("tail", ["", "  - id: &a later\n", "  - id: [unclosed\n", "---\nsecond: 1\n",
                                  "  - id: " + "[" * 70 + "]" * 70 + "\n"])
def test_a_document_of_too_many_values_is_refused_by_both_readings_alike(small_limits, tail):
    text = "# comment\n" + _plain_values(30) + tail
    got, reference = _both(text)
    assert got == reference
    if not tail:
        assert [(p.line, p.message) for p in got[2]] == [
            (2, "document holds more than 40 values: split it into several manifest files")]


def test_aliases_may_add_only_so_many_values(small_limits):
    text = "base: &b [1, 2, 3, 4, 5, 6]\nuses: [*b, *b]\n"  # 8 values written, 12 more by aliases
    got, reference = _both(text)
    assert got == reference
    assert [p.message for p in got[2]] == ["document expands to too many nodes (YAML alias bomb?)"]

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage_as_code.manifest.yaml_format import _parse_as_read, _parse_whole, parse_yaml

GOOD = b"""
version: 1
defaults: {platform: snowflake, database: ANALYTICS}
assets:
  - {ref: "postgres:shop.public.customers", alias: c, ids: {atlan: "default/postgres/1/shop/public/customers"}}
processes:
  - id: build_fct_orders
    inputs: [raw.orders, c]
    outputs: [{ref: marts.fct_orders, alias: f}]
    ids: {google: custom-proc}
    columns:
      - {from: [raw.orders.id], to: f.order_id}
      - {from: [c.discount, orders.amount], to: f.net_amount, transform: "amount * (1 - discount)"}
"""


def test_a_valid_manifest_yields_processes_with_resolved_assets_and_columns():
    parsed = parse_yaml("m.yaml", GOOD)
    assert parsed.problems == []
    (proc,) = parsed.processes
    assert [a.key for a in proc.inputs] == ["snowflake:ANALYTICS.raw.orders", "postgres:shop.public.customers"]
    assert proc.inputs[1].id_for("atlan") == "default/postgres/1/shop/public/customers"
    assert proc.id_for("google") == "custom-proc"
    net = proc.columns[1]
    assert [str(s) for s in net.sources] == ["postgres:shop.public.customers.discount",
                                             "snowflake:ANALYTICS.raw.orders.amount"]
    assert str(net.target) == "snowflake:ANALYTICS.marts.fct_orders.net_amount"
    assert proc.source.line == 7


def test_every_problem_is_reported_with_its_line_and_field():
    text = b"""version: 1
defaults: {platform: pg}
processes:
  - id: ok
    inputs: [d.s.a]
    outputs: [d.s.b]
    columns:
      - {from: ghost.x, to: b.y}
  - id: typo
    inputs: [d.s.a]
    outputs: [d.s.b]
    colums: []
  - id: lonely
    inputs: []
    outputs: [d.s.c]
"""
    problems = [str(p) for p in parse_yaml("m.yaml", text).problems]
    assert "m.yaml:8: processes[0].columns[0].from: alias or asset 'ghost' does not resolve to any of the process's inputs" in problems
    assert "m.yaml:12: processes[1].colums: unknown field (did you mean 'columns'?)" in problems
    assert "m.yaml:14: processes[2].inputs: process has no inputs" in problems


def test_column_mapping_to_an_input_instead_of_an_output_is_refused():
    text = b"version: 1\nprocesses:\n  - id: p\n    inputs: ['x:d.s.a']\n    outputs: ['x:d.s.b']\n    columns:\n      - {from: a.c, to: a.c}\n"
    (problem,) = parse_yaml("m.yaml", text).problems
    assert problem.line == 7 and "not resolve to any of the process's outputs" in problem.message


def test_syntax_errors_and_duplicate_keys_are_problems_not_exceptions():
    (syntax,) = parse_yaml("bad.yaml", b"version: 1\nprocesses: [\n").problems
    assert syntax.file == "bad.yaml" and syntax.line == 3
    dup = parse_yaml("dup.yaml", b"version: 1\nversion: 1\n").problems
    assert [str(p) for p in dup] == ["dup.yaml:2: version: duplicate key"]


def test_alias_bombs_are_refused_without_expanding_them():
    lines = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = "a" if i == 1 else f"a{i - 1}"
        lines.append(f"a{i}: &a{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    (problem,) = parse_yaml("bomb.yaml", "\n".join(lines).encode()).problems
    assert "too many nodes" in problem.message


def test_deep_nesting_is_a_problem():
    (problem,) = parse_yaml("deep.yaml", b"version: 1\nx: " + b"[" * 200 + b"]" * 200).problems
    assert "nesting deeper" in problem.message


def test_each_process_has_exactly_its_own_column_mappings_when_another_is_refused():
    text = b"""version: 1
defaults: {platform: pg}
processes:
  - id: refused
    inputs: [d.s.a]
    outputs: [d.s.b]
    columns:
      - {from: [a.x], to: b.x}
      - {from: [ghost.y], to: b.y}
  - id: kept
    inputs: [d.s.c, d.s.e]
    outputs: [d.s.f]
    columns:
      - {from: [c.x, e.x], to: f.x, transform: sum}
      - {from: c.y, to: f.y}
  - id: none
    inputs: [d.s.f]
    outputs: [d.s.g]
"""
    parsed = parse_yaml("m.yaml", text)
    assert [(p.line, p.field) for p in parsed.problems] == [(9, "processes[0].columns[1].from[0]")]
    kept, none = parsed.processes
    assert [(tuple(map(str, m.sources)), str(m.target), m.transform) for m in kept.columns] == [
        (("pg:d.s.c.x", "pg:d.s.e.x"), "pg:d.s.f.x", "sum"), (("pg:d.s.c.y",), "pg:d.s.f.y", "")]
    assert tuple(kept.columns) == kept.columns and len(none.columns) == 0


# A file whose processes come last and are each valid has each process read as soon as its entry is read
# (``_parse_as_read``); any other is read whole (``_parse_whole``). Both must give the same result.
AS_READ = {
    "plain": GOOD.decode(),
    "defaults after the processes": "version: 1\nprocesses:\n  - {id: p, inputs: [s.a], outputs: [s.b]}\n"
                                    "defaults: {platform: pg, database: D}\n",
    "assets after the processes": "version: 1\ndefaults: {platform: pg}\nprocesses:\n"
                                  "  - {id: p, inputs: [d.s.a], outputs: [x]}\nassets:\n  - {ref: d.s.b, alias: x}\n",
    "version after the processes": "processes:\n  - {id: p, inputs: [pg:d.s.a], outputs: [pg:d.s.b]}\nversion: 1\n",
    "an invalid entry": "version: 1\nprocesses:\n  - {id: ok, inputs: [pg:d.s.a], outputs: [pg:d.s.b]}\n"
                        "  - {id: 'bad id', inputs: [pg:d.s.a], outputs: [pg:d.s.b], colour: red}\n"
                        "  - {id: ok2, inputs: [pg:d.s.a], outputs: [ghost]}\n",
    "an invalid head": "version: 2\nprocesses:\n  - {id: p, inputs: [pg:d.s.a], outputs: [pg:d.s.b]}\n",
    "an unknown key before": "version: 1\ncolour: red\nprocesses:\n  - {id: p, inputs: [pg:d.s.a], outputs: [pg:d.s.b]}\n",
    "problems in processes": "version: 1\ndefaults: {platform: pg}\nassets:\n  - {ref: d.s.a, alias: a}\n"
                             "  - {ref: d.s.z, alias: unused}\nprocesses:\n  - {id: p, inputs: [a], outputs: [ghost]}\n"
                             "  - id: q\n    inputs: [a]\n    outputs: [d.s.c]\n    columns:\n"
                             "      - {from: [a.x], to: nowhere.y}\n  - {id: r, inputs: [a], outputs: [d.s.c]}\n",
    "a scalar entry": "version: 1\nprocesses:\n  - just-text\n  - {id: p, inputs: [pg:d.s.a], outputs: [pg:d.s.b]}\n",
    "no processes": "version: 1\nprocesses: []\n",
    "an alias in a process": "version: 1\nprocesses:\n  - &p {id: p, inputs: [pg:d.s.a], outputs: [pg:d.s.b]}\n",
    "a duplicate key in a process": "version: 1\nprocesses:\n  - {id: p, id: q, inputs: [pg:d.s.a], outputs: [pg:d.s.b]}\n",
    "a syntax error after a process": "version: 1\nprocesses:\n  - {id: p, inputs: [pg:d.s.a], outputs: [pg:d.s.b]}\n"
                                      "  - {id: q, inputs: [\n",
    "derived from sql": "version: 1\ndefaults: {platform: pg, database: d}\nprocesses:\n"
                        "  - {id: p, inputs: [s.a], outputs: [s.b], sql: 'select x as y from s.a', derive: columns}\n",
}


@pytest.mark.parametrize("name", AS_READ)
def test_a_file_read_process_by_process_gives_what_reading_it_whole_gives(name):
    text = AS_READ[name].encode()
    assert parse_yaml("m.yaml", text, {"connection": "c"}) == _parse_whole("m.yaml", text, {"connection": "c"})


@pytest.mark.parametrize(("name", "as_read"), [
    ("plain", True), ("problems in processes", True), ("derived from sql", True),
    ("defaults after the processes", False), ("assets after the processes", False), ("an invalid entry", False),
    ("an invalid head", False), ("an alias in a process", False), ("a syntax error after a process", False)])
def test_only_a_file_whose_processes_come_last_and_are_valid_is_read_process_by_process(name, as_read):
    assert (_parse_as_read("m.yaml", AS_READ[name].encode(), None) is not None) == as_read


_refs = st.sampled_from(["pg:d.s.a", "d.s.b", "s.c", "a", "x", "pg:d.s.a", "`p.q`.r.t"])
_entries = st.fixed_dictionaries(
    {"id": st.sampled_from(["p", "q", "r", "p", "bad id"]), "inputs": st.lists(_refs, max_size=3),
     "outputs": st.lists(_refs, max_size=2)},
    optional={"columns": st.lists(st.fixed_dictionaries({"from": st.sampled_from(["a.x", "s.c.y", "ghost.z", "x.w"]),
                                                         "to": st.sampled_from(["x.v", "b.v", "s.c.u"])},
                                                        optional={"transform": st.just("t")}), max_size=3),
              "name": st.just("n"), "attributes": st.just({"k": "v"})})
_heads = st.fixed_dictionaries({"version": st.sampled_from([1, 1, 1, 2])}, optional={
    "defaults": st.sampled_from([{"platform": "pg"}, {"platform": "pg", "database": "d"}, {"colour": 1}]),
    "assets": st.lists(st.fixed_dictionaries({"ref": _refs, "alias": st.sampled_from(["a", "x", "y"])}), max_size=2),
    "compiled_from": st.just("lac compile dbt")})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_heads, st.lists(_entries, max_size=4), st.booleans(), st.booleans())
def test_any_manifest_is_parsed_alike_process_by_process_and_whole(head, entries, head_last, flow):
    document = {**head, "processes": entries} if not head_last else {"processes": entries, **head}
    text = yaml.dump(document, Dumper=yaml.SafeDumper, sort_keys=False, default_flow_style=flow).encode()
    assert parse_yaml("m.yaml", text) == _parse_whole("m.yaml", text)

from lineage_as_code.manifest.yaml_format import parse_yaml

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

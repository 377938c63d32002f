"""Input that must never silently change meaning, hang or leak, through the CLI: a typo in an alias,
conflicting CSV rows, control characters, merge keys, alias amplification, directory link loops,
undecodable file names, very wide processes, manifests outside the project, and CSV headers.

Each test is one case of ``tests/reliability/README.md`` (case -> outcome).
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

ESC = "\x1b"


def _yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


ORDERS = """
    version: 1
    defaults: {platform: snowflake, database: ANALYTICS}
    assets:
      - {platform: postgres, database: shop, schema: public, name: orders, alias: pg_orders}
    processes:
      - id: load_orders
        inputs: [INPUT]
        outputs: [staging.stg_orders]
"""


# --- 15: a typo in an alias is an error, an alias nobody uses a warning, unknown fields get a hint


def test_a_typo_in_an_alias_is_an_error_not_a_new_asset(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m.yaml", ORDERS.replace("INPUT", "pg_order"))
    r = lac("plan", "m.yaml", cwd=tmp_path)
    assert r.code == 1
    assert "m.yaml:7: processes[0].inputs[0]: 'pg_order' is not an alias" in r.err
    assert "did you mean 'pg_orders'?" in r.err
    assert "pg_order" not in r.out


def test_an_alias_declared_and_never_used_is_a_warning(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m.yaml", ORDERS.replace("INPUT", "postgres:shop.public.customers"))
    for command in ("validate", "plan"):
        r = lac(command, "m.yaml", cwd=tmp_path)
        assert r.code == 0, r.err
        assert "warning: m.yaml:4: assets[0].alias: alias 'pg_orders'" in r.err, command


def test_an_alias_used_only_in_column_lineage_is_used(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m.yaml", ORDERS.replace("INPUT", "postgres:shop.public.orders")
          + "        columns: [{from: pg_orders.id, to: stg_orders.id}]\n")
    r = lac("validate", "m.yaml", cwd=tmp_path)
    assert r.code == 0 and "warning" not in r.err, r.err


def test_an_unknown_field_says_which_field_was_meant(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m.yaml", ORDERS.replace("INPUT", "pg_orders").replace("inputs:", "inptus:"))
    r = lac("validate", "m.yaml", cwd=tmp_path)
    assert r.code == 1
    assert "m.yaml:7: processes[0].inptus: unknown field (did you mean 'inputs'?)" in r.err


# --- 17: conflicting rows for one process in a native CSV


def test_conflicting_rows_of_one_process_name_both_rows(tmp_path: Path, lac: Any) -> None:
    (tmp_path / "edges.csv").write_text(
        "process_id,process_name,source,target,sql\n"
        "p1,Load orders,pg:shop.public.orders,sf:db.stg.orders,select 1\n"
        "p1,,pg:shop.public.items,sf:db.stg.orders,\n"
        "p1,Load payments,pg:shop.public.payments,sf:db.stg.orders,select 2\n")
    r = lac("validate", "edges.csv", cwd=tmp_path)
    assert r.code == 1
    assert "edges.csv:4: process_name: process 'p1' has process_name 'Load payments' here but 'Load orders' on line 2" \
        in r.err
    assert "edges.csv:4: sql: process 'p1' has sql 'select 2' here but 'select 1' on line 2" in r.err


def test_rows_that_leave_details_empty_inherit_them(tmp_path: Path, lac: Any) -> None:
    (tmp_path / "edges.csv").write_text(
        "process_id,process_name,source,target\n"
        "p1,Load orders,pg:shop.public.orders,sf:db.stg.orders\n"
        "p1,,pg:shop.public.items,sf:db.stg.orders\n"
        "p1,Load orders,pg:shop.public.payments,sf:db.stg.orders\n")
    assert lac("validate", "edges.csv", cwd=tmp_path).code == 0


# --- 23: CSV header problems name the column, on line 1


@pytest.mark.parametrize("header, expected", [
    ("source,target", "lacks the column(s) 'process_id'"),
    ("proces_id,source,target", "lacks the column(s) 'process_id' (did you mean 'proces_id'?)"),
    ("process_id,sorce,target", "lacks the column(s) 'source' (did you mean 'sorce'?)"),
])
def test_csv_header_problems_name_the_column_on_line_1(header: str, expected: str, tmp_path: Path, lac: Any) -> None:
    (tmp_path / "edges.csv").write_text(f"{header}\n" + "p1," * (header.count(",") - 1) + "pg:a.b,pg:c.d\n")
    r = lac("validate", "edges.csv", cwd=tmp_path)
    assert r.code == 1
    problems = r.err.splitlines()[:-1]
    assert problems == [f"edges.csv:1: (header): the native CSV header {expected}"
                        + (" ('process_name' may stand in for 'process_id')" if "'process_id'" in expected else "")]


# --- 19: control characters are refused in ids, names and keys, and written out by every renderer


@pytest.mark.parametrize("field, value", [
    ("id", '"p1\\n"'), ("name", '"pay\\x1b[2Jments"'), ("name", '"a\\rb"'), ("name", '"nul\\0"'),
])
def test_control_characters_in_ids_and_names_are_refused(field: str, value: str, tmp_path: Path, lac: Any) -> None:
    base = "version: 1\ndefaults: {platform: pg}\nprocesses:\n  - id: p1\n    inputs: [a.b]\n    outputs: [c.d]\n"
    text = base.replace("  - id: p1\n", f"  - id: p1\n    name: {value}\n") if field == "name" \
        else base.replace("id: p1", f"id: {value}")
    (tmp_path / "m.yaml").write_text(text)
    r = lac("validate", "m.yaml", cwd=tmp_path)
    assert r.code == 1
    assert f"m.yaml:{4 if field == 'id' else 5}: processes[0].{field}: " in r.err
    assert "control character" in r.err
    assert ESC not in r.err and "\r" not in r.err and "\0" not in r.err


def test_control_characters_in_keys_and_references_are_refused(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m.yaml", """
        version: 1
        defaults: {platform: pg}
        processes:
          - id: p1
            inputs: ["a.b\\x1b"]
            outputs: [c.d]
            attributes: {"team\\r": data}
    """)
    r = lac("validate", "m.yaml", cwd=tmp_path)
    assert r.code == 1
    assert "m.yaml:5: processes[0].inputs[0]: " in r.err and "m.yaml:7: processes[0].attributes" in r.err


def _atlan_row(name: str) -> str:
    header = ("Source Type,Source Connector,Source Connection,Source Identity,Source Name,"
              "Target Type,Target Connector,Target Connection,Target Identity,Target Name,"
              "Transformation Connector,Transformation Connection,Transformation Identity,Transformation Name")
    row = f"Table,snowflake,prod,DB/RAW/ORDERS,ORDERS,Table,snowflake,prod,DB/MART/FCT,FCT,dbt,prod,t1,{name}"
    return f"{header}\n{row}\n"


def test_every_renderer_writes_control_characters_out(tmp_path: Path, lac: Any) -> None:
    """The Atlan dialect is read as-is, so a control character can still reach a process name:
    no renderer may pass it through."""
    (tmp_path / "b.csv").write_text(_atlan_row(f"evil{ESC}[2J\x07name"))
    outputs = [lac("plan", "b.csv", "--format", fmt, cwd=tmp_path).out for fmt in ("text", "markdown")]
    outputs += [lac("graph", "b.csv", "--format", fmt, cwd=tmp_path).out for fmt in ("mermaid", "dot", "html")]
    for text in outputs:
        assert text and ESC not in text and "\x07" not in text
    assert r"evil\\x1b[2J\\x07name" in outputs[3]  # DOT doubles the backslash, and keeps the label readable


def test_a_carriage_return_in_state_cannot_forge_a_plan_line(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m.yaml", "version: 1\ndefaults: {platform: pg}\nprocesses: [{id: p1, inputs: [a.b], outputs: [c.d]}]\n")
    assert lac("apply", "m.yaml", "--auto-approve", cwd=tmp_path).code == 0
    state_file = tmp_path / ".lac" / "state.json"
    state = json.loads(state_file.read_text())
    forged = "process.x\r- process:payments_prod (DELETE)"
    state["targets"]["local"][forged] = ["process", forged, "0" * 64, 0, [["pg:a.b", "pg:c.d"]]]
    state_file.write_text(json.dumps(state))
    for fmt in ("text", "markdown"):
        r = lac("plan", "m.yaml", "--no-refresh", "--format", fmt, cwd=tmp_path)
        assert r.code == 0, r.err
        assert "\r" not in r.out and "process.x\\x0d- process:payments_prod" in r.out.replace("\\\\", "\\")
        assert not any(line.lstrip("`> ").startswith("- process:payments_prod") for line in r.out.splitlines())


# --- 20: YAML merge keys


def test_yaml_merge_keys_are_supported(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m.yaml", """
        version: 1
        defaults: {platform: pg}
        processes:
          - &base
            id: load_a
            inputs: [raw.a]
            outputs: [stg.a]
          - <<: *base
            id: load_b
            outputs: [stg.b]
    """)
    r = lac("plan", "m.yaml", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "+ process.load_a  [pg:raw.a -> pg:stg.a]" in r.out
    assert "+ process.load_b  [pg:raw.a -> pg:stg.b]  m.yaml:8" in r.out


def test_a_key_repeated_beside_a_merge_key_is_still_a_duplicate(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m.yaml", """
        version: 1
        defaults: {platform: pg}
        processes:
          - &base {id: load_a, inputs: [raw.a], outputs: [stg.a]}
          - <<: *base
            id: load_b
            id: load_c
    """)
    r = lac("validate", "m.yaml", cwd=tmp_path)
    assert r.code == 1 and "m.yaml:7: processes[1].id: duplicate key" in r.err


# --- 6: alias amplification is bounded by size, not only by node count


def test_a_long_value_referenced_many_times_is_refused(tmp_path: Path, lac: Any) -> None:
    lines = ["version: 1", "defaults: {platform: pg}", "processes:",
             f"  - {{id: p0, inputs: [a.b], outputs: [c.d], sql: &big {'x' * 900_000}}}"]
    lines += [f"  - {{id: p{i}, inputs: [a.b], outputs: [c.d], sql: *big}}" for i in range(1, 40)]
    (tmp_path / "m.yaml").write_text("\n".join(lines) + "\n")
    r = lac("plan", "m.yaml", cwd=tmp_path)
    assert r.code == 1
    assert r.err.startswith("m.yaml:1: aliases expand the document to ")
    assert not r.out


def test_aliases_that_expand_a_little_are_fine(tmp_path: Path, lac: Any) -> None:
    lines = ["version: 1", "defaults: {platform: pg}", "processes:",
             f"  - {{id: p0, inputs: [a.b], outputs: [c.d], sql: &q {'x' * 10_000}}}"]
    lines += [f"  - {{id: p{i}, inputs: [a.b], outputs: [c.d], sql: *q}}" for i in range(1, 40)]
    (tmp_path / "m.yaml").write_text("\n".join(lines) + "\n")
    assert lac("validate", "m.yaml", cwd=tmp_path).code == 0


# --- 7: a ** glob or a folder with a directory link loop ends, reads each file once, reports the loop


@pytest.mark.parametrize("spec", ["m/**/*.yaml", "m"])
def test_a_directory_link_loop_is_followed_once_and_reported(spec: str, tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "m" / "sub" / "a.yaml", "version: 1\ndefaults: {platform: pg}\n"
                                             "processes: [{id: p1, inputs: [a.b], outputs: [c.d]}]\n")
    os.symlink("..", tmp_path / "m" / "sub" / "up")
    os.symlink(".", tmp_path / "m" / "self")
    r = lac("validate", spec, cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.out.startswith("valid: 1 file(s), 1 process(es)")
    assert "warning: m/self: directory link to m, which is read already" in r.err
    assert "warning: m/sub/up: directory link to m, which is read already" in r.err


def test_a_directory_link_to_another_folder_is_followed(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "shared" / "a.yaml", "version: 1\ndefaults: {platform: pg}\n"
                                          "processes: [{id: p1, inputs: [a.b], outputs: [c.d]}]\n")
    (tmp_path / "m").mkdir()
    os.symlink("../shared", tmp_path / "m" / "shared")
    r = lac("validate", "m/**/*.yaml", cwd=tmp_path)
    assert r.code == 0 and "1 file(s)" in r.out and "warning" not in r.err, r.err


# --- 8: a file name that is not UTF-8


def test_a_file_name_that_is_not_utf8_is_shown_escaped(tmp_path: Path, lac: Any) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.yaml"), "w") as fh:
        fh.write("version: 1\ndefaults: {platform: pg}\nprocesses: [{id: p1, inputs: [a.b], outputs: [c.d]}]\n")
    r = lac("plan", "m", "--out", "plan.json", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "+ process.p1  [pg:a.b -> pg:c.d]  m/caf\\xe9.yaml:3" in r.out
    assert lac("validate", "m", cwd=tmp_path).code == 0
    assert lac("apply", "plan.json", cwd=tmp_path).code == 0
    assert lac("plan", "m", "--detailed-exitcode", cwd=tmp_path).code == 0


# --- 9: a very wide process is a warning, then an error, by name and line


def _wide(root: Path, inputs: int, outputs: int) -> None:
    ins = ", ".join(f"s.i{i}" for i in range(inputs))
    outs = ", ".join(f"s.o{i}" for i in range(outputs))
    (root / "wide.yaml").write_text(f"version: 1\ndefaults: {{platform: pg}}\nprocesses:\n  - id: ok\n"
                                    f"    inputs: [s.x]\n    outputs: [s.y]\n  - id: wide\n"
                                    f"    inputs: [{ins}]\n    outputs: [{outs}]\n")


def test_a_process_with_many_edges_is_a_warning(tmp_path: Path, lac: Any) -> None:
    _wide(tmp_path, 110, 100)
    r = lac("validate", "wide.yaml", cwd=tmp_path)
    assert r.code == 0
    assert "warning: wide.yaml:7: process 'wide' has 11,000 table edges (110 inputs x 100 outputs)" in r.err


def test_a_process_over_the_hard_edge_limit_is_refused(tmp_path: Path, lac: Any) -> None:
    _wide(tmp_path, 80, 80)
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [wide.yaml]\n"
                                       "defaults: {warn_edges_per_process: 100, max_edges_per_process: 5000}\n")
    r = lac("plan", cwd=tmp_path)
    assert r.code == 1
    assert "wide.yaml:7: process 'wide' has 6,400 table edges (80 inputs x 80 outputs), over max_edges_per_process" \
        in r.err
    assert "'ok'" not in r.err


# --- 21: manifests outside the project need allow_outside_root, and their content is never quoted


SECRET = "sk_live_0123456789abcdefghijklmnopqrstuvwxyz"


def _outside(tmp_path: Path, allow: bool) -> Path:
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (outside / ".env").write_text(f"PAYMENT_TOKEN={SECRET}\n")
    (outside / "ok.yaml").write_text("version: 1\ndefaults: {platform: pg}\n"
                                     "processes: [{id: p1, inputs: [a.b], outputs: [c.d]}]\n")
    os.symlink(outside / "ok.yaml", project / "linked.yaml")
    (project / "lac.yaml").write_text("version: 1\nmanifests: [MANIFEST]\n"
                                      + ("allow_outside_root: true\n" if allow else ""))
    return project


@pytest.mark.parametrize("manifest", ["../outside/.env", "linked.yaml", "'*.yaml'"])
def test_a_manifest_outside_the_project_is_refused(manifest: str, tmp_path: Path, lac: Any) -> None:
    project = _outside(tmp_path, allow=False)
    config = project / "lac.yaml"
    config.write_text(config.read_text().replace("MANIFEST", manifest))
    r = lac("validate", cwd=project)
    assert r.code == 1
    assert "resolves outside the project folder; set allow_outside_root: true" in r.err
    assert SECRET[:12] not in r.err + r.out


def test_allow_outside_root_reads_it_and_quotes_no_content(tmp_path: Path, lac: Any) -> None:
    project = _outside(tmp_path, allow=True)
    config = project / "lac.yaml"
    config.write_text(config.read_text().replace("MANIFEST", "../outside/.env, linked.yaml"))
    r = lac("validate", cwd=project)
    assert r.code == 1
    assert "../outside/.env:1: (document): expected a mapping" in r.err
    assert SECRET[:12] not in r.err + r.out
    config.write_text(config.read_text().replace("../outside/.env, ", ""))
    assert lac("validate", cwd=project).code == 0


def test_paths_given_on_the_command_line_are_read_as_given(tmp_path: Path, lac: Any) -> None:
    project = _outside(tmp_path, allow=False)
    assert lac("validate", "../outside/ok.yaml", cwd=project).code == 0


# --- 24: manifests: [.] does not read lac.yaml


def test_manifests_dot_does_not_parse_lac_yaml(tmp_path: Path, lac: Any) -> None:
    _yaml(tmp_path / "lineage" / "a.yaml", "version: 1\ndefaults: {platform: pg}\n"
                                           "processes: [{id: p1, inputs: [a.b], outputs: [c.d]}]\n")
    (tmp_path / "lac.yaml").write_text("version: 1\nmanifests: [.]\n")
    r = lac("validate", cwd=tmp_path)
    assert r.code == 0, r.err
    assert r.out.startswith("valid: 1 file(s)")


def test_a_problem_quotes_only_a_short_excerpt_of_a_long_value(tmp_path: Path, lac: Any) -> None:
    long_ref = "`" + SECRET * 60  # an unclosed backtick: the reference is quoted in the problem
    (tmp_path / "m.yaml").write_text("version: 1\ndefaults: {platform: pg}\n"
                                     f"processes: [{{id: p1, inputs: ['{long_ref}'], outputs: [c.d]}}]\n")
    r = lac("validate", "m.yaml", cwd=tmp_path)
    assert r.code == 1
    problem = r.err.splitlines()[0]
    assert problem.startswith("m.yaml:3: processes[0].inputs[0]: unclosed backtick in '`sk_live_")
    assert len(problem) < 200 and long_ref not in problem

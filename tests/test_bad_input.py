"""Every kind of bad input a user is likely to feed `lac validate`: a clear file:line message, exit 1,
never a traceback."""

from __future__ import annotations

import pytest

ATLAN_HEADER = ("Source Type,Source Connector,Source Connection,Source Identity,Source Name,Target Type,Target Connector,"
                "Target Connection,Target Identity,Target Name,Transformation Connector,Transformation Connection,"
                "Transformation Identity,Transformation Name")

CASES = {
    "malformed YAML": ("bad.yaml", b"version: 1\nprocesses:\n  - id: p\n    inputs: [a.b.c\n",
                       "bad.yaml:5: invalid YAML at column 1"),
    "alias bomb": ("bomb.yaml", b"version: 1\na: &a [x,x,x,x,x,x,x,x,x,x]\n" + b"".join(
        f"a{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 10)}]\n".encode() for i in range(1, 10)),
        "bomb.yaml:1: document expands to too many nodes"),
    "wrong version": ("v2.yaml", b"version: 2\nprocesses: []\n", "v2.yaml:1: version: 1 was expected"),
    "unknown key": ("typo.yaml", b"version: 1\nprocess: []\n", "typo.yaml:2: process: unknown field"),
    "CSV missing columns": ("missing.csv", b"process_id,source\np,pg:a.b.c\n",
                            "missing.csv:1: (header): the native CSV header lacks the column(s) 'target'"),
    "unsupported separator": ("caret.csv", b"process_id^source^target\np^pg:a.b.c^pg:a.b.d\n",
                              "caret.csv:1: (header): unrecognised CSV header"),
    "ragged rows": ("ragged.csv", b"process_id,source,target\np,pg:a.b.c,pg:a.b.d,extra,more\n",
                    "ragged.csv:2: malformed CSV"),
    "non-UTF-8 bytes": ("latin.yaml", b"version: 1\nprocesses:\n  - id: caf\xe9\n", "latin.yaml:3: not UTF-8 text"),
    "empty YAML": ("empty.yaml", b"", "empty.yaml:1: empty manifest"),
    "empty CSV": ("empty.csv", b"", "empty.csv:1: (header): unrecognised CSV header"),
    "Atlan row with an empty cell": ("lb.csv", (ATLAN_HEADER + "\nTable,snowflake,prod,,S,Table,snowflake,prod,D/S/T,T,"
                                                "airflow,etl,x,p\n").encode(), "lb.csv:2: Source Identity: is required"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_reported_at_its_line(case, lac, tmp_path):
    name, data, expected = CASES[case]
    (tmp_path / name).write_bytes(data)
    result = lac("validate", name, cwd=tmp_path)
    assert result.code == 1, result.out
    assert "Traceback" not in result.err
    if expected:
        assert expected in result.err, result.err
    assert result.err.splitlines()[0].startswith(f"{name}")


def test_a_semicolon_separated_native_csv_is_read_like_a_comma_separated_one(lac, tmp_path):
    (tmp_path / "semi.csv").write_bytes(b"process_id;source;target\np;pg:a.b.c;pg:a.b.d\n")
    assert lac("validate", "semi.csv", cwd=tmp_path).code == 0


def test_a_utf8_bom_is_accepted_in_yaml_and_csv(lac, tmp_path):
    (tmp_path / "bom.yaml").write_bytes("\ufeffversion: 1\nprocesses:\n  - {id: p, inputs: [pg:a.b.c], outputs: [pg:a.b.d]}\n".encode())
    (tmp_path / "bom.csv").write_bytes("\ufeffprocess_id,source,target\nq,pg:a.b.c,pg:a.b.e\n".encode())
    result = lac("validate", ".", cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.startswith("valid: 2 file(s), 2 process(es)")


def test_an_empty_directory_and_a_missing_path_are_clear_errors(lac, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no manifest files found" in lac("validate", "empty", cwd=tmp_path).err
    missing = lac("validate", "nope.yaml", cwd=tmp_path)
    assert missing.code == 1 and "nope.yaml: no such file or directory" in missing.err

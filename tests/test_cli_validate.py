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


def test_the_lac_command_ends_with_its_code_its_whole_output_and_its_exit_handlers_run(tmp_path, lac):
    """``lac`` ends without freeing what the command built, but otherwise as an exit does: its whole output
    written (to a pipe, which buffers), exit handlers run (a temporary folder's removal, a coverage tool's
    save), and the command's exit code."""
    import os
    import subprocess
    import sys

    handled = tmp_path / "handled"
    script = ("import atexit, pathlib, sys\n"
              f"atexit.register(lambda: pathlib.Path({str(handled)!r}).write_text('ran'))\n"
              "from lineage_as_code.cli import run\n"
              f"sys.argv = ['lac', 'plan', '--detailed-exitcode', {str(EXAMPLES / 'manifests')!r}]\n"
              "run()\n")
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output to a pipe waits in a buffer
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                          cwd=tmp_path, env=buffered)
    in_process = lac("plan", "--detailed-exitcode", str(EXAMPLES / "manifests"), cwd=tmp_path)
    assert proc.returncode == in_process.code == 2
    assert proc.stdout == in_process.out and "Plan: 27 to create" in proc.stdout
    assert handled.read_text() == "ran"

from lineage_as_code.manifest import ManifestInput, parse_file

ATLAN_HEADER = ("Source Type,Source Connector,Source Connection,Source Identity,Source Name,"
                "Target Type,Target Connector,Target Connection,Target Identity,Target Name,"
                "Transformation Connector,Transformation Connection,Transformation Identity,Transformation Name")


def test_native_rows_of_one_process_merge_and_column_rows_group_by_target():
    text = ("process_id,Process Name,source,target,source_column,target_column,transform,team\n"
            "p1,Build,pg:d.s.a,pg:d.s.c,x,z,x+y,core\n"
            "p1,,pg:d.s.b,pg:d.s.c,y,z,x+y,\n"
            "p2,Other,pg:d.s.c,pg:d.s.e,,,,\n")
    parsed = parse_file(ManifestInput("m.csv", text.encode()))
    assert parsed.problems == []
    p1, p2 = parsed.processes
    assert p1.name == "Build" and [a.key for a in p1.inputs] == ["pg:d.s.a", "pg:d.s.b"]
    (mapping,) = p1.columns
    assert [str(s) for s in mapping.sources] == ["pg:d.s.a.x", "pg:d.s.b.y"] and mapping.transform == "x+y"
    assert dict(p1.attributes) == {"team": "core"}
    assert p2.columns == ()


def test_native_row_problems_name_the_line_and_field_even_after_a_multiline_cell():
    text = ('process_id,source,target,description\n'
            'p1,pg:d.s.a,pg:d.s.b,"two\nlines"\n'
            'bad id,pg:d.s.a,,\n')
    problems = [str(p) for p in parse_file(ManifestInput("m.csv", text.encode())).problems]
    assert "m.csv:4: target: is required" in problems
    assert any(p.startswith("m.csv:4: process_id:") for p in problems)


def test_atlan_builder_csv_is_read_with_any_documented_separator_and_extras_pass_through():
    row = ("Table;snowflake;prod;DB/SCH/SRC;SRC;View;snowflake;prod;DB/SCH/TGT;TGT;"
           "airflow;etl;xform_1;SRC > TGT;nightly")
    text = ATLAN_HEADER.replace(",", ";") + ";pipeline\n" + row + "\n"
    parsed = parse_file(ManifestInput("lb.csv", text.encode()))
    assert parsed.problems == []
    (proc,) = parsed.processes
    assert proc.id == "xform_1" and proc.name == "SRC > TGT"
    assert proc.outputs[0].type == "View" and proc.outputs[0].connection == "prod"
    assert proc.inputs[0].key == "snowflake:DB.SCH.SRC"
    assert dict(proc.attributes)["pipeline"] == "nightly"
    assert dict(proc.attributes)["transformation_connector"] == "airflow"


def test_atlan_rows_missing_required_cells_are_reported_per_column():
    text = ATLAN_HEADER + "\nTable,snowflake,,DB/SCH/SRC,SRC,Table,snowflake,prod,,TGT,airflow,etl,,x\n"
    problems = [str(p) for p in parse_file(ManifestInput("lb.csv", text.encode())).problems]
    assert problems == ["lb.csv:2: Source Connection: is required and empty",
                        "lb.csv:2: Target Identity: is required and empty"]


def test_an_unknown_header_is_a_problem_at_line_one():
    (problem,) = parse_file(ManifestInput("x.csv", b"a,b\n1,2\n")).problems
    assert problem.line == 1 and "unrecognised CSV header" in problem.message


def test_a_byte_order_mark_and_blank_lines_read_as_a_spreadsheet_saves_them():
    """Excel saves 'CSV UTF-8' with a byte order mark; the header must still be recognised, and rows
    after a blank line keep their real line numbers."""
    row = "Table,snowflake,prod,DB/SCH/SRC,SRC,Table,snowflake,prod,DB/SCH/TGT,TGT,airflow,etl,{id},Build ✓\n"
    text = ATLAN_HEADER + "\n" + row.format(id="x1") + "\n" + row.format(id="").replace("Table,snowflake", ",snowflake", 1)
    parsed = parse_file(ManifestInput("lb.csv", b"\xef\xbb\xbf" + text.encode()))
    (proc,) = parsed.processes
    assert proc.id == "x1" and proc.name == "Build ✓" and proc.source.line == 2
    assert [p.line for p in parsed.problems] == [4]

"""The vectorised row checks must agree with jsonschema on every row, or the schema file would
stop being the source of truth."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lineage_as_code.manifest.csv_common import distinct
from lineage_as_code.manifest.rows import invalid_rows
from lineage_as_code.manifest.validate import load_schema

COLUMNS = ["process_id", "process_name", "source", "target", "source_column", "target_column", "transform"]
cell = st.one_of(st.just(""), st.sampled_from(["p1", "bad id", "x" * 300, "pg:d.s.t", "a", "é", "_ok.1:-"]),
                 st.text(max_size=8))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({c: cell for c in COLUMNS}), min_size=1, max_size=20))
@example([dict.fromkeys(COLUMNS, "p1")])  # every value clean: the control-character check is one scan of them all
@example([dict.fromkeys(COLUMNS, "p1"), {**dict.fromkeys(COLUMNS, "p2"), "process_name": "a\x85b"}])
@example([{**dict.fromkeys(COLUMNS, "p1"), "source": "\x1f"}, dict.fromkeys(COLUMNS, "p2")])
def test_vectorised_verdicts_equal_jsonschema(rows):
    schema = load_schema("lineage-row")
    frame = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    columns = {c: distinct([frame[c].to_numpy()], strip=False)[0] for c in COLUMNS}
    fast = invalid_rows(columns, len(rows), schema).tolist()
    validator = Draft202012Validator(schema)
    slow = [not validator.is_valid({k: v for k, v in row.items() if v != ""}) for row in rows]
    assert fast == slow

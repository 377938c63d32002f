"""lac compile openlineage: RunEvents and JobEvents become one process per job, the latest event wins."""

from __future__ import annotations

import json
from pathlib import Path

from lineage_as_code.manifest import ManifestInput, build_lineage


def _event(time: str, inputs: list[str], outputs: list[dict], run: bool = True, **job_facets) -> dict:
    body = {
        "eventTime": time,
        "producer": "https://example.com/producer",
        "job": {"namespace": "airflow", "name": "shop.build_orders", "facets": job_facets},
        "inputs": [{"namespace": "postgres://db.example.com:5432", "name": n} for n in inputs],
        "outputs": outputs,
    }
    if run:
        body.update(eventType="COMPLETE", run={"runId": "01890000-0000-7000-8000-000000000000"})
    return body


def _output(name: str, fields: dict | None = None) -> dict:
    out: dict = {"namespace": "snowflake://org-acct", "name": name}
    if fields:
        out["facets"] = {"columnLineage": {"fields": fields}}
    return out


def _compile(lac, tmp_path: Path, events: list[dict]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    out = tmp_path / "out"
    result = lac("compile", "openlineage", str(path), "--out", str(out))
    assert result.code == 0, result.err
    return out


def _lineage(out: Path):
    return build_lineage(ManifestInput(p.name, p.read_bytes()) for p in sorted(out.glob("*.yaml")))


def test_one_process_per_job_and_the_latest_event_wins(lac, tmp_path):
    events = [
        _event("2024-05-02T10:00:00Z", ["shop.public.orders", "shop.public.refunds"], [_output("ANALYTICS.MARTS.ORDERS")]),
        _event("2024-05-01T10:00:00+00:00", ["shop.public.orders"], [_output("ANALYTICS.MARTS.OLD")]),  # older, later line
        {**_event("2024-05-03T10:00:00Z", [], []), "eventType": "COMPLETE"},  # names no dataset: changes nothing
    ]
    lineage = _lineage(_compile(lac, tmp_path, events))
    (proc,) = lineage.processes
    assert {a.key for a in proc.inputs} == {"postgres:shop.public.orders", "postgres:shop.public.refunds"}
    assert [a.key for a in proc.outputs] == ["snowflake:ANALYTICS.MARTS.ORDERS"]


def test_column_lineage_facet_becomes_column_mappings(lac, tmp_path):
    fields = {"NET": {"inputFields": [
        {"namespace": "postgres://db.example.com:5432", "name": "shop.public.orders", "field": "amount"},
        {"namespace": "postgres://db.example.com:5432", "name": "shop.public.customers", "field": "discount"}],
        "transformationDescription": "amount * (1 - discount)"}}
    events = [_event("2024-05-02T10:00:00Z", ["shop.public.orders"], [_output("ANALYTICS.MARTS.ORDERS", fields)],
                     sql={"query": "insert into marts.orders select ..."})]
    out = _compile(lac, tmp_path, events)
    assert lac("validate", str(out)).code == 0
    (proc,) = _lineage(out).processes
    (mapping,) = proc.columns
    assert [str(s) for s in mapping.sources] == ["postgres:shop.public.orders.amount",
                                                 "postgres:shop.public.customers.discount"]
    assert (str(mapping.target), mapping.transform) == ("snowflake:ANALYTICS.MARTS.ORDERS.NET", "amount * (1 - discount)")
    assert "postgres:shop.public.customers" in {a.key for a in proc.inputs}  # read by a column, so an input
    assert proc.sql.startswith("insert into marts.orders")


def test_job_events_and_object_store_datasets(lac, tmp_path):
    event = _event("2024-05-02T10:00:00Z", [], [], run=False)
    event["inputs"] = [{"namespace": "s3://landing", "name": "/orders/2024/05/02.parquet"}]
    event["outputs"] = [{"namespace": "bigquery", "name": "my-project.raw.orders"}]
    (proc,) = _lineage(_compile(lac, tmp_path, [event])).processes
    (source,) = proc.inputs
    assert (source.platform, source.database, source.name, source.type) == ("s3", "landing", "/orders/2024/05/02.parquet", "file")
    assert proc.outputs[0].key == "bigquery:my-project.raw.orders"


def test_recompile_is_byte_identical(lac, tmp_path):
    events = [_event("2024-05-02T10:00:00Z", ["shop.public.orders"], [_output("ANALYTICS.MARTS.ORDERS")])]
    first = {p.name: p.read_bytes() for p in _compile(lac, tmp_path, events).glob("*")}
    assert {p.name: p.read_bytes() for p in _compile(lac, tmp_path, events).glob("*")} == first


def test_a_bad_line_is_named(lac, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(_event("2024-05-02T10:00:00Z", ["a.b.c"], [_output("D.E.F")])) + "\n{oops\n")
    result = lac("compile", "openlineage", str(path), "--out", str(tmp_path / "out"))
    assert result.code == 1 and f"{path}:2: not JSON" in result.err

"""A project whose manifests and state live in a bucket, applied to a local DuckDB file by triggers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.servers import Bucket

EXAMPLES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "small" / "manifests"
PREFIX = "lineage/manifests/"


@dataclass
class Project:
    bucket: Bucket
    config: Path
    duckdb: Path

    def upload(self, name: str, data: bytes | None = None) -> str:
        """Upload a manifest (an example by default) under the prefix; return its new version."""
        return self.bucket.put(PREFIX + name, data if data is not None else (EXAMPLES / name).read_bytes())

    def processes(self) -> list[str]:
        if not self.duckdb.exists():
            return []
        with duckdb.connect(str(self.duckdb), read_only=True) as db:
            return [row[0] for row in db.execute("SELECT id FROM processes ORDER BY id").fetchall()]

    def state_serial(self) -> int:
        from lineage_as_code.state import open_state_store

        return open_state_store(self.bucket.uri("lineage/state.json")).read().serial


def make_project(tmp_path: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch, manifests_uri: str = "") -> Project:
    """lac.yaml on disk naming the bucket's prefix and state; LAC_CONFIG points at it."""
    target = tmp_path / "lineage.duckdb"
    doc = {"version": 1, "manifests": [manifests_uri or bucket.uri(PREFIX)],
           "state": {"path": bucket.uri("lineage/state.json")},
           "targets": {"local": {"type": "duckdb", "path": str(target)}}}
    config = tmp_path / "lac.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv("LAC_CONFIG", str(config))
    monkeypatch.setenv("LAC_LOCK_TIMEOUT", "0")
    return Project(bucket, config, target)


EXAMPLE_PROCESSES = ["build_fct_orders", "load_raw_orders", "monthly_revenue_dag", "rpt_revenue"]

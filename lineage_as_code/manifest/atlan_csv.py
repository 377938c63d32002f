"""Atlan Lineage Builder CSV, read as-is: the 14 standard columns plus pass-through extras.

Each row is one lineage process from one source asset to one target asset. An asset's
``<Side> Identity`` is its partial path inside its connection (``db/schema/table``), so the
asset's qualifiedName in Atlan is ``<connection qualifiedName>/<Identity>``; ``Connector`` becomes
the platform and ``Connection`` the connection name. Rows sharing a ``Transformation Identity``
merge into one process; a row without one gets a stable id from its name, source and target.
Extra header columns become attributes of the row's process, as Lineage Builder does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd

from ..errors import Problem
from ..model import Asset, Process, SourceLocation, freeze_mapping
from .csv_common import ATLAN_COLUMNS
from .yaml_format import ParsedFile

_REQUIRED = [c for c in ATLAN_COLUMNS if not c.endswith(("Identity", "Name"))] + [
    "Source Identity", "Target Identity", "Transformation Name"]


def _asset(row: Mapping[str, str], side: str) -> Asset:
    parts = [p for p in row[f"{side} Identity"].strip("/").split("/")]
    if len(parts) >= 3:
        database, schema, name = parts[0], parts[1], "/".join(parts[2:])
    else:
        database, schema, name = "", "/".join(parts[:-1]), parts[-1]
    return Asset(platform=row[f"{side} Connector"].lower(), database=database, schema=schema, name=name,
                 type=row[f"{side} Type"], connection=row[f"{side} Connection"])


def parse_atlan_csv(name: str, frame: pd.DataFrame, lines: pd.Series) -> ParsedFile:
    """Turn a Lineage Builder frame into processes; empty required cells become Problems."""
    out = ParsedFile()
    extras = [c for c in frame.columns if c not in ATLAN_COLUMNS]
    drafts: dict[str, dict] = {}
    for index, row in enumerate(frame.to_dict("records")):
        line = int(lines.iloc[index])
        row = {k: str(v).strip() for k, v in row.items()}
        missing = [c for c in _REQUIRED if not row.get(c)]
        for column in missing:
            out.problems.append(Problem(name, line, column, "is required and empty"))
        if missing:
            continue
        source, target = _asset(row, "Source"), _asset(row, "Target")
        identity = row["Transformation Identity"]
        if not identity:
            digest = hashlib.sha1(f"{row['Transformation Name']}|{source.key}|{target.key}".encode()).hexdigest()[:16]
            identity = f"lb-{digest}"
        draft = drafts.get(identity)
        if draft is None:
            attrs = {c: row[c] for c in extras if row.get(c)}
            attrs["transformation_connector"] = row["Transformation Connector"].lower()
            attrs["transformation_connection"] = row["Transformation Connection"]
            draft = drafts[identity] = {"name": row["Transformation Name"], "inputs": {}, "outputs": {},
                                        "attributes": attrs, "source": SourceLocation(name, line)}
        draft["inputs"].setdefault(source.key, source)
        draft["outputs"].setdefault(target.key, target)
    for identity, d in drafts.items():
        out.processes.append(Process(
            id=identity, name=d["name"], inputs=tuple(d["inputs"].values()), outputs=tuple(d["outputs"].values()),
            attributes=freeze_mapping(d["attributes"]), source=d["source"],
        ))
    return out

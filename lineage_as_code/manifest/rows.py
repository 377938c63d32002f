"""Vectorised validation of many CSV rows against ``schemas/lineage-row.schema.json``.

Running jsonschema on a million rows one by one costs minutes, so the row schema is compiled into
column checks on each column's distinct values: required and any-of-required properties, dependent-required pairs, and per
property ``type: string``, ``minLength``, ``maxLength`` and ``pattern``. Only rows the compiled
checks reject are handed to jsonschema, which then writes the exact messages. The compiler refuses
any keyword it does not understand, and the row-by-row path is used instead; a test holds the two
paths to identical verdicts, so the schema file stays the single source of truth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from .csv_common import Cells

_TOP_KEYWORDS = {"$schema", "$id", "title", "description", "type", "required", "anyOf", "additionalProperties",
                 "properties", "dependentRequired"}
_PROPERTY_KEYWORDS = {"type", "pattern", "minLength", "maxLength", "description"}


class Unsupported(Exception):
    """The schema uses a keyword the vectorised checks do not implement."""


@cache
def _compiled(schema_id: str, schema_json: str) -> dict[str, Any]:
    import json

    schema = json.loads(schema_json)
    if set(schema) - _TOP_KEYWORDS or schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        raise Unsupported(schema_id)
    for prop in schema.get("properties", {}).values():
        if set(prop) - _PROPERTY_KEYWORDS or prop.get("type") != "string":
            raise Unsupported(schema_id)
    for alt in schema.get("anyOf", []):
        if set(alt) != {"required"}:
            raise Unsupported(schema_id)
    return schema


def invalid_rows(columns: Mapping[str, Cells], rows: int, schema: dict[str, Any]) -> np.ndarray:
    """Return a boolean array: True where a row (empty cells meaning absent) breaks ``schema``.

    ``columns`` holds, as Cells, only columns named in the schema's properties, every value a
    string; each check runs once per distinct value. Raises Unsupported when the schema needs the
    row-by-row path.
    """
    import json

    spec = _compiled(str(schema.get("$id")), json.dumps(schema, sort_keys=True))
    nothing = np.zeros(rows, dtype=bool)
    present = {c: ~cells.empty() for c, cells in columns.items()}

    def has(name: str) -> np.ndarray:
        return present.get(name, nothing)

    bad = nothing.copy()
    for name in spec.get("required", []):
        bad |= ~has(name)
    if spec.get("anyOf"):
        satisfied = nothing.copy()
        for alternative in spec["anyOf"]:
            all_there = ~nothing
            for name in alternative["required"]:
                all_there &= has(name)
            satisfied |= all_there
        bad |= ~satisfied
    for name, deps in spec.get("dependentRequired", {}).items():
        for dep in deps:
            bad |= has(name) & ~has(dep)
    checked: dict[tuple[int, str], np.ndarray] = {}  # columns sharing their values (source, target) check them once
    for name, prop in spec.get("properties", {}).items():
        if name in columns:
            values = columns[name].values
            check = (id(values), json.dumps(prop, sort_keys=True))
            if check not in checked:
                checked[check] = _broken_values(values, prop)
            bad |= has(name) & columns[name].per_row(checked[check])
    return bad


def _broken_values(values: np.ndarray, prop: dict[str, Any]) -> np.ndarray:
    """Per distinct value, whether it breaks the property's length or pattern (a pattern is searched
    for, as JSON Schema does)."""
    texts = values.tolist()
    broken = np.zeros(len(texts), dtype=bool)
    if "minLength" in prop or "maxLength" in prop:
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        if "minLength" in prop:
            broken |= lengths < prop["minLength"]
        if "maxLength" in prop:
            broken |= lengths > prop["maxLength"]
    if "pattern" in prop and not _all_outside(prop["pattern"], texts):
        broken |= ~np.fromiter(map(bool, map(re.compile(prop["pattern"]).search, texts)), dtype=bool, count=len(texts))
    return broken


# ``^[^X]*(?![\s\S])``: a text matches exactly when it holds no character of the class X
_NEGATED_CLASS = re.compile(r"\^\[\^(?:[^\]\\]|\\.)+\]\*\(\?!\[\\s\\S\]\)")


def _all_outside(pattern: str, texts: list[str]) -> bool:
    """Whether every text matches ``pattern`` because it is ``_NEGATED_CLASS`` (the schema's "no control
    character") and all of them joined match it, so none holds a character of X: one scan of them all, where
    a search per text took a second at a million values. False says nothing: each text is then searched on
    its own."""
    if _NEGATED_CLASS.fullmatch(pattern) is None:
        return False
    joined = "".join(texts)
    if joined.isascii():  # bytes without the ASCII characters of X as long as with them: a third of the match's time
        data = joined.encode()
        return len(data.translate(None, _ascii_refused(pattern))) == len(data)
    return re.search(pattern, joined) is not None


@cache
def _ascii_refused(pattern: str) -> bytes:
    """The ASCII characters a text of one character fails ``pattern`` with."""
    return bytes(c for c in range(128) if re.search(pattern, chr(c)) is None)

"""Reading a state document safely: ``schemas/state.schema.json`` decides what a valid one is.

A state file is read by every plan and may hold hundreds of thousands of entries, so the schema
is applied in two parts: jsonschema checks the envelope (format, lineage, serial, the targets
map) and a fast check equivalent to the schema's ``entry`` definition runs over each entry while
it is built; an entry the fast check does not accept is validated against that definition by
jsonschema, which either accepts it (an unusual but valid spelling such as ``1.0``) or words the
error. Any shape the schema refuses, a number out of range (``1e400``), nesting too deep to parse
or bytes that are not JSON become one StateError naming the file and the place, never a traceback.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from ..errors import StateError
from ..manifest.validate import load_schema

Edges = tuple[tuple[str, str], ...]
RawEntry = tuple[str, str, str, bool, Edges]


@cache
def _validator(pointer: str = "") -> Draft202012Validator:
    schema = load_schema("state")
    if not pointer:
        return Draft202012Validator(schema)
    return Draft202012Validator({**schema["$defs"][pointer], "$defs": schema["$defs"]})


def corrupt(where: str, detail: str) -> StateError:
    """The error for a state that cannot be used: what is wrong, and the way out."""
    if len(detail) > 200:
        detail = detail[:197] + "..."
    return StateError(f"{where}: state file is corrupt ({detail}); restore it from a backup (a local state "
                      "keeps the previous version beside it as <state>.backup)")


def _first_error(validator: Draft202012Validator, instance: Any, prefix: str) -> str | None:
    error = next(iter(sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))), None)
    if error is None:
        return None
    path = prefix + "".join(f"[{p!r}]" for p in error.absolute_path)
    message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
    return f"{path}: {message}" if path else message


def parse_state_document(data: bytes, where: str) -> dict[str, Any]:
    """Return the JSON document of a state file whose envelope the schema accepts; StateError otherwise."""
    try:
        doc = json.loads(data)
    except RecursionError:
        raise corrupt(where, "nested too deeply to be a state") from None
    except ValueError as exc:  # includes UnicodeDecodeError and over-long integers
        raise corrupt(where, f"not JSON: {exc}") from exc
    if isinstance(doc, dict) and "format_version" in doc and doc["format_version"] != 1:
        raise StateError(f"{where}: unsupported state format {doc['format_version']!r}; this version of lac "
                         "reads format 1")
    targets = doc.get("targets") if isinstance(doc, dict) else None
    envelope = doc if not isinstance(targets, dict) else {
        **doc, "targets": {t: {} if isinstance(v, dict) else v for t, v in targets.items()}}
    problem = _first_error(_validator(), envelope, "")
    if problem:
        raise corrupt(where, problem)
    return doc


def _edges(raw: Any) -> Edges | None:
    out = []
    for edge in raw:
        if type(edge) is not list or len(edge) != 2 or type(edge[0]) is not str or type(edge[1]) is not str:
            return None
        out.append((edge[0], edge[1]))
    return tuple(out)


def _fast_entry(raw: Any) -> RawEntry | None:
    """The entry as values when it is plainly valid; None when the schema has to look at it."""
    if type(raw) is not list or len(raw) != 5:
        return None
    kind, vid, digest, partial, edges = raw
    if not (type(kind) is str and kind and type(vid) is str and type(digest) is str
            and type(partial) is int and partial in (0, 1) and type(edges) is list):
        return None
    parsed = _edges(edges) if edges else ()
    return None if parsed is None else (kind, vid, digest, partial == 1, parsed)


def build_entry(raw: Any, where: str, target: str, address: str) -> RawEntry:
    """Return one state entry as ``(kind, id, hash, partial, edges)``; StateError when the schema refuses it."""
    entry = _fast_entry(raw)
    if entry is not None:
        return entry
    problem = _first_error(_validator("entry"), raw, f"targets[{target!r}][{address!r}]")
    if problem:
        raise corrupt(where, problem)
    kind, vid, digest, partial, edges = raw
    return kind, vid, digest, bool(partial), tuple((str(a), str(b)) for a, b in edges)


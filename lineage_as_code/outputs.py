"""Where a command's ``--out`` goes, and what a saved plan may replace.

``-`` means standard output for every ``--out``; the CLI handles that itself, since the library
never prints. Everything else is written through ``write_object`` (so a device such as
``/dev/null`` stays a device). A saved plan is a file the user asked for by name, so it may
replace an earlier plan or an empty file, but never the project's state file (or its backup and
lock) and never an existing file that is not a lineage-as-code plan: a typo in ``--out`` must not
destroy a manifest, a configuration or someone's notes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from .errors import PlanError
from .sources import is_remote, write_object

STDOUT = "-"
PLAN_TOOL_PREFIX = "lineage-as-code"
_STATE_COMPANIONS = ("", ".backup", ".lock")


def is_plan_document(data: bytes) -> bool:
    """True when ``data`` is a plan this tool saved (any format version): a JSON object naming the tool."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return (isinstance(doc, dict) and "format_version" in doc
            and str(doc.get("tool", "")).startswith(PLAN_TOOL_PREFIX))


def _same_file(a: str, b: str) -> bool:
    if is_remote(a) or is_remote(b):
        return a == b
    return os.path.realpath(a) == os.path.realpath(b)


_WHOLE = 1 << 20  # files up to this size are parsed to tell a plan; larger ones are recognised by their ends


def _looks_like_plan(path: Path) -> bool:
    """Whether the file at ``path`` is empty or a plan this tool saved: parsed whole when small; a large
    one (a million-change plan is gigabytes) by its first and last bytes, which every plan lays out
    the same way (``{"format_version": ...`` first, ``"tool": "lineage-as-code ..."}`` last)."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= _WHOLE:
            data = fh.read()
            return not data.strip() or is_plan_document(data)
        head = fh.read(64)
        fh.seek(size - 4096)
        tail = fh.read()
    return head.startswith(b'{\n  "format_version": ') and f'"tool": "{PLAN_TOOL_PREFIX}'.encode() in tail


def _refuse_non_plan(path: Path) -> None:
    try:
        plan = _looks_like_plan(path)
    except OSError as exc:
        raise PlanError(f"{path}: cannot check what the file holds before replacing it: {exc.strerror}") from exc
    if not plan:
        raise PlanError(f"{path} exists and is not a lineage-as-code plan; refusing to overwrite it with the plan "
                        "(remove it first, or choose another --out)")


def check_plan_destination(out: str, state_path: str) -> None:
    """Refuse (PlanError) an ``--out`` that a plan must not replace, before the plan is built:
    the state file, its backup or lock, or an existing local file that is not a plan."""
    if any(_same_file(out, state_path + suffix) for suffix in _STATE_COMPANIONS):
        raise PlanError(f"{out} is the project's state file; a plan must be saved elsewhere (e.g. --out plan.json)")
    if not is_remote(out) and os.path.isfile(out):
        _refuse_non_plan(Path(out))


def write_plan_file(out: str, text: str | Iterable[str], state_path: str) -> None:
    """Save a plan at ``out`` (a path or an object URI).

    Raises PlanError when ``out`` is the state file (or its backup or lock) or an existing file
    that is not a plan, SourceError when it cannot be written.
    """
    check_plan_destination(out, state_path)
    data = text.encode() if isinstance(text, str) else (piece.encode() for piece in text)
    write_object(out, data, check_replace=_refuse_non_plan)

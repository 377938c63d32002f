"""Field-level diffs of an update, Terraform style: what a reviewer reads instead of two content hashes.

``field_diff(before, after)`` walks two bodies (the one state recorded when the resource was last
written, and the one the plan will write) and returns one line per difference, each starting with
its sign::

    ~ name: "Orders" -> "Orders (daily)"
    + input: snowflake:db.raw.refunds
    - column: snowflake:db.raw.orders.id -> snowflake:db.mart.orders.order_id
    ~ sql:
        -select id from raw.orders
        +select id, amount from raw.orders

Lists are compared as multisets (an item added or removed is one line; a pure reordering says so),
text that spans lines is shown as a unified diff, and list items are shown briefly: an edge-like
item (``sources``/``target``, ``source``/``target``, ``from``/``to``, ``input_*``/``output_*``) as
``a -> b``, a reference by its key or fully qualified name. Only presentation lives here: the JSON
plan carries both bodies whole for machines.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..canonical import canonical_json, json_value
from .model import Action, Change

MAX_LINES = 40  # per change; the rest is counted
_TEXT = 120  # longest scalar shown whole
_PAIRS = (("sources", "target"), ("source", "target"), ("from", "to"), ("input_columns", "output_columns"),
          ("input_tables", "output_tables"))
_NAME_KEYS = ("fullyQualifiedName", "qualifiedName", "key", "title_full", "name")


def _canon(value: Any) -> str:
    return canonical_json(value)


def _scalar(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=json_value)
    return text if len(text) <= _TEXT else text[:_TEXT - 4] + '..."'


def _ref(value: Any) -> str:
    """One end of an edge: ``[asset, column]`` as ``asset.column``, a dict by its name."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ".".join(value)
    if isinstance(value, list):
        return ", ".join(_ref(v) for v in value)
    return brief(value)


def brief(value: Any) -> str:
    """A list item in one line: edges as ``a -> b``, references by name, anything else as compact JSON."""
    if isinstance(value, str):
        return value if len(value) <= _TEXT else value[:_TEXT - 3] + "..."
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return " -> ".join(brief(v) for v in value)
        return ", ".join(brief(v) for v in value)
    if isinstance(value, Mapping):
        for left, right in _PAIRS:
            if left in value and right in value:
                text = f"{_ref(value[left])} -> {_ref(value[right])}"
                extra = value.get("transform")
                return text + (f" ({extra})" if isinstance(extra, str) and extra else "")
        for name in _NAME_KEYS:
            if isinstance(value.get(name), str):
                text = value[name]
                field = value.get("field") or value.get("column")
                if isinstance(field, list):
                    field = ".".join(map(str, field))
                return f"{text}.{field}" if isinstance(field, str) and field else text
        if value and all(isinstance(v, str) for v in value.values()):
            return ".".join(v for v in value.values() if v)
    text = _canon(value)
    return text if len(text) <= _TEXT else text[:_TEXT - 3] + "..."


def _item_name(path: str) -> str:
    """``inputs`` -> ``input``: a list's items are named in the singular (``process`` stays)."""
    head, dot, last = path.rpartition(".")
    if last.endswith("s") and not last.endswith("ss") and len(last) > 1:
        last = last[:-1]
    return f"{head}{dot}{last}"


def _text_diff(path: str, before: str, after: str, out: list[str]) -> None:
    out.append(f"~ {path}:")
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1)
    hunks = 0
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):  # a gap between two changed places
            hunks += 1
            if hunks > 1:
                out.append("      ...")
            continue
        out.append(f"{line[0]}     {line[1:]}")


def _list_diff(path: str, before: list[Any], after: list[Any], out: list[str]) -> None:
    keys_before = [_canon(v) for v in before]
    keys_after = [_canon(v) for v in after]
    if Counter(keys_before) == Counter(keys_after):
        out.append(f"~ {path}: reordered")
        return
    left, right = Counter(keys_after), Counter(keys_before)
    name = _item_name(path)
    for value, key in zip(before, keys_before, strict=True):
        if left[key] > 0:
            left[key] -= 1
        else:
            out.append(f"- {name}: {brief(value)}")
    for value, key in zip(after, keys_after, strict=True):
        if right[key] > 0:
            right[key] -= 1
        else:
            out.append(f"+ {name}: {brief(value)}")


def _added_or_removed(sign: str, path: str, value: Any, out: list[str]) -> None:
    """A field that appears or goes: its value inline, or line by line when it is text over several lines."""
    if isinstance(value, str) and "\n" in value:
        out.append(f"{sign} {path}:")
        out.extend(f"{sign}     {line}" for line in value.splitlines())
    else:
        out.append(f"{sign} {path}: {_scalar(value)}")


def _walk(path: str, before: Any, after: Any, out: list[str]) -> None:
    if before == after:
        return
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(before.keys() | after.keys(), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                _added_or_removed("-", where, before[key], out)
            elif key not in before:
                _added_or_removed("+", where, after[key], out)
            else:
                _walk(where, before[key], after[key], out)
    elif isinstance(before, list) and isinstance(after, list):
        _list_diff(path, before, after, out)
    elif isinstance(before, str) and isinstance(after, str) and ("\n" in before or "\n" in after):
        _text_diff(path, before, after, out)
    else:
        out.append(f"~ {path}: {_scalar(before)} -> {_scalar(after)}")


def field_diff(before: Mapping[str, Any], after: Mapping[str, Any], limit: int = MAX_LINES) -> list[str]:
    """The differences from ``before`` to ``after``, one signed line each, at most ``limit`` lines."""
    out: list[str] = []
    _walk("", before, after, out)
    if len(out) > limit:
        out = out[:limit] + [f"~ ... and {len(out) - limit} more line(s); the JSON plan has both bodies"]
    return out


def edge_diff(change: Change) -> list[str]:
    """The table edges an update adds (``+ edge a -> b``) and takes away, from what state recorded."""
    if change.prior is None:
        return []
    before, after = set(change.prior.edges), set(change.edges)
    return ([f"+ edge: {a} -> {b}" for a, b in sorted(after - before)]
            + [f"- edge: {a} -> {b}" for a, b in sorted(before - after)])


def change_diff(change: Change) -> list[str]:
    """What an update changes, field by field when state holds the body it replaces, else by edge."""
    if change.action is not Action.UPDATE:
        return []
    if change.prior_body is not None and change.after is not None:
        return field_diff(change.prior_body, change.after)
    return edge_diff(change)

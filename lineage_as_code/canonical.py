"""Canonical JSON: the one text a resource's content hash is taken of, and state's content is stored as.

Sorted keys, no blanks, UTF-8 as is. A read-only body view (any Mapping that is not a dict) is
encoded as its dict, never as its ``str``: a view and the dict it stands for have one text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def json_value(value: Any) -> Any:
    """What JSON encoding makes of a value it does not know: a Mapping is its dict, anything else
    its text (dates, enums)."""
    return dict(value) if isinstance(value, Mapping) else str(value)


def canonical_json(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_value)


def content_hash(body: Any) -> str:
    """sha256 of the canonical JSON of ``body``: the identity of a resource's content."""
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()

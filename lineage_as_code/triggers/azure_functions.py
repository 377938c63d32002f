"""Azure Functions entry point for Event Grid ``Microsoft.Storage.BlobCreated`` events.

Takes the ``azure.functions.EventGridEvent`` the Event Grid trigger passes (duck-typed: the
azure-functions package is not imported) or the plain Event Grid / CloudEvents JSON, one event or
a list. Reads ``LAC_CONFIG`` (a local path, az:// or abfss:// URI), ``LAC_LOCK_TIMEOUT``, and the
storage settings of ``lineage_as_code.sources.azure`` (``AZURE_STORAGE_CONNECTION_STRING``, or
``AZURE_STORAGE_ACCOUNT`` with a key, a SAS token or the function's managed identity).
"""

from __future__ import annotations

import os
from typing import Any

from .events import handle_event


def handler(event: Any) -> dict[str, Any]:
    """Handle one Event Grid delivery; return a summary of what it led to."""
    outcomes = handle_event(event, os.environ.get("LAC_CONFIG"))
    return {"outcomes": [o.as_dict() for o in outcomes]}

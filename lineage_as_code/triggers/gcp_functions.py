"""Google Cloud Functions (2nd gen) / Cloud Run functions entry point for Cloud Storage.

Handles the ``google.cloud.storage.object.v1.finalized`` CloudEvent, as the functions-framework
CloudEvent object or as plain JSON; the framework itself is not imported. Wrap it in your
``main.py`` with ``functions_framework.cloud_event(handler)``. Reads ``LAC_CONFIG`` (a local path or
gs:// URI) and ``LAC_LOCK_TIMEOUT``; Cloud Storage access uses the function's service account (ADC).
A bad manifest raises, so the event is retried if retries are enabled on the trigger.
"""

from __future__ import annotations

import os
from typing import Any

from .events import handle_event


def handler(cloud_event: Any) -> dict[str, Any]:
    """Handle one CloudEvent; return a summary of what it led to."""
    outcomes = handle_event(cloud_event, os.environ.get("LAC_CONFIG"))
    return {"outcomes": [o.as_dict() for o in outcomes]}

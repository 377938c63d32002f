"""AWS Lambda entry point for S3 event notifications (direct, or through SQS/SNS/EventBridge).

Handler: ``lineage_as_code.triggers.aws_lambda.handler``. Reads ``LAC_CONFIG`` (lac.yaml as a local
path or s3:// URI) and ``LAC_LOCK_TIMEOUT``; S3 access uses the function's execution role through
boto3's credential chain. Object keys in the notification are URL-encoded and decoded here. A bad
manifest raises, so the invocation fails and Lambda's retry and failure destination take over.
"""

from __future__ import annotations

import os
from typing import Any

from .events import handle_event


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Handle one Lambda invocation; return a summary of what each object event led to."""
    outcomes = handle_event(event, os.environ.get("LAC_CONFIG"))
    return {"outcomes": [o.as_dict() for o in outcomes]}

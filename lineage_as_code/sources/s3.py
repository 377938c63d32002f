"""s3:// through boto3: listing, reading and conditional writes on one bucket.

Credentials come from boto3's own chain (environment, ``AWS_PROFILE``/shared files, SSO, web
identity, container and instance roles); ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) points
it at an S3-compatible server. The version token is the object's ETag (quotes stripped).
Conditional writes use S3's ``If-None-Match: *`` and ``If-Match: <etag>`` headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from ..errors import SourceError
from . import ObjectURI
from .remote import ObjectChangedError

_MISSING = {"NoSuchKey", "404", "NotFound"}
_CHANGED = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
_HINTS = {
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "access denied: check the credentials' permissions for this bucket",
    "403": "access denied: check the credentials' permissions for this bucket",
    "InvalidAccessKeyId": "the AWS access key is not recognised: check the credentials",
    "SignatureDoesNotMatch": "the AWS secret key does not match: check the credentials",
    "ExpiredToken": "the AWS session token has expired: refresh the credentials",
}


def _error(uri: str, exc: Exception) -> SourceError:
    if isinstance(exc, NoCredentialsError):
        return SourceError(f"{uri}: no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY, or run where a role is attached")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "?"))
        if code in _CHANGED:
            return ObjectChangedError(f"{uri}: the object changed since it was read (precondition failed)")
        return SourceError(f"{uri}: {_HINTS.get(code, 'S3 refused the request')} ({code})")
    if isinstance(exc, NoRegionError):
        return SourceError(f"{uri}: no AWS region configured: set AWS_REGION")
    # Connection and parameter errors: the class name says enough, and never carries secrets.
    return SourceError(f"{uri}: cannot reach S3 ({type(exc).__name__}); check AWS_ENDPOINT_URL and the network")


class S3ObjectStore:
    """One S3 bucket. ``page_size`` bounds each ListObjectsV2 page (S3's maximum is 1,000)."""

    locking = "conditional-put"

    def __init__(self, loc: ObjectURI, page_size: int = 1000) -> None:
        self.loc = loc
        self.page_size = page_size
        try:
            session = boto3.session.Session()
            # S3 answers a wrong-region request with a redirect that boto3 follows, so a default
            # region only has to exist, not be right.
            self._client: Any = session.client(
                "s3", region_name=session.region_name or "us-east-1",
                config=BotoConfig(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10,
                                  read_timeout=60))
        except (BotoCoreError, ValueError) as exc:
            raise _error(str(loc), exc) from exc

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.loc.bucket, Prefix=prefix,
                                   PaginationConfig={"PageSize": self.page_size})
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    yield item["Key"]
        except (BotoCoreError, ClientError) as exc:
            raise _error(self.loc.child(prefix), exc) from exc

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._client.get_object(Bucket=self.loc.bucket, Key=key)
            return response["Body"].read(), response["ETag"].strip('"')
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                return None
            raise _error(self.loc.child(key), exc) from exc
        except BotoCoreError as exc:
            raise _error(self.loc.child(key), exc) from exc

    def put(self, key: str, data: bytes, *, match: str | None = None, absent: bool = False) -> str:
        extra = {"IfNoneMatch": "*"} if absent else {"IfMatch": f'"{match}"'} if match else {}
        try:
            response = self._client.put_object(Bucket=self.loc.bucket, Key=key, Body=data, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise _error(self.loc.child(key), exc) from exc
        return str(response["ETag"]).strip('"')

    def delete(self, key: str, *, match: str | None = None) -> None:
        # ``match`` is not sent: conditional DeleteObject is not available on every S3 bucket type
        # or S3-compatible server, and callers check ownership of what they delete first.
        try:
            self._client.delete_object(Bucket=self.loc.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise _error(self.loc.child(key), exc) from exc

"""gs:// through google-cloud-storage: listing, reading and generation-conditional writes.

Credentials are Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth
application-default login``, or the attached service account); ``STORAGE_EMULATOR_HOST`` points the
client at an emulator. The version token is the object's generation, and conditional writes use
``ifGenerationMatch`` (0 meaning "only if no live object exists").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import storage

from ..errors import SourceError
from . import ObjectURI
from .remote import ObjectChangedError

_HINTS = {
    403: "access denied: check the credentials' permissions for this bucket",
    401: "the Google credentials were refused: refresh them (gcloud auth application-default login)",
    404: "the bucket does not exist",
}


def _error(uri: str, exc: Exception) -> SourceError:
    if isinstance(exc, gexc.PreconditionFailed):
        return ObjectChangedError(f"{uri}: the object changed since it was read (generation precondition failed)")
    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return SourceError(f"{uri}: no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS or run "
                           "'gcloud auth application-default login'")
    if isinstance(exc, auth_exc.GoogleAuthError):
        return SourceError(f"{uri}: the Google credentials could not be used ({type(exc).__name__})")
    if isinstance(exc, gexc.GoogleAPICallError):
        code = int(exc.code or 0)
        return SourceError(f"{uri}: {_HINTS.get(code, 'Cloud Storage refused the request')} (HTTP {code})")
    return SourceError(f"{uri}: cannot reach Cloud Storage ({type(exc).__name__}); check the network "
                       "or STORAGE_EMULATOR_HOST")


# requests is the client's transport; its connection errors are not OSErrors.
_ERRORS = (gexc.GoogleAPIError, auth_exc.GoogleAuthError, requests.RequestException, OSError)


class GCSObjectStore:
    """One Cloud Storage bucket. ``page_size`` bounds each objects.list page."""

    locking = "conditional-put"

    def __init__(self, loc: ObjectURI, page_size: int = 1000) -> None:
        self.loc = loc
        self.page_size = page_size
        try:
            # The project only matters for billing of bucket-level calls we never make.
            self._client: Any = storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT"))
        except _ERRORS as exc:
            raise _error(str(loc), exc) from exc
        self._bucket = self._client.bucket(loc.bucket)

    def list(self, prefix: str) -> Iterator[str]:
        try:
            for blob in self._client.list_blobs(self.loc.bucket, prefix=prefix or None, page_size=self.page_size):
                yield blob.name
        except _ERRORS as exc:
            raise _error(self.loc.child(prefix), exc) from exc

    def get(self, key: str) -> tuple[bytes, str] | None:
        blob = self._bucket.blob(key)
        try:
            data = blob.download_as_bytes()
        except gexc.NotFound:
            # A missing bucket is a 404 here too; listing or writing it reports that clearly.
            return None
        except _ERRORS as exc:
            raise _error(self.loc.child(key), exc) from exc
        # The generation comes from the same response as the bytes, so the pair is consistent.
        return data, str(blob.generation)

    def put(self, key: str, data: bytes, *, match: str | None = None, absent: bool = False) -> str:
        blob = self._bucket.blob(key)
        condition = 0 if absent else int(match) if match else None
        try:
            blob.upload_from_string(data, content_type=_content_type(key), if_generation_match=condition)
        except _ERRORS as exc:
            raise _error(self.loc.child(key), exc) from exc
        return str(blob.generation)

    def delete(self, key: str, *, match: str | None = None) -> None:
        try:
            self._bucket.blob(key).delete(if_generation_match=int(match) if match else None)
        except gexc.NotFound:
            return
        except _ERRORS as exc:
            raise _error(self.loc.child(key), exc) from exc


def _content_type(key: str) -> str:
    return "application/json" if key.endswith(".json") else "application/octet-stream"

"""az:// and abfss:// through azure-storage-blob (ADLS Gen2 accounts serve the Blob API too).

Which account and credential, in order:
1. ``AZURE_STORAGE_CONNECTION_STRING``, when it names the URI's account (abfss://) or always (az://);
2. otherwise the account from the abfss:// host, or ``AZURE_STORAGE_ACCOUNT`` for az://, at
   ``https://ACCOUNT.blob.<suffix>`` (``AZURE_STORAGE_BLOB_ENDPOINT`` overrides the URL, e.g. for a
   private endpoint or an emulator), with ``AZURE_STORAGE_KEY`` (shared key), else
   ``AZURE_STORAGE_SAS_TOKEN``, else azure-identity's DefaultAzureCredential (managed identity,
   workload identity, Azure CLI, ...).
The version token is the blob's ETag; conditional writes send ``If-Match``/``If-None-Match: *``,
and state locks use blob leases (``acquire_lease``/``delete`` with a lease id).
Messages carry error codes only: SDK messages can echo request URLs, which carry SAS tokens.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobServiceClient

from ..errors import SourceError
from . import ObjectURI
from .remote import ObjectChangedError

_LEASE_HELD = {"LeaseAlreadyPresent", "LeaseIdMismatchWithLeaseOperation", "LeaseIdMismatchWithBlobOperation",
               "LeaseIdMissing", "LeaseIsBrokenAndCannotBeRenewed"}
_HINTS = {
    "ContainerNotFound": "the container does not exist",
    "AuthenticationFailed": "authentication failed: check the account key or SAS token",
    "AuthorizationFailure": "access denied: check the credential's role on this container",
    "AuthorizationPermissionMismatch": "access denied: the credential lacks a Storage Blob Data role here",
    "AuthorizationResourceTypeMismatch": "access denied: the SAS token does not cover this resource",
}


class LeaseHeldError(ObjectChangedError):
    """The blob is leased by someone else (or our lease id does not match)."""


def _code(exc: HttpResponseError) -> str:
    # The storage SDK sets ``error_code`` (sometimes an enum) from the x-ms-error-code header.
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or exc.status_code or "?")


def _error(uri: str, exc: Exception) -> SourceError:
    if isinstance(exc, ClientAuthenticationError) and not isinstance(exc, HttpResponseError):
        return SourceError(f"{uri}: no usable Azure credential: set AZURE_STORAGE_CONNECTION_STRING, "
                           "AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or sign in (az login / managed identity)")
    if isinstance(exc, HttpResponseError):
        code = _code(exc)
        if code in _LEASE_HELD:
            return LeaseHeldError(f"{uri}: the blob is leased by another holder ({code})")
        if isinstance(exc, ResourceModifiedError | ResourceExistsError) or code in ("ConditionNotMet", "BlobAlreadyExists"):
            return ObjectChangedError(f"{uri}: the blob changed since it was read ({code})")
        return SourceError(f"{uri}: {_HINTS.get(code, 'Azure Storage refused the request')} ({code})")
    # Never str(exc): transport errors quote the request URL, SAS signature included.
    return SourceError(f"{uri}: cannot reach Azure Storage ({type(exc).__name__}); check the account name, "
                       "AZURE_STORAGE_BLOB_ENDPOINT and the network")


def _connection_string_account(conn: str) -> str:
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    return parts.get("AccountName", "")


def _service_client(loc: ObjectURI) -> BlobServiceClient:
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    if conn and (not loc.account or _connection_string_account(conn) == loc.account):
        return BlobServiceClient.from_connection_string(conn)
    account = loc.account or os.environ.get("AZURE_STORAGE_ACCOUNT", "")
    if not account:
        raise SourceError(f"{loc}: az:// needs an account: set AZURE_STORAGE_CONNECTION_STRING or "
                          "AZURE_STORAGE_ACCOUNT, or use abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH")
    suffix = loc.endpoint_suffix or os.environ.get("AZURE_STORAGE_ENDPOINT_SUFFIX", "core.windows.net")
    url = os.environ.get("AZURE_STORAGE_BLOB_ENDPOINT") or f"https://{account}.blob.{suffix}"
    return BlobServiceClient(url, credential=_credential(account))


def _credential(account: str) -> Any:
    key = os.environ.get("AZURE_STORAGE_KEY")
    if key:
        return AzureNamedKeyCredential(account, key)
    sas = os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    if sas:
        return AzureSasCredential(sas.lstrip("?"))
    from azure.identity import DefaultAzureCredential  # slow to import; only when needed

    return DefaultAzureCredential()


class AzureObjectStore:
    """One blob container. ``page_size`` bounds each List Blobs page (the service's maximum is 5,000)."""

    locking = "lease"

    def __init__(self, loc: ObjectURI, page_size: int = 1000) -> None:
        self.loc = loc
        self.page_size = page_size
        try:
            self._container: Any = _service_client(loc).get_container_client(loc.bucket)
        except (AzureError, ValueError) as exc:
            raise _error(str(loc), exc) from exc

    def list(self, prefix: str) -> Iterator[str]:
        try:
            for blob in self._container.list_blobs(name_starts_with=prefix or None,
                                                   results_per_page=self.page_size):
                yield blob.name
        except AzureError as exc:
            raise _error(self.loc.child(prefix), exc) from exc

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            downloader = self._container.download_blob(key)
            return downloader.readall(), str(downloader.properties.etag).strip('"')
        except ResourceNotFoundError as exc:
            if _code(exc) == "BlobNotFound":
                return None
            raise _error(self.loc.child(key), exc) from exc
        except AzureError as exc:
            raise _error(self.loc.child(key), exc) from exc

    def put(self, key: str, data: bytes, *, match: str | None = None, absent: bool = False,
            lease: str | None = None) -> str:
        kwargs: dict[str, Any] = {"overwrite": not absent, "lease": lease}
        if match:
            kwargs.update(etag=f'"{match}"', match_condition=MatchConditions.IfNotModified)
        try:
            result = self._container.get_blob_client(key).upload_blob(data, **kwargs)
        except AzureError as exc:
            raise _error(self.loc.child(key), exc) from exc
        return str(result["etag"]).strip('"')

    def delete(self, key: str, *, match: str | None = None, lease: str | None = None) -> None:
        kwargs: dict[str, Any] = {"lease": lease}
        if match:
            kwargs.update(etag=f'"{match}"', match_condition=MatchConditions.IfNotModified)
        try:
            self._container.delete_blob(key, **kwargs)
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise _error(self.loc.child(key), exc) from exc

    def acquire_lease(self, key: str, lease_id: str) -> None:
        """Take an infinite lease on the blob with our own id, so any process knowing it can release it.

        Raises LeaseHeldError when another lease is active.
        """
        try:
            self._container.get_blob_client(key).acquire_lease(lease_duration=-1, lease_id=lease_id)
        except AzureError as exc:
            raise _error(self.loc.child(key), exc) from exc

"""Object-store sources (s3://, gs://, az://, abfss://). Not available yet in this build."""

from __future__ import annotations

from ..errors import SourceError


def open_remote(uri: str) -> list:
    raise SourceError(f"{uri}: object-store sources are not supported yet")


def read_remote(uri: str) -> bytes:
    raise SourceError(f"{uri}: object-store sources are not supported yet")


def write_remote(uri: str, data: bytes) -> None:
    raise SourceError(f"{uri}: object-store sources are not supported yet")

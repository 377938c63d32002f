"""Shorthand asset references: ``[platform:]database.schema.table`` with backtick-quoted segments.

Segments are right-aligned: ``orders`` is a name, ``raw.orders`` a schema and name, and
``shop.raw.orders`` a database, schema and name; what is missing comes from the manifest's
defaults. A segment holding a dot, a colon or a space is quoted with backticks, as in Google's
fully qualified names (``bigquery:`my-project.eu`.sales.orders``); a literal backtick is doubled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..display import excerpt
from ..model import Asset

# ``platform:database.schema.name`` with no part a key quotes (see model.NEEDS_QUOTE): its own key
_PLAIN = re.compile(r"([^.:\s`]+):([^.:\s`]+)\.([^.:\s`]+)\.([^.:\s`]+)")
_PLAIN_LINES = re.compile(f"^{_PLAIN.pattern}$", re.MULTILINE)  # (no part holds a line end)


def _quoted(text: str) -> str:
    """A reference as a message quotes it: escaped, and cut when long (a reference may be 4,000
    characters, or the content of a file that was never a manifest)."""
    return excerpt(repr(text), 80)


class RefError(ValueError):
    """A reference that cannot be parsed; the message says why."""


def split_ref(text: str) -> tuple[str | None, list[str]]:
    """Return ``(platform, segments)`` for a shorthand reference; raise RefError when malformed."""
    if not isinstance(text, str) or not text.strip():
        raise RefError("an asset reference must be a non-empty string")
    text = text.strip()
    if "`" not in text:  # the common case, without the character-by-character scan
        head, colon, rest = text.partition(":")
        if not colon:
            segments = text.split(".")
            if all(segments):
                return None, segments
        elif head and "." not in head and ":" not in rest:
            segments = rest.split(".")
            if all(segments):
                return head, segments
    return scan_ref(text)


def scan_ref(text: str) -> tuple[str | None, list[str]]:
    """The full tokenizer: backtick quoting, doubled backticks, and a reason for every malformation."""
    platform: str | None = None
    segments: list[str] = []
    current: list[str] = []
    quoted_segment = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "`":
            end = i + 1
            buf: list[str] = []
            while True:
                if end >= n:
                    raise RefError(f"unclosed backtick in {_quoted(text)}")
                if text[end] == "`":
                    if end + 1 < n and text[end + 1] == "`":
                        buf.append("`")
                        end += 2
                        continue
                    break
                buf.append(text[end])
                end += 1
            if current:
                raise RefError(f"a backtick-quoted segment must be a whole segment in {_quoted(text)}")
            current.extend(buf)
            quoted_segment = True
            i = end + 1
            if i < n and text[i] not in ".:":
                raise RefError(f"expected '.' after a quoted segment in {_quoted(text)}")
            continue
        if ch == ":" and platform is None and not segments:
            if not current or quoted_segment:
                raise RefError(f"empty platform in {_quoted(text)}")
            platform = "".join(current)
            current, quoted_segment = [], False
        elif ch == ".":
            if not current and not quoted_segment:
                raise RefError(f"empty segment in {_quoted(text)}")
            segments.append("".join(current))
            current, quoted_segment = [], False
        else:
            current.append(ch)
        i += 1
    if not current and not quoted_segment:
        raise RefError(f"reference {_quoted(text)} ends without a name")
    segments.append("".join(current))
    return platform, segments


def build_asset(
    platform: str | None,
    segments: list[str],
    defaults: Mapping[str, str],
    *,
    type_: str | None = None,
    connection: str | None = None,
    ids: tuple[tuple[str, str], ...] = (),
) -> Asset:
    """Return the Asset for right-aligned ``segments``, filling gaps from ``defaults``."""
    if len(segments) > 3:
        raise RefError(
            f"{_quoted('.'.join(segments))} has {len(segments)} segments; expected at most database.schema.name "
            "(quote segments that contain dots with backticks)"
        )
    padded = [None] * (3 - len(segments)) + list(segments)
    database = padded[0] if padded[0] is not None else defaults.get("database", "")
    schema = padded[1] if padded[1] is not None else defaults.get("schema", "")
    platform = platform or defaults.get("platform")
    if not platform:
        raise RefError(f"{_quoted('.'.join(segments))} names no platform and no default platform is set")
    return Asset(
        platform=str(platform),
        database=str(database or ""),
        schema=str(schema or ""),
        name=str(padded[2]),
        type=str(type_ or defaults.get("type") or "table"),
        connection=str(connection or defaults.get("connection") or ""),
        ids=ids,
    )


def parse_asset(text: str, defaults: Mapping[str, str]) -> Asset:
    """Parse a shorthand reference into an Asset; raise RefError when malformed. A plain
    ``platform:database.schema.name`` (no part that a key quotes, nothing to fill from ``defaults``) is its
    own key and is built without the tokenizer: most references in a large file."""
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        platform, database, schema, name = plain.groups()
        return Asset(platform, database, schema, name, str(defaults.get("type") or "table"),
                     str(defaults.get("connection") or "")).with_key(text)
    platform, segments = split_ref(text)
    return build_asset(platform, segments, defaults)


def plain_parts(texts: list[str]) -> list[tuple[str, str, str, str]] | None:
    """Per text, its platform, database, schema and name, when every one is a plain reference (``_PLAIN``:
    its own key, nothing to fill from defaults); None otherwise. The texts are matched as the lines of one
    string, in one scan: a text holding a line end is not plain, and n lines give n matches only when
    each line is one."""
    joined = "\n".join(texts)
    if joined.count("\n") != max(len(texts) - 1, 0):
        return None
    found: list[tuple[str, str, str, str]] = _PLAIN_LINES.findall(joined)
    return found if len(found) == len(texts) else None


def parse_assets(texts: Iterable[str], defaults: Mapping[str, str]) -> list[Asset | str]:
    """Parse many references: per text, its Asset with the key already set, or why it is malformed."""
    out: list[Asset | str] = []
    for text in texts:
        try:
            asset = parse_asset(text, defaults)
        except RefError as exc:
            out.append(str(exc))
            continue
        out.append(asset.with_key(asset.key))
    return out

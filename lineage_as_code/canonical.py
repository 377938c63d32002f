"""Canonical JSON: the one text a resource's content hash is taken of, and state's content is stored as.

Sorted keys, no blanks, UTF-8 as is. A read-only body view (any Mapping that is not a dict) is
encoded as its dict, never as its ``str``: a view and the dict it stands for have one text.

The encoders are built once: ``json.dumps`` builds its C encoder on every call, which is most of the
time it takes to encode a small value (and a million-resource plan, apply or cache write encodes
millions of them). Each is checked against ``json.dumps`` once, which is used where they differ.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from json.encoder import encode_basestring as _encode_text  # the C string encoder json.dumps uses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .opened import Opened, Spill


def plain_dict(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """``body`` as a dict, to read or encode, not to change: a dict is itself, a view that can build its
    dict at once (``to_dict``) does so, any other Mapping is copied key by key."""
    if type(body) is dict:
        return body
    to_dict = getattr(body, "to_dict", None)
    return to_dict() if to_dict is not None else dict(body)


def json_value(value: Any) -> Any:
    """What JSON encoding makes of a value it does not know: a Mapping is its dict, anything else
    its text (dates, enums)."""
    return plain_dict(value) if isinstance(value, Mapping) else str(value)


def plain_value(value: Any) -> Any:
    """A Mapping is its dict; any other value JSON does not know is refused (TypeError)."""
    if isinstance(value, Mapping):
        return plain_dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def encoder(*, sort_keys: bool, ascii_only: bool, default: Callable[[Any], Any]) -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=..., separators=(",", ":"), ensure_ascii=..., default=...)``, built once."""
    dumps = functools.partial(json.dumps, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=ascii_only,
                              default=default)
    try:
        from json.encoder import (  # type: ignore[attr-defined]
            c_make_encoder,
            encode_basestring,
            encode_basestring_ascii,
        )

        iterencode = c_make_encoder(None, default, encode_basestring_ascii if ascii_only else encode_basestring,
                                    None, ":", ",", sort_keys, False, True)
    except (ImportError, TypeError):
        return dumps

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))
    sample = {"b": [["x", "\u00e9\n\"\u2028"], 1.5, None, True], "a": {"k": ""}, "c": 1, "d": "\U0001f600"}
    try:
        return encode if encode(sample) == dumps(sample) and encode("s\u00e9") == dumps("s\u00e9") else dumps
    except (TypeError, ValueError):
        return dumps


canonical_json = encoder(sort_keys=True, ascii_only=False, default=json_value)


def indented_json(value: Any, margin: str = "") -> str:
    """``json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)``, every line after the first
    starting with ``margin`` (where the value sits in a larger document), written by a function of its
    own: given an indent, json falls back to its encoder written in Python, which took most of the time of
    writing a plan of a million changes (a property test holds the two equal). Strings are encoded by
    json's own C function; any value json would refuse or write by a rule of its own (a key that is not
    a string, a subclass) is handed to json itself."""
    try:
        return _indented(value, "\n" + margin)
    except (_Unusual, TypeError):
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).replace("\n", "\n" + margin)


class _Unusual(Exception):
    """A value ``_indented`` leaves to json."""


def _indented(value: Any, pad: str) -> str:
    """``value`` indented two spaces a level, its lines after the first starting with ``pad``; strings
    inside containers are encoded in place (most of a plan's values are strings)."""
    kind, e = type(value), _encode_text
    if kind is dict:
        if not value:
            return "{}"
        inner = pad + "  "
        return ("{" + ",".join([f"{inner}{e(k)}: {e(v) if type(v) is str else _indented(v, inner)}"
                                for k, v in sorted(value.items())]) + pad + "}")
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = pad + "  "
        return "[" + ",".join([inner + (e(v) if type(v) is str else _indented(v, inner)) for v in value]) + pad + "]"
    if kind is str:
        return e(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int or kind is float:
        return json.dumps(value)
    raise _Unusual


def kept_encoded(body: Any) -> bytes | None:
    """The canonical JSON, UTF-8, of a body that keeps it so (``TextBody.encoded``), as it is, neither decoded
    nor encoded again; None for any other body (its text is then ``canonical_text``'s)."""
    encoded = getattr(body, "encoded", None)
    return encoded() if encoded is not None else None


def canonical_text(body: Any, encode: Callable[[Any], str] | None = None) -> str:
    """``canonical_json(body)``, written by the body itself when it is a view that can (``canonical()``,
    which raises TypeError where it cannot and the encoder decides: ``encode``, canonical_json by default,
    or a stricter one that refuses what is not plain data)."""
    write = getattr(body, "canonical", None)
    if write is not None:
        try:
            return str(write())
        except TypeError:
            pass
    return (encode or canonical_json)(body)


def pairs_text(pairs: Iterable[tuple[str, str]], quote: Callable[[str], str]) -> str:
    """``[a,b],[c,d]``: the items of a JSON array of string pairs (edges), each string written by ``quote``
    (one of json's C string encoders); TypeError where one is not a string, ValueError where an item is not
    a pair. For lines written by the million from their strings, whose writer falls back to an encoder."""
    return ",".join([f"[{quote(a)},{quote(b)}]" for a, b in pairs])


PLACED = "partial"  # the one key whose place in its text a ``TextBody`` keeps (``place_of``)


def key_place(text: str, key: str) -> int:
    """Where member ``key`` goes in ``text``, the canonical JSON of an object without it: the index of the
    first key that sorts after it, or of the closing brace. -1 when it cannot be placed without parsing:
    the object is not flat or holds an escape, or already has ``key``. In a flat object without escapes
    every ``"`` opens or closes a string, and a string followed by ``:`` is a key."""
    if "\\" in text or "[" in text or text.count("{") != 1:
        return -1
    parts = text.split('"')
    for i in range(1, len(parts) - 1, 2):
        if parts[i + 1].startswith(":") and parts[i] >= key:
            return -1 if parts[i] == key else len('"'.join(parts[:i]))
    return len(text) - 1


def with_key(text: str, key: str, value: Any, place: int | None = None) -> str:
    """The canonical JSON of the object ``text`` (canonical JSON of an object without ``key``) with
    ``key`` set to ``value``, put in its sorted place without parsing where ``key_place`` finds one
    (``place``: what it gave for this text, when the caller kept it). Any other object is parsed and
    written again."""
    at = key_place(text, key) if place is None else place
    if at < 0:
        return canonical_json({**json.loads(text), key: value})
    member = _member(key, value) if type(value) in (bool, str, int, type(None)) else \
        f"{canonical_json(key)}:{canonical_json(value)}"
    if at == len(text) - 1:  # after every member
        return f'{text[:at]}{"," if at > 1 else ""}{member}}}'
    return f"{text[:at]}{member},{text[at:]}"


def with_key_encoded(data: bytes, key: str, value: bool | str | int | None, place: int) -> bytes | None:
    """``with_key(data.decode(), key, value, place).encode()`` for a text kept encoded, spliced as bytes: where
    the text is ASCII (``place`` counts characters) and ``place`` is one ``with_key`` splices at; else None."""
    if place < 0 or place >= len(data) or not data.isascii():
        return None
    member = _member(key, value).encode()
    if place == len(data) - 1:  # after every member
        return b"%s%s%s}" % (data[:place], b"," if place > 1 else b"", member)
    return b"%s%s,%s" % (data[:place], member, data[place:])


@functools.lru_cache(maxsize=64, typed=True)  # typed: True and 1 are one key to a dict, two values here
def _member(key: str, value: bool | str | int | None) -> str:
    """``"key":value`` in canonical JSON: the same few members (``"partial":true``) go into every body."""
    return f"{canonical_json(key)}:{canonical_json(value)}"


def content_hash(body: Any) -> str:
    """sha256 of the canonical JSON of ``body``: the identity of a resource's content."""
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


class TextBody(Mapping[str, Any]):
    """A resource body kept as its canonical JSON, encoded (UTF-8), until first read. Whoever makes one
    vouches that the text is the body's canonical JSON (a translation wrote it so; the cache wrote it so and
    its signature covers it): writing the body again (the cache, state's content, a DuckDB row) takes the
    text as it is, and ``to_dict`` parses without keeping the result, so an apply of a million bodies holds
    no dict per body. A body read key by key is parsed once and kept."""

    __slots__ = ("_data", "_placed", "_value")
    kept_text = True  # ``canonical()`` is read from where the text is kept: nobody need keep a copy

    def __init__(self, text: bytes, placed: int | None = None) -> None:
        self._data: bytes | Opened | Spill = text  # its own text; a LazyBody's: where its text lies
        self._value: dict[str, Any] | None = None
        self._placed = placed  # ``place_of(PLACED)``, once known (whoever wrote the text may know it)

    def _raw(self) -> bytes:
        return self._data  # type: ignore[return-value]  # (its own text: bytes)

    def _parse(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self._raw())
        return value

    def _load(self) -> dict[str, Any]:
        if self._value is None:
            self._value = self._parse()
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __bool__(self) -> bool:
        return len(self._raw()) > 2  # "{}" is the only empty object canonical JSON writes

    def to_dict(self) -> dict[str, Any]:
        """The body as a new dict (kept only when it was already parsed to be read key by key)."""
        return self._value if self._value is not None else self._parse()

    def canonical(self) -> str:
        return self._raw().decode()

    def encoded(self) -> bytes:
        """Its canonical JSON, UTF-8."""
        return self._raw()

    def place_of(self, key: str, text: str) -> int:
        """``key_place(text, key)`` for its canonical ``text``, kept once found when ``key`` is ``PLACED``: a
        plan puts an asset's placeholder flag into its body's text each time the body is written (to the
        target, to state), and finding where took 3 us each time. (Given when the body was made, it is
        where the flag goes in that text, whatever the text holds: ``with_key`` then splices it there.)"""
        if key != PLACED:
            return key_place(text, key)
        if self._placed is None:
            self._placed = key_place(text, key)
        return self._placed

    @property
    def placed(self) -> int | None:
        """``place_of(PLACED, ...)`` when it is known without the text (given, or found before)."""
        return self._placed


class LazyBody(TextBody):
    """A ``TextBody`` whose text is ``data[start:end]`` of bytes that many bodies share (no copy per body):
    the cache file's bytes, that file itself kept open (``Opened``), or a file this run writes (``Spill``)."""

    __slots__ = ("_end", "_start")

    def __init__(self, data: bytes | Opened | Spill, start: int, end: int, placed: int | None = None) -> None:
        self._data, self._start, self._end = data, start, end  # (no text of its own to pass up)
        self._value, self._placed = None, placed

    def _raw(self) -> bytes:
        return self._data[self._start:self._end]

    def span_in(self, data: object) -> tuple[int, int] | None:
        """Where its text lies in ``data``, when that is what it is read from; else None."""
        return (self._start, self._end) if self._data is data else None

    def __bool__(self) -> bool:
        return self._end - self._start > 2


_SPILL: ContextVar[Spill | None] = ContextVar("body_spill", default=None)


@contextmanager
def bodies_spilled_to(spill: Spill | None) -> Iterator[None]:
    """Within it, a translation that can writes the bodies it makes to ``spill`` as it makes them, and
    holds each as the place it lies there (``LazyBody``), read back when needed: a million bodies are then
    never all in memory. None: they are held as text (``TextBody``), as outside it."""
    token = _SPILL.set(spill)
    try:
        yield
    finally:
        _SPILL.reset(token)


def body_spill() -> Spill | None:
    """Where a translation writes the bodies it makes (``bodies_spilled_to``); None: it holds them."""
    return _SPILL.get()

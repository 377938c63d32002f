"""What a change writes: a resource's body as a view with an asset's placeholder flag (``After``), an asset's
recorded hash, and the create of a resource that neither state nor the target holds, kept pending as that
resource or its position in a ``ResourceTable`` and made when read (``Creates``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any

from ..canonical import PLACED, canonical_text, kept_encoded, key_place, plain_dict, with_key, with_key_encoded
from .contract import ASSET, Resource, ResourceTable
from .model import Action, Change


def asset_hash(res: Resource, partial: bool) -> str:
    """The recorded hash of an asset: its content and whether it is a placeholder."""
    return res.hash + placed_flag(partial)


def placed_flag(partial: bool) -> str:
    """What an asset's recorded hash adds to its content hash."""
    return ":partial" if partial else ":full"


class After(Mapping[str, Any]):
    """What a change writes, as a read-only view of the resource's body (an asset's with its placeholder
    flag: ``{**body, "partial": partial}``), so a plan of a million creates holds no dict per body (JSON
    encoding and ``dict()`` see the dict). Its canonical JSON is made once, when first asked for: an apply
    writes the same text to the target and to state's content. A body that keeps its own text (a
    translation's, or a cached one: a slice of the cache file's bytes) is not copied: its text is taken
    from it each time, which costs a decode (and, for an asset's placeholder flag, a splice at the place the
    body keeps once found), where keeping it cost an apply of a million cached rows about 180 MB."""

    __slots__ = ("_body", "_partial", "_place", "_text")
    kept_text = True  # ``canonical()`` keeps its text, or its body does: nobody need keep a copy

    def __init__(self, body: Mapping[str, Any], partial: bool | None = None) -> None:
        self._body, self._partial = body, partial
        self._text: str | None = None
        self._place: int | None = None  # where "partial" goes in the body's text (``key_place``), once found

    def __getitem__(self, key: str) -> Any:
        return self._partial if key == "partial" and self._partial is not None else self._body[key]

    def keys(self) -> Any:
        keys = tuple(self._body.keys())
        return keys if self._partial is None or "partial" in keys else (*keys, "partial")

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def to_dict(self) -> Mapping[str, Any]:
        body = plain_dict(self._body)
        return body if self._partial is None else {**body, "partial": self._partial}

    def canonical(self) -> str:
        if self._text is not None:
            return self._text
        text = canonical_text(self._body) if self._partial is None else self._flagged(self._partial)
        if not getattr(self._body, "kept_text", False):
            self._text = text
        return text

    def _flagged(self, partial: bool) -> str:
        """The body's text with its placeholder flag put in place in it."""
        text = canonical_text(self._body)
        if self._place is None:
            place_of = getattr(self._body, "place_of", None)
            self._place = key_place(text, PLACED) if place_of is None else place_of(PLACED, text)
        return with_key(text, PLACED, partial, self._place)

    def encoded(self) -> bytes:
        """``canonical()`` in UTF-8. A body that keeps its text encoded gives it as it is, or with the flag
        spliced in as bytes where the place for it is known (state's content lines of a million cached
        assets, neither decoded nor encoded again)."""
        kept = kept_encoded(self._body) if self._text is None else None
        if kept is not None:
            if self._partial is None:
                return kept
            place = self._place if self._place is not None else getattr(self._body, "placed", None)
            if place is not None and type(self._partial) is bool:
                spliced = with_key_encoded(kept, PLACED, self._partial, place)
                if spliced is not None:
                    return spliced
        return self.canonical().encode()

    def __bool__(self) -> bool:
        return self._partial is not None or bool(self._body)


def written(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a change writes of a body that takes no placeholder flag: the body itself where it keeps its own
    text (read-only, nothing to add: a view of it would be one more object per change, and state's content
    keeps what each change wrote until the apply ends), else a view of it (``After``)."""
    return body if getattr(body, "kept_text", False) else After(body)


_UPSERT = "asset the target lacks (UPSERT)"
_PLACEHOLDER = "placeholder for an asset the target lacks (PARTIAL)"


class Creates:
    """Makes the create of a resource that neither state nor the target holds: what ``Changes`` keeps
    pending as its resource, or as the resource's position in the target's ``ResourceTable`` (``table``), so
    that a first plan of a million rows makes no Resource to keep. Holds only what every such change shares
    (not the target's input, which holds what the target was read to hold)."""

    __slots__ = ("owner", "partial", "table", "target")

    def __init__(self, target: str, owner: str, partial: bool, table: ResourceTable | None = None) -> None:
        self.target, self.owner, self.partial, self.table = target, owner, partial, table

    def resource(self, item: Resource | int) -> Resource:
        """The resource a pending create stands for: itself, or the one at its position in ``table``."""
        return self.table[item] if type(item) is int and self.table is not None else item  # type: ignore[return-value]

    def _after(self, res: Resource) -> Mapping[str, Any]:
        """The body the create of ``res`` writes: an asset's with its placeholder flag."""
        return After(res.body, self.partial) if res.kind == ASSET else written(res.body)

    def _hash(self, res: Resource) -> str:
        return asset_hash(res, self.partial) if res.kind == ASSET else res.hash

    def _placeholder(self, res: Resource) -> bool:
        return self.partial and res.kind == ASSET

    def _owner(self, _res: Resource) -> str:
        return self.owner

    def column(self, items: Sequence[Any], name: str) -> Iterator[Any] | None:
        """``name`` of each of ``items`` (a made Change, or a pending create: its resource or position), for the
        fields a create takes from its resource alone (the body it writes, its hash, its placeholder flag, its
        owner): an apply reads them for a batch of a million creates without making a Change of each. None
        for any other field."""
        made = {"after": self._after, "after_hash": self._hash, "placeholder": self._placeholder,
                "owner": self._owner}.get(name)
        if made is None:
            return None
        table = self.table
        if table is not None and name == "after_hash":  # from the columns: no Resource made
            kinds, hashes, flag = table.kinds, table.hashes, placed_flag(self.partial)
            return (item.after_hash if type(item) is Change else
                    (hashes[item] + flag if kinds[item] == ASSET else hashes[item]) if type(item) is int
                    else self._hash(item) for item in items)
        if table is None:  # every pending create kept as its resource
            return (getattr(item, name) if type(item) is Change else made(item) for item in items)
        resource = self.resource
        return (getattr(item, name) if type(item) is Change else made(resource(item)) for item in items)

    def shared(self, items: Sequence[Any], name: str) -> Iterator[Any]:
        """``name`` (a field a change shares with its resource) of each of ``items``, from the table's columns."""
        if self.table is None:
            return map(attrgetter(name), items)
        values = self.table.field(name)
        return (values[item] if type(item) is int else getattr(item, name) for item in items)

    def __call__(self, item: Resource | int) -> Change:
        res = self.resource(item)
        if res.kind == ASSET:
            partial = self.partial
            return Change(self.target, res.address, ASSET, Action.CREATE, self._after(res), self._hash(res), None,
                          res.source, _PLACEHOLDER if partial else _UPSERT, res.requires, res.edges, partial, None,
                          self.owner)
        return Change(self.target, res.address, res.kind, Action.CREATE, self._after(res), res.hash, None, res.source,
                      "", res.requires, res.edges, False, None, self.owner)

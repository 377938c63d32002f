"""YAML documents read with the line of every value: ``load_yaml`` returns the document with a LineMap
(JSON path -> 1-based line). Read from libyaml's events where that gives what composing nodes gives (the
documents manifests are), by composing nodes otherwise; YAML syntax errors, duplicate keys, alias bombs and
absurd nesting become Problems, never tracebacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import yaml

from ..errors import Problem
from .validate import Path, field_path, shortened, undecodable

# What aliases may add to the values a document writes out (a bomb of 9 references to 9 references ...
# is refused before it is expanded), and what a document may write out itself: a file of 1M column edges
# holds about 4.5M values, and a manifest file is at most 256 MB unless raised.
MAX_EXPANDED_NODES = 2_000_000
MAX_DOCUMENT_NODES = 20_000_000
# What aliases may add to a document's values: one 1 MB scalar referenced 2,000 times would
# otherwise make a 2 GB plan out of a 1 MB file.
MAX_ALIAS_EXPANSION_CHARS = 16 * 2**20
MAX_DEPTH = 64
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _too_many_values() -> str:
    return f"document holds more than {MAX_DOCUMENT_NODES:,} values: split it into several manifest files"


class LineMap:
    """Maps JSON paths inside one document to the line they were written on.

    It may hold only the paths ``depth`` steps deep or less (the lines every read asks for: a process's
    own) and ``complete``, which gives every path's line: called the first time a deeper path is asked for,
    which only a problem's report does. A large manifest then keeps no line for each of its values."""

    def __init__(self, lines: dict[Path, int] | None = None,
                 complete: Callable[[], dict[Path, int]] | None = None, depth: int = 0) -> None:
        self._lines = {} if lines is None else lines
        self._complete, self._depth = complete, depth

    def line(self, path: Iterable[str | int]) -> int:
        """Return the line of ``path`` or of its nearest ancestor (0 when nothing is known)."""
        key = tuple(path)
        if self._complete is not None and len(key) > self._depth:
            self._lines, self._complete = self._complete(), None
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return self._lines.get((), 0)


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int = 0) -> int:
    """Nodes in ``node`` once every alias is expanded; a shared node is walked once but counted per
    reference (it is then in ``memo`` more than once reached), so a bomb is measured, not built."""
    if depth > MAX_DEPTH:
        raise _TooDeep(node)
    known = memo.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo, depth + 1) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(v, memo, depth + 1) for _, v in node.value)
    memo[id(node)] = size
    return size


def _expanded_chars(node: yaml.Node, memo: dict[int, int]) -> int:
    """Characters of every scalar in ``node`` once aliases are expanded (depth already checked).
    Only documents that use aliases pay for this walk."""
    known = memo.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.ScalarNode):
        return len(node.value)
    children = node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value]
    size = memo[id(node)] = sum(_expanded_chars(child, memo) for child in children)
    return size


def _has_alias(text: str) -> bool:
    """Whether the document may hold an alias (``*name``); a cheap over-approximation."""
    return "*" in text


class _TooDeep(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int], problems: list[Problem], file: str) -> None:
    """Record the line of every path and report duplicate keys; runs before construction, which
    flattens merge keys (``<<: *base``) into the mapping and would make overrides look repeated."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _walk(child, (*path, index), lines, problems, file)
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key == "<<":
                merged.extend(value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node])
                continue
            if key in seen:
                problems.append(Problem(file, key_node.start_mark.line + 1, field_path((*path, key)), "duplicate key"))
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, problems, file)
        for source in merged:  # keys merged in and not overridden here: lines where the anchor wrote them
            for key_node, value_node in source.value if isinstance(source, yaml.MappingNode) else ():
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                if key != "<<" and key not in seen:
                    seen.add(key)
                    lines[(*path, key)] = key_node.start_mark.line + 1
                    _walk(value_node, (*path, key), lines, [], file)


_OPENING = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSING = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _too_deep(text: str) -> int | None:
    """The line where nesting first goes deeper than MAX_DEPTH, from the event stream (None: never).

    libyaml's composer recurses in C once per level with no recursion check, so 100,000 opening
    brackets crash the interpreter before any check on nodes could run; events come from a loop.
    """
    loader = _Loader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, _OPENING):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    return mark.line + 1 if mark is not None else 1
            elif isinstance(event, _CLOSING):
                depth -= 1
    finally:
        loader.dispose()
    return None


class _Unsure(Exception):
    """The event reader met something only the composing reader handles exactly (an anchor, an alias, a tag,
    a merge key, a duplicate key, a key that is not a scalar, more than one document, nesting too deep):
    the document is read again that way."""


_SCALAR, _MAP_START, _SEQ_START = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


ItemHook = Callable[[int, Any, dict[str, Any]], Any]


def _from_events(text: str, depth: int | None = None, lines: dict[Path, int] | None = None,
                 each: tuple[str, ItemHook] | None = None) -> tuple[Any, dict[Path, int]]:
    """The document's value and the line of every path (of every path ``depth`` steps deep or less, when
    given), built straight from libyaml's events: the same value and lines as composing nodes, resolving and
    constructing them (``_from_nodes``), in a fifth of the time, for the documents manifests are (no
    anchors, aliases, tags or merge keys). Raises ``_Unsure`` for any other document, and lets a YAML error
    through: the caller reads those the composing way; raises ``_TooMany`` for one that holds more than
    MAX_DOCUMENT_NODES values (and is otherwise plain: its values are let go, the rest only checked).

    Scalars are resolved as the loader resolves them: a plain scalar by the loader's implicit resolvers for
    its first character (none match most names, which stay strings), and one that matches is constructed
    by the loader's own constructor for the tag (``yes`` is true, ``0o17`` is 15, ``2024-01-01`` a date).

    ``lines``: the dict to fill (the caller may read it as the document is read). ``each``: (a key, a
    function): when the document is a mapping whose value under that key is a list, each item of the list
    is handed to the function as soon as it is read, with its index and the mapping as read so far, and
    what the function returns is kept in its place (a reader that turns each item into what it needs
    need not hold every item at once). What the function raises goes through."""
    loader = _Loader(text)
    resolvers = type(loader).yaml_implicit_resolvers
    constructors = type(loader).yaml_constructors
    if None in resolvers or getattr(loader, "yaml_path_resolvers", None):
        loader.dispose()
        raise _Unsure
    deepest = MAX_DEPTH + 1 if depth is None else depth  # the longest path whose line is kept
    lines = {} if lines is None else lines
    items: list[Any] | None = None  # the list whose items are handed to ``each`` (once found)
    get = loader.get_event
    try:
        get()  # stream start
        event = get()
        if isinstance(event, yaml.StreamEndEvent):
            return None, lines
        # Each open collection: [value, its path (None: its values' lines are not kept), is a mapping, the
        # pending key's text, that key's value, keys seen]
        stack: list[list[Any]] = []
        root: Any = None
        nodes = 0
        keys: dict[str, str] = {}
        while True:
            event = get()
            kind = type(event)
            if kind in _ENDS:
                stack.pop()
                if items is not None and stack and stack[-1][0] is items:  # one of the items is read
                    at = len(items) - 1
                    items[at] = each[1](at, items[at], root)  # type: ignore[index]
                continue
            if kind is yaml.DocumentEndEvent:
                break
            if kind not in (_SCALAR, _MAP_START, _SEQ_START) or event.anchor is not None or event.tag is not None:
                raise _Unsure
            if kind is _SCALAR:
                value = event.value
                if event.implicit[0]:
                    for tag, pattern in resolvers.get(value[:1], ()):
                        if pattern.match(value):
                            construct = constructors.get(tag)
                            if construct is None:
                                raise _Unsure
                            value = construct(loader, yaml.ScalarNode(tag, value, event.start_mark, event.end_mark))
                            break
            else:
                value = {} if kind is _MAP_START else []
            path: Path | None
            if not stack:
                path = ()
                lines[path] = event.start_mark.line + 1
                root = value
            else:
                top = stack[-1]
                within = top[1]
                if not top[2]:
                    if within is not None:
                        path = (*within, len(top[0]))
                        lines[path] = event.start_mark.line + 1
                    else:
                        path = None
                    top[0].append(value)
                    if kind is _SCALAR and top[0] is items:
                        items[-1] = each[1](len(items) - 1, value, root)  # type: ignore[index]
                elif top[3] is None:  # a key
                    text_key = event.value if kind is _SCALAR else None
                    if text_key is None or text_key == "<<" or text_key in top[5]:
                        raise _Unsure
                    top[5].add(text_key)
                    if type(value) is str:  # one string per distinct key: a million mappings share "from"
                        value = text_key = keys.setdefault(value, value)
                    top[3], top[4] = text_key, value
                    if within is not None:
                        lines[(*within, text_key)] = event.start_mark.line + 1
                    continue
                else:
                    path = (*within, top[3]) if within is not None else None
                    top[0][top[4]] = value
                    if each is not None and kind is _SEQ_START and len(stack) == 1 and top[3] == each[0]:
                        items = value
                    top[3] = None
            if kind is not _SCALAR:
                stack.append([value, path if path is not None and len(path) < deepest else None,
                              kind is _MAP_START, None, None, set()])
                if len(stack) > MAX_DEPTH:
                    raise _Unsure
            nodes += 1  # values only, as composing counts them (keys ``continue`` above)
            if nodes > MAX_DOCUMENT_NODES:
                open_now = len(stack)
                stack.clear()
                root = value = None  # let what was built go, and only check the rest
                _rest_is_plain(get, open_now)
                raise _TooMany(lines[()])
        if not isinstance(get(), yaml.StreamEndEvent):
            raise _Unsure
        return root, lines
    finally:
        loader.dispose()


class _TooMany(Exception):
    """The document holds more than MAX_DOCUMENT_NODES values (on the line of its first)."""

    def __init__(self, line: int) -> None:
        self.line = line


def _rest_is_plain(get: Callable[[], Any], depth: int) -> None:
    """Read the rest of a document's events (its first ``depth`` collections open) without building
    anything; raise ``_Unsure`` where composing would report something else first (an anchor, an alias,
    a tag, nesting too deep, a second document), and let a YAML error through."""
    while True:
        event = get()
        kind = type(event)
        if kind in _ENDS:
            depth -= 1
        elif kind is yaml.DocumentEndEvent:
            break
        elif kind not in (_SCALAR, _MAP_START, _SEQ_START) or event.anchor is not None or event.tag is not None:
            raise _Unsure
        elif kind is not _SCALAR:
            depth += 1
            if depth > MAX_DEPTH:
                raise _Unsure
    if not isinstance(get(), yaml.StreamEndEvent):
        raise _Unsure


# What a read keeps the lines of: the document's keys and each of their items (``processes[3]``, the line a
# process is reported at); the lines of deeper values are found again when a problem is reported there.
_KEPT_DEPTH = 2


def read_yaml_items(text: str, key: str, each: Callable[[int, Any, dict[str, Any], LineMap], Any]) -> Any:
    """Read a document from its events, handing each item of its list under ``key`` to ``each`` as soon as it
    is read (with its index, the document's mapping as read so far and the document's line map) and keeping
    what ``each`` returns in its place; return the document. Raises for any document ``load_yaml`` would
    not read from events alone (and what ``each`` raises): its caller then reads it with ``load_yaml``."""
    kept: dict[Path, int] = {}
    lines = LineMap(kept, lambda: _from_events(text)[1], _KEPT_DEPTH)
    value, _ = _from_events(text, _KEPT_DEPTH, kept, (key, lambda at, item, head: each(at, item, head, lines)))
    return value


def load_yaml(file: str, data: bytes) -> tuple[Any, LineMap, list[Problem]]:
    """Parse one YAML document; return (value, line map, problems). Never raises for bad input."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, LineMap(), [undecodable(file, data, exc)]
    try:
        value, lines = _from_events(text, _KEPT_DEPTH)
    except _TooMany as exc:
        return None, LineMap(), [Problem(file, exc.line, "", _too_many_values())]
    except Exception:  # noqa: BLE001 - anything unusual is read the composing way, which reports it exactly
        return _from_nodes(file, text)
    return value, LineMap(lines, lambda: _from_events(text)[1], _KEPT_DEPTH), []


def _from_nodes(file: str, text: str) -> tuple[Any, LineMap, list[Problem]]:
    """``load_yaml`` by composing nodes, checking them (nesting, alias expansion, duplicate keys) and
    constructing the value: every document, valid or not, and the reference ``_from_events`` is held to."""
    loader = _Loader(text)
    try:
        deep = _too_deep(text)
        if deep is not None:
            return None, LineMap(), [Problem(file, deep, "", f"nesting deeper than {MAX_DEPTH} levels")]
        node = loader.get_single_node()
        if node is None:
            return None, LineMap(), []
        memo: dict[int, int] = {}
        expanded = _expanded_size(node, memo)  # memo: one entry per value node the file writes out
        if len(memo) > MAX_DOCUMENT_NODES:
            return None, LineMap(), [Problem(file, node.start_mark.line + 1, "", _too_many_values())]
        if expanded - len(memo) > MAX_EXPANDED_NODES:
            line = node.start_mark.line + 1
            return None, LineMap(), [Problem(file, line, "", "document expands to too many nodes (YAML alias bomb?)")]
        chars = _expanded_chars(node, {}) if _has_alias(text) else 0
        if chars > len(text) + MAX_ALIAS_EXPANSION_CHARS:
            return None, LineMap(), [Problem(file, node.start_mark.line + 1, "", (
                f"aliases expand the document to {chars:,} characters of values, {chars - len(text):,} more than "
                f"the file holds (at most {MAX_ALIAS_EXPANSION_CHARS:,} more are allowed): "
                "reference long values fewer times"))]
        lines: dict[Path, int] = {}
        problems: list[Problem] = []
        # Construction flattens merge keys into their mappings, so a file that has any is walked
        # before; others after, when the constructor's own node->value map is gone (less memory).
        merges = "<<" in text
        if merges:
            _walk(node, (), lines, problems, file)
        value = loader.construct_document(node)
        if not merges:
            _walk(node, (), lines, problems, file)
    except _TooDeep as exc:
        line = exc.node.start_mark.line + 1
        return None, LineMap(), [Problem(file, line, "", f"nesting deeper than {MAX_DEPTH} levels")]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        return None, LineMap(), [Problem(file, line, "", f"invalid YAML: character #x{exc.character:04x}: {exc.reason}")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        column = f" at column {mark.column + 1}" if mark else ""
        return None, LineMap(), [Problem(file, line, "", f"invalid YAML{column}: {exc.problem or exc.context}")]
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return None, LineMap(), [Problem(file, 0, "", f"invalid YAML: {shortened(str(exc))}")]
    finally:
        loader.dispose()
    return value, LineMap(lines), problems

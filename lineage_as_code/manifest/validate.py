"""Schema validation with line numbers: YAML is composed into nodes so every value keeps its line.

``load_yaml`` returns the document together with a LineMap (JSON path -> 1-based line);
``schema_problems`` runs a JSON Schema (draft 2020-12, from ``schemas/``) and turns *every* error
into a Problem located at the deepest line known for its path. YAML syntax errors, duplicate keys,
alias bombs and absurd nesting become Problems too, never tracebacks.
"""

from __future__ import annotations

import codecs
import copy
import difflib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from ..display import CONTROL, escape_control, excerpt
from ..errors import Problem

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

Path = tuple[str | int, ...]
# What aliases may add to the values a document writes out (a bomb of 9 references to 9 references ...
# is refused before it is expanded), and what a document may write out itself: a file of 1M column edges
# holds about 4.5M values, and a manifest file is at most 256 MB unless raised.
MAX_EXPANDED_NODES = 2_000_000
MAX_DOCUMENT_NODES = 20_000_000


def _too_many_values() -> str:
    return f"document holds more than {MAX_DOCUMENT_NODES:,} values: split it into several manifest files"
# What aliases may add to a document's values: one 1 MB scalar referenced 2,000 times would
# otherwise make a 2 GB plan out of a 1 MB file.
MAX_ALIAS_EXPANSION_CHARS = 16 * 2**20
MAX_DEPTH = 64
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


def field_path(path: Iterable[str | int]) -> str:
    """Render a JSON path as ``processes[0].inputs[1]``; a key with a newline or another
    unprintable character is quoted, so a problem always stays on one line."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            out += ("." if out else "") + (text if text.isprintable() else repr(text))
    return out


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Return a JSON Schema shipped with the package (``manifest``, ``lineage-row``, ``config``, ``state``
    or ``plan``). Not checked here (that would import jsonschema on every run): a test checks them all."""
    text = resources.files("lineage_as_code.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    """jsonschema's validator of a shipped schema; imported only when a document is checked by it (the
    fast gate answers the common case, valid, without it)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name))


# Keywords whose meaning is the same in draft-07 (what fastjsonschema compiles) and 2020-12.
_GATE_KEYWORDS = {"$schema", "$id", "$defs", "$ref", "title", "description", "type", "properties", "required",
                  "additionalProperties", "items", "const", "enum", "pattern", "minLength", "maxLength", "minItems",
                  "maxItems", "minimum", "maximum", "exclusiveMinimum", "oneOf", "anyOf", "allOf", "not",
                  "propertyNames", "minProperties"}


def _keywords(node: Any, found: set[str], inside_properties: bool = False) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if not inside_properties:
                found.add(key)
            _keywords(value, found, key in ("properties", "$defs") and not inside_properties)
    elif isinstance(node, list):
        for item in node:
            _keywords(item, found)
    return found


@cache
def _gate(name: str) -> Callable[[Any], Any] | None:
    """A compiled validator that says only valid/invalid, fast; None when the schema needs more
    than the keywords it understands. jsonschema still writes every message."""
    schema = load_schema(name)
    if _keywords(schema, set()) - _GATE_KEYWORDS:
        return None
    return compile_gate(schema)


def _no_remote(uri: str) -> Any:
    raise ValueError(f"a schema refers to {uri[:80]!r}: schemas are resolved within themselves, never fetched")


def compile_gate(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """fastjsonschema's validator of ``schema`` (raising ``JsonSchemaException`` on an invalid document): its
    references resolved within the schema (a reference outside it is an error, never a request), its
    verdict only what counts (jsonschema writes the messages)."""
    import fastjsonschema

    body = copy.deepcopy({k: v for k, v in schema.items() if k != "$schema"})  # compiling rewrites its refs in place
    _exclusive_choices(body, body)
    compiled: Callable[[Any], Any] = fastjsonschema.compile(
        body, handlers={"http": _no_remote, "https": _no_remote})
    return compiled


def _resolved(branch: Any, root: dict[str, Any]) -> Any:
    """``branch`` with a lone local reference (``{"$ref": "#/$defs/x"}``) followed; else as it is."""
    for _ in range(8):
        if not (isinstance(branch, dict) and set(branch) == {"$ref"} and str(branch["$ref"]).startswith("#/$defs/")):
            break
        branch = root.get("$defs", {}).get(branch["$ref"][len("#/$defs/"):], branch)
    return branch


def _types(branch: Any) -> set[str] | None:
    named = branch.get("type") if isinstance(branch, dict) else None
    if named is None:
        return None
    found = {named} if isinstance(named, str) else set(named)
    return {"number" if t == "integer" else t for t in found}  # an integer is a number too


def _absent(branch: Any) -> set[str]:
    """Properties ``branch`` allows only when absent (``not: {required: [p]}``, ``not: {anyOf: [{required: [p]}]}``)."""
    rule = branch.get("not") if isinstance(branch, dict) else None
    if not isinstance(rule, dict):
        return set()
    alternatives = rule.get("anyOf", [rule]) if set(rule) <= {"anyOf", "required"} and len(rule) == 1 else []
    return {alt["required"][0] for alt in alternatives
            if isinstance(alt, dict) and set(alt) == {"required"} and len(alt["required"]) == 1}


def _disjoint(a: Any, b: Any) -> bool:
    """Whether no instance can satisfy both branches: their types differ, or one requires what the other forbids."""
    types_a, types_b = _types(a), _types(b)
    if types_a is not None and types_b is not None and not types_a & types_b:
        return True
    required_a = set(a.get("required", ())) if isinstance(a, dict) else set()
    required_b = set(b.get("required", ())) if isinstance(b, dict) else set()
    return bool(required_a & _absent(b) or required_b & _absent(a))


def _exclusive_choices(node: Any, root: dict[str, Any]) -> None:
    """Turn every ``oneOf`` whose branches exclude each other into ``anyOf``, in place: at most one branch can
    hold, so the verdict is the same, and the gate stops at the branch that holds rather than proving every
    other one fails (an exception per branch in the compiled code: 60% of a manifest's check)."""
    if isinstance(node, dict):
        branches = node.get("oneOf")
        if isinstance(branches, list) and "anyOf" not in node:
            resolved = [_resolved(b, root) for b in branches]
            if all(_disjoint(x, y) for i, x in enumerate(resolved) for y in resolved[i + 1:]):
                node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _exclusive_choices(value, root)
    elif isinstance(node, list):
        for item in node:
            _exclusive_choices(item, root)


@cache
def _part_gate(name: str, definition: str) -> Callable[[Any], Any] | None:
    """The gate of one definition of a shipped schema (``$defs[definition]``, its references resolved in the
    schema), or None where the schema has no gate."""
    schema = load_schema(name)
    if _gate(name) is None:
        return None
    return compile_gate({"$defs": schema["$defs"], **schema["$defs"][definition]})


def _passes(gate: Callable[[Any], Any], instance: Any) -> bool:
    import fastjsonschema

    try:
        gate(instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def is_valid_part(instance: Any, schema_name: str, definition: str) -> bool:
    """Whether ``instance`` satisfies ``$defs[definition]`` of the schema (what an item of a list of them
    must: checked alone as it is read)."""
    gate = _part_gate(schema_name, definition)
    if gate is None:
        from jsonschema import Draft202012Validator

        schema = load_schema(schema_name)
        return bool(Draft202012Validator({"$defs": schema["$defs"], **schema["$defs"][definition]}).is_valid(instance))
    return _passes(gate, instance)


def is_valid(instance: Any, schema_name: str) -> bool:
    """Whether ``instance`` satisfies the schema (the fast gate when there is one)."""
    gate = _gate(schema_name)
    return bool(_validator(schema_name).is_valid(instance)) if gate is None else _passes(gate, instance)


def _short(value: str, limit: int = 160) -> str:
    return escape_control(value if len(value) <= limit else value[: limit - 3] + "...")


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'inputs'?)`` when ``word`` is close to one of ``known``, else ''."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_JSON_TYPES = {dict: "a mapping", list: "a list", str: "a string", bool: "true or false", int: "a number",
               float: "a number", type(None): "nothing (null)"}


def _message(error: Any) -> str:
    """A schema error as a user reads it, quoting at most a short escaped excerpt of the value:
    a manifest path can name any file, and its content must not end up in a message."""
    value = error.instance
    if error.validator == "pattern" and isinstance(value, str):
        bad = CONTROL.search(value)
        if bad is not None:
            return (f"'{excerpt(value)}' holds the control character \\x{ord(bad.group()):02x}; ids, names, "
                    "references and keys must be printable")
        return f"{excerpt(value)!r} does not match {error.validator_value!r}"
    if error.validator == "type":
        expected = error.validator_value
        wanted = " or ".join(map(repr, expected)) if isinstance(expected, list) else repr(expected)
        if not error.absolute_path:  # a whole file that is one value: not a manifest, and not to be quoted
            return f"expected a mapping (version: 1, ...), found {_JSON_TYPES.get(type(value), type(value).__name__)}"
        return f"{excerpt(repr(value), 40)} is not of type {wanted}"
    if error.validator in ("maxLength", "minLength") and isinstance(value, str):
        return f"{excerpt(value)!r} is {len(value):,} characters long; {error.validator} is {error.validator_value:,}"
    if error.validator == "enum":
        return f"{excerpt(str(value))!r} is not one of {_short(repr(error.validator_value))}"
    return _short(error.message)


def schema_problems(
    instance: Any,
    schema_name: str,
    file: str,
    line_of: Callable[[Sequence[str | int]], int],
    base: Path = (),
) -> list[Problem]:
    """Validate ``instance`` and return one Problem per schema error (empty when valid).

    A compiled gate answers the common case (valid) in a fraction of jsonschema's time; only an
    invalid document is walked by jsonschema, which reports every error.
    """
    if is_valid(instance, schema_name):
        return []
    problems = []
    for error in _validator(schema_name).iter_errors(instance):
        path = (*base, *error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            for extra in sorted((k for k in error.instance if k not in known), key=str):  # YAML keys: any type
                where = (*path, str(extra))
                hint = did_you_mean(str(extra), known)
                problems.append(Problem(file, line_of(where), field_path(where), f"unknown field{hint}"))
            continue
        if error.validator in ("required", "dependentRequired"):
            missing = re.match(r"^'(.+?)' is a (?:required property|dependency of '(.+)')$", error.message)
            if missing:
                where = (*path, missing.group(1))
                because = f" (because {missing.group(2)} is given)" if missing.group(2) else ""
                problems.append(Problem(file, line_of(path), field_path(where), f"is required{because}"))
                continue
        problems.append(Problem(file, line_of(path), field_path(path) or "(document)", _message(error)))
    return problems


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


def undecodable(file: str, data: bytes, exc: UnicodeDecodeError) -> Problem:
    """The Problem for bytes that are not UTF-8, on the line of the first bad byte and at its place in the
    file (``exc`` counts from after a byte order mark, as utf-8-sig decoding does)."""
    at = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
    return Problem(file, data.count(b"\n", 0, at) + 1, "", f"not UTF-8 text ({exc.reason} at byte {at})")


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
    a merge key, a duplicate key, a key that is not a scalar, more than one document, too many nodes or
    levels, or an error): the document is read again that way."""


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
        return None, LineMap(), [Problem(file, 0, "", f"invalid YAML: {_short(str(exc))}")]
    finally:
        loader.dispose()
    return value, LineMap(lines), problems

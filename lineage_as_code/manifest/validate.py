"""Schema validation with line numbers.

``schema_problems`` runs a JSON Schema (draft 2020-12, from ``schemas/``) and turns *every* error into a
Problem located at the deepest line known for its path (a YAML document's lines come from
``yaml_reader``); a compiled gate answers the common case, valid, first.
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

from ..display import CONTROL, escape_control, excerpt
from ..errors import Problem

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

Path = tuple[str | int, ...]

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


def schema_part(name: str, definition: str | None = None) -> dict[str, Any]:
    """A shipped schema, or one of its definitions (``$defs[definition]``) as a schema of its own, its
    references resolved among the schema's definitions: what an item of a list of them must satisfy."""
    schema = load_schema(name)
    return schema if definition is None else {**schema["$defs"][definition], "$defs": schema["$defs"]}


@cache
def validator(name: str, definition: str | None = None) -> Draft202012Validator:
    """jsonschema's validator of a shipped schema (or of one definition); imported only when a document is
    checked by it (the fast gate answers the common case, valid, without it)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema_part(name, definition))


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
def _gate(name: str, definition: str | None = None) -> Callable[[Any], Any] | None:
    """A compiled validator of a shipped schema (or of one definition) that says only valid/invalid, fast;
    None when the schema needs more than the keywords it understands. jsonschema still writes every message."""
    if _keywords(load_schema(name), set()) - _GATE_KEYWORDS:
        return None
    return compile_gate(schema_part(name, definition))


def _no_remote(uri: str) -> Any:
    raise ValueError(f"a schema refers to {uri[:80]!r}: schemas are resolved within themselves, never fetched")


def compile_gate(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """fastjsonschema's validator of ``schema`` (raising ``JsonSchemaException`` on an invalid document): its
    references resolved within the schema (a reference outside it is an error, never a request), its
    verdict only what counts (jsonschema writes the messages)."""
    import fastjsonschema

    body = copy.deepcopy({k: v for k, v in schema.items() if k != "$schema"})  # compiling rewrites its refs in place
    _exclusive_choices(body, body)
    body = _inlined(body, body, ())
    compiled: Callable[[Any], Any] = fastjsonschema.compile(
        body, handlers={"http": _no_remote, "https": _no_remote})
    return compiled


def _inlined(node: Any, root: dict[str, Any], within: tuple[str, ...]) -> Any:
    """``node`` with each lone local reference (``{"$ref": "#/$defs/x"}``) replaced by the definition it names,
    itself inlined, except where that definition is being inlined already (a recursive one stays a
    reference). The same schema: a lone reference means what it names. The compiled code then checks each
    value in place: a reference is a call, which formats the value's path (``.inputs[3]``) from every local
    variable whether or not the value is valid (a third of a YAML manifest's check)."""
    if isinstance(node, list):
        return [_inlined(item, root, within) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref[len("#/$defs/"):]
        definition = root.get("$defs", {}).get(name)
        if isinstance(definition, dict) and name not in within:
            return _inlined(definition, root, (*within, name))
        return node
    return {key: value if key in ("$defs", "const", "enum") else _inlined(value, root, within)
            for key, value in node.items()}


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


def is_valid(instance: Any, schema_name: str, definition: str | None = None) -> bool:
    """Whether ``instance`` satisfies the schema, or one of its definitions (the fast gate when there is one)."""
    import fastjsonschema

    gate = _gate(schema_name, definition)
    if gate is None:
        return bool(validator(schema_name, definition).is_valid(instance))
    try:
        gate(instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def shortened(value: str, limit: int = 160) -> str:
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
        return f"{excerpt(str(value))!r} is not one of {shortened(repr(error.validator_value))}"
    return shortened(error.message)


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
    for error in validator(schema_name).iter_errors(instance):
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


def undecodable(file: str, data: bytes, exc: UnicodeDecodeError) -> Problem:
    """The Problem for bytes that are not UTF-8, on the line of the first bad byte and at its place in the
    file (``exc`` counts from after a byte order mark, as utf-8-sig decoding does)."""
    at = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
    return Problem(file, data.count(b"\n", 0, at) + 1, "", f"not UTF-8 text ({exc.reason} at byte {at})")

"""The compiled schema gate must give jsonschema's verdict on every document, or it could let an
invalid manifest through unreported."""

from __future__ import annotations

import fastjsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lineage_as_code.manifest.validate import _exclusive_choices, _gate, compile_gate, is_valid, load_schema

scalar = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.sampled_from(
    ["", "x", "pg:d.s.t", "bad id", "a.b", "UPSERT", "update", "s3://b/k", "https://x", "TOKEN_ENV", "x" * 250]))
ref_object = st.fixed_dictionaries({}, optional={
    "ref": scalar, "name": scalar, "platform": scalar, "database": scalar, "schema": scalar, "alias": scalar,
    "ids": st.dictionaries(st.sampled_from(["atlan", "google"]), scalar, max_size=2), "colour": scalar})
asset = st.one_of(scalar, ref_object)
process = st.fixed_dictionaries({}, optional={
    "id": scalar, "name": scalar, "inputs": st.one_of(scalar, st.lists(asset, max_size=3)),
    "outputs": st.one_of(scalar, st.lists(asset, max_size=3)),
    "columns": st.one_of(scalar, st.lists(st.fixed_dictionaries({}, optional={
        "from": st.one_of(scalar, st.lists(scalar, max_size=2)), "to": scalar, "transform": scalar}), max_size=2)),
    "attributes": st.one_of(scalar, st.dictionaries(st.sampled_from(["a", "b"]), scalar, max_size=2)),
    "sql": scalar, "extra": scalar})
manifest = st.fixed_dictionaries({}, optional={
    "version": scalar, "defaults": st.one_of(scalar, st.dictionaries(st.sampled_from(["platform", "database", "x"]),
                                                                     scalar, max_size=2)),
    "assets": st.one_of(scalar, st.lists(ref_object, max_size=2)), "processes": st.one_of(scalar, st.lists(process,
                                                                                                          max_size=3)),
    "other": scalar})
target = st.fixed_dictionaries({}, optional={
    "type": scalar, "token_env": scalar, "token": scalar, "path": scalar, "batch_size": scalar, "base_url": scalar,
    "input_handling": scalar, "max_parallel": scalar, "rate_limit_per_minute": scalar})
config = st.fixed_dictionaries({}, optional={
    "version": scalar, "manifests": st.one_of(scalar, st.lists(scalar, max_size=2)),
    "state": st.one_of(scalar, st.fixed_dictionaries({}, optional={"path": scalar})),
    "defaults": st.one_of(scalar, st.dictionaries(st.sampled_from(["input_handling", "max_deletes", "x"]), scalar,
                                                  max_size=2)),
    "targets": st.one_of(scalar, st.dictionaries(st.sampled_from(["local", "bad name!", "cat"]), target, max_size=2))})


good_id = st.from_regex(r"\A[a-z_][a-z0-9_.:-]{0,8}\Z")
good_ref = st.sampled_from(["pg:d.s.t", "raw.orders", "x", "bigquery:`p.x`.d.t"])
good_process = st.fixed_dictionaries(
    {"id": good_id, "inputs": st.lists(good_ref, min_size=1, max_size=2),
     "outputs": st.lists(st.one_of(good_ref, st.builds(lambda r: {"ref": r, "alias": "a"}, good_ref)), min_size=1,
                         max_size=2)},
    optional={"name": st.text(min_size=1, max_size=5), "sql": st.text(max_size=5),
              "columns": st.lists(st.fixed_dictionaries({"from": st.one_of(good_ref, st.lists(good_ref, min_size=1)),
                                                         "to": good_ref}), max_size=2)})
good_manifest = st.fixed_dictionaries({"version": st.just(1), "processes": st.lists(good_process, max_size=3)},
                                      optional={"defaults": st.fixed_dictionaries({"platform": st.just("pg")})})


def _mutate(doc, choice, value):
    """Replace one value somewhere in ``doc`` (chosen by ``choice``) with ``value``."""
    spots = []

    def walk(node):
        if isinstance(node, dict):
            spots.extend((node, k) for k in node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            spots.extend((node, i) for i in range(len(node)))
            for v in node:
                walk(v)
    walk(doc)
    if spots:
        container, key = spots[choice % len(spots)]
        container[key] = value
    return doc


mutated_manifest = st.builds(_mutate, good_manifest, st.integers(0, 1000), scalar)


def test_the_gate_compiles_for_the_manifest_and_config_schemas():
    assert _gate("manifest") is not None and _gate("config") is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(good_manifest, mutated_manifest))
def test_gate_and_jsonschema_agree_on_near_valid_manifests(doc):
    assert is_valid(doc, "manifest") == Draft202012Validator(load_schema("manifest")).is_valid(doc)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifest)
def test_gate_and_jsonschema_agree_on_manifests(doc):
    assert is_valid(doc, "manifest") == Draft202012Validator(load_schema("manifest")).is_valid(doc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config)
def test_gate_and_jsonschema_agree_on_configs(doc):
    assert is_valid(doc, "config") == Draft202012Validator(load_schema("config")).is_valid(doc)


def test_every_shipped_schema_is_a_valid_2020_12_schema():
    """Schemas are not checked as they load (that would import jsonschema on every run): here instead."""
    from importlib import resources

    names = [p.name.removesuffix(".schema.json") for p in resources.files("lineage_as_code.schemas").iterdir()
             if p.name.endswith(".schema.json")]
    assert {"manifest", "config", "state", "lineage-row", "plan"} <= set(names)
    for name in names:
        Draft202012Validator.check_schema(load_schema(name))


CHOICES = [
    # (a oneOf, whether its branches exclude each other, instances to judge)
    ([{"type": "string"}, {"type": "object"}], True, ["x", {}, 1, None]),
    ([{"$ref": "#/$defs/text"}, {"type": "array"}], True, ["x", [], {}]),
    ([{"type": "number"}, {"type": "integer"}], False, [1, 1.5, "x"]),
    ([{"type": ["string", "null"]}, {"type": "null"}], False, [None, "x"]),
    ([{"required": ["a"]}, {"required": ["b"]}], False, [{"a": 1}, {"a": 1, "b": 2}, {}, "x"]),
    ([{"required": ["a"]}, {"not": {"required": ["a"]}}], True, [{"a": 1}, {}, "x"]),
    ([{"required": ["a"], "not": {"anyOf": [{"required": ["b"]}]}}, {"required": ["b"]}], True,
     [{"a": 1}, {"b": 1}, {"a": 1, "b": 1}, {}]),
    ([{"required": ["a"]}, {"not": {"required": ["a", "b"]}}], False, [{"a": 1}, {"a": 1, "b": 1}, {}]),
    ([{"minLength": 1}, {"maxLength": 3}], False, ["ab", "abcdef", ""]),
]


@pytest.mark.parametrize(("branches", "exclusive", "instances"), CHOICES)
def test_a_gate_judges_one_of_as_jsonschema_does(branches, exclusive, instances):
    """The gate turns a oneOf whose branches exclude each other into an anyOf (it stops at the branch that
    holds); one whose branches can both hold must stay a oneOf, or a value matching both would pass."""
    schema = {"$defs": {"text": {"type": "string"}}, "properties": {"v": {"oneOf": branches}}}
    gate = compile_gate(schema)
    reference = Draft202012Validator(schema)
    for instance in instances:
        try:
            gate({"v": instance})
            verdict = True
        except fastjsonschema.JsonSchemaException:
            verdict = False
        assert verdict == reference.is_valid({"v": instance}), instance
    rewritten = {"$defs": schema["$defs"], "properties": {"v": {"oneOf": branches}}}
    _exclusive_choices(rewritten, rewritten)
    assert ("anyOf" in rewritten["properties"]["v"]) == exclusive


REFERRING = {
    "$defs": {
        "tree": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"$ref": "#/$defs/name"}, "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}},
        "name": {"$ref": "#/$defs/text"},  # a definition that is itself a reference
        "text": {"type": "string", "minLength": 1},
        "marker": {"const": {"$ref": "#/$defs/text"}},  # data that looks like a reference, not a reference
        "loop": {"$ref": "#/$defs/back"}, "back": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/loop"}]},
    },
    "properties": {"root": {"$ref": "#/$defs/tree"}, "names": {"type": "array", "items": {"$ref": "#/$defs/name"}},
                   "marker": {"$ref": "#/$defs/marker"}, "loop": {"$ref": "#/$defs/loop"}},
}
REFERRED = [
    {"root": {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}},
    {"root": {"name": "a", "children": [{"name": "b", "children": [{"name": ""}]}]}},
    {"root": {"name": "a", "children": [{"children": [{"name": 1}]}]}},
    {"root": {"children": [{"other": 1}]}},
    {"names": ["a", "b"]}, {"names": ["a", ""]}, {"names": [1]},
    {"marker": {"$ref": "#/$defs/text"}}, {"marker": "x"}, {"marker": {"type": "string", "minLength": 1}},
    {"loop": 3},  # (a value the loop does not settle would recurse for ever, in either)
]


@pytest.mark.parametrize("instance", REFERRED)
def test_a_gate_follows_references_as_jsonschema_does(instance):
    """The gate checks what a reference names in place of the reference (recursive definitions stay
    references; a ``const`` that looks like one is data): the verdict is jsonschema's."""
    try:
        compile_gate(REFERRING)(instance)
        verdict = True
    except fastjsonschema.JsonSchemaException:
        verdict = False
    assert verdict == Draft202012Validator(REFERRING).is_valid(instance)

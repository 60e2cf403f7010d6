"""The plain-Python evaluator of mapping expressions: the same values and the same errors as jinja,
for every expression and input, and nothing the sandbox refuses."""

import hashlib
import json
import math
import random
from typing import Any

import pytest
from jinja2 import Environment, TemplateAssertionError
from markupsafe import Markup

from syncjobs.engine import plain_expressions
from syncjobs.engine.diff import _orjson_writes_as_json, entity_hash
from syncjobs.engine.mapping import CompiledMapping, MappingError, _as_expression, _env

# In the plain subset: each must compile to plain Python (else the comparisons below prove nothing).
SUBSET = [
    "{{ a }}",
    "text only",
    "{{ a }} {{ b }}",
    "x{{ a }}y",
    "{{ a ~ b ~ 1 }}",
    "{{ a | lower }}",
    "{{ a | upper }}",
    "{{ a | trim }}",
    "{{ a | trim | lower }}",
    "{{ a | lower | upper }}",
    "{{ (a ~ b) | upper | lower }}",
    "{{ [a | lower, b | upper] }}",
    "{{ a | title }}",
    "{{ a | capitalize }}",
    "{{ a | string }}",
    "{{ a | default('x') }}",
    "{{ a | default('x', true) }}",
    "{{ a | d('y', boolean=true) }}",
    "{{ a | replace('X', 'z') }}",
    "{{ a | replace('X', 'z', 1) }}",
    "{{ a | length }}",
    "{{ a | count }}",
    "{{ a | int }}",
    "{{ a | int(7) }}",
    "{{ a | int(base=16) }}",
    "{{ a | float }}",
    "{{ n | float | round(1) }}",
    "{{ n | int | abs }}",
    "{{ n | int + 1 }}",
    "{{ a + b }}",
    "{{ n | int - 1 }}",
    "{{ l | join(',') }}",
    "{{ l | join }}",
    "{{ l | list }}",
    "{{ a == 'X' }}",
    "{{ a != b }}",
    "{{ a in b }}",
    "{{ a not in ['X', 'y'] }}",
    "{{ a < b }}",
    "{{ a >= b }}",
    "{{ 1 < n | int <= 5 }}",
    "{{ a == b == 'y' }}",
    "{{ a and b }}",
    "{{ a or b }}",
    "{{ not a }}",
    "{{ a if b else 'no' }}",
    "{{ [a, b] }}",
    "{{ [{'value': a | lower, 'type': 'work', 'primary': true}] }}",
    "{{ {'k': a, b: 1} }}",
    "{{ {'k': 1, 'k': 2} }}",
    "{{ d.k }}",
    "{{ d.k.j }}",
    "{{ d['k'] }}",
    "{{ l[0] }}",
    "{{ missing }}",
    "{{ missing | default('m') }}",
    "{{ b if a else missing }}",
    "{{ range }}",
    "{{ dict }}",
    "{{ true }}",
    "{{ none }}",
    "{{ 1.5 }}",
    "{{ '0123' }}",
    "{{ 7 }}",
    "{{ '' }}",
]
# Outside it: jinja renders these as before (calls, attributes, tests, statements, context filters...).
OUTSIDE = [
    "{{ a.upper() }}",
    "{{ a.__class__ }}",
    "{{ a.__class__.__mro__[1].__subclasses__() }}",
    "{{ d.items }}",
    "{{ d.get('k') }}",
    "{{ a is defined }}",
    "{{ a if b }}",
    "{{ l | first }}",
    "{{ l | map('lower') | list }}",
    "{{ l[-1] }}",
    "{{ a * 3 }}",
    "{{ l[1:] }}",
    "{{ (a, b) }}",
    "{{ -n }}",
    "{{ self }}",
    "{{ range(3) | list }}",
    "{{ a | default(*l) }}",
    "{% if a %}yes{% endif %}",
    "{{ a | truncate(3) }}",
]


class _Text(str):
    """A str subclass: lower and upper go through jinja's filter for it, not the str method."""


INPUTS: list[dict[str, Any]] = [
    {"a": "X", "b": "y", "n": "3", "d": {"k": "v"}, "l": ["p", "q"]},
    {"a": "", "b": "", "n": "", "d": {}, "l": []},
    {"a": "0123", "b": "0123", "n": "x", "d": {"k": None}, "l": [1]},
    {"a": None, "b": 1, "n": 3, "d": "text", "l": "text"},
    {"a": ["X"], "b": {"X": 1}, "n": 1.5, "d": {"items": 1, "k": {"j": 2}}, "l": {"0": 1}},
    {"a": " Mixed Case ", "b": "Mixed", "n": "-2", "d": [1], "l": [None, "z"]},
    {"a": 1, "b": 0, "n": True, "d": {"k": ""}, "l": [[1], {"x": 1}]},
    {"a": "ff", "b": "Ω ü", "n": "1e3", "d": None, "l": ("t", "u")},
    {"a": math.nan, "b": math.nan, "n": "nan", "d": {1: 2}, "l": [math.inf]},
    {"a": "X", "range": "a column named range", "self": "x", "missing": "here"},
    {"a": Markup("<B>Ü</B>"), "b": _Text("Str Subclass"), "n": "İ", "l": ["ẞ"]},
    {},
    # past mapping_limits: a join of the two, a list of three, a join of the list, a dict holding one
    {"a": "x" * 40_000, "b": "y" * 30_000, "n": "3", "d": {"k": "w" * 70_000}, "l": ["z" * 20_000] * 4},
    {"a": "x" * 65_000, "b": "y" * 600, "n": "3", "d": {"k": "w"}, "l": [["v" * 30_000]] * 3},
]


def reference_hash(resource: dict[str, Any]) -> str:
    """entity_hash as it was before orjson (json.dumps)."""
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def jinja_only(mapping: dict[str, str], scope: str | None = None, required: tuple[str, ...] = ()) -> CompiledMapping:
    """The mapping as it was before the plain evaluator: everything rendered by jinja."""
    compiled = CompiledMapping(mapping, scope, required)
    compiled._plain = None
    compiled._scope_plain = None
    return compiled


def outcome(function: Any, attributes: dict[str, Any]) -> str:
    """What a call gives, to compare exactly: the repr of the value (types, order, nested), or the error."""
    try:
        return "value " + repr(function(attributes))
    except Exception as err:
        return f"error {type(err).__name__}: {err}"


def compiles_plain(source: str) -> bool:
    expression = _as_expression(_env.parse(source))
    return expression is not None and plain_expressions.compile_expression(_env, expression) is not None


@pytest.mark.parametrize("source", SUBSET)
def test_given_an_expression_in_the_subset_then_it_compiles_to_plain_python(source):
    assert compiles_plain(source)
    assert CompiledMapping({"x": source})._plain is not None


@pytest.mark.parametrize("source", OUTSIDE)
def test_given_an_expression_outside_the_subset_then_jinja_keeps_rendering_it(source):
    assert not compiles_plain(source)
    assert CompiledMapping({"x": source, "y": "{{ a }}"})._plain is None


@pytest.mark.parametrize("source", SUBSET + OUTSIDE)
def test_given_any_expression_and_input_when_applied_then_plain_and_jinja_agree(source):
    for path in ("x", "name.givenName", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"):
        mapping = {path: source, "userName": "{{ b }}"}
        plain, reference = CompiledMapping(mapping, required=("userName",)), jinja_only(mapping, required=("userName",))
        for attributes in INPUTS:
            assert outcome(plain.apply, attributes) == outcome(reference.apply, attributes), (path, attributes)


@pytest.mark.parametrize("source", SUBSET + OUTSIDE)
def test_given_any_scope_and_input_when_checked_then_plain_and_jinja_agree(source):
    plain, reference = CompiledMapping({"x": "{{ a }}"}, scope=source), jinja_only({"x": "{{ a }}"}, scope=source)
    for attributes in INPUTS:
        assert outcome(plain.in_scope, attributes) == outcome(reference.in_scope, attributes), attributes


def test_given_a_whole_mapping_when_applied_then_the_resource_and_its_key_order_are_jinja_s():
    mapping = {
        "userName": "{{ a | lower }}",
        "name.givenName": "{{ b }}",
        "displayName": "{{ a }} {{ b }}",
        "name.familyName": "{{ n }}",
        "active": "{{ a == 'X' }}",
        "emails": "{{ [{'value': a, 'type': 'work', 'primary': true}] }}",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "{{ d.k }}",
    }
    plain = CompiledMapping(mapping)
    assert plain._plain is not None
    for attributes in INPUTS:
        assert outcome(plain.apply, attributes) == outcome(jinja_only(mapping).apply, attributes), attributes


@pytest.mark.parametrize(
    "mapping",
    [
        {f"a{i}": "{{ a ~ a }}" for i in range(20)},  # each join within the value limit, all past the entity's
        {f"a{i}": "{{ (a + a) | length }}" for i in range(20)},  # the same, the values themselves small
        {"x": "{{ a }}", "y": "{{ a }}"},  # the resource past the value limit, each value within it
        {"x": "{{ a ~ a ~ a }}"},  # one join past the value limit
        {"x": "{{ [a, a] }}"},  # one value past it
        {"x": "{{ {'k': a, a: [a, 'v', 1], 'n': none} }}", "y": "{{ [[a], {'k': a ~ a}] }}"},  # sized from items
        {"x": "{{ [a] if a else [a ~ a] }}", "y": "{{ a + a if a else a }}"},
        {"x": "{{ a }}", "name.givenName": "{{ [a] | join(',') }}"},
    ],
)
def test_given_values_past_the_mapping_limits_when_applied_then_plain_and_jinja_agree(mapping):
    # Given a mapping in the subset, When its values or the joins and sums on the way pass the limits of
    # mapping_limits, Then the outcome is jinja's (the evaluator gives up where jinja would fail)
    plain = CompiledMapping(mapping)
    assert plain._plain is not None
    for size in (10, 20_000, 33_000, 60_000):
        attributes = {"a": "x" * size}
        assert outcome(plain.apply, attributes) == outcome(jinja_only(mapping).apply, attributes), (mapping, size)


def test_given_a_join_past_the_value_limit_when_applied_then_the_entity_fails_naming_the_limit():
    mapping = CompiledMapping({"userName": "{{ a }}", "displayName": "{{ a }} {{ a }}"})
    assert mapping._plain is not None
    with pytest.raises(MappingError, match="displayName: MappingLimit: '~' would make a value of 80,001"):
        mapping.apply({"a": "x" * 40_000})


def test_given_a_missing_column_when_applied_then_the_error_names_the_attribute_as_before():
    mapping = {"userName": "{{ a }}", "title": "{{ job_title }}"}
    assert outcome(CompiledMapping(mapping).apply, {"a": "x"}).startswith("error MappingError: title: UndefinedError")


def test_given_a_sandbox_escape_when_applied_then_jinja_refuses_it_as_before():
    source = "{{ a.__class__.__mro__[1].__subclasses__() }}"
    assert outcome(CompiledMapping({"x": source}).apply, {"a": "x"}).startswith("error MappingError: x: SecurityError")


# Random expressions from the subset's grammar, each part in parentheses so precedence is jinja's.
_NAMES = ["a", "b", "n", "d", "l", "missing"]
_CONSTANTS = ["'X'", "'0123'", "''", "1", "0", "true", "false", "none", "2.5", "'y'"]
_FILTERS = ["lower", "upper", "trim", "string", "length", "int", "float", "title", "default('z')", "d('w', true)"]


def _random_expression(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(12 if depth < 3 else 2)
    if kind == 0:
        return rng.choice(_NAMES)
    if kind == 1:
        return rng.choice(_CONSTANTS)
    sub = [_random_expression(rng, depth + 1) for _ in range(3)]
    return [
        f"({sub[0]} ~ {sub[1]})",
        f"({sub[0]} | {rng.choice(_FILTERS)})",
        f"({sub[0]} {rng.choice(['==', '!=', 'in', 'not in', '<'])} {sub[1]})",
        f"({sub[0]} {rng.choice(['and', 'or'])} {sub[1]})",
        f"(not {sub[0]})",
        f"[{sub[0]}, {sub[1]}]",
        f"{{'k': {sub[0]}, {sub[1]}: {sub[2]}}}",
        f"({sub[0]} if {sub[1]} else {sub[2]})",
        f"({sub[0]} + {sub[1]})",
        f"{rng.choice(['d', 'l'])}[{sub[0]}]",
    ][kind - 2]


def test_given_random_expressions_and_inputs_when_applied_then_plain_and_jinja_agree():
    rng = random.Random(13)
    plain_values = 0
    for _ in range(150):
        source = "{{ " + _random_expression(rng) + " }}"
        if rng.random() < 0.3:
            source = "pre " + source + " {{ " + _random_expression(rng) + " }}"
        mapping = {"x": source, "name.givenName": "{{ " + _random_expression(rng) + " }}"}
        plain, reference = CompiledMapping(mapping), jinja_only(mapping)
        assert plain._plain is not None, source
        for attributes in INPUTS:
            got = outcome(plain.apply, attributes)
            assert got == outcome(reference.apply, attributes), (mapping, attributes)
            plain_values += plain._apply_plain(attributes) is not None
    assert plain_values > 150  # the plain evaluator gave values, not only gave up


def test_given_any_mapping_and_input_when_the_evaluator_says_plain_json_then_it_is_and_hashes_as_json_does():
    # Given expressions of the subset (random, and each of SUBSET in a list and a dict), When a resource
    # comes with json_plain True, Then it holds only what orjson writes as json.dumps does, and its hash
    # is the json.dumps one
    rng = random.Random(7)
    expressions = [_random_expression(rng) for _ in range(100)]
    expressions += [s[3:-3] for s in SUBSET if s.startswith("{{ ") and s.endswith(" }}") and s.count("{{") == 1]
    said_plain = said_not = 0
    written = ["{{ %s }}", "{{ [%s, 'c', 2] }}", "{{ {'k': %s, 'n': none} }}", "{{ [%s, 1.5] if 0 else 1.5 }}"]
    for mapping in ({"x": form % expression, "y": "{{ a }}"} for expression in expressions for form in written):
        compiled = CompiledMapping(mapping)
        assert compiled._plain is not None, mapping
        for attributes in INPUTS:
            try:
                resource, json_plain = compiled.apply_json(attributes)
            except MappingError:
                continue
            if json_plain:
                said_plain += 1
                assert _orjson_writes_as_json(resource), (mapping, attributes)
                fast = outcome(lambda r: entity_hash(r, True), resource)
                assert fast == outcome(reference_hash, resource), (mapping, attributes)
            else:
                said_not += 1
    assert said_plain > 100  # both ways taken
    assert said_not > 100


def test_given_a_float_constant_in_a_written_out_list_then_the_resource_is_not_said_plain_json():
    resource, json_plain = CompiledMapping({"x": "{{ [a, 1.5] }}"}).apply_json({"a": "t"})
    assert resource == {"x": ["t", 1.5]}
    assert json_plain is False
    assert CompiledMapping({"x": "{{ [a, 1] }}", "y": "{{ a ~ 'b' }}"}).apply_json({"a": "t"})[1] is True
    assert CompiledMapping({"x": "{{ a }}"}).apply_json({"a": 1.5})[1] is False


def test_given_a_plain_mapping_then_jinja_compiles_it_only_for_an_entity_the_evaluator_gives_up_on():
    mapping = CompiledMapping({"x": "{{ a | lower }}"})
    assert mapping._templates is None
    assert mapping.apply({"a": "X"}) == {"x": "x"}
    assert mapping._templates is None
    with pytest.raises(MappingError, match=r"^x: UndefinedError"):
        mapping.apply({})
    assert mapping._templates is not None


def test_given_an_unknown_filter_when_compiled_then_it_fails_at_once_as_before():
    with pytest.raises(TemplateAssertionError, match="No filter named 'nosuch'"):
        CompiledMapping({"x": "{{ a | nosuch }}", "y": "{{ a }}"})


def test_given_lower_and_upper_filters_when_compiled_then_a_str_skips_the_filter_call_and_anything_else_takes_it():
    # Given an environment whose lower filter counts its calls (and is jinja's, so the evaluator trusts it)
    calls: list[Any] = []
    environment = Environment()
    expression = _as_expression(environment.parse("{{ a | lower }}"))
    assert expression is not None
    function = plain_expressions.compile_expression(environment, expression)
    assert function is not None
    # When given a str, an int and a Markup, Then each value is jinja's
    assert function({"a": "ÀB"}) == "àb"
    assert function({"a": 12}) == "12"
    assert function({"a": Markup("<B>")}) == Markup("<b>")
    assert type(function({"a": Markup("<B>")})) is Markup
    # And a lower filter that is not jinja's own is always called
    environment.filters["lower"] = lambda value: calls.append(value) or "replaced"
    replaced = plain_expressions.compile_expression(environment, expression)
    assert replaced is not None
    assert replaced({"a": "X"}) == "replaced"
    assert calls == ["X"]

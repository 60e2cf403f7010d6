"""Mapping: sandboxed jinja2 expressions with native types, dotted paths, errors per entity."""

import pytest

from syncjobs.engine.mapping import CompiledMapping, MappingError

ROW = {"email": " Ada.Lovelace@Example.com ", "first": "Ada", "last": "Lovelace", "status": "active", "n": "3"}


def test_given_dotted_paths_when_applied_then_nested_objects_are_built():
    mapping = CompiledMapping({"name.givenName": "{{ first }}", "name.familyName": "{{ last }}"})
    assert mapping.apply(ROW) == {"name": {"givenName": "Ada", "familyName": "Lovelace"}}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("{{ status == 'active' }}", True),
        ("{{ status == 'inactive' }}", False),
        (
            "{{ [{'value': email | trim | lower, 'primary': true}] }}",
            [{"value": "ada.lovelace@example.com", "primary": True}],
        ),
        ("{{ n | int + 1 }}", 4),
        ("{{ first }} {{ last }}", "Ada Lovelace"),
    ],
)
def test_given_an_expression_when_applied_then_the_value_keeps_its_native_type(expression, expected):
    assert CompiledMapping({"x": expression}).apply(ROW) == {"x": expected}


def test_given_an_empty_value_when_applied_then_the_attribute_is_left_unset():
    assert CompiledMapping({"title": "{{ title }}"}).apply({"title": ""}) == {}


def test_given_a_required_attribute_mapped_to_empty_then_the_entity_fails_naming_it():
    mapping = CompiledMapping({"userName": "{{ email }}"}, required=("userName",))
    with pytest.raises(MappingError, match="userName: is required"):
        mapping.apply({"email": ""})


def test_given_an_unknown_column_when_applied_then_the_error_names_the_attribute():
    with pytest.raises(MappingError, match=r"^title: UndefinedError"):
        CompiledMapping({"title": "{{ job_title }}"}).apply(ROW)


def test_given_an_unsafe_expression_when_applied_then_the_sandbox_refuses_it():
    mapping = CompiledMapping({"x": "{{ first.__class__.__mro__[1].__subclasses__() }}"})
    with pytest.raises(MappingError, match="SecurityError"):
        mapping.apply(ROW)


def test_given_a_syntax_error_when_compiled_then_the_attribute_is_named():
    with pytest.raises(MappingError, match=r"^displayName: invalid expression"):
        CompiledMapping({"displayName": "{{ first "})


@pytest.mark.parametrize(("status", "in_scope"), [("active", True), ("inactive", False)])
def test_given_a_scope_filter_then_it_decides_by_the_row(status, in_scope):
    mapping = CompiledMapping({"x": "{{ first }}"}, scope="{{ status == 'active' }}")
    assert mapping.in_scope({**ROW, "status": status}) is in_scope


def test_given_a_column_that_looks_like_a_number_then_it_stays_text():
    assert CompiledMapping({"externalId": "{{ id }}"}).apply({"id": "0123"}) == {"externalId": "0123"}


def test_given_a_template_with_statements_then_it_is_rendered_on_its_own():
    mapping = CompiledMapping({"title": "{% if t %}{{ t }}{% else %}none{% endif %}", "x": "{{ t }}"})
    assert mapping.apply({"t": "Boss"}) == {"title": "Boss", "x": "Boss"}
    assert mapping.apply({"t": ""}) == {"title": "none"}


def test_given_one_failing_attribute_then_the_fast_path_falls_back_and_names_it():
    mapping = CompiledMapping({"ok": "{{ a }}", "bad": "{{ a | int // 0 }}"})
    with pytest.raises(MappingError, match=r"^bad: ZeroDivisionError"):
        mapping.apply({"a": "1"})

"""Mapping: sandboxed jinja2 expressions with native types, dotted paths, errors per entity."""

import pytest

from syncjobs.engine.mapping import CompiledMapping, MappingError, path_problems, schemas_of, split_path

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


@pytest.mark.parametrize(("scope", "has_scope"), [(None, False), ("", False), ("{{ status == 'active' }}", True)])
def test_a_mapping_says_whether_it_has_a_scope_and_without_one_every_row_is_in_scope(scope, has_scope):
    mapping = CompiledMapping({"x": "{{ first }}"}, scope=scope)
    assert mapping.has_scope is has_scope
    if not has_scope:
        assert mapping.in_scope({**ROW, "status": "inactive"}) is True


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


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CUSTOM = "urn:acme:params:scim:schemas:extension:Acme:1.0:Employee"


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("userName", ("userName",)),
        ("name.givenName", ("name", "givenName")),
        (f"{ENTERPRISE}:department", (ENTERPRISE, "department")),
        (f"{ENTERPRISE}:manager.value", (ENTERPRISE, "manager", "value")),
        (f"{CUSTOM}:costCenter", (CUSTOM, "costCenter")),
        ("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName", ("name", "givenName")),
        ("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:title", ("title",)),
    ],
)
def test_given_a_target_path_then_a_urn_stays_one_key_and_the_attribute_splits_at_dots(path, keys):
    assert split_path(path) == keys


def test_given_extension_paths_when_applied_then_their_attributes_nest_under_the_extension_urn():
    # Given a mapping of core, enterprise and custom-schema attributes
    mapping = CompiledMapping(
        {
            "userName": "{{ email }}",
            f"{ENTERPRISE}:department": "{{ dept }}",
            f"{ENTERPRISE}:employeeNumber": "{{ n }}",
            f"{ENTERPRISE}:manager.value": "{{ boss }}",
            f"{CUSTOM}:costCenter": "{{ cc }}",
        }
    )
    # When a row is mapped
    resource = mapping.apply({"email": "a@x", "dept": "R&D", "n": "0042", "boss": "b-1", "cc": "77"})
    # Then each extension is one key holding its attributes, text kept as text
    assert resource == {
        "userName": "a@x",
        ENTERPRISE: {"department": "R&D", "employeeNumber": "0042", "manager": {"value": "b-1"}},
        CUSTOM: {"costCenter": "77"},
    }
    # And the resource's schemas are the core schema and each extension it carries
    assert schemas_of("urn:ietf:params:scim:schemas:core:2.0:User", resource) == [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        ENTERPRISE,
        CUSTOM,
    ]


def test_given_only_empty_extension_values_then_the_extension_and_its_schema_are_left_out():
    resource = CompiledMapping({"userName": "{{ e }}", f"{ENTERPRISE}:department": "{{ d }}"}).apply(
        {"e": "a", "d": ""}
    )
    assert resource == {"userName": "a"}
    assert schemas_of("urn:ietf:params:scim:schemas:core:2.0:User", resource) == [
        "urn:ietf:params:scim:schemas:core:2.0:User"
    ]


@pytest.mark.parametrize(
    ("paths", "problem"),
    [
        (
            ["name", "name.givenName"],
            "name and name.givenName: conflict, name sets the whole attribute and name.givenName a part of it",
        ),
        (
            ["name.givenName", "name"],
            "name and name.givenName: conflict, name sets the whole attribute and name.givenName a part of it",
        ),
        (["title", "Title"], "title and Title: both set the same attribute"),
        (
            [f"{ENTERPRISE}:department", f"{ENTERPRISE}:Department"],
            f"{ENTERPRISE}:department and {ENTERPRISE}:Department: both set the same attribute",
        ),
        (
            [f"{ENTERPRISE}:manager", f"{ENTERPRISE}:manager.value"],
            f"{ENTERPRISE}:manager and {ENTERPRISE}:manager.value: conflict",
        ),
        (
            ["name", "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName"],
            "name and urn:ietf:params:scim:schemas:core:2.0:User:name.familyName: conflict",
        ),
        (["name..givenName"], "name..givenName: is not an attribute path"),
        (["emails."], "emails.: is not an attribute path"),
        (["urn:acme"], "urn:acme: is not an attribute path"),
        ([f"{ENTERPRISE}:"], f"{ENTERPRISE}:: is not an attribute path"),
    ],
)
def test_given_paths_that_cannot_build_one_resource_then_the_problem_names_them(paths, problem):
    problems = path_problems(paths)
    assert len(problems) == 1
    assert problems[0].startswith(problem)


@pytest.mark.parametrize(
    "paths",
    [
        ["name.givenName", "name.familyName", "displayName"],
        [f"{ENTERPRISE}:department", f"{ENTERPRISE}:manager.value", f"{CUSTOM}:department", "department"],
        ["urn:ietf:params:scim:schemas:core:2.0:User:title", "name.givenName"],
    ],
)
def test_given_distinct_paths_then_there_is_no_problem(paths):
    assert path_problems(paths) == []

"""Validate runs: a mapped entity checked against the target's own SCIM schema."""

import pytest

from syncjobs.engine.schema_check import check, declared_extensions

SCHEMA = {
    "id": "urn:ietf:params:scim:schemas:core:2.0:User",
    "attributes": [
        {"name": "userName", "type": "string", "required": True, "mutability": "readWrite"},
        {"name": "active", "type": "boolean"},
        {"name": "name", "type": "complex", "subAttributes": [{"name": "givenName", "type": "string"}]},
        {
            "name": "emails",
            "type": "complex",
            "multiValued": True,
            "subAttributes": [{"name": "value", "type": "string"}, {"name": "primary", "type": "boolean"}],
        },
        {"name": "groups", "type": "complex", "multiValued": True, "mutability": "readOnly"},
        {"name": "x509Count", "type": "integer"},
    ],
}


def test_a_valid_entity_has_no_problems():
    user = {"userName": "a", "active": True, "name": {"givenName": "A"}, "emails": [{"value": "a@x", "primary": True}]}
    assert check(user, SCHEMA) == []


@pytest.mark.parametrize(
    ("entity", "problem"),
    [
        ({"userName": "a", "nickname": "x"}, "nickname: is not an attribute of the target's schema"),
        ({"userName": "a", "name": {"middle": "x"}}, "name.middle: is not an attribute of the target's schema"),
        ({"userName": "a", "active": "yes"}, "active: must be of SCIM type boolean, got str"),
        ({"userName": "a", "x509Count": True}, "x509Count: must be of SCIM type integer, got bool"),
        ({"userName": "a", "emails": {"value": "a@x"}}, "emails: must be a list"),
        ({"userName": "a", "emails": [{"value": 1}]}, "emails.value: must be of SCIM type string, got int"),
        ({"userName": "a", "groups": []}, "groups: is read-only in the target"),
        ({"active": True}, "userName: is required by the target's schema"),
    ],
)
def test_each_problem_names_the_attribute(entity, problem):
    assert problem in check(entity, SCHEMA)


def test_names_are_case_insensitive():
    assert check({"USERNAME": "a", "Active": False}, SCHEMA) == []


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ENTERPRISE_SCHEMA = {
    "id": ENTERPRISE,
    "attributes": [
        {"name": "employeeNumber", "type": "string"},
        {"name": "department", "type": "string"},
        {
            "name": "manager",
            "type": "complex",
            "subAttributes": [
                {"name": "value", "type": "string"},
                {"name": "displayName", "type": "string", "mutability": "readOnly"},
            ],
        },
    ],
}
CUSTOM = "urn:acme:params:scim:schemas:extension:Acme:1.0:Employee"
CUSTOM_SCHEMA = {"id": CUSTOM, "attributes": [{"name": "costCenter", "type": "string", "required": True}]}
EXTENSIONS = {ENTERPRISE.lower(): ENTERPRISE_SCHEMA, CUSTOM.lower(): CUSTOM_SCHEMA}


def test_declared_extension_attributes_have_no_problems():
    user = {"userName": "a", ENTERPRISE: {"department": "R&D", "employeeNumber": "7", "manager": {"value": "m"}}}
    assert check(user, SCHEMA, EXTENSIONS) == []


@pytest.mark.parametrize(
    ("entity", "problem"),
    [
        (
            {"userName": "a", ENTERPRISE: {"departement": "x"}},
            f"{ENTERPRISE}:departement: is not an attribute of the target's schema",
        ),
        (
            {"userName": "a", ENTERPRISE: {"employeeNumber": 7}},
            f"{ENTERPRISE}:employeeNumber: must be of SCIM type string, got int",
        ),
        (
            {"userName": "a", ENTERPRISE: {"manager": {"displayName": "M"}}},
            f"{ENTERPRISE}:manager.displayName: is read-only in the target",
        ),
        ({"userName": "a", ENTERPRISE: "R&D"}, f"{ENTERPRISE}: must be an object of the extension's attributes"),
        ({"userName": "a", CUSTOM: {}}, f"{CUSTOM}:costCenter: is required by the target's schema"),
    ],
)
def test_each_extension_problem_names_the_qualified_path(entity, problem):
    assert any(p.startswith(problem) for p in check(entity, SCHEMA, EXTENSIONS))


def test_an_extension_the_target_does_not_declare_fails_naming_each_path():
    # Given a target that declares only the enterprise extension
    user = {"userName": "a", CUSTOM: {"costCenter": "77", "region": "EU"}}
    # When a user carrying the custom extension is checked
    problems = check(user, SCHEMA, {ENTERPRISE.lower(): ENTERPRISE_SCHEMA})
    # Then each of its paths is named as undeclared
    assert problems == [
        f"{CUSTOM}:costCenter: the target does not declare the schema {CUSTOM} for this resource type",
        f"{CUSTOM}:region: the target does not declare the schema {CUSTOM} for this resource type",
    ]


def test_an_extension_the_target_requires_is_missing_when_not_carried():
    problems = check({"userName": "a"}, SCHEMA, EXTENSIONS, required_extensions={CUSTOM.lower()})
    assert problems == [f"{CUSTOM}: the target requires this schema extension"]


def test_extension_urns_are_case_insensitive():
    assert check({"userName": "a", ENTERPRISE.upper(): {"Department": "x"}}, SCHEMA, EXTENSIONS) == []


RESOURCE_TYPES = [
    {
        "id": "User",
        "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
        "schemaExtensions": [{"schema": ENTERPRISE, "required": False}, {"schema": CUSTOM, "required": True}],
    },
    {"id": "Group", "schema": "urn:ietf:params:scim:schemas:core:2.0:Group"},
]


@pytest.mark.parametrize(
    ("core", "extensions", "required"),
    [
        ("urn:ietf:params:scim:schemas:core:2.0:User", {ENTERPRISE.lower(), CUSTOM.lower()}, {CUSTOM.lower()}),
        ("urn:ietf:params:scim:schemas:core:2.0:Group", set(), set()),
    ],
)
def test_declared_extensions_are_those_of_the_resource_type(core, extensions, required):
    declared, requires = declared_extensions(core, RESOURCE_TYPES, [SCHEMA, ENTERPRISE_SCHEMA])
    assert set(declared) == extensions
    assert requires == required


def test_a_declared_extension_missing_from_schemas_accepts_no_attributes():
    declared, _ = declared_extensions("urn:ietf:params:scim:schemas:core:2.0:User", RESOURCE_TYPES, [ENTERPRISE_SCHEMA])
    problems = check({"userName": "a", CUSTOM: {"costCenter": "1"}}, SCHEMA, declared)
    assert problems == [f"{CUSTOM}:costCenter: is not an attribute of the target's schema"]


def test_declared_extensions_ignore_what_a_peer_sends_malformed():
    # Given a peer that sends null schemaExtensions, a non-object entry and a non-object resource type
    resource_types = [
        {"schema": SCHEMA["id"], "schemaExtensions": None},
        {"schema": SCHEMA["id"], "schemaExtensions": ["not an object", {"schema": ENTERPRISE, "required": False}]},
        "not a resource type",
    ]
    # When its extensions are read
    declared, requires = declared_extensions(SCHEMA["id"], resource_types, [SCHEMA, ENTERPRISE_SCHEMA, None])
    # Then the well-formed declaration counts and nothing raises
    assert set(declared) == {ENTERPRISE.lower()}
    assert requires == set()

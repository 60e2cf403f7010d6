"""Validate runs: a mapped entity checked against the target's own SCIM schema."""

import pytest

from syncjobs.engine.schema_check import check

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

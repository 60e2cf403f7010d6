"""The admin API's document describes what each operation sends: a typed success body, and the refusal
bodies the API really sends (not Powertools' own `{detail}`)."""

import json
from pathlib import Path

import pytest

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
OPERATIONS = [
    (f"{method.upper()} {path}", op) for path, item in DOCUMENT["paths"].items() for method, op in item.items()
]
REFUSALS = {"#/components/schemas/Refusal", "#/components/schemas/InvalidRequest"}


def refs(schema: dict) -> set[str]:
    """Every component a schema refers to, directly or through anyOf."""
    found = {schema["$ref"]} if "$ref" in schema else set()
    for option in schema.get("anyOf", []):
        found |= refs(option)
    return found


def test_the_document_lists_all_33_operations():
    assert len(OPERATIONS) == 33


@pytest.mark.parametrize(("operation", "spec"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_each_success_body_is_a_named_model(operation, spec):
    successes = {code: answer for code, answer in spec["responses"].items() if code.startswith(("2", "3"))}
    assert len(successes) == 1, f"{operation}: one success status, not {sorted(successes)}"
    (answer,) = successes.values()
    schema = answer["content"]["application/json"]["schema"]
    assert refs(schema), f"{operation}: its success body is an untyped {schema}"


@pytest.mark.parametrize(("operation", "spec"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_each_refusal_is_documented_with_the_body_sent(operation, spec):
    refusals = {code: answer for code, answer in spec["responses"].items() if code.startswith("4")}
    assert {"404", "422"} <= refusals.keys() or operation in {"GET /jobs", "GET /collections", "GET /approvals"}
    for code, answer in refusals.items():
        (schema_ref,) = refs(answer["content"]["application/json"]["schema"])
        assert schema_ref in REFUSALS, f"{operation} {code}: {schema_ref}"
        assert (schema_ref == "#/components/schemas/InvalidRequest") == (code in ("415", "422")), (operation, code)


def test_no_operation_refers_to_powertools_own_error_bodies():
    text = json.dumps(DOCUMENT)
    for name in ("HTTPValidationError", "ResponseValidationError"):
        assert name not in text

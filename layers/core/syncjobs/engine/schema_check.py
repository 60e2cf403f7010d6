"""Check a mapped entity against the target's SCIM schema (RFC 7643 section 7), for validate runs.

The schema is what the target itself publishes at /Schemas/{id}: unknown attributes, wrong types,
single values for multi-valued attributes (and the reverse), read-only attributes and missing
required ones are reported, naming the attribute. Names are case-insensitive, as in SCIM.
"""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "reference": (str,),
    "datetime": (str,),
    "binary": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "decimal": (int, float),
    "complex": (dict,),
}


def _by_name(attributes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["name"].lower(): a for a in attributes}


def _type_ok(value: Any, scim_type: str) -> bool:
    expected = _TYPES.get(scim_type.lower())
    if expected is None:
        return True
    if scim_type.lower() in {"integer", "decimal"} and isinstance(value, bool):
        return False
    return isinstance(value, expected)


def _check(value: Any, definition: dict[str, Any], path: str, problems: list[str]) -> None:
    if definition.get("mutability") == "readOnly":
        problems.append(f"{path}: is read-only in the target")
        return
    multi = bool(definition.get("multiValued"))
    if multi != isinstance(value, list):
        problems.append(f"{path}: must be {'a list' if multi else 'a single value'}")
        return
    for item in value if multi else [value]:
        if not _type_ok(item, definition.get("type", "string")):
            problems.append(f"{path}: must be of SCIM type {definition.get('type')}, got {type(item).__name__}")
            return
        if isinstance(item, dict) and definition.get("subAttributes"):
            _check_object(item, _by_name(definition["subAttributes"]), path, problems)


def _check_object(resource: dict[str, Any], known: dict[str, dict[str, Any]], prefix: str, problems: list[str]) -> None:
    for name, value in resource.items():
        path = f"{prefix}.{name}" if prefix else name
        definition = known.get(name.lower())
        if definition is None:
            problems.append(f"{path}: is not an attribute of the target's schema")
            continue
        _check(value, definition, path, problems)


def check(resource: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The problems of `resource` against `schema`; empty when the target would accept it."""
    problems: list[str] = []
    known = _by_name(schema.get("attributes", []))
    _check_object(
        {k: v for k, v in resource.items() if k not in {"schemas", "id", "externalId", "meta"}}, known, "", problems
    )
    present = {k.lower() for k in resource}
    for name, definition in known.items():
        if definition.get("required") and definition.get("mutability") != "readOnly" and name not in present:
            problems.append(f"{definition['name']}: is required by the target's schema")
    return problems

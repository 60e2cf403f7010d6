"""Check a mapped entity against the target's SCIM schema (RFC 7643 section 7), for validate runs.

The schema is what the target itself publishes at /Schemas/{id}: unknown attributes, wrong types,
single values for multi-valued attributes (and the reverse), read-only attributes and missing
required ones are reported, naming the attribute. Names are case-insensitive, as in SCIM.

A schema extension's attributes sit in the resource under the extension's URN; they are checked against
the extension's own schema when the target declares that extension for the resource type (its
/ResourceTypes entry's schemaExtensions, each schema from /Schemas), and are otherwise reported as
undeclared, each named by its URN-qualified path (`urn:...:User:department`).
"""

from __future__ import annotations

from typing import Any

from syncjobs.engine.mapping import is_schema_urn

_NOT_CHECKED = {"schemas", "id", "externalid", "meta"}  # common attributes (RFC 7643 section 3.1)

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
            _check_object(item, _by_name(definition["subAttributes"]), f"{path}.", problems)


def _check_object(resource: dict[str, Any], known: dict[str, dict[str, Any]], prefix: str, problems: list[str]) -> None:
    """`prefix`: what names an attribute's parent in a problem, with its separator ("name.", "urn:...:User:")."""
    for name, value in resource.items():
        path = prefix + name
        definition = known.get(name.lower())
        if definition is None:
            problems.append(f"{path}: is not an attribute of the target's schema")
            continue
        _check(value, definition, path, problems)


def _missing_required(
    resource: dict[str, Any], known: dict[str, dict[str, Any]], prefix: str, problems: list[str]
) -> None:
    present = {k.lower() for k in resource}
    for name, definition in known.items():
        if definition.get("required") and definition.get("mutability") != "readOnly" and name not in present:
            problems.append(f"{prefix}{definition['name']}: is required by the target's schema")


def _check_extension(urn: str, value: Any, extension: dict[str, Any] | None, problems: list[str]) -> None:
    if extension is None:
        names = [f"{urn}:{name}" for name in value] if isinstance(value, dict) and value else [urn]
        problems += [f"{path}: the target does not declare the schema {urn} for this resource type" for path in names]
        return
    if not isinstance(value, dict):
        problems.append(f"{urn}: must be an object of the extension's attributes, got {type(value).__name__}")
        return
    known = _by_name(extension.get("attributes", []))
    _check_object(value, known, f"{urn}:", problems)
    _missing_required(value, known, f"{urn}:", problems)


def declared_extensions(
    core_schema: str, resource_types: list[dict[str, Any]], schemas: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The schema extensions a target declares for the resource type whose core schema is `core_schema`,
    from its /ResourceTypes and /Schemas answers: {URN, lower-cased: its schema} and the URNs (lower-cased)
    it requires. An extension listed without a schema in /Schemas has no attributes to accept."""
    by_id = {str(schema.get("id", "")).lower(): schema for schema in schemas if isinstance(schema, dict)}
    extensions: dict[str, dict[str, Any]] = {}
    required: set[str] = set()
    for resource_type in resource_types:
        if not isinstance(resource_type, dict) or str(resource_type.get("schema", "")).lower() != core_schema.lower():
            continue
        for declared in resource_type.get("schemaExtensions") or []:  # a peer may send null
            if not isinstance(declared, dict):
                continue
            urn = str(declared.get("schema", "")).lower()
            extensions[urn] = by_id.get(urn, {"id": urn, "attributes": []})
            if declared.get("required"):
                required.add(urn)
    return extensions, required


def check(
    resource: dict[str, Any],
    schema: dict[str, Any],
    extensions: dict[str, dict[str, Any]] | None = None,
    required_extensions: frozenset[str] | set[str] = frozenset(),
) -> list[str]:
    """The problems of `resource` against `schema` and the target's `extensions` for its resource type
    ({URN, lower-cased: schema}, see declared_extensions); empty when the target would accept it."""
    extensions = extensions or {}
    problems: list[str] = []
    known = _by_name(schema.get("attributes", []))
    core = {k: v for k, v in resource.items() if k.lower() not in _NOT_CHECKED and not is_schema_urn(k)}
    _check_object(core, known, "", problems)
    _missing_required(resource, known, "", problems)
    carried = {k.lower() for k in resource if is_schema_urn(k)}
    for urn, value in resource.items():
        if is_schema_urn(urn):
            _check_extension(urn, value, extensions.get(urn.lower()), problems)
    for urn in sorted(required_extensions - carried):
        problems.append(f"{extensions.get(urn, {}).get('id', urn)}: the target requires this schema extension")
    return problems

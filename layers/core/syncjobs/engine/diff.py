"""Decide create, update or skip by comparing a hash of the mapped entity with the stored state.

The hash is of canonical JSON: json.dumps(sort_keys, no spaces, non-ASCII as is, str() of anything
else). Stored hashes hold the bytes it gives, so they must never change. orjson writes the same bytes
for str, int, bool, None, dicts and lists of them, five times faster; anything else (a float: orjson
writes 1e-05 as 0.00001 and NaN as null; an enum, a date, a str subclass, a non-str key, an int past
64 bits, a lone surrogate) goes the json way. orjson refuses the last few itself; floats and enums it
would write differently, so `_orjson_writes_as_json` looks for them first.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

import orjson

_SCALARS = frozenset({str, int, bool, type(None)})
# Everything orjson does not write as json.dumps would goes to `default`, which refuses it.
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    SKIP = "skip"


def _orjson_writes_as_json(value: Any) -> bool:
    """Whether value is made only of exact str, int, bool, None, dicts, lists and tuples (dict keys
    and big ints are orjson's to refuse). An entity is hashed per row and this walk was half of the
    hash: str (most values) is tested first, and the containers one level down are walked here rather
    than by a call each (most resources nest no deeper: name.givenName, emails[0])."""
    kind = type(value)
    if kind is dict:
        value = value.values()
    elif kind is not list and kind is not tuple:
        return kind in _SCALARS
    for item in value:
        kind = type(item)
        if kind is str:
            continue
        if kind is dict:
            inner = item.values()
        elif kind is list or kind is tuple:
            inner = item
        elif kind in _SCALARS:
            continue
        else:
            return False
        for nested in inner:
            if type(nested) is not str and not _orjson_writes_as_json(nested):
                return False
    return True


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def canonical_json(resource: dict[str, Any], json_plain: bool = False) -> bytes:
    """The bytes entity_hash digests (what json.dumps gives, UTF-8 encoded). `json_plain`: the caller
    knows the resource holds only exact str, int, bool, None, lists and dicts (the plain mapping evaluator
    saw each value as it made it), so orjson writes it without the walk that looks for anything else."""
    try:
        if json_plain or _orjson_writes_as_json(resource):
            return orjson.dumps(resource, default=_refuse, option=_ORJSON_OPTIONS)
    except (TypeError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        pass
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return canonical.encode()


_SHA256 = hashlib.sha256()  # copied per hash: cheaper than OpenSSL fetching the algorithm by name each time


def entity_hash(resource: dict[str, Any], json_plain: bool = False) -> str:
    digest = _SHA256.copy()
    if json_plain:  # canonical_json's first step, without a call per entity
        try:
            digest.update(orjson.dumps(resource, default=_refuse, option=_ORJSON_OPTIONS))
            return digest.hexdigest()[:32]
        except (TypeError, RecursionError):  # orjson.JSONEncodeError is a TypeError
            pass
    digest.update(canonical_json(resource))
    return digest.hexdigest()[:32]


# read once: in Python 3.11 reading a member off its enum class goes through EnumType.__getattr__'s hook
_CREATE, _UPDATE, _SKIP = Action.CREATE, Action.UPDATE, Action.SKIP


def decide(stored_hash: str | None, new_hash: str, always_write: bool) -> Action:
    if stored_hash is None:
        return _CREATE
    if always_write or stored_hash != new_hash:
        return _UPDATE
    return _SKIP

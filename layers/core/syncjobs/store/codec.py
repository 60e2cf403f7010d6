"""Python values <-> DynamoDB attribute values, with whole numbers back as int."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def _dynamo_ready(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_dynamo_ready(v) for v in value]
    return value


def dump(value: Any) -> dict[str, Any]:
    return cast(dict[str, Any], _serializer.serialize(_dynamo_ready(value)))


def dump_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: dump(v) for k, v in item.items() if v is not None}


def load_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}

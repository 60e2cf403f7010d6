"""The jobs table's gsi1: every job, collection and approval request, and the runs of each job and
collection, listed by one query shape."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.store import codec
from syncjobs.store.errors import translate


def gsi1_items(
    ddb: Any, table: str, key: str, what: str, limit: int | None = None, newest_first: bool = True
) -> list[dict[str, Any]]:
    """The items whose gsi1pk is `key`, in gsi1sk order (newest first by default), at most `limit`."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {
        "TableName": table,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": codec.dump(key)},
        "ScanIndexForward": not newest_first,
    }
    if limit is not None:
        query["Limit"] = limit
    try:
        for page in ddb.get_paginator("query").paginate(**query):
            items.extend(codec.load_item(item) for item in page["Items"])
            if limit is not None and len(items) >= limit:
                return items[:limit]
    except ClientError as err:
        raise translate(err, what) from err
    return items


@dataclass(frozen=True)
class Page:
    """One page of a listing and the token of the next one (None: that was the last page)."""

    items: list[dict[str, Any]]
    next_token: str | None


class BadToken(ValueError):
    """A paging token this listing did not hand out."""


def gsi1_page(
    ddb: Any,
    table: str,
    key: str,
    what: str,
    limit: int,
    *,
    sk_from: str | None = None,
    status: str | None = None,
    token: str | None = None,
) -> Page:
    """At most `limit` items whose gsi1pk is `key`, newest first, from gsi1sk `sk_from` on (the sort keys
    start with a creation time, so this is "created since"), only those whose `status` is `status`.
    DynamoDB applies Limit before the filter, so each query asks for what is still missing: a page stops
    exactly after its last item and the token resumes there."""
    condition = "gsi1pk = :pk" + (" AND gsi1sk >= :from" if sk_from else "")
    values: dict[str, Any] = {":pk": codec.dump(key)}
    if sk_from:
        values[":from"] = codec.dump(sk_from)
    query: dict[str, Any] = {
        "TableName": table,
        "IndexName": "gsi1",
        "KeyConditionExpression": condition,
        "ScanIndexForward": False,
    }
    if status is not None:
        query["FilterExpression"] = "#status = :status"
        query["ExpressionAttributeNames"] = {"#status": "status"}
        values[":status"] = codec.dump(status)
    query["ExpressionAttributeValues"] = values
    start = decode_token(token, key) if token else None
    items: list[dict[str, Any]] = []
    try:
        while True:
            page = ddb.query(**query, Limit=limit - len(items), **({"ExclusiveStartKey": start} if start else {}))
            items.extend(codec.load_item(item) for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if start is None or len(items) >= limit:
                break
    except ClientError as err:
        raise translate(err, what) from err
    return Page(items, encode_token(start) if start else None)


def encode_token(last_key: dict[str, Any]) -> str:
    """DynamoDB's LastEvaluatedKey as an opaque, URL-safe string."""
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode().rstrip("=")


def decode_token(token: str, key: str) -> dict[str, Any]:
    """The LastEvaluatedKey a token stands for; BadToken unless it was handed out by a listing of `key`."""
    try:
        start = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise BadToken("not a token this listing handed out") from None
    shape_ok = (
        isinstance(start, dict)
        and set(start) == {"pk", "sk", "gsi1pk", "gsi1sk"}
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in start.values())
    )
    if not shape_ok or start["gsi1pk"] != {"S": key}:
        raise BadToken("not a token this listing handed out")
    return dict(start)

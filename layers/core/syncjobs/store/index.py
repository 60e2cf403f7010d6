"""The jobs table's gsi1: every job, collection and approval request, and the runs of each job and
collection, listed by one query shape."""

from __future__ import annotations

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

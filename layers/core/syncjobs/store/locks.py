"""One active run per job or collection: the run item and the owner's lock, written in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.store import codec
from syncjobs.store.errors import translate

# A run that has not finished after this long no longer holds its owner's lock (a crashed run must
# not block the job or collection forever).
LOCK_LIFETIME = timedelta(hours=24)


class CreateResult(Enum):
    CREATED = "created"
    ALREADY_EXISTS = "already_exists"  # the same request was delivered before
    JOB_BUSY = "job_busy"  # another run of the job (or collection) is active


def create_locked(
    ddb: Any, table: str, item: dict[str, Any], owner_key: dict[str, Any], run_id: str, now: datetime
) -> CreateResult:
    """Put the run item unless it exists, and take the owner's lock unless another live run holds it."""
    try:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": codec.dump_item(item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": table,
                        "Key": owner_key,
                        "UpdateExpression": "SET active_run = :run, active_run_until = :until",
                        "ConditionExpression": (
                            "attribute_exists(pk) AND (attribute_not_exists(active_run) "
                            "OR active_run = :run OR active_run_until < :now)"
                        ),
                        "ExpressionAttributeValues": {
                            ":run": codec.dump(run_id),
                            ":until": codec.dump((now + LOCK_LIFETIME).isoformat()),
                            ":now": codec.dump(now.isoformat()),
                        },
                    }
                },
            ]
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "TransactionCanceledException":
            raise translate(err, f"creating run {run_id}") from err
        reasons = [r.get("Code", "None") for r in err.response.get("CancellationReasons", [])]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            return CreateResult.ALREADY_EXISTS
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            return CreateResult.JOB_BUSY
        raise translate(err, f"creating run {run_id}") from err
    return CreateResult.CREATED


def put_once(ddb: Any, table: str, item: dict[str, Any], what: str) -> bool:
    """Put an item unless one with its key exists; False if it did."""
    try:
        ddb.put_item(TableName=table, Item=codec.dump_item(item), ConditionExpression="attribute_not_exists(pk)")
    except ClientError as err:
        if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise translate(err, what) from err
    return True

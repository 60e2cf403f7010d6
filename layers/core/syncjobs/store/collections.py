"""Job collections and their runs, in the jobs table.

Layout:
  collection      pk=COLL#<id>   sk=COLL   definition, version, active_run / active_run_until (the lock)
                  gsi1pk=COLLECTIONS gsi1sk=<id>
  collection run  pk=CRUN#<id>   sk=CRUN   item_type=collection_run, the CollectionRun fields, `collection`
                  (the definition it runs); gsi1pk=COLL#<collection id> gsi1sk=<created_at>#<id>

A step's end is recorded with a condition on `current` (the step running), so a redelivered end
records nothing twice; the last step's end also releases the collection's lock, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.engine.collections import Advance
from syncjobs.models.collection import CollectionDefinition, CollectionRun
from syncjobs.models.run import RunStatus
from syncjobs.settings import get_settings
from syncjobs.store import codec
from syncjobs.store.clients import client
from syncjobs.store.errors import Conflict, NotFound, translate
from syncjobs.store.index import gsi1_items
from syncjobs.store.locks import CreateResult, create_locked, put_once

_ACTIVE_VALUES = {
    ":queued": codec.dump(RunStatus.QUEUED.value),
    ":running": codec.dump(RunStatus.RUNNING.value),
    ":stopping": codec.dump(RunStatus.STOPPING.value),
}
_ACTIVE = "#status IN (:queued, :running, :stopping)"


def collection_key(collection_id: str) -> dict[str, Any]:
    return codec.dump_item({"pk": f"COLL#{collection_id}", "sk": "COLL"})


def collection_run_key(collection_run_id: str) -> dict[str, Any]:
    return codec.dump_item({"pk": f"CRUN#{collection_run_id}", "sk": "CRUN"})


@dataclass(frozen=True)
class CollectionRecord:
    definition: CollectionDefinition
    version: int
    active_run: str | None
    last_status: str | None


@dataclass(frozen=True)
class CollectionRunRecord:
    run: CollectionRun
    definition: CollectionDefinition


class CollectionStore:
    def __init__(self) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().jobs_table

    # ------------------------------------------------------------------ definitions
    def put(self, definition: CollectionDefinition) -> int:
        now = datetime.now(UTC).isoformat()
        try:
            out = self._ddb.update_item(
                TableName=self._table,
                Key=collection_key(definition.collection_id),
                UpdateExpression=(
                    "SET #d = :d, item_type = :t, collection_id = :id, updated_at = :now, gsi1pk = :all, "
                    "gsi1sk = :id, created_at = if_not_exists(created_at, :now) ADD version :one"
                ),
                ExpressionAttributeNames={"#d": "definition"},
                ExpressionAttributeValues={
                    ":d": codec.dump(definition.to_document()),
                    ":t": codec.dump("collection"),
                    ":id": codec.dump(definition.collection_id),
                    ":now": codec.dump(now),
                    ":one": codec.dump(1),
                    ":all": codec.dump("COLLECTIONS"),
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as err:
            raise translate(err, f"saving collection {definition.collection_id}") from err
        return int(out["Attributes"]["version"]["N"])

    def get(self, collection_id: str) -> CollectionRecord:
        try:
            out = self._ddb.get_item(TableName=self._table, Key=collection_key(collection_id), ConsistentRead=True)
        except ClientError as err:
            raise translate(err, f"reading collection {collection_id}") from err
        if "Item" not in out:
            raise NotFound(f"collection {collection_id} does not exist")
        return _collection(codec.load_item(out["Item"]))

    def every(self) -> list[CollectionRecord]:
        return [_collection(item) for item in gsi1_items(self._ddb, self._table, "COLLECTIONS", "listing collections")]

    def delete(self, collection_id: str, now: datetime) -> None:
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=collection_key(collection_id),
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(active_run) OR active_run_until < :now)"
                ),
                ExpressionAttributeValues={":now": codec.dump(now.isoformat())},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                record = self.get(collection_id)  # NotFound if it never existed
                raise Conflict(f"collection {collection_id} has an active run {record.active_run}") from err
            raise translate(err, f"deleting collection {collection_id}") from err

    # ------------------------------------------------------------------ runs
    def _run_item(self, run: CollectionRun, definition: CollectionDefinition) -> dict[str, Any]:
        item = run.model_dump(mode="json")
        item.update(
            pk=f"CRUN#{run.collection_run_id}",
            sk="CRUN",
            item_type="collection_run",
            collection=definition.to_document(),
            gsi1pk=f"COLL#{run.collection_id}",
            gsi1sk=f"{run.created_at.isoformat()}#{run.collection_run_id}",
        )
        return item

    def create_run_locked(self, run: CollectionRun, definition: CollectionDefinition) -> CreateResult:
        item = self._run_item(run, definition)
        key = collection_key(run.collection_id)
        return create_locked(self._ddb, self._table, item, key, run.collection_run_id, run.created_at)

    def put_skipped_run(self, run: CollectionRun, definition: CollectionDefinition) -> bool:
        what = f"recording skipped collection run {run.collection_run_id}"
        return put_once(self._ddb, self._table, self._run_item(run, definition), what)

    def get_run(self, collection_run_id: str) -> CollectionRunRecord:
        try:
            out = self._ddb.get_item(
                TableName=self._table, Key=collection_run_key(collection_run_id), ConsistentRead=True
            )
        except ClientError as err:
            raise translate(err, f"reading collection run {collection_run_id}") from err
        if "Item" not in out:
            raise NotFound(f"collection run {collection_run_id} does not exist")
        item = codec.load_item(out["Item"])
        return CollectionRunRecord(
            CollectionRun.model_validate(item), CollectionDefinition.model_validate(item["collection"])
        )

    def list_runs(self, collection_id: str, limit: int = 50) -> list[CollectionRun]:
        what = f"listing runs of collection {collection_id}"
        items = gsi1_items(self._ddb, self._table, f"COLL#{collection_id}", what, limit)
        return [CollectionRun.model_validate(item) for item in items]

    def record_step(self, run: CollectionRun, index: int, advance: Advance) -> bool:
        """Record that step `index` ended and which step is next. False if it was recorded before."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=collection_run_key(run.collection_run_id),
                UpdateExpression="SET steps = :steps, #current = :next",
                ConditionExpression=f"#current = :index AND {_ACTIVE}",
                ExpressionAttributeNames={"#current": "current", "#status": "status"},
                ExpressionAttributeValues={
                    ":steps": codec.dump([s.model_dump(mode="json") for s in advance.steps]),
                    ":next": codec.dump(advance.current),
                    ":index": codec.dump(index),
                    **_ACTIVE_VALUES,
                },
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise translate(err, f"recording step {index + 1} of collection run {run.collection_run_id}") from err
        return True

    def finish(self, run: CollectionRun, index: int, advance: Advance, ended_at: datetime) -> bool:
        """Record the last step's end, the collection run's final status, and release the lock, at once.
        False if the run had already finished."""
        assert advance.final is not None
        values = {
            ":steps": codec.dump([s.model_dump(mode="json") for s in advance.steps]),
            ":next": codec.dump(advance.current),
            ":index": codec.dump(index),
            ":final": codec.dump(advance.final.value),
            ":t": codec.dump(ended_at.isoformat()),
            ":reason": codec.dump(advance.reason) if advance.reason else {"NULL": True},
            **_ACTIVE_VALUES,
        }
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": collection_run_key(run.collection_run_id),
                            "UpdateExpression": (
                                "SET steps = :steps, #current = :next, #status = :final, ended_at = :t, "
                                "reason = :reason"
                            ),
                            "ConditionExpression": f"#current = :index AND {_ACTIVE}",
                            "ExpressionAttributeNames": {"#current": "current", "#status": "status"},
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": collection_key(run.collection_id),
                            "UpdateExpression": "REMOVE active_run, active_run_until SET last_status = :final",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":final": values[":final"]},
                        }
                    },
                ]
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = [r.get("Code", "None") for r in err.response.get("CancellationReasons", [])]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False
            raise translate(err, f"finishing collection run {run.collection_run_id}") from err
        return True

    def request_stop(self, collection_run_id: str, requested_by: str, now: datetime) -> CollectionRun:
        """running -> stopping: the step running now is the last. Conflict if the run is already over."""
        try:
            out = self._ddb.update_item(
                TableName=self._table,
                Key=collection_run_key(collection_run_id),
                UpdateExpression="SET #status = :stopping, stop_requested_by = :who, stop_requested_at = :t",
                ConditionExpression=_ACTIVE,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":stopping": codec.dump(RunStatus.STOPPING.value),
                    ":who": codec.dump(requested_by),
                    ":t": codec.dump(now.isoformat()),
                    **_ACTIVE_VALUES,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                self.get_run(collection_run_id)  # NotFound for an unknown run
                raise Conflict(f"collection run {collection_run_id} is already over") from err
            raise translate(err, f"stopping collection run {collection_run_id}") from err
        return CollectionRun.model_validate(codec.load_item(out["Attributes"]))


def _collection(item: dict[str, Any]) -> CollectionRecord:
    return CollectionRecord(
        definition=CollectionDefinition.model_validate(item["definition"]),
        version=int(item.get("version", 1)),
        active_run=item.get("active_run"),
        last_status=item.get("last_status"),
    )

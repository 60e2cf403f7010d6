"""Entity state: per job and entity, the target's id and a hash of what was last written.

Layout: pk=<job_id>#<entity_type>  sk=<entity_id>   target_id, hash, updated_at
Index by_target: pk, target_id (keys only): which entity owns a target id, one small Query, not a
read of the job's whole state (an adoption asks it; a job may hold millions of entities).
Reads are BatchGetItem (100 keys a request); only changed entities are written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.models.state import EntityState
from syncjobs.settings import get_settings
from syncjobs.store.clients import client
from syncjobs.store.errors import TransientStoreError, translate

BY_TARGET = "by_target"


def _key(job_id: str, entity_type: str, entity_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"{job_id}#{entity_type}"}, "sk": {"S": entity_id}}


class EntityStateStore:
    def __init__(self) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().entity_state_table

    def get_many(self, job_id: str, entity_type: str, entity_ids: Iterable[str]) -> dict[str, EntityState]:
        found: dict[str, EntityState] = {}
        ids = list(dict.fromkeys(entity_ids))
        for offset in range(0, len(ids), 100):
            pending: dict[str, Any] = {
                self._table: {
                    "Keys": [_key(job_id, entity_type, i) for i in ids[offset : offset + 100]],
                    "ProjectionExpression": "sk, target_id, #h, run_id, outcome",
                    "ExpressionAttributeNames": {"#h": "hash"},
                }
            }
            for attempt in range(8):
                try:
                    out = self._ddb.batch_get_item(RequestItems=pending)
                except ClientError as err:
                    raise translate(err, f"reading entity state of job {job_id}") from err
                for item in out["Responses"].get(self._table, []):
                    found[item["sk"]["S"]] = EntityState(
                        item["sk"]["S"],
                        item["target_id"]["S"],
                        item["hash"]["S"],
                        item.get("run_id", {}).get("S", ""),
                        item.get("outcome", {}).get("S", ""),
                    )
                pending = out.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise TransientStoreError(f"reading entity state of job {job_id}: throttled")
        return found

    def provisioned(self, job_id: str, entity_type: str) -> dict[str, str]:
        """Every entity this job has in the target: entity id -> target id."""
        out: dict[str, str] = {}
        paginator = self._ddb.get_paginator("query")
        try:
            for page in paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{job_id}#{entity_type}"}},
                ProjectionExpression="sk, target_id",
            ):
                out.update((item["sk"]["S"], item["target_id"]["S"]) for item in page["Items"])
        except ClientError as err:
            raise translate(err, f"listing entity state of job {job_id}") from err
        return out

    def owner_of(self, job_id: str, entity_type: str, target_id: str) -> str | None:
        """The entity of this job whose state holds `target_id` (None: none does). The index is
        eventually consistent: an owner written in the last moments may not be seen yet."""
        try:
            out = self._ddb.query(
                TableName=self._table,
                IndexName=BY_TARGET,
                KeyConditionExpression="pk = :pk AND target_id = :t",
                ExpressionAttributeValues={":pk": {"S": f"{job_id}#{entity_type}"}, ":t": {"S": target_id}},
                Limit=1,
            )
        except ClientError as err:
            raise translate(err, f"looking up the owner of {target_id} in job {job_id}") from err
        items = out.get("Items") or []
        return str(items[0]["sk"]["S"]) if items else None

    def put_many(self, job_id: str, entity_type: str, states: Sequence[EntityState], now: str) -> None:
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        **_key(job_id, entity_type, s.entity_id),
                        "target_id": {"S": s.target_id},
                        "hash": {"S": s.hash},
                        "run_id": {"S": s.run_id},
                        "outcome": {"S": s.outcome},
                        "updated_at": {"S": now},
                    }
                }
            }
            for s in states
        ]
        self._write(job_id, requests)

    def delete_many(self, job_id: str, entity_type: str, entity_ids: Sequence[str]) -> None:
        self._write(job_id, [{"DeleteRequest": {"Key": _key(job_id, entity_type, i)}} for i in entity_ids])

    def _write(self, job_id: str, requests: list[dict[str, Any]]) -> None:
        for offset in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: requests[offset : offset + 25]}
            for attempt in range(8):
                try:
                    out = self._ddb.batch_write_item(RequestItems=pending)
                except ClientError as err:
                    raise translate(err, f"writing entity state of job {job_id}") from err
                pending = out.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise TransientStoreError(f"writing entity state of job {job_id}: throttled")

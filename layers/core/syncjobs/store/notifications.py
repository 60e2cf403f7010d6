"""Notification decisions per run, kind and recipient: the record that makes mail exactly-once.

Layout: pk=RUN#<run_id>  sk=NOTE#<kind>#<recipient>  item_type=notification
  state=claimed (a sender is working on it) | sent | suppressed, with reason, times, SES message id.

A sender claims the item with a conditional put before sending. A claim older than the lease is
taken over (its sender died before sending or before recording the send), so a mail is never lost;
one that is `sent` is never sent again, so a redelivered stream record sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.settings import get_settings
from syncjobs.store import codec
from syncjobs.store.clients import client
from syncjobs.store.errors import translate

CLAIM_LEASE = timedelta(minutes=5)


def _key(run_id: str, kind: str, recipient: str) -> dict[str, Any]:
    return codec.dump_item({"pk": f"RUN#{run_id}", "sk": f"NOTE#{kind}#{recipient.lower()}"})


@dataclass(frozen=True)
class NotificationRecord:
    kind: str
    recipient: str
    state: str
    reason: str
    at: str
    message_id: str | None = None


def _item(run_id: str, kind: str, recipient: str, state: str, reason: str, now: datetime) -> dict[str, Any]:
    return codec.dump_item(
        {
            **codec.load_item(_key(run_id, kind, recipient)),
            "item_type": "notification",
            "run_id": run_id,
            "kind": kind,
            "recipient": recipient,
            "state": state,
            "reason": reason,
            "at": now.isoformat(),
        }
    )


class NotificationStore:
    def __init__(self) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().jobs_table

    def claim(self, run_id: str, kind: str, recipient: str, reason: str, now: datetime) -> bool:
        """True if this caller may send the mail now; False if it was sent or is being sent."""
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=_item(run_id, kind, recipient, "claimed", reason, now),
                ConditionExpression="attribute_not_exists(pk) OR (#state = :claimed AND #at < :stale)",
                ExpressionAttributeNames={"#state": "state", "#at": "at"},
                ExpressionAttributeValues={
                    ":claimed": codec.dump("claimed"),
                    ":stale": codec.dump((now - CLAIM_LEASE).isoformat()),
                },
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise translate(err, f"claiming {kind} mail of run {run_id}") from err
        return True

    def mark_sent(self, run_id: str, kind: str, recipient: str, message_id: str, now: datetime) -> None:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_key(run_id, kind, recipient),
                UpdateExpression="SET #state = :sent, message_id = :mid, #at = :now",
                ExpressionAttributeNames={"#state": "state", "#at": "at"},
                ExpressionAttributeValues={
                    ":sent": codec.dump("sent"),
                    ":mid": codec.dump(message_id),
                    ":now": codec.dump(now.isoformat()),
                },
            )
        except ClientError as err:
            raise translate(err, f"recording {kind} mail of run {run_id}") from err

    def release(self, run_id: str, kind: str, recipient: str) -> None:
        """Give a claim back after a failed send, so the retry can take it at once."""
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=_key(run_id, kind, recipient),
                ConditionExpression="#state = :claimed",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":claimed": codec.dump("claimed")},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise translate(err, f"releasing {kind} mail of run {run_id}") from err

    def record_suppressed(self, run_id: str, kind: str, recipient: str, reason: str, now: datetime) -> None:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=_item(run_id, kind, recipient, "suppressed", reason, now),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise translate(err, f"recording suppressed {kind} mail of run {run_id}") from err

    def for_run(self, run_id: str) -> list[NotificationRecord]:
        try:
            out = self._ddb.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :note)",
                ExpressionAttributeValues={":pk": codec.dump(f"RUN#{run_id}"), ":note": codec.dump("NOTE#")},
            )
        except ClientError as err:
            raise translate(err, f"listing notifications of run {run_id}") from err
        records = []
        for raw in out["Items"]:
            item = codec.load_item(raw)
            records.append(
                NotificationRecord(
                    kind=item["kind"],
                    recipient=item["recipient"],
                    state=item["state"],
                    reason=item.get("reason", ""),
                    at=item["at"],
                    message_id=item.get("message_id"),
                )
            )
        return records

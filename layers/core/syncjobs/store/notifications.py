"""Notification decisions per run, kind and recipient: the record that makes mail exactly-once.

Layout: pk=RUN#<run_id>  sk=NOTE#<kind>#<recipient>  item_type=notification
  state=claimed (a sender is working on it) | sent | suppressed | held (by the daily cap), with
  reason, times, SES message id.
        pk=JOB#<job_id>  sk=CAP#<recipient>  item_type=mail_cap (max_one_mail_per_day)
  last_sent_at, last_key (the mail that took the day's slot), held (mail key -> what was held).

A sender claims the item with a conditional put before sending. A claim older than the lease is
taken over (its sender died before sending or before recording the send), so a mail is never lost;
one that is `sent` is never sent again, so a redelivered stream record sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.models.notification import HeldMail
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
        self._set_state(run_id, kind, recipient, now, state="sent", message_id=message_id)

    def mark_held(self, run_id: str, kind: str, recipient: str, reason: str, now: datetime) -> None:
        self._set_state(run_id, kind, recipient, now, state="held", reason=reason)

    def _set_state(self, run_id: str, kind: str, recipient: str, now: datetime, **fields: str) -> None:
        values = {**fields, "at": now.isoformat()}
        names = {f"#{name}": name for name in values}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_key(run_id, kind, recipient),
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={f":{name}": codec.dump(value) for name, value in values.items()},
            )
        except ClientError as err:
            raise translate(err, f"recording the {fields['state']} {kind} mail of run {run_id}") from err

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


def _cap_key(job_id: str, recipient: str) -> dict[str, Any]:
    return codec.dump_item({"pk": f"JOB#{job_id}", "sk": f"CAP#{recipient.lower()}"})


class MailCap:
    """One mail per recipient per job per 24 hours: the slot, and what was held while it was taken."""

    def __init__(self) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().jobs_table

    def last_sent(self, job_id: str, recipient: str) -> datetime | None:
        try:
            out = self._ddb.get_item(
                TableName=self._table,
                Key=_cap_key(job_id, recipient),
                ConsistentRead=True,
                ProjectionExpression="last_sent_at",
            )
        except ClientError as err:
            raise translate(err, f"reading the mail cap of job {job_id}") from err
        value = out.get("Item", {}).get("last_sent_at", {}).get("S")
        return datetime.fromisoformat(value) if value else None

    def take(
        self, job_id: str, recipient: str, mail_key: str, now: datetime, window: timedelta
    ) -> list[HeldMail] | None:
        """Take the day's slot for this mail (again, if this same mail took it and its send failed);
        returns what was held meanwhile, or None if another mail has the slot."""
        try:
            out = self._ddb.update_item(
                TableName=self._table,
                Key=_cap_key(job_id, recipient),
                UpdateExpression="SET last_sent_at = :now, last_key = :key, item_type = :type",
                ConditionExpression="attribute_not_exists(last_sent_at) OR last_sent_at <= :open OR last_key = :key",
                ExpressionAttributeValues={
                    ":now": codec.dump(now.isoformat()),
                    ":key": codec.dump(mail_key),
                    ":open": codec.dump((now - window).isoformat()),
                    ":type": codec.dump("mail_cap"),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise translate(err, f"taking the mail cap of job {job_id}") from err
        held = codec.load_item(out["Attributes"]).get("held", {})
        return sorted((HeldMail(key=k, **v) for k, v in held.items()), key=lambda h: h.at)

    def hold(self, job_id: str, recipient: str, mail: HeldMail) -> None:
        entry = {"run_id": mail.run_id, "kind": mail.kind, "status": mail.status, "at": mail.at}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_cap_key(job_id, recipient),
                UpdateExpression="SET held = if_not_exists(held, :empty)",
                ExpressionAttributeValues={":empty": codec.dump({})},
            )
            self._ddb.update_item(
                TableName=self._table,
                Key=_cap_key(job_id, recipient),
                UpdateExpression="SET held.#k = :entry",
                ExpressionAttributeNames={"#k": mail.key},
                ExpressionAttributeValues={":entry": codec.dump(entry)},
            )
        except ClientError as err:
            raise translate(err, f"holding a mail of job {job_id}") from err

    def forget(self, job_id: str, recipient: str, keys: list[str]) -> None:
        """Drop held mails a sent mail has listed."""
        if not keys:
            return
        names = {f"#k{i}": key for i, key in enumerate(keys)}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_cap_key(job_id, recipient),
                UpdateExpression="REMOVE " + ", ".join(f"held.{n}" for n in names),
                ExpressionAttributeNames=names,
            )
        except ClientError as err:
            raise translate(err, f"clearing held mails of job {job_id}") from err

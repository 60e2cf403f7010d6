"""Notification decisions per run, kind and recipient: the record that makes mail exactly-once.

Layout: pk=RUN#<run_id>  sk=NOTE#<kind>#<recipient>  item_type=notification
  state=claimed (a sender is working on it) | pending (its send failed; kept to be sent later) |
  sent | suppressed | held (by the daily cap) | given_up (unsendable for MAIL_KEPT_FOR), with
  reason, times, SES message id, subject (run, collection_run, approval: what the mail is about),
  pending_since (first claim), attempts, last_error.
  While a mail is claimed or pending: gsi1pk=MAIL#PENDING gsi1sk=<pending_since>#<run>#<kind>#<recipient>,
  the list the scheduled retry (workflows/notify_retry.py) works through, oldest first.
        pk=JOB#<job_id>  sk=CAP#<recipient>  item_type=mail_cap (max_one_mail_per_day)
  last_sent_at, last_key (the mail that took the day's slot), held (mail key -> what was held).

A sender claims the item before sending: a conditional put when it is new, else a conditional
update that accepts a pending mail or a claim older than the lease (its sender died before sending
or before recording the send), so a mail is never lost; one that is `sent` is never sent again, so
a redelivered stream record and the scheduled retry cannot both send it. A failed send turns the
claim into `pending`, still listed: when the stream's retries are spent, the scheduled retry sends it.
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
from syncjobs.store.index import gsi1_items

CLAIM_LEASE = timedelta(minutes=5)
PENDING_MAIL = "MAIL#PENDING"


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


@dataclass(frozen=True)
class PendingMail:
    """A mail claimed or kept after a failed send, not yet sent."""

    subject_id: str  # the run, collection run or approval request it is about
    subject: str  # run | collection_run | approval
    kind: str
    recipient: str
    reason: str
    state: str  # claimed | pending
    at: datetime  # last claim or failure
    pending_since: datetime  # first claim
    attempts: int = 0
    last_error: str = ""


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

    def claim(self, run_id: str, kind: str, recipient: str, reason: str, now: datetime, subject: str = "run") -> bool:
        """True if this caller may send the mail now (it is new, pending, or its claim is stale);
        False if it was sent, suppressed, held, given up or is being sent."""
        # A new mail is put whole (a reader never sees half of it); a kept one is taken back in place.
        item = {
            **codec.load_item(_item(run_id, kind, recipient, "claimed", reason, now)),
            "subject": subject,
            "pending_since": now.isoformat(),
            "gsi1pk": PENDING_MAIL,
            "gsi1sk": f"{now.isoformat()}#{run_id}#{kind}#{recipient.lower()}",
        }
        try:
            self._ddb.put_item(
                TableName=self._table, Item=codec.dump_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
            return True
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise translate(err, f"claiming {kind} mail of run {run_id}") from err
        # still on the pending list until it is sent
        return self._take_over(_key(run_id, kind, recipient), "claimed", now, f"claiming {kind} mail of run {run_id}")

    def mark_sent(self, run_id: str, kind: str, recipient: str, message_id: str, now: datetime) -> None:
        self._set_state(run_id, kind, recipient, now, state="sent", message_id=message_id)

    def mark_held(self, run_id: str, kind: str, recipient: str, reason: str, now: datetime) -> None:
        self._set_state(run_id, kind, recipient, now, state="held", reason=reason)

    def _set_state(self, run_id: str, kind: str, recipient: str, now: datetime, **fields: str) -> None:
        """A state that is not sent later (sent, held): off the pending list."""
        values = {**fields, "at": now.isoformat()}
        names = {f"#{name}": name for name in values}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_key(run_id, kind, recipient),
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values) + " REMOVE gsi1pk, gsi1sk",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={f":{name}": codec.dump(value) for name, value in values.items()},
            )
        except ClientError as err:
            raise translate(err, f"recording the {fields['state']} {kind} mail of run {run_id}") from err

    def keep(self, run_id: str, kind: str, recipient: str, error: str, now: datetime) -> None:
        """After a failed send: the claim becomes `pending`, so the stream's retry, or when those are
        spent the scheduled retry, can take it at once."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=_key(run_id, kind, recipient),
                UpdateExpression="SET #state = :pending, #at = :now, last_error = :error ADD attempts :one",
                ConditionExpression="#state = :claimed",
                ExpressionAttributeNames={"#state": "state", "#at": "at"},
                ExpressionAttributeValues={
                    ":pending": codec.dump("pending"),
                    ":claimed": codec.dump("claimed"),
                    ":now": codec.dump(now.isoformat()),
                    ":error": codec.dump(error[:1000]),
                    ":one": codec.dump(1),
                },
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise translate(err, f"keeping {kind} mail of run {run_id}") from err

    def give_up(self, mail: PendingMail, now: datetime) -> bool:
        """Stop trying a mail (it stays recorded as given_up); False if it was claimed meanwhile."""
        key = _key(mail.subject_id, mail.kind, mail.recipient)
        what = f"giving up {mail.kind} mail of {mail.subject_id}"
        return self._take_over(key, "given_up", now, what, " REMOVE gsi1pk, gsi1sk")

    def _take_over(self, key: dict[str, Any], state: str, now: datetime, what: str, also: str = "") -> bool:
        """Move a pending mail, or one whose claim is stale, to `state`; False if it is neither."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #state = :state, #at = :now" + also,
                ConditionExpression="#state = :pending OR (#state = :claimed AND #at < :stale)",
                ExpressionAttributeNames={"#state": "state", "#at": "at"},
                ExpressionAttributeValues={
                    ":state": codec.dump(state),
                    ":pending": codec.dump("pending"),
                    ":claimed": codec.dump("claimed"),
                    ":now": codec.dump(now.isoformat()),
                    ":stale": codec.dump((now - CLAIM_LEASE).isoformat()),
                },
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise translate(err, what) from err
        return True

    def pending(self) -> list[PendingMail]:
        """Every mail claimed or kept and not yet sent, oldest first."""
        items = gsi1_items(self._ddb, self._table, PENDING_MAIL, "listing pending mails", newest_first=False)
        return [
            PendingMail(
                subject_id=item["run_id"],
                subject=item.get("subject", "run"),
                kind=item["kind"],
                recipient=item["recipient"],
                reason=item.get("reason", ""),
                state=item["state"],
                at=datetime.fromisoformat(item["at"]),
                pending_since=datetime.fromisoformat(item["pending_since"]),
                attempts=int(item.get("attempts", 0)),
                last_error=item.get("last_error", ""),
            )
            for item in items
        ]

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

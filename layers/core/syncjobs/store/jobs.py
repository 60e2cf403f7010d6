"""Jobs and their subscriptions in the jobs table.

Layout (single table):
  job           pk=JOB#<job_id>  sk=JOB             definition, version, active_run lock, failure streak
                gsi1pk=JOBS gsi1sk=<job_id>         (every job, by id)
  subscription  pk=JOB#<job_id>  sk=SUB#<email>
  run request   pk=JOB#<job_id>  sk=REQ#<idempotency key>  run_id, expires_at (TTL, a day)
  pace          pk=JOB#<job_id>  sk=PACE            the job's write pace (store/pace.py)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.models.job import JobDefinition, Subscription
from syncjobs.models.quarantine import Quarantine
from syncjobs.settings import get_settings
from syncjobs.store import codec
from syncjobs.store.clients import client
from syncjobs.store.errors import Conflict, NotFound, translate
from syncjobs.store.index import gsi1_items


def job_key(job_id: str) -> dict[str, Any]:
    return codec.dump_item({"pk": f"JOB#{job_id}", "sk": "JOB"})


class JobRecord:
    """A stored job: its definition plus the bookkeeping the engine keeps on it."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.definition = JobDefinition.model_validate(item["definition"])
        self.version: int = item.get("version", 1)
        self.active_run: str | None = item.get("active_run")
        self.failure_streak: int = item.get("failure_streak", 0)
        self.last_status: str | None = item.get("last_status")
        # per entity type: the newest modified time the last successful read saw (delta reads)
        self.watermarks: dict[str, str] = dict(item.get("watermarks") or {})
        self.delta_reads_since_full: int = item.get("delta_reads_since_full", 0)
        self.trace_once: list[str] = sorted(item.get("trace_once", []))  # outcomes traced with content, next run
        self.outright_streak: int = item.get("outright_streak", 0)  # runs in a row that failed outright
        self.quarantine = Quarantine.model_validate(item["quarantine"]) if item.get("quarantine") else None


class JobStore:
    def __init__(self) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().jobs_table

    def put(self, definition: JobDefinition) -> int:
        """Create or replace a job's definition; returns the new version number."""
        now = datetime.now(UTC).isoformat()
        try:
            out = self._ddb.update_item(
                TableName=self._table,
                Key=job_key(definition.job_id),
                UpdateExpression=(
                    "SET #d = :d, item_type = :t, job_id = :id, updated_at = :now, gsi1pk = :jobs, gsi1sk = :id, "
                    "created_at = if_not_exists(created_at, :now) ADD version :one"
                ),
                ExpressionAttributeNames={"#d": "definition"},
                ExpressionAttributeValues={
                    ":d": codec.dump(definition.to_document()),
                    ":t": codec.dump("job"),
                    ":id": codec.dump(definition.job_id),
                    ":now": codec.dump(now),
                    ":one": codec.dump(1),
                    ":jobs": codec.dump("JOBS"),
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as err:
            raise translate(err, f"saving job {definition.job_id}") from err
        return int(out["Attributes"]["version"]["N"])

    def get(self, job_id: str) -> JobRecord:
        try:
            out = self._ddb.get_item(TableName=self._table, Key=job_key(job_id), ConsistentRead=True)
        except ClientError as err:
            raise translate(err, f"reading job {job_id}") from err
        if "Item" not in out:
            raise NotFound(f"job {job_id} does not exist")
        return JobRecord(codec.load_item(out["Item"]))

    def every_job(self) -> list[JobRecord]:
        items = gsi1_items(self._ddb, self._table, "JOBS", "listing jobs", newest_first=False)
        return [JobRecord(item) for item in items]

    def locked_runs(self) -> list[tuple[str, str]]:
        """(job id, run id) of every job holding its run lock: the runs the stall sweep looks at."""
        return [(r.definition.job_id, r.active_run) for r in self.every_job() if r.active_run]

    def delete(self, job_id: str) -> None:
        """Delete the job and its subscriptions, unless a run of it is active. Its runs, logs and
        entity state stay (the history; a job applied again under the same id carries on)."""
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=job_key(job_id),
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(active_run) OR active_run_until < :now)"
                ),
                ExpressionAttributeValues={":now": codec.dump(datetime.now(UTC).isoformat())},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                record = self.get(job_id)  # NotFound if it never existed
                raise Conflict(f"job {job_id} has an active run {record.active_run}; stop it first") from err
            raise translate(err, f"deleting job {job_id}") from err
        for subscription in self.subscriptions(job_id):
            self.unsubscribe(job_id, str(subscription.email))

    def remember_request(self, job_id: str, key: str, requested_at: str, now: datetime, owner: str = "JOB") -> str:
        """Record when an API request with this idempotency key first asked for a run; returns that
        time (an earlier request's, if there was one): the same time names the same run.
        `owner`: JOB, or COLL for a collection's run."""
        item = {
            "pk": f"{owner}#{job_id}",
            "sk": f"REQ#{key}",
            "item_type": "run_request",
            "requested_at": requested_at,
            "expires_at": int(now.timestamp()) + 86400,
        }
        try:
            self._ddb.put_item(
                TableName=self._table, Item=codec.dump_item(item), ConditionExpression="attribute_not_exists(pk)"
            )
            return requested_at
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise translate(err, f"recording a run request of job {job_id}") from err
        try:
            out = self._ddb.get_item(
                TableName=self._table, Key=codec.dump_item({"pk": item["pk"], "sk": item["sk"]}), ConsistentRead=True
            )
        except ClientError as err:
            raise translate(err, f"reading a run request of job {job_id}") from err
        return str(codec.load_item(out["Item"])["requested_at"])

    def trace_next_run(self, job_id: str, outcomes: list[str]) -> None:
        """Trace these outcomes with content in the job's next run only (SAP's one-shot *.content)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression="SET trace_once = :outcomes",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":outcomes": codec.dump(set(outcomes))},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"job {job_id} does not exist") from err
            raise translate(err, f"setting one-shot tracing of job {job_id}") from err

    def restart(self, job_id: str, restarted_by: str, now: datetime) -> JobRecord:
        """Entra's restart: clear the quarantine, the outright-failure streak and the delta watermarks
        (the next run reads everything). Returns the job as it is now."""
        try:
            out = self._ddb.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression=(
                    "REMOVE quarantine, watermarks, delta_reads_since_full "
                    "SET outright_streak = :zero, restarted_by = :who, restarted_at = :now"
                ),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={
                    ":zero": codec.dump(0),
                    ":who": codec.dump(restarted_by),
                    ":now": codec.dump(now.isoformat()),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"job {job_id} does not exist") from err
            raise translate(err, f"restarting job {job_id}") from err
        return JobRecord(codec.load_item(out["Attributes"]))

    def consume_trace_once(self, job_id: str, outcomes: list[str]) -> None:
        """Clear the one-shot tracing a run has taken, unless an admin asked again meanwhile."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=job_key(job_id),
                UpdateExpression="REMOVE trace_once",
                ConditionExpression="trace_once = :outcomes",
                ExpressionAttributeValues={":outcomes": codec.dump(set(outcomes))},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise translate(err, f"clearing one-shot tracing of job {job_id}") from err

    def subscribe(self, subscription: Subscription) -> None:
        job_id, email = subscription.job_id, str(subscription.email)
        self.get(job_id)  # NotFound for an unknown job
        item = {
            "pk": f"JOB#{job_id}",
            "sk": f"SUB#{email.lower()}",
            "item_type": "subscription",
            "job_id": job_id,
            "email": email,
            "trigger": subscription.trigger.value,
            "created_at": datetime.now(UTC).isoformat(),
        }
        try:
            self._ddb.put_item(TableName=self._table, Item=codec.dump_item(item))
        except ClientError as err:
            raise translate(err, f"subscribing {email} to job {job_id}") from err

    def unsubscribe(self, job_id: str, email: str) -> None:
        try:
            self._ddb.delete_item(
                TableName=self._table, Key=codec.dump_item({"pk": f"JOB#{job_id}", "sk": f"SUB#{email.lower()}"})
            )
        except ClientError as err:
            raise translate(err, f"unsubscribing {email} from job {job_id}") from err

    def subscriptions(self, job_id: str) -> list[Subscription]:
        found: list[Subscription] = []
        paginator = self._ddb.get_paginator("query")
        try:
            for page in paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :sub)",
                ExpressionAttributeValues={":pk": codec.dump(f"JOB#{job_id}"), ":sub": codec.dump("SUB#")},
                ProjectionExpression="email, #trigger",
                ExpressionAttributeNames={"#trigger": "trigger"},
            ):
                for raw in page["Items"]:
                    item = codec.load_item(raw)
                    found.append(
                        Subscription(job_id=job_id, email=item["email"], trigger=item.get("trigger", "default"))
                    )
        except ClientError as err:
            raise translate(err, f"listing subscribers of job {job_id}") from err
        return found

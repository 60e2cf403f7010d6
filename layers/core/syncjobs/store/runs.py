"""Runs, their shard bookkeeping and the job's run lock, in the jobs table.

Layout:
  run   pk=RUN#<run_id>  sk=RUN   item_type=run, the Run fields, `job` (the definition it ran),
                                   shards_done (shards counted whole), counts,
                                   deletes_done (delete batches counted whole, see workflows/delete_batch),
                                   queued_phases (string set: entity types whose shards are queued),
                                   progress_at (set on create, start and every counted part: the
                                   sweep ends a run whose progress_at stays put, see engine/stall.py)
        gsi1pk=JOB#<job_id> gsi1sk=<created_at>#<run_id>   (runs of a job, newest last)
  part  pk=RUN#<run_id>  sk=PART#<part>    item_type=part, attempt (whose outcome logs count), final
  resend pk=RUN#<run_id> sk=RESEND#<part>  n: how often a continuation's message was sent again
  job   pk=JOB#<job_id>  sk=JOB   active_run / active_run_until: the lock that keeps one run per job

A part's completion is one transaction: it puts the part's item (only if it does not exist yet) and
adds the part's counts to the run (only while the run is active). A redelivered or re-run shard
therefore cannot count twice. The run item stays the same size however many shards and
continuation parts a run has: no invocation reads or writes more of it as the job grows, and the
stream carries small images.

Runs counted before part items existed kept their parts in the run item (done_parts, done_shards,
parts); those are still read, so a run that was in flight across an upgrade ends as it would have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.engine.quarantine import AfterRun
from syncjobs.models.job import JobDefinition
from syncjobs.models.run import (
    ACTIVE_STATUSES,
    Counts,
    FailureSample,
    Phase,
    ReadMode,
    Run,
    RunStatus,
    RunType,
    part_name,
)
from syncjobs.settings import get_settings
from syncjobs.store import codec
from syncjobs.store.clients import client
from syncjobs.store.errors import Conflict, NotFound, translate
from syncjobs.store.index import gsi1_items, gsi1_page
from syncjobs.store.jobs import job_key
from syncjobs.store.locks import CreateResult, create_locked, put_once


def run_key(run_id: str) -> dict[str, Any]:
    return codec.dump_item({"pk": f"RUN#{run_id}", "sk": "RUN"})


PART_PREFIX = "PART#"


RESEND_PREFIX = "RESEND#"


def _child(run_id: str, prefix: str, part: str) -> dict[str, Any]:
    """The key of an item beside the run (a counted part, a resend claim), as plain values."""
    return {"pk": f"RUN#{run_id}", "sk": f"{prefix}{part}"}


def _part_key(run_id: str, part: str) -> dict[str, Any]:
    return codec.dump_item(_child(run_id, PART_PREFIX, part))


@dataclass(frozen=True)
class RunRecord:
    run: Run
    job: JobDefinition
    delete_plan: str | None = None  # S3 key of the delete plan finalize claimed
    queued_phases: frozenset[str] = frozenset()  # entity types whose shards were queued
    progress_at: str | None = None  # as stored: what the sweep's end is conditional on
    # runs counted before part items existed: their parts, in the run item
    legacy_parts: dict[str, str] = field(default_factory=dict)  # part -> attempt whose outcome parts count
    legacy_done: frozenset[str] = frozenset()  # shards and parts counted


def _record(item: dict[str, Any]) -> RunRecord:
    return RunRecord(
        run=Run.model_validate(item),
        job=JobDefinition.model_validate(item["job"]),
        delete_plan=item.get("delete_plan"),
        queued_phases=frozenset(item.get("queued_phases", ())),
        progress_at=item.get("progress_at"),
        legacy_parts=dict(item.get("parts", {})),
        legacy_done=frozenset(item.get("done_parts", ())) | frozenset(item.get("done_shards", ())),
    )


@dataclass(frozen=True)
class Closing:
    """How a run ends: what finalize hands to `RunStore.finish`."""

    status: RunStatus
    log_keys: dict[str, str]
    failures: list[FailureSample]
    ended_at: datetime
    streak_before: int  # the job's failed runs in a row before this one
    reason: str | None = None
    added_counts: Counts = field(default_factory=dict)  # outcomes finalize itself produced (deletes)
    watermarks: dict[str, str] = field(default_factory=dict)  # per entity type: newest modified time read
    deletes_held: int = 0
    deletes_note: str | None = None
    quarantine: AfterRun | None = None  # the job's quarantine bookkeeping after this run
    quarantined_before: bool = False
    # the sweep ends a stalled run only if it has not moved since it looked: progress_at as read
    # (None: no guard; "" : the run had no progress_at)
    unmoved_since: str | None = None


MAX_RESENDS = 3  # per continuation part (see RunStore.claim_resend)

_ACTIVE_VALUES = {f":a{i}": codec.dump(s.value) for i, s in enumerate(sorted(ACTIVE_STATUSES))}
_ACTIVE_CONDITION = f"#status IN ({', '.join(_ACTIVE_VALUES)})"


def _count_increments(counts: Counts) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """SET clauses adding `counts` to the run's counts map, with their attribute names and values."""
    sets: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for i, (entity_type, per_outcome) in enumerate(sorted(counts.items())):
        for outcome, n in sorted(per_outcome.items()):
            if n:
                names[f"#e{i}"], names[f"#o_{outcome}"] = entity_type, outcome
                values[f":n{i}_{outcome}"] = codec.dump(n)
                sets.append(f"counts.#e{i}.#o_{outcome} = counts.#e{i}.#o_{outcome} + :n{i}_{outcome}")
    return sets, names, values


class RunStore:
    def __init__(self) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().jobs_table

    # ------------------------------------------------------------------ create
    def _run_item(self, run: Run, job: JobDefinition) -> dict[str, Any]:
        item = run.model_dump(mode="json")
        item.update(
            pk=f"RUN#{run.run_id}",
            sk="RUN",
            item_type="run",
            job=job.to_document(),
            gsi1pk=f"JOB#{run.job_id}",
            gsi1sk=f"{run.created_at.isoformat()}#{run.run_id}",
            progress_at=(run.progress_at or run.created_at).isoformat(),
        )
        return item

    def create_locked(self, run: Run, job: JobDefinition) -> CreateResult:
        """Write the run and take the job's lock in one transaction."""
        item = self._run_item(run, job)
        return create_locked(self._ddb, self._table, item, job_key(run.job_id), run.run_id, run.created_at)

    def put_skipped(self, run: Run, job: JobDefinition) -> bool:
        """Record a run that was not started (e.g. the job was busy). False if already recorded."""
        return put_once(self._ddb, self._table, self._run_item(run, job), f"recording skipped run {run.run_id}")

    # ------------------------------------------------------------------ read
    def get(self, run_id: str) -> RunRecord:
        try:
            out = self._ddb.get_item(TableName=self._table, Key=run_key(run_id), ConsistentRead=True)
        except ClientError as err:
            raise translate(err, f"reading run {run_id}") from err
        if "Item" not in out:
            raise NotFound(f"run {run_id} does not exist")
        return _record(codec.load_item(out["Item"]))

    def list_for_job(self, job_id: str, limit: int = 50) -> list[Run]:
        items = gsi1_items(self._ddb, self._table, f"JOB#{job_id}", f"listing runs of job {job_id}", limit)
        return [Run.model_validate(item) for item in items]

    def page_for_job(
        self,
        job_id: str,
        limit: int,
        since: datetime | None = None,
        status: str | None = None,
        token: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """A page of the job's runs, newest first, created at or after `since`, in `status` only; and the
        token of the next page (index.BadToken for a token another listing handed out)."""
        page = gsi1_page(
            self._ddb,
            self._table,
            f"JOB#{job_id}",
            f"listing runs of job {job_id}",
            limit,
            sk_from=since.isoformat() if since else None,  # UTC, as created_at is written
            status=status,
            token=token,
        )
        return [Run.model_validate(item) for item in page.items], page.next_token

    # ------------------------------------------------------------------ progress
    def mark_running(
        self, run_id: str, phases: list[Phase], read_mode: ReadMode, delta_since: dict[str, str], started_at: datetime
    ) -> None:
        """queued -> running with the planned shards. Harmless when already running; a run
        stopped while it was being planned keeps `stopping` but learns its shards."""
        plan = {
            ":n": codec.dump(sum(phase.count for phase in phases)),
            ":phases": codec.dump([phase.model_dump(mode="json") for phase in phases]),
            ":mode": codec.dump(read_mode.value),
            ":since": codec.dump(delta_since),
            ":t": codec.dump(started_at.isoformat()),
        }
        planned = (
            "shards_total = :n, phases = :phases, read_mode = :mode, delta_since = :since, started_at = :t, "
            "progress_at = :t"
        )
        attempts = (
            (
                f"SET #status = :running, {planned}",
                "#status = :queued",
                {":running": codec.dump(RunStatus.RUNNING.value), ":queued": codec.dump(RunStatus.QUEUED.value)},
            ),
            (
                f"SET {planned}",
                "#status = :stopping AND attribute_not_exists(shards_total)",
                {":stopping": codec.dump(RunStatus.STOPPING.value)},
            ),
        )
        for update, condition, values in attempts:
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=run_key(run_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={**plan, **values},
                )
                return
            except ClientError as err:
                if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise translate(err, f"starting run {run_id}") from err

    def mark_phase_queued(self, run_id: str, entity_type: str) -> None:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=run_key(run_id),
                UpdateExpression="ADD queued_phases :p",
                ExpressionAttributeValues={":p": codec.dump({entity_type})},
            )
        except ClientError as err:
            raise translate(err, f"recording the queued {entity_type} shards of run {run_id}") from err

    def claim_delete_plan(self, run_id: str, key: str) -> str:
        """Make `key` the run's delete plan unless another finalizer's plan came first; returns the one
        that counts. A plan computed later could miss deletes an earlier finalizer already made."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=run_key(run_id),
                UpdateExpression="SET delete_plan = :key",
                ConditionExpression="attribute_not_exists(delete_plan)",
                ExpressionAttributeValues={":key": codec.dump(key)},
            )
            return key
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise translate(err, f"recording the delete plan of run {run_id}") from err
        winner = self._ddb.get_item(
            TableName=self._table, Key=run_key(run_id), ConsistentRead=True, ProjectionExpression="delete_plan"
        )
        return str(winner["Item"]["delete_plan"]["S"])

    def claim_resend(self, run_id: str, part: str, most: int = MAX_RESENDS) -> bool:
        """May a continuation part's message be sent again? At most `most` times per part: a copy of a
        counted part resends its continuation in case the counting worker died before sending it, and
        unbounded resends would multiply along a chain of parts (each copy of part k spawning a copy of
        part k+1). False once the resends are used up. (A resend for a run that is over is harmless:
        run_shard drops it.)"""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=codec.dump_item(_child(run_id, RESEND_PREFIX, part)),
                UpdateExpression="SET item_type = :type ADD n :one",
                ConditionExpression="attribute_not_exists(n) OR n < :most",
                ExpressionAttributeValues={
                    ":one": codec.dump(1),
                    ":most": codec.dump(most),
                    ":type": codec.dump("resend"),
                },
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise translate(err, f"claiming a resend of part {part} of run {run_id}") from err
        return True

    # ------------------------------------------------------------------ parts
    def attempt_of(self, record: RunRecord, part: str) -> str | None:
        """The attempt whose outcome logs count for a counted part; None while it is not counted."""
        if part in record.legacy_parts:
            return record.legacy_parts[part]
        try:
            out = self._ddb.get_item(TableName=self._table, Key=_part_key(record.run.run_id, part), ConsistentRead=True)
        except ClientError as err:
            raise translate(err, f"reading part {part} of run {record.run.run_id}") from err
        if "Item" not in out:
            return None
        return str(codec.load_item(out["Item"])["attempt"])

    def is_counted(self, record: RunRecord, part: str) -> bool:
        return part in record.legacy_done or self.attempt_of(record, part) is not None

    def counted_parts(self, record: RunRecord) -> dict[str, str]:
        """Every counted part of the run -> the attempt whose outcome logs count."""
        run_id = record.run.run_id
        parts = dict(record.legacy_parts)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": codec.dump(f"RUN#{run_id}"), ":prefix": codec.dump(PART_PREFIX)},
            "ConsistentRead": True,
        }
        try:
            for page in self._ddb.get_paginator("query").paginate(**request):
                for raw in page.get("Items", []):
                    item = codec.load_item(raw)
                    parts[str(item["sk"])[len(PART_PREFIX) :]] = str(item["attempt"])
        except ClientError as err:
            raise translate(err, f"listing the counted parts of run {run_id}") from err
        return parts

    def request_stop(self, run_id: str, requested_by: str, now: datetime) -> RunRecord:
        """queued/running -> stopping. Raises Conflict if the run is already over."""
        try:
            out = self._ddb.update_item(
                TableName=self._table,
                Key=run_key(run_id),
                UpdateExpression="SET #status = :stopping, stop_requested_by = :who, stop_requested_at = :t",
                ConditionExpression="#status IN (:queued, :running, :stopping)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":stopping": codec.dump(RunStatus.STOPPING.value),
                    ":queued": codec.dump(RunStatus.QUEUED.value),
                    ":running": codec.dump(RunStatus.RUNNING.value),
                    ":who": codec.dump(requested_by),
                    ":t": codec.dump(now.isoformat()),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Conflict(f"run {run_id} is already over") from err
            raise translate(err, f"stopping run {run_id}") from err
        return _record(codec.load_item(out["Attributes"]))

    def note_allowed_deletes(self, run_id: str, applied: int, note: str) -> None:
        """A finished run whose held deletes an admin allowed: how many were applied, and the outcome.
        Its counts stay what the run itself did (the held deletes were counted as failed then)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=run_key(run_id),
                UpdateExpression="SET deletes_allowed = :n, deletes_note = :note",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":n": codec.dump(applied), ":note": codec.dump(note)},
            )
        except ClientError as err:
            raise translate(err, f"recording the allowed deletes of run {run_id}") from err

    def status(self, run_id: str) -> RunStatus:
        try:
            out = self._ddb.get_item(
                TableName=self._table,
                Key=run_key(run_id),
                ConsistentRead=True,
                ProjectionExpression="#status",
                ExpressionAttributeNames={"#status": "status"},
            )
        except ClientError as err:
            raise translate(err, f"reading run {run_id}") from err
        if "Item" not in out:
            raise NotFound(f"run {run_id} does not exist")
        return RunStatus(out["Item"]["status"]["S"])

    def complete_shard(
        self,
        run_id: str,
        shard_id: str,
        attempt: str,
        counts: Counts,
        failed_at: datetime | None,
        part_number: int = 0,
        final: bool = True,
        now: datetime | None = None,
        deletes: bool = False,
    ) -> RunRecord:
        """Add a shard's (or a continuation part's) counts to its run exactly once; returns the run
        afterwards. `final`: this part ends the shard (no continuation follows), so the shard is done.
        `deletes`: the part is of a delete batch, counted whole in deletes_done (not shards_done).

        Raises Conflict when the part was already counted or the run is no longer active.
        """
        part = part_name(shard_id, part_number)
        at = (now or datetime.now(UTC)).isoformat()
        names = {"#status": "status"}
        values: dict[str, Any] = {":part": codec.dump(part), ":progress": codec.dump(at), **_ACTIVE_VALUES}
        increments, count_names, count_values = _count_increments(counts)
        names.update(count_names)
        values.update(count_values)
        sets = ["progress_at = :progress", *increments]
        if failed_at is not None:
            values[":failed_at"] = codec.dump(failed_at.isoformat())
            sets.append("first_failure_at = if_not_exists(first_failure_at, :failed_at)")
        update = f"SET {', '.join(sets)}"
        if final:
            values[":one"] = codec.dump(1)
            update += f" ADD {'deletes_done' if deletes else 'shards_done'} :one"
        part_item = {**_child(run_id, PART_PREFIX, part), "item_type": "part"}
        part_item.update(attempt=attempt, final=final, counted_at=at)
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": codec.dump_item(part_item),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": run_key(run_id),
                            "UpdateExpression": update,
                            # done_parts, done_shards: a run counted before part items existed
                            "ConditionExpression": (
                                f"{_ACTIVE_CONDITION} AND NOT contains(done_parts, :part) "
                                "AND NOT contains(done_shards, :part)"
                            ),
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "TransactionCanceledException":
                raise Conflict(f"part {part} of run {run_id} is already counted or the run is over") from err
            raise translate(err, f"completing part {part} of run {run_id}") from err
        return self.get(run_id)

    def finish(self, record: RunRecord, closing: Closing) -> bool:
        """Set the final status, update the job's failure streak and release its lock, all at once.

        False when the run was already finished (a second finalizer, a redelivered message).
        """
        try:
            self._ddb.transact_write_items(TransactItems=self._finish_items(record, closing, release_lock=True))
        except ClientError as err:
            if err.response["Error"]["Code"] != "TransactionCanceledException":
                raise translate(err, f"finishing run {record.run.run_id}") from err
            reasons = [r.get("Code", "None") for r in err.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            # The lock is no longer ours (it outlived LOCK_LIFETIME and another run took it):
            # finish without touching it.
            try:
                self._ddb.transact_write_items(TransactItems=self._finish_items(record, closing, release_lock=False))
            except ClientError as err2:
                if err2.response["Error"]["Code"] == "TransactionCanceledException":
                    return False
                raise translate(err2, f"finishing run {record.run.run_id}") from err2
        return True

    def _finish_items(self, record: RunRecord, closing: Closing, release_lock: bool) -> list[dict[str, Any]]:
        status, streak_before = closing.status, closing.streak_before
        sets, added_names, added_values = _count_increments(closing.added_counts)
        added = "".join(f", {s}" for s in sets)
        run = record.run
        failed = status in {RunStatus.FAILED, RunStatus.FINISHED_WITH_ERRORS, RunStatus.STOPPED}
        streak_after = streak_before + 1 if failed else 0
        job_update = "SET last_status = :status, last_run = :run, failure_streak = :streak"
        job_values: dict[str, Any] = {}
        if status is RunStatus.SUCCEEDED and closing.watermarks:
            job_update += ", watermarks = :wm"  # finalize merged them with the job's earlier ones
            job_values[":wm"] = codec.dump(closing.watermarks)
        if run.read_mode is ReadMode.DELTA:
            job_update += ", delta_reads_since_full = if_not_exists(delta_reads_since_full, :zero) + :one"
            job_values.update({":zero": codec.dump(0), ":one": codec.dump(1)})
        elif status is RunStatus.SUCCEEDED and run.run_type is RunType.READ and run.read_mode is ReadMode.FULL:
            job_update += ", delta_reads_since_full = :zero"
            job_values[":zero"] = codec.dump(0)
        removes: list[str] = []
        run_sets = ""
        run_values: dict[str, Any] = {":qb": codec.dump(closing.quarantined_before)}
        if (q := closing.quarantine) is not None:
            job_update += ", outright_streak = :os"
            job_values[":os"] = codec.dump(q.streak)
            if q.quarantine is None:
                removes.append("quarantine")
            else:
                job_update += ", quarantine = :q"
                job_values[":q"] = codec.dump(q.quarantine.model_dump(mode="json"))
            if q.notice and q.quarantine is not None:
                run_sets = ", quarantine_notice = :qn"
                run_values[":qn"] = codec.dump(q.quarantine.model_dump(mode="json"))
        run_condition = _ACTIVE_CONDITION
        if closing.unmoved_since == "":
            run_condition += " AND attribute_not_exists(progress_at)"
        elif closing.unmoved_since is not None:
            run_condition += " AND progress_at = :unmoved"
            run_values[":unmoved"] = codec.dump(closing.unmoved_since)
        job_condition = "attribute_exists(pk)"
        if release_lock:
            removes[:0] = ["active_run", "active_run_until"]
            job_condition = "attribute_not_exists(active_run) OR active_run = :run"
        if removes:
            job_update = f"REMOVE {', '.join(removes)} " + job_update
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": run_key(run.run_id),
                    "UpdateExpression": (
                        "SET #status = :status, ended_at = :t, log_keys = :logs, failures = :failures, "
                        "reason = :reason, failure_streak_before = :before, deletes_held = :held, "
                        "deletes_note = :note, quarantined_before = :qb" + run_sets + added
                    ),
                    "ConditionExpression": run_condition,
                    "ExpressionAttributeNames": {"#status": "status", **added_names},
                    "ExpressionAttributeValues": {
                        ":status": codec.dump(status.value),
                        ":t": codec.dump(closing.ended_at.isoformat()),
                        ":logs": codec.dump(closing.log_keys),
                        ":failures": codec.dump([f.model_dump() for f in closing.failures]),
                        ":reason": codec.dump(closing.reason) if closing.reason else {"NULL": True},
                        ":before": codec.dump(streak_before),
                        ":held": codec.dump(closing.deletes_held),
                        ":note": codec.dump(closing.deletes_note) if closing.deletes_note else {"NULL": True},
                        **run_values,
                        **added_values,
                        **_ACTIVE_VALUES,
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": job_key(run.job_id),
                    "UpdateExpression": job_update,
                    "ConditionExpression": job_condition,
                    "ExpressionAttributeValues": {
                        ":status": codec.dump(status.value),
                        ":run": codec.dump(run.run_id),
                        ":streak": codec.dump(streak_after),
                        **job_values,
                    },
                }
            },
        ]

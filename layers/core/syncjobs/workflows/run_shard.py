"""run_shard: process one shard of a run, exactly once in its effect on counts and logs.

The shard's outcome parts go to S3 under a fresh attempt id, entity state is written for what
changed, and only then is the shard counted, by one conditional update that also records which
attempt's parts count. A worker that dies before that update leaves nothing counted; the redelivered
message reprocesses the shard (a target entity it had created is found by its key and adopted).

An invocation never runs past its time: when the budget runs out (a slow target, a Retry-After longer
than the time left), the shard counts the part it finished and hands the rest of its range on as a
continuation message (delayed by the Retry-After), counted once under its own part id. The manifest
of the counted part names the continuation, so a redelivered copy of the part can send it again if
the worker died between counting and sending.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime

from syncjobs.connectors.base import Source
from syncjobs.connectors.registry import source_for
from syncjobs.deadline import Budget, recording_times
from syncjobs.engine import failed_of, schema_check
from syncjobs.engine.delta import DeltaFilter
from syncjobs.engine.shard import ShardResult, compile_mapping, process_shard
from syncjobs.models.job import JobDefinition
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import Run, RunStatus, RunType, ShardMessage
from syncjobs.observability import logger
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.objects import LogObjects
from syncjobs.store.pace import PaceStore
from syncjobs.store.runs import RunRecord, RunStore
from syncjobs.workflows.finalize import OUT_OF_SCOPE, SEEN
from syncjobs.workflows.pacing import DEFAULT_WRITERS, SHARD_WRITERS, WriteSlots, paced_target
from syncjobs.workflows.parts import (
    advance_after,
    count_part,
    part_worker,
    requeue_undone,
    send_part,
    write_part,
)


@part_worker
def run_shard(message: ShardMessage, record: RunRecord, budget: Budget) -> str:
    """Returns what happened: "counted", "continued" (the rest was handed on), "requeued" (nothing
    done yet: the message is back on the queue), "duplicate" (already counted) or "run_over".
    `budget`: the invocation's time (see `part_worker`)."""
    run, job, shard = record.run, record.job, message.shard

    entity_type = shard.entity_type.value
    result = ShardResult(entity_type)
    delta = DeltaFilter(run.delta_since.get(entity_type))
    continuation: ShardMessage | None = None
    recording_started = time.monotonic()
    if run.status is not RunStatus.STOPPING:
        slots = _write_slots(run, job)
        writers = DEFAULT_WRITERS if slots is None else slots.claim(min(SHARD_WRITERS, slots.most), budget)
        if writers == 0:  # the job's writers are all busy in other shards: this part waits its turn
            return requeue_undone(message, 0.0)
        source = source_for(job, shard.entity_type, budget)
        try:
            result = _process(run, job, message, source, delta, budget, writers)
            if result.cut and not result.stopped and result.last_row is None:
                return requeue_undone(message, result.resume_after_s)
            recording_started = time.monotonic()  # the work is over: what follows is the reserve's
            keep_state(run, job, entity_type, result)
            if result.cut and not result.stopped:
                continuation = _continuation(message, source, result)
        finally:
            source.close()
            if slots is not None:
                slots.release()

    attempt = write_shard_part(message, job, result, delta.watermark, continuation)

    after = count_part(
        message,
        budget,
        shard.shard_id,
        attempt,
        result.counts(),
        result.first_failed_at,
        final=continuation is None,
    )
    if after is None:
        return "duplicate"
    logger.info(
        "shard done" if continuation is None else "shard part done, the rest continues",
        extra={
            "run_id": run.run_id,
            "shard": message.part_id,
            "attempt": attempt,
            "counts": result.counts()[entity_type],
            "resume_after_s": result.resume_after_s if continuation else None,
        },
    )
    if continuation is not None:
        send_part(continuation, result.resume_after_s)
    recording_times.observe(time.monotonic() - recording_started)
    advance_after(after, message, budget)
    return "counted" if continuation is None else "continued"


def write_shard_part(
    message: ShardMessage,
    job: JobDefinition,
    result: ShardResult,
    watermark: str | None = None,
    continuation: ShardMessage | None = None,
) -> str:
    """The part's outcome logs, manifest and id lists under a fresh attempt id (workflows/parts.py);
    the attempt. Counting it is the caller's next step."""
    manifest = {
        "entity_type": result.entity_type,
        "failures": [f.model_dump() for f in result.failures],
        "seen": bool(result.seen),
        "out_of_scope": bool(result.out_of_scope),
        "unreadable": result.unreadable,
        "unreadable_reasons": result.unreadable_reasons,
        "watermark": watermark,
        "continuation": continuation.model_dump(mode="json") if continuation else None,
        "resume_after_s": result.resume_after_s,
    }
    ids = {SEEN: result.seen, OUT_OF_SCOPE: result.out_of_scope}
    return write_part(message.run_id, message.part_id, job, result.lines, manifest, ids)


def _write_slots(run: Run, job: JobDefinition) -> WriteSlots | None:
    """The job's write slots, when it limits them and this run writes (None: no limit to share)."""
    if job.target.max_concurrency is None or run.run_type not in {RunType.READ, RunType.RESYNC}:
        return None
    return WriteSlots(PaceStore(), job.job_id, job.target.max_concurrency)


def _process(
    run: Run,
    job: JobDefinition,
    message: ShardMessage,
    source: Source,
    delta: DeltaFilter,
    budget: Budget,
    writers: int = DEFAULT_WRITERS,
) -> ShardResult:
    """Read, scope, map, diff and write the shard's entities (up to `writers` at once); entity state
    for what changed."""
    shard = message.shard
    entity_type = shard.entity_type.value
    states = EntityStateStore()
    writes = run.run_type in {RunType.READ, RunType.RESYNC}
    target = paced_target(job, budget, writes) if writes or run.run_type is RunType.VALIDATE else None
    schema_problems = None
    lookup_members = None
    try:
        if run.run_type is RunType.VALIDATE and target is not None:
            target_schema = target.schema(entity_type)  # read once per shard; validate never writes
            extensions, required = target.schema_extensions(entity_type)
            schema_problems = functools.partial(
                schema_check.check, schema=target_schema, extensions=extensions, required_extensions=required
            )
        if shard.entity_type is EntityType.GROUPS:
            users = EntityType.USERS.value

            def lookup_members(ids: list[str]) -> dict[str, str]:
                return {e: s.target_id for e, s in states.get_many(job.job_id, users, ids).items()}

        records = source.read(shard, run.delta_since.get(entity_type))
        if run.failed_of is None:
            records = delta(records)
        else:  # only the earlier run's failed ids; no watermark read (engine/failed_of.py)
            wanted = failed_of.load(LogObjects().get(failed_of.ids_key(run.run_id))).get(entity_type, [])
            records = failed_of.only(records, wanted)
        result = process_shard(
            run.run_id,
            entity_type,
            run.run_type,
            compile_mapping(job.mapping[shard.entity_type], job.scope.get(shard.entity_type), entity_type),
            records,
            lambda ids: states.get_many(job.job_id, entity_type, ids),
            target,
            should_stop=lambda: RunStore().status(run.run_id) is RunStatus.STOPPING,
            schema_problems=schema_problems,
            lookup_members=lookup_members,
            budget=budget,
            lookup_owners=lambda target_id: states.owner_of(job.job_id, entity_type, target_id),
            concurrency=writers,
        )
    finally:
        if target is not None:
            target.close()
    return result


def keep_state(run: Run, job: JobDefinition, entity_type: str, result: ShardResult) -> None:
    """The entity state of what the shard wrote (before the part is counted: a retry then finds it)."""
    if run.run_type in {RunType.READ, RunType.RESYNC} and result.state_changes:
        now = datetime.now(UTC).isoformat()
        EntityStateStore().put_many(job.job_id, entity_type, result.state_changes, now)


def _continuation(message: ShardMessage, source: Source, result: ShardResult) -> ShardMessage:
    """The message for what the cut left: the same shard from after the last record processed (a cut
    before any record waits as the same message instead: see `requeue_undone`)."""
    assert result.last_row is not None
    return message.continuation(source.rest(message.shard, result.last_row, result.last_id))

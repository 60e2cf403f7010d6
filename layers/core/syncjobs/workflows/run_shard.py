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
import json
import math
import time
import uuid
from datetime import UTC, datetime

from syncjobs.connectors.base import Source
from syncjobs.connectors.registry import source_for, target_for
from syncjobs.deadline import Budget, recording_times
from syncjobs.engine import schema_check
from syncjobs.engine.delta import DeltaFilter
from syncjobs.engine.outcome_log import encode
from syncjobs.engine.shard import ShardResult, compile_mapping, process_shard
from syncjobs.models.job import JobDefinition
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import Run, RunStatus, RunType, ShardMessage, wait_delay_s
from syncjobs.observability import logger
from syncjobs.settings import get_settings
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.errors import Conflict, StoreError
from syncjobs.store.functions import Functions
from syncjobs.store.objects import LogObjects, error_key, part_key
from syncjobs.store.pace import PaceStore
from syncjobs.store.queue import MAX_DELAY_S, ShardQueue
from syncjobs.store.runs import RunRecord, RunStore
from syncjobs.workflows.finalize import MANIFEST, OUT_OF_SCOPE, SEEN
from syncjobs.workflows.pacing import DEFAULT_WRITERS, MAX_PAUSE_S, SHARD_WRITERS, JobPace, WriteSlots
from syncjobs.workflows.phases import advance

MAX_ERROR_CHARS = 500
FINALIZE_HERE_MIN_S = 30.0  # a shorter invocation hands finalize to the advance function


def run_shard(message: ShardMessage, budget: Budget | None = None) -> str:
    """Returns what happened: "counted", "continued" (the rest was handed on), "requeued" (nothing
    done yet: the message is back on the queue), "duplicate" (already counted) or "run_over".
    `budget`: the invocation's time (none: unbounded).

    An error is recorded for the part before it is raised (the message is then received again): when
    every receive fails, the dead-letter handler quotes it as the reason (workflows/dead_shard.py)."""
    try:
        return _run_shard(message, budget)
    except Exception as err:
        _record_error(message, err)
        raise


def _record_error(message: ShardMessage, err: Exception) -> None:
    text = f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]
    try:
        LogObjects().put(error_key(message.run_id, message.part_id), text.encode())
    except StoreError:
        logger.exception("could not record the shard's error", extra={"run_id": message.run_id})


def _run_shard(message: ShardMessage, budget: Budget | None) -> str:
    if budget is None or not get_settings().continuations:
        budget = Budget.unlimited()
    runs = RunStore()
    record = runs.get(message.run_id)
    run, job, shard = record.run, record.job, message.shard
    if not run.status.is_active:
        return "run_over"
    if runs.is_counted(record, message.part_id):
        logger.info("shard already counted", extra={"run_id": run.run_id, "shard": message.part_id})
        _resend_continuation(record, message)
        _advance(record, message, budget)
        return "duplicate"

    entity_type = shard.entity_type.value
    result = ShardResult(entity_type)
    delta = DeltaFilter(run.delta_since.get(entity_type))
    continuation: ShardMessage | None = None
    recording_started = time.monotonic()
    if run.status is not RunStatus.STOPPING:
        slots = _write_slots(run, job)
        writers = DEFAULT_WRITERS if slots is None else slots.claim(min(SHARD_WRITERS, slots.most), budget)
        if writers == 0:  # the job's writers are all busy in other shards: this part waits its turn
            return _wait(message, 0.0)
        source = source_for(job, shard.entity_type, budget)
        try:
            result = _process(run, job, message, source, delta, budget, writers)
            if result.cut and not result.stopped and result.last_row is None:
                return _wait(message, result.resume_after_s)
            recording_started = time.monotonic()  # the work is over: what follows is the reserve's
            _keep_state(run, job, entity_type, result)
            if result.cut and not result.stopped:
                continuation = _continuation(message, source, result)
        finally:
            source.close()
            if slots is not None:
                slots.release()

    attempt = uuid.uuid4().hex[:12]
    logs = LogObjects()
    written = []
    for outcome, lines in result.lines.items():
        data = encode(lines, getattr(job.trace, outcome.value), job.log_format)
        if data:
            logs.put(part_key(run.run_id, message.part_id, attempt, f"{outcome.value}.{job.log_format}"), data)
            written.append(outcome.value)
    if result.seen:
        logs.put(part_key(run.run_id, message.part_id, attempt, SEEN), "\n".join(result.seen).encode())
    if result.out_of_scope:
        ids = "\n".join(result.out_of_scope).encode()
        logs.put(part_key(run.run_id, message.part_id, attempt, OUT_OF_SCOPE), ids)
    manifest = {
        "entity_type": entity_type,
        "outcomes": written,
        "failures": [f.model_dump() for f in result.failures],
        "seen": bool(result.seen),
        "out_of_scope": bool(result.out_of_scope),
        "unreadable": result.unreadable,
        "unreadable_reasons": result.unreadable_reasons,
        "watermark": delta.watermark,
        "continuation": continuation.model_dump(mode="json") if continuation else None,
        "resume_after_s": result.resume_after_s,
    }
    logs.put(part_key(run.run_id, message.part_id, attempt, MANIFEST), json.dumps(manifest).encode())

    try:
        after = runs.complete_shard(
            run.run_id,
            shard.shard_id,
            attempt,
            result.counts(),
            result.first_failed_at,
            part_number=message.part,
            final=continuation is None,
        )
    except Conflict:
        # a concurrent copy counted this part; if its worker dies before sending the continuation, and
        # this copy's success deletes the message, nothing else would send it: send it (at most twice)
        logger.info("shard counted by another attempt", extra={"run_id": run.run_id, "shard": message.part_id})
        counted = runs.get(run.run_id)
        _resend_continuation(counted, message)
        _advance(counted, message, budget)
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
        _send(continuation, result.resume_after_s)
    recording_times.observe(time.monotonic() - recording_started)
    _advance(after, message, budget)
    return "counted" if continuation is None else "continued"


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
    limit = job.target.max_writes_per_second
    pace = JobPace(PaceStore(), job.job_id, limit, budget) if writes and limit is not None else None
    target = target_for(job, budget) if writes or run.run_type is RunType.VALIDATE else None
    if target is not None:
        target.pace_writes(pace, MAX_PAUSE_S)
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

        result = process_shard(
            run.run_id,
            entity_type,
            run.run_type,
            compile_mapping(job.mapping[shard.entity_type], job.scope.get(shard.entity_type), entity_type),
            delta(source.read(shard, run.delta_since.get(entity_type))),
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


def _keep_state(run: Run, job: JobDefinition, entity_type: str, result: ShardResult) -> None:
    """The entity state of what the shard wrote (before the part is counted: a retry then finds it)."""
    if run.run_type in {RunType.READ, RunType.RESYNC} and result.state_changes:
        now = datetime.now(UTC).isoformat()
        EntityStateStore().put_many(job.job_id, entity_type, result.state_changes, now)


def _continuation(message: ShardMessage, source: Source, result: ShardResult) -> ShardMessage:
    """The message for what the cut left: the same shard from after the last record processed (a cut
    before any record waits as the same message instead: see `_wait`)."""
    assert result.last_row is not None
    return message.continuation(source.rest(message.shard, result.last_row, result.last_id))


def _wait(message: ShardMessage, resume_after_s: float) -> str:
    """Nothing of the part was done (the target asked to wait, or the time ran out first): there is
    nothing to count, so the same message goes back on the queue, delayed as the target asked or
    backing off (`wait_delay_s`). One
    call instead of recording an empty part (logs, manifest, count) and its continuation: under load,
    empty parts would add to the very slowness that left no time for work."""
    again = message.waiting()
    delay_s = wait_delay_s(again.waits, resume_after_s)
    _send(again, delay_s)
    logger.info(
        "shard part waits",
        extra={"run_id": message.run_id, "shard": message.part_id, "resume_after_s": delay_s, "waits": again.waits},
    )
    return "requeued"


def _send(continuation: ShardMessage, resume_after_s: float) -> None:
    ShardQueue().send([continuation.model_dump_json()], delay_s=min(MAX_DELAY_S, math.ceil(resume_after_s)))


def _resend_continuation(record: RunRecord, message: ShardMessage) -> None:
    """A copy of a counted part: send its continuation again unless that is counted too (the worker that
    counted the part may have died before sending it; a second copy is dropped when it is counted)."""
    runs = RunStore()
    attempt = runs.attempt_of(record, message.part_id)
    if attempt is None:
        return
    manifest = json.loads(LogObjects().get(part_key(record.run.run_id, message.part_id, attempt, MANIFEST)))
    if manifest.get("continuation") is None:
        return
    continuation = ShardMessage.model_validate(manifest["continuation"])
    if not runs.is_counted(record, continuation.part_id) and runs.claim_resend(record.run.run_id, continuation.part_id):
        logger.info("continuation sent again", extra={"run_id": record.run.run_id, "shard": continuation.part_id})
        _send(continuation, 0)


def _advance(record: RunRecord, message: ShardMessage, budget: Budget) -> None:
    """Move the run on; a finalize that may not fit in what is left of this invocation is handed to the
    advance function (see `may_finalize_in`)."""
    if advance(record, may_finalize=may_finalize_in(budget)):
        logger.info("finalize handed on", extra={"run_id": record.run.run_id, "shard": message.part_id})
        Functions().finalize_async(record.run.run_id)


def may_finalize_in(budget: Budget) -> bool:
    """Finalize here only in a fresh invocation of a function given at least FINALIZE_HERE_MIN_S: a
    short one (a test's scaled-down Timeout) could not merge a large run's logs in time, and would be
    killed on every retry; the advance function has its own, longer Timeout."""
    return budget.total_s >= FINALIZE_HERE_MIN_S and budget.fresh()

"""run_shard: process one shard of a run, exactly once in its effect on counts and logs.

The shard's outcome parts go to S3 under a fresh attempt id, entity state is written for what
changed, and only then is the shard counted, by one conditional update that also records which
attempt's parts count. A worker that dies before that update leaves nothing counted; the redelivered
message reprocesses the shard (a target entity it had created is found by its key and adopted).
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime

from syncjobs.connectors.registry import source_for, target_for
from syncjobs.engine import schema_check
from syncjobs.engine.delta import DeltaFilter
from syncjobs.engine.outcome_log import encode
from syncjobs.engine.shard import ShardResult, compile_mapping, process_shard
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import RunStatus, RunType, ShardMessage
from syncjobs.observability import logger
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.errors import Conflict
from syncjobs.store.objects import LogObjects, part_key
from syncjobs.store.runs import RunStore
from syncjobs.workflows.finalize import MANIFEST, SEEN
from syncjobs.workflows.phases import advance


def run_shard(message: ShardMessage) -> str:
    """Returns what happened: "counted", "duplicate" (already counted) or "run_over"."""
    runs = RunStore()
    record = runs.get(message.run_id)
    run, job, shard = record.run, record.job, message.shard
    if not run.status.is_active:
        return "run_over"
    if shard.shard_id in record.done_shards:
        logger.info("shard already counted", extra={"run_id": run.run_id, "shard": shard.shard_id})
        advance(record)
        return "duplicate"

    entity_type = shard.entity_type.value
    result = ShardResult(entity_type)
    since = run.delta_since.get(entity_type)
    delta = DeltaFilter(since)
    if run.status is not RunStatus.STOPPING:
        states = EntityStateStore()
        writes = run.run_type in {RunType.READ, RunType.RESYNC}
        target = target_for(job) if writes or run.run_type is RunType.VALIDATE else None
        source = source_for(job, shard.entity_type)
        schema_problems = None
        if run.run_type is RunType.VALIDATE and target is not None:
            target_schema = target.schema(entity_type)  # read once per shard; validate never writes
            schema_problems = functools.partial(schema_check.check, schema=target_schema)
        lookup_members = None
        if shard.entity_type is EntityType.GROUPS:
            users = EntityType.USERS.value

            def lookup_members(ids: list[str]) -> dict[str, str]:
                return {e: s.target_id for e, s in states.get_many(job.job_id, users, ids).items()}

        try:
            result = process_shard(
                run.run_id,
                entity_type,
                run.run_type,
                compile_mapping(job.mapping[shard.entity_type], job.scope.get(shard.entity_type), entity_type),
                delta(source.read(shard, since)),
                lambda ids: states.get_many(job.job_id, entity_type, ids),
                target,
                should_stop=lambda: runs.status(run.run_id) is RunStatus.STOPPING,
                schema_problems=schema_problems,
                lookup_members=lookup_members,
            )
        finally:
            source.close()
            if target is not None:
                target.close()
        if writes and result.state_changes:
            states.put_many(job.job_id, entity_type, result.state_changes, datetime.now(UTC).isoformat())

    attempt = uuid.uuid4().hex[:12]
    logs = LogObjects()
    written = []
    for outcome, lines in result.lines.items():
        data = encode(lines, getattr(job.trace, outcome.value), job.log_format)
        if data:
            logs.put(part_key(run.run_id, shard.shard_id, attempt, f"{outcome.value}.{job.log_format}"), data)
            written.append(outcome.value)
    if result.seen:
        logs.put(part_key(run.run_id, shard.shard_id, attempt, SEEN), "\n".join(result.seen).encode())
    manifest = {
        "entity_type": entity_type,
        "outcomes": written,
        "failures": [f.model_dump() for f in result.failures],
        "seen": bool(result.seen),
        "unreadable": result.unreadable,
        "watermark": delta.watermark,
    }
    logs.put(part_key(run.run_id, shard.shard_id, attempt, MANIFEST), json.dumps(manifest).encode())

    try:
        after = runs.complete_shard(run.run_id, shard.shard_id, attempt, result.counts(), result.first_failed_at)
    except Conflict:
        logger.info("shard counted by another attempt", extra={"run_id": run.run_id, "shard": shard.shard_id})
        advance(runs.get(run.run_id))
        return "duplicate"
    logger.info(
        "shard done",
        extra={
            "run_id": run.run_id,
            "shard": shard.shard_id,
            "attempt": attempt,
            "counts": result.counts()[entity_type],
        },
    )
    advance(after)
    return "counted"

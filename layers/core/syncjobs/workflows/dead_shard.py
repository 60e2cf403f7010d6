"""A shard message that failed on every receive and was moved to the dead-letter queue.

SQS moves a shard message to the DLQ after its last receive (the RedrivePolicy's maxReceiveCount), for
whatever reason: the handler raised each time, or each invocation was killed by its timeout. Without
this the run would wait for that shard for good. The part is counted once, as dead, with the last error
its attempts recorded: finalize then ends the run with the reason and makes no deletes (what the shard
held was never read, so nothing proves its entities are gone from the source).
"""

from __future__ import annotations

from datetime import UTC, datetime

from syncjobs.engine.outcome_log import LogLine
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Counts, DeleteBatchMessage, FailureSample, ShardMessage
from syncjobs.observability import logger
from syncjobs.settings import get_settings
from syncjobs.store.errors import Conflict, NotFound
from syncjobs.store.objects import LogObjects, error_key
from syncjobs.store.runs import RunStore
from syncjobs.workflows.finalize import load_delete_plans
from syncjobs.workflows.parts import write_part
from syncjobs.workflows.phases import advance

NO_ERROR_RECORDED = "no error was recorded: each attempt ran out of time or its worker was lost"


def count_dead_shard(message: ShardMessage | DeleteBatchMessage) -> str:
    """Returns what happened: "counted" (the part is counted as dead), "duplicate" or "run_over"."""
    runs = RunStore()
    record = runs.get(message.run_id)
    run, part = record.run, message.part_id
    if not run.status.is_active:
        return "run_over"
    if runs.is_counted(record, part):
        advance(record)
        return "duplicate"

    logs = LogObjects()
    try:
        last_error = logs.get(error_key(run.run_id, part)).decode()
    except NotFound:
        last_error = NO_ERROR_RECORDED
    receives = get_settings().shard_max_receives
    what = "delete batch" if isinstance(message, DeleteBatchMessage) else "shard"
    reason = f"{what} {part} could not be processed in {receives} attempts: {last_error}"
    if isinstance(message, DeleteBatchMessage):
        attempt, counts = _dead_deletes(message, reason, logs)
        shard = message.shard_id
    else:
        manifest: dict[str, object] = {
            "entity_type": message.shard.entity_type.value,
            "failures": [],
            "seen": False,
            "unreadable": 0,
            "watermark": None,
            "dead": reason,
        }
        attempt, counts, shard = write_part(run.run_id, part, record.job, {}, manifest), {}, message.shard.shard_id
    try:
        after = runs.complete_shard(
            run.run_id,
            shard,
            attempt,
            counts,
            datetime.now(UTC),
            part_number=message.part,
            final=True,
            deletes=isinstance(message, DeleteBatchMessage),
        )
    except Conflict:
        advance(runs.get(run.run_id))
        return "duplicate"
    logger.warning("shard counted as dead", extra={"run_id": run.run_id, "shard": part, "attempt": attempt})
    advance(after)
    return "counted"


def _dead_deletes(message: DeleteBatchMessage, reason: str, logs: LogObjects) -> tuple[str, Counts]:
    """A delete batch that could not be made: each of its deletes not yet counted fails with the reason (the
    entity stays in the target and in the entity state; the next full read plans its delete again)."""
    record = RunStore().get(message.run_id)
    entity_type = message.entity_type.value
    pending = load_delete_plans(logs, message.plan_key)[entity_type].deletes[message.start : message.end]
    why = f"delete not made: {reason}"
    lines = [LogLine(entity_type, entity_id, target_id, None, why) for entity_id, target_id in pending]
    failures = [FailureSample(entity_type=entity_type, entity_id=e, reason=why).model_dump() for e, _ in pending[:10]]
    manifest = {"entity_type": entity_type, "deletes": True, "failures": failures, "dead": reason}
    attempt = write_part(message.run_id, message.part_id, record.job, {Outcome.FAILED: lines}, manifest)
    return attempt, {entity_type: {Outcome.FAILED.value: len(lines)}}

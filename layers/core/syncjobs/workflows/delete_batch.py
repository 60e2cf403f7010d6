"""A batch of a run's deletes, made by run_shard from the shard queue, exactly once in its effect.

finalize claims the run's delete plan once; when it holds more deletes than finalize makes itself
(engine/deletes.py INLINE_MAX_DELETES), it queues them as batches (groups' before users') and the run
ends only once every batch is counted. A batch is a part like a shard's: its deleted and failed lines go
to S3 under a fresh attempt and it is counted by one conditional transaction. A worker that dies before
counting leaves its deletes made but not counted: the redelivered batch deletes again, and the target's
404 for an entity already gone counts as deleted, so every entity of the batch ends in one outcome.

A batch that runs out of time counts what it made and hands the rest on as a continuation, as a shard does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syncjobs.deadline import Budget
from syncjobs.engine.deletes import disables
from syncjobs.engine.outcome_log import LogLine
from syncjobs.models.outcome import OUTCOMES, Outcome
from syncjobs.models.run import DeleteBatchMessage, FailureSample, RunStatus
from syncjobs.observability import logger
from syncjobs.store.objects import LogObjects
from syncjobs.store.runs import RunRecord
from syncjobs.workflows.finalize import DeletesMade, apply_deletes, delete_outcome, load_delete_plans
from syncjobs.workflows.pacing import paced_target
from syncjobs.workflows.parts import (
    advance_after,
    count_part,
    part_worker,
    requeue_undone,
    send_part,
    write_part,
)

MAX_FAILURE_SAMPLES = 10
STOPPED = "delete not made: the run was stopped"


@part_worker
def run_delete_batch(message: DeleteBatchMessage, record: RunRecord, budget: Budget) -> str:
    """Returns what happened: "counted", "continued", "requeued" (nothing made yet: back on the queue),
    "duplicate" (already counted) or "run_over"."""
    run, job = record.run, record.job
    entity_type = message.entity_type.value
    pending = load_delete_plans(LogObjects(), message.plan_key)[entity_type].deletes[message.start : message.end]
    if run.status is RunStatus.STOPPING:  # a stop leaves the rest of the deletes unmade, each one failed
        made = DeletesMade([LogLine(entity_type, e, t, None, STOPPED) for e, t in pending])
    else:
        target = paced_target(job, budget)
        try:
            made = apply_deletes(job.job_id, entity_type, pending, target, disables(job.deletes.mode, entity_type))
        finally:
            target.close()
        if not made.lines and pending:
            return requeue_undone(message, made.resume_after_s)
    lines = made.lines
    continuation = message.continuation(message.start + len(lines)) if len(lines) < len(pending) else None

    by_outcome: dict[Outcome, list[LogLine]] = {outcome: [] for outcome in OUTCOMES}
    for line in lines:
        by_outcome[delete_outcome(line)].append(line)
    failed = by_outcome[Outcome.FAILED]
    manifest = {
        "entity_type": entity_type,
        "deletes": True,
        "failures": [
            FailureSample(entity_type=x.entity_type, entity_id=x.entity_id, reason=x.reason).model_dump()
            for x in failed[:MAX_FAILURE_SAMPLES]
        ],
        "continuation": continuation.model_dump(mode="json") if continuation else None,
    }
    attempt = write_part(run.run_id, message.part_id, job, by_outcome, manifest)
    counts = {entity_type: {outcome.value: len(of) for outcome, of in by_outcome.items() if of}}
    failed_at = datetime.now(UTC) if failed else None
    after = count_part(
        message, budget, message.shard_id, attempt, counts, failed_at, continuation is None, deletes=True
    )
    if after is None:
        return "duplicate"
    logger.info(
        "delete batch done" if continuation is None else "delete batch part done, the rest continues",
        extra={"run_id": run.run_id, "part": message.part_id, "attempt": attempt, "counts": counts[entity_type]},
    )
    if continuation is not None:
        send_part(continuation, made.resume_after_s)
    advance_after(after, message, budget)
    return "counted" if continuation is None else "continued"

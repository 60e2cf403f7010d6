"""Queue a run's phases as they fall due: users first, groups once every users shard is counted.

At-least-once safe: a phase's shards are sent before it is marked queued, so a worker that dies in
between only causes the phase to be sent again (run_shard drops a shard already counted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from syncjobs.deadline import Budget
from syncjobs.engine.phases import due_phases
from syncjobs.models.run import ShardMessage, ShardSpec
from syncjobs.observability import logger
from syncjobs.store.objects import LogObjects, plan_key
from syncjobs.store.queue import ShardQueue
from syncjobs.store.runs import RunRecord, RunStore
from syncjobs.workflows.finalize import finalize_run


def save_plans(run_id: str, planned: Mapping[str, Sequence[ShardSpec]]) -> None:
    logs = LogObjects()
    for entity_type, specs in planned.items():
        if specs:
            body = json.dumps([spec.model_dump(mode="json") for spec in specs]).encode()
            logs.put(plan_key(run_id, entity_type), body)


def queue_due_phases(record: RunRecord) -> None:
    run = record.run
    for phase in due_phases(run.phases, run.shards_done, record.queued_phases):
        entity_type = phase.entity_type.value
        if phase.count:
            saved = json.loads(LogObjects().get(plan_key(run.run_id, entity_type)))
            specs = [ShardSpec.model_validate(spec) for spec in saved]
            ShardQueue().send(
                [ShardMessage(run_id=run.run_id, job_id=run.job_id, shard=spec).model_dump_json() for spec in specs]
            )
        RunStore().mark_phase_queued(run.run_id, entity_type)
        logger.info("phase queued", extra={"run_id": run.run_id, "entity_type": entity_type, "shards": phase.count})


def advance(record: RunRecord, may_finalize: bool = True, budget: Budget | None = None) -> bool:
    """Move a run on from what is counted: queue the phases now due, and finalize once every shard
    is counted. Called after each counted shard, and also by an attempt that found its shard already
    counted or its start already planned: the worker that counted last may have died before moving
    the run on, and the duplicate's success removes the message that would have retried it. Both
    steps are idempotent, so two workers advancing at once is harmless.

    Returns True when every shard is counted but `may_finalize` said not to finalize here (the caller
    hands finalize to a fresh invocation). `budget`: finalize's time here (OutOfTime: the rest of its
    log merge is for another invocation, its progress saved)."""
    run = record.run
    if not run.status.is_active or run.shards_total is None:
        return False
    queue_due_phases(record)
    if run.shards_done < run.shards_total:
        return False
    if not may_finalize:
        return True
    finalize_run(run.run_id, budget)
    return False

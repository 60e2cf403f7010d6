"""A shard message that failed on every receive and was moved to the dead-letter queue.

SQS moves a shard message to the DLQ after its last receive (the RedrivePolicy's maxReceiveCount), for
whatever reason: the handler raised each time, or each invocation was killed by its timeout. Without
this the run would wait for that shard for good. The part is counted once, as dead, with the last error
its attempts recorded: finalize then ends the run with the reason and makes no deletes (what the shard
held was never read, so nothing proves its entities are gone from the source).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from syncjobs.models.run import ShardMessage
from syncjobs.observability import logger
from syncjobs.settings import get_settings
from syncjobs.store.errors import Conflict, NotFound
from syncjobs.store.objects import LogObjects, error_key, part_key
from syncjobs.store.runs import RunStore
from syncjobs.workflows.finalize import MANIFEST
from syncjobs.workflows.phases import advance

NO_ERROR_RECORDED = "no error was recorded: each attempt ran out of time or its worker was lost"


def count_dead_shard(message: ShardMessage) -> str:
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
    reason = f"shard {part} could not be processed in {receives} attempts: {last_error}"
    attempt = uuid.uuid4().hex[:12]
    manifest: dict[str, object] = {
        "entity_type": message.shard.entity_type.value,
        "outcomes": [],
        "failures": [],
        "seen": False,
        "unreadable": 0,
        "watermark": None,
        "dead": reason,
    }
    logs.put(part_key(run.run_id, part, attempt, MANIFEST), json.dumps(manifest).encode())
    try:
        after = runs.complete_shard(
            run.run_id, message.shard.shard_id, attempt, {}, datetime.now(UTC), part_number=message.part, final=True
        )
    except Conflict:
        advance(runs.get(run.run_id))
        return "duplicate"
    logger.warning("shard counted as dead", extra={"run_id": run.run_id, "shard": part, "attempt": attempt})
    advance(after)
    return "counted"

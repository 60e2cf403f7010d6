"""advance: DynamoDB stream of the jobs table (filtered) -> a collection's next step, an approval's
preview ready, an approved run started; and every 15 minutes, a sweep: approval requests past their
time expire, and collection runs whose next step was lost move on. And a run's finalize, handed on by a
run_shard invocation too short for it ({"finalize": run_id}, invoked asynchronously), and handed on to
a fresh invocation of itself while the run's logs are merged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.batches import process_batch
from syncjobs.deadline import Budget, OutOfTime
from syncjobs.observability import logger, metrics, traced_handler
from syncjobs.store.codec import load_item
from syncjobs.store.functions import Functions
from syncjobs.workflows.advance import on_change, sweep
from syncjobs.workflows.finalize import finalize_run


def _record_handler(record: DynamoDBRecord) -> int:
    images = record.raw_event.get("dynamodb", {})
    if "NewImage" not in images:
        return 0  # a removed item
    old = load_item(images["OldImage"]) if "OldImage" in images else None
    new = load_item(images["NewImage"])
    try:
        done = on_change(old, new)
    except Exception:
        logger.exception("advance failed; the record is retried", extra={"item_type": new.get("item_type")})
        raise
    if done:
        logger.info("advanced", extra={"action": done})
    return 1 if done else 0


def _finalize(run_id: str, context: LambdaContext) -> dict[str, Any]:
    """Finalize the run; a log merge too long for this invocation goes on in another one (its progress
    is saved: workflows/log_merge.py)."""
    try:
        status = finalize_run(run_id, Budget.of_invocation(context.get_remaining_time_in_millis))
    except OutOfTime as out:
        Functions().finalize_async(run_id, function=context.invoked_function_arn)
        logger.info("finalize handed on", extra={"run_id": run_id, "why": out.reason})
        return {"finalized": run_id, "status": None, "handed_on": True}
    logger.info("run finalized", extra={"run_id": run_id, "status": status})
    return {"finalized": run_id, "status": status}


@logger.inject_lambda_context(clear_state=True)
@traced_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "sweep" in event:  # the Sweep schedule (every 15 minutes)
        return sweep(datetime.now(UTC))
    if "finalize" in event:  # handed on by run_shard or by itself; finalize is idempotent, a retry is harmless
        return _finalize(str(event["finalize"]), context)
    return process_batch(event, context, EventType.DynamoDBStreams, _record_handler, metric="Advanced")

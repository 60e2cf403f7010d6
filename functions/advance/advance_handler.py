"""advance: DynamoDB stream of the jobs table (filtered) -> a collection's next step, an approval's
preview ready, an approved run started; and every 15 minutes, a sweep: approval requests past their
time expire, and collection runs whose next step was lost move on. And a run's finalize, handed on by a
run_shard invocation too short for it ({"finalize": run_id}, invoked asynchronously)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.batches import process_batch
from syncjobs.observability import logger, metrics, tracer
from syncjobs.store.codec import load_item
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


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "sweep" in event:  # the Sweep schedule (every 15 minutes)
        return sweep(datetime.now(UTC))
    if "finalize" in event:  # handed on by run_shard; finalize is idempotent, a retry is harmless
        status = finalize_run(str(event["finalize"]))
        logger.info("run finalized", extra={"run_id": event["finalize"], "status": status})
        return {"finalized": event["finalize"], "status": status}
    return process_batch(event, context, EventType.DynamoDBStreams, _record_handler, metric="Advanced")

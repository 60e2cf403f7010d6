"""notify: DynamoDB stream of run, collection run and approval items (filtered) -> notification rules ->
SES mail, exactly once; and every 15 minutes (a scheduled event) the mail kept after failed sends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.batches import process_batch
from syncjobs.observability import logger, metrics, traced_handler
from syncjobs.store.codec import load_item
from syncjobs.workflows.notify_others import notify_approval_change, notify_collection_change
from syncjobs.workflows.notify_retry import retry_pending
from syncjobs.workflows.notify_run import notify_run_change

_NOTIFIERS = {
    "run": lambda old, new: len(notify_run_change(old, new)),
    "collection_run": lambda old, new: len(notify_collection_change(old, new)),
    "approval": notify_approval_change,
}


def _record_handler(record: DynamoDBRecord) -> int:
    images = record.raw_event.get("dynamodb", {})
    notifier = _NOTIFIERS.get(images.get("NewImage", {}).get("item_type", {}).get("S", ""))
    if notifier is None:
        return 0  # an item nobody is told about (the FilterCriteria should have dropped it), or a removed item
    old = load_item(images["OldImage"]) if "OldImage" in images else None
    return int(notifier(old, load_item(images["NewImage"])))


@logger.inject_lambda_context(clear_state=True)
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "Scheduled Event":  # the MailRetry schedule: now is the event's time
        return retry_pending(datetime.fromisoformat(event["time"]))
    return process_batch(event, context, EventType.DynamoDBStreams, _record_handler, metric="RunChanges")

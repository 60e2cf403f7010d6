"""run_shard: SQS shard messages -> process each shard; failed records are retried (partial batch)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.models.run import ShardMessage
from syncjobs.observability import logger, metrics, tracer
from syncjobs.workflows.run_shard import run_shard


def _record_handler(record: SQSRecord) -> str:
    return run_shard(ShardMessage.model_validate_json(record.body))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="ShardMessages", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    # A processor per invocation: it holds the batch's state, and the local stack runs handlers in threads.
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(event=event, record_handler=_record_handler, processor=processor, context=context)

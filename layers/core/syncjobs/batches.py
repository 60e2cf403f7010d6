"""Partial-batch processing for the SQS and DynamoDB-stream handlers, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.observability import metrics


def process_batch(
    event: dict[str, Any],
    context: LambdaContext,
    event_type: EventType,
    record_handler: Callable[[Any], Any],
    metric: str,
) -> dict[str, Any]:
    """Each record through `record_handler`; the failed ones are reported for retry (ReportBatchItemFailures)."""
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=len(event.get("Records", [])))
    # A processor per invocation: it holds the batch's state, and the local stack runs handlers in threads.
    processor = BatchProcessor(event_type=event_type)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)

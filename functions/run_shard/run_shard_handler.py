"""run_shard: SQS shard messages -> process each shard (or a batch of a run's deletes); failed records are
retried (partial batch).

The same function reads the shard dead-letter queue: a message there failed on every receive, and is
counted as a dead part so that its run ends (workflows/dead_shard.py)."""

from __future__ import annotations

import functools
import gc
import json
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.batches import process_batch
from syncjobs.deadline import Budget
from syncjobs.models.run import DeleteBatchMessage
from syncjobs.observability import logger, metrics, traced_handler
from syncjobs.settings import get_settings
from syncjobs.workflows.dead_shard import count_dead_shard
from syncjobs.workflows.delete_batch import run_delete_batch
from syncjobs.workflows.parts import queued_part
from syncjobs.workflows.provision import provision_answer
from syncjobs.workflows.run_shard import run_shard

# What the imports above made (about 120,000 objects: pydantic models, boto3, powertools) lives as long as
# the container. Frozen, the collector stops walking it: each full collection during a shard would walk
# all of it again. Garbage made after this point is collected as before.
gc.freeze()


def _record_handler(record: SQSRecord, budget: Budget) -> str:
    message = queued_part(json.loads(record.body))
    if record.event_source_arn == get_settings().shard_dead_letter_queue_arn:
        return count_dead_shard(message)
    if isinstance(message, DeleteBatchMessage):
        return run_delete_batch(message, budget)
    return run_shard(message, budget)


@logger.inject_lambda_context(clear_state=True)
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    budget = Budget.of_invocation(context.get_remaining_time_in_millis)
    if "provision" in event:  # the admin API's provision on demand (invoked synchronously)
        return provision_answer(event["provision"], budget)
    handler = functools.partial(_record_handler, budget=budget)
    return process_batch(event, context, EventType.SQS, handler, metric="ShardMessages")

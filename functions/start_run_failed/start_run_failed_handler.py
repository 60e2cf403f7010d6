"""start_run_failed: start_run's on-failure destination. An asynchronous start_run invocation that
failed through Lambda's retries arrives here (Lambda's destination record) and becomes a failed run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.observability import logger, metrics, traced_handler
from syncjobs.workflows.start_failed import record_failed_start


@logger.inject_lambda_context(clear_state=True)
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = record_failed_start(event)
    metrics.add_metric(name="FailedStarts", unit=MetricUnit.Count, value=1)
    if run is None:
        return {"recorded": False}
    return {"recorded": True, "run_id": run.run_id, "job_id": run.job_id, "status": run.status.value}

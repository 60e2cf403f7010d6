"""start_run: EventBridge rule (constant input {"job_id", "type"}), API or CLI -> plan and queue a run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.models.events import StartEvent
from syncjobs.observability import logger, metrics, tracer
from syncjobs.workflows.start_run import start_run


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = StartEvent.model_validate(event).to_request()
    run = start_run(request)
    metrics.add_metric(name=f"Runs{run.status.value.title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    return {"run_id": run.run_id, "job_id": run.job_id, "status": run.status.value, "reason": run.reason}

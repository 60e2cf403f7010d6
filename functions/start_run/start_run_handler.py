"""start_run: EventBridge rule (input {"job_id" or "collection_id", "type", "time"}), API, CLI, or the
advance function (a collection's next step, an approved request) -> plan and queue a run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.models.collection import CollectionStartRequest
from syncjobs.models.events import StartEvent
from syncjobs.observability import logger, metrics, traced_handler
from syncjobs.workflows.approvals import gate
from syncjobs.workflows.collections import start_collection
from syncjobs.workflows.start_run import start_run


@logger.inject_lambda_context(clear_state=True)
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = StartEvent.model_validate(event).to_request()
    held = gate(request)  # a fire of a subject that needs approval: a preview and a request instead
    if held is not None:
        return held
    if isinstance(request, CollectionStartRequest):
        crun = start_collection(request, start_run)
        metrics.add_metric(name="CollectionRuns", unit=MetricUnit.Count, value=1)
        return {"collection_run_id": crun.collection_run_id, "status": crun.status.value, "reason": crun.reason}
    run = start_run(request)
    metrics.add_metric(name=f"Runs{run.status.value.title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    return {"run_id": run.run_id, "job_id": run.job_id, "status": run.status.value, "reason": run.reason}

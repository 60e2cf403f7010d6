"""A start_run invocation that failed through all of Lambda's asynchronous retries, as a failed run.

Lambda hands such an event to start_run's on-failure destination (functions/start_run_failed) in its
destination record: the original payload (`requestPayload`) and the last error (`responsePayload`).
The payload names the run (the same request always names the same run): if start_run got as far as
creating it, it is failed with the error as its reason, which releases the job's lock when that run
holds it; if not, a failed run is recorded beside whatever run holds the lock. Either way the run ends
failed, so the subscribers hear of it as of any failed run. Safe to deliver twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from syncjobs.models.events import StartEvent
from syncjobs.models.run import Run, RunStatus, StartRequest, run_id_for
from syncjobs.observability import logger
from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows.finalize import fail_run
from syncjobs.workflows.start_run import new_run


def failure_reason(destination_event: dict[str, Any]) -> str:
    """What the run's reason says: how many attempts failed and the last error, as Lambda reported it."""
    context = destination_event.get("requestContext") or {}
    response = destination_event.get("responsePayload") or {}
    attempts = context.get("approximateInvokeCount", "all")
    error = f"{response.get('errorType', 'Error')}: {response.get('errorMessage', 'no error message')}"
    if context.get("condition") == "EventAgeExceeded":
        return f"start_run did not run before its event expired ({attempts} attempt(s)): {error}"
    return f"start_run failed {attempts} times: {error}"


def record_failed_start(destination_event: dict[str, Any]) -> Run | None:
    """The failed run this start became (None: nothing to record, the reason is logged)."""
    reason = failure_reason(destination_event)
    try:
        request = StartEvent.model_validate(destination_event.get("requestPayload") or {}).to_request()
    except ValidationError as err:
        logger.warning("failed start not recorded: not a start event", extra={"error": str(err), "reason": reason})
        return None
    if not isinstance(request, StartRequest):
        logger.warning("failed collection start not recorded", extra={"request_id": request.request_id})
        return None
    runs = RunStore()
    run_id = run_id_for(request)
    try:
        record = runs.get(run_id)
    except NotFound:
        return _record_unstarted(request, reason)
    if record.run.status.is_active:
        fail_run(record, reason)
    logger.info("failed start recorded", extra={"run_id": run_id, "job_id": request.job_id})
    return runs.get(run_id).run


def _record_unstarted(request: StartRequest, reason: str) -> Run | None:
    """start_run failed before it created the run: record one, failed, without touching the lock."""
    try:
        job = JobStore().get(request.job_id).definition
    except NotFound:
        logger.warning("failed start not recorded: the job is gone", extra={"job_id": request.job_id})
        return None
    run = new_run(request, job).model_copy(
        update={"status": RunStatus.FAILED, "ended_at": datetime.now(UTC), "reason": reason}
    )
    RunStore().put_skipped(run, job)  # a run that was never started, recorded once
    logger.info("failed start recorded", extra={"run_id": run.run_id, "job_id": run.job_id})
    return RunStore().get(run.run_id).run

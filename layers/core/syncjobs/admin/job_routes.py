"""Admin API routes of jobs: list, show, apply, delete, restart, trace the next run, provision one entity."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body

from syncjobs.admin import operations
from syncjobs.admin.api_models import TraceRequest, caller_of, new_router
from syncjobs.admin.api_responses import (
    CHANGE,
    READ,
    WITH_BODY,
    JobApplied,
    JobDeleted,
    JobDetail,
    JobList,
    ProvisionRequest,
    ProvisionResult,
    TraceSet,
    documented,
)
from syncjobs.admin.operations import JobSummary

router = new_router()


@router.get("/jobs", responses=documented(200, 422))
def list_jobs() -> JobList:
    return JobList(jobs=operations.list_jobs())


@router.get("/jobs/<job_id>", responses=documented(200, *READ))
def show_job(job_id: str) -> JobDetail:
    summary, definition, subscriptions = operations.show_job(job_id)
    return JobDetail(**dict(summary), definition=definition, subscribers=subscriptions)


@router.put("/jobs/<job_id>", responses=documented(200, *WITH_BODY))
def put_job(
    job_id: str,
    document: Annotated[dict[str, Any], Body(description="a job definition: examples/jobs/hr-to-scim.yaml as JSON")],
) -> JobApplied:
    """Create or replace the job; refused (422, each problem named) if it cannot run as written."""
    definition = operations.parse_job({**document, "job_id": job_id})
    return JobApplied(job_id=job_id, version=operations.apply_job(definition))


@router.delete("/jobs/<job_id>", responses=documented(200, *CHANGE))
def delete_job(job_id: str) -> JobDeleted:
    """Delete the job, its subscriptions and its schedule; refused (409) while a run is active."""
    operations.delete_job(job_id)
    return JobDeleted(job_id=job_id, deleted=True)


@router.post("/jobs/<job_id>/restart", responses=documented(200, *CHANGE))
def restart_job(job_id: str) -> JobSummary:
    """Clear the job's quarantine, its streak of outright failures and its watermarks (Entra's restart)."""
    return operations.restart_job(job_id, caller_of(router.current_event))


@router.post("/jobs/<job_id>/trace-next-run", responses=documented(200, *WITH_BODY))
def trace_next_run(job_id: str, request: Annotated[TraceRequest, Body()]) -> TraceSet:
    operations.trace_next_run(job_id, request.outcomes)
    return TraceSet(job_id=job_id, trace_next_run=sorted(set(request.outcomes)))


@router.post("/jobs/<job_id>/provision", responses=documented(200, *WITH_BODY))
def provision(job_id: str, request: Annotated[ProvisionRequest, Body()]) -> ProvisionResult:
    """Provision one entity now and show each step: refused (409, with the reason) while a run holds the
    job's lock or when the job requires approval for writes; 404 for an id not in the source."""
    done = operations.provision(job_id, request.entity_type.value, request.id, caller_of(router.current_event))
    return ProvisionResult.model_validate(done.model_dump())

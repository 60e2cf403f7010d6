"""Admin API routes of schedules: a job's or a collection's EventBridge Scheduler schedule (in a time zone),
set, shown, cleared."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from syncjobs.admin import operations
from syncjobs.admin.api_models import ScheduleRequest, new_router
from syncjobs.admin.api_responses import (
    CHANGE,
    READ,
    WITH_BODY,
    CollectionScheduleCleared,
    CollectionScheduled,
    CollectionUnscheduled,
    JobScheduleCleared,
    JobScheduled,
    JobUnscheduled,
    documented,
    schedule_fields,
)

router = new_router()


# ---------------------------------------------------------------------- a job's
@router.put("/jobs/<job_id>/schedule", responses=documented(200, *WITH_BODY))
def set_schedule(job_id: str, request: Annotated[ScheduleRequest, Body()]) -> JobScheduled:
    rule = operations.set_schedule(job_id, request.expression, request.type.value, timezone=request.timezone)
    return JobScheduled(job_id=job_id, **schedule_fields(rule, operations.next_fires(job_id)[1]))


@router.delete("/jobs/<job_id>/schedule", responses=documented(200, *CHANGE))
def clear_schedule(job_id: str) -> JobScheduleCleared:
    return JobScheduleCleared(job_id=job_id, scheduled=False, removed=operations.clear_schedule(job_id))


@router.get("/jobs/<job_id>/schedule", responses=documented(200, *READ))
def get_schedule(job_id: str) -> JobScheduled | JobUnscheduled:
    rule, fires = operations.next_fires(job_id)
    if rule is None:
        return JobUnscheduled(job_id=job_id, scheduled=False, next_fires=[])
    return JobScheduled(job_id=job_id, **schedule_fields(rule, fires))


# ---------------------------------------------------------------------- a collection's
@router.put("/collections/<collection_id>/schedule", responses=documented(200, *WITH_BODY))
def set_collection_schedule(collection_id: str, request: Annotated[ScheduleRequest, Body()]) -> CollectionScheduled:
    rule = operations.set_schedule(
        collection_id, request.expression, request.type.value, "collection", request.timezone
    )
    fires = operations.next_fires(collection_id, kind="collection")[1]
    return CollectionScheduled(collection_id=collection_id, **schedule_fields(rule, fires))


@router.delete("/collections/<collection_id>/schedule", responses=documented(200, *CHANGE))
def clear_collection_schedule(collection_id: str) -> CollectionScheduleCleared:
    removed = operations.clear_schedule(collection_id, "collection")
    return CollectionScheduleCleared(collection_id=collection_id, scheduled=False, removed=removed)


@router.get("/collections/<collection_id>/schedule", responses=documented(200, *READ))
def get_collection_schedule(collection_id: str) -> CollectionScheduled | CollectionUnscheduled:
    rule, fires = operations.next_fires(collection_id, kind="collection")
    if rule is None:
        return CollectionUnscheduled(collection_id=collection_id, scheduled=False, next_fires=[])
    return CollectionScheduled(collection_id=collection_id, **schedule_fields(rule, fires))

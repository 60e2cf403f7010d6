"""Response bodies of the admin API: what each route sends, as its OpenAPI document describes them.

Powertools validates every success body against its route's return annotation and serializes it through
that model (JSON mode), so the document and the wire cannot drift apart. The bodies are the ones the CLI
reads: a field added here is added to the wire, a field renamed breaks the CLI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from syncjobs.admin.collections import CollectionSummary
from syncjobs.admin.operations import JobSummary
from syncjobs.engine.provision_trace import Provisioned
from syncjobs.models.approval import Approval
from syncjobs.models.collection import CollectionDefinition, CollectionRun
from syncjobs.models.job import JobDefinition, Subscription
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import Run, RunType
from syncjobs.store.notifications import NotificationRecord
from syncjobs.store.rules import ScheduleRule


# ---------------------------------------------------------------------- errors
class Refusal(BaseModel):
    """A refused request (400, 403, 404, 409, 410, 413): what was wrong, in a sentence."""

    message: str


class InvalidRequest(BaseModel):
    """Invalid input (422) or a body that is not JSON (415): each problem names its field (`field: message`)."""

    message: str
    problems: list[str] = Field(min_length=1)


_REASONS = {
    400: "The request could not be read",
    403: "Not allowed to this caller (an approval decided by its own requester)",
    404: "Not found",
    409: "In conflict with the current state (an active run, a run already over, a request decided before)",
    410: "Gone (an approval request past its time)",
    413: "The request body is larger than 256 KiB",
    415: "The body is not JSON",
    422: "Invalid input",
}


def documented(success: int, *errors: int) -> dict[int, Any]:
    """The `responses` of a route: its success (the return annotation's model) and the refusals it sends."""
    responses: dict[int, Any] = {success: {"description": "Success"}}
    for status in errors:
        model = InvalidRequest if status in (415, 422) else Refusal
        responses[status] = {"description": _REASONS[status], "content": {"application/json": {"model": model}}}
    return responses


# Refusals most routes share: an unknown id (404), invalid input (422); a body's routes add 400, 413, 415.
READ = (404, 422)
WITH_BODY = (400, 404, 409, 413, 415, 422)
CHANGE = (404, 409, 422)


# ---------------------------------------------------------------------- jobs
class JobList(BaseModel):
    jobs: list[JobSummary]


class JobDetail(JobSummary):
    """A job's summary with its definition (the document `jobs apply` takes) and its subscribers."""

    definition: JobDefinition
    subscribers: list[Subscription]


class ProvisionRequest(BaseModel):
    """Which entity to provision now: its id in the source, and its type."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, description="the entity's id in the job's source")
    entity_type: EntityType = EntityType.USERS


class ProvisionResult(Provisioned):
    """One entity provisioned now: each step the engine took (credentials never shown) and the small run
    (trigger `provision`) that recorded it, with its outcome log."""


class JobApplied(BaseModel):
    job_id: str
    version: int = Field(description="the stored version, 1 for a new job")


class JobDeleted(BaseModel):
    job_id: str
    deleted: bool


class TraceSet(BaseModel):
    job_id: str
    trace_next_run: list[str] = Field(description="the outcomes whose next run's log carries content")


# ---------------------------------------------------------------------- runs
class RunStarted(BaseModel):
    """A run request's answer: the run's id, or (for a job that needs approval) its approval request's."""

    job_id: str
    run_id: str | None
    approval_id: str | None


class RunList(BaseModel):
    """A page of a job's runs, newest first."""

    runs: list[Run]
    next_token: str | None = Field(default=None, description="the next page's token; null on the last page")


class RunDetail(Run):
    """A run with the mails sent about it."""

    notifications: list[NotificationRecord] = Field(description="the mails about the run: to whom, their state, why")
    named_counts: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="`counts` per entity type under the names its run type means: a validate run's valid "
        "and invalid (counted skipped and failed); other runs' outcomes as they are",
    )


class LogLocation(BaseModel):
    """Where a run's log is (the Location header of the 302 as well), presigned for 5 minutes."""

    location: str


# ---------------------------------------------------------------------- subscriptions
class SubscriberList(BaseModel):
    subscribers: list[Subscription]


class Unsubscribed(BaseModel):
    job_id: str
    email: str
    subscribed: bool


# ---------------------------------------------------------------------- schedules
class _Scheduled(BaseModel):
    scheduled: Literal[True]
    expression: str = Field(description="rate(...) or cron(...), a cron's times read in `timezone`")
    type: RunType
    enabled: bool
    timezone: str = Field(description="the IANA time zone of the cron's times (UTC for a schedule set without one)")
    service: Literal["scheduler", "events"] = Field(
        description="scheduler: an EventBridge Scheduler schedule; events: a UTC rule set before (it is moved "
        "to Scheduler when the schedule is set again)"
    )
    next_fires: list[str] = Field(description="the next fire times (UTC, ISO 8601); none while disabled")
    next_fires_local: list[str] = Field(description="the same times in `timezone` (ISO 8601 with its offset)")


class _Unscheduled(BaseModel):
    scheduled: Literal[False]
    next_fires: list[str] = Field(max_length=0)


class JobScheduled(_Scheduled):
    job_id: str


class JobUnscheduled(_Unscheduled):
    job_id: str


class CollectionScheduled(_Scheduled):
    collection_id: str


class CollectionUnscheduled(_Unscheduled):
    collection_id: str


class _Cleared(BaseModel):
    scheduled: Literal[False]
    removed: bool = Field(description="false if there was no schedule")


class JobScheduleCleared(_Cleared):
    job_id: str


class CollectionScheduleCleared(_Cleared):
    collection_id: str


def schedule_fields(rule: ScheduleRule, fires: list[datetime]) -> dict[str, Any]:
    """The fields of a schedule's body besides its job's (or collection's) id."""
    return {
        "scheduled": True,
        "expression": rule.expression,
        "type": rule.run_type,
        "enabled": rule.enabled,
        "timezone": rule.timezone,
        "service": rule.service,
        "next_fires": [f.isoformat() for f in fires],
        "next_fires_local": [f.astimezone(ZoneInfo(rule.timezone)).isoformat() for f in fires],
    }


# ---------------------------------------------------------------------- collections
class CollectionList(BaseModel):
    collections: list[CollectionSummary]


class CollectionDetail(CollectionSummary):
    definition: CollectionDefinition


class CollectionApplied(BaseModel):
    collection_id: str
    version: int = Field(description="the stored version, 1 for a new collection")


class CollectionDeleted(BaseModel):
    collection_id: str
    deleted: bool


class CollectionRunStarted(BaseModel):
    collection_id: str
    collection_run_id: str | None
    approval_id: str | None


class CollectionRunList(BaseModel):
    runs: list[CollectionRun]


class CollectionRunDetail(CollectionRun):
    """A collection run with the runs of its steps."""

    runs: list[Run]


# ---------------------------------------------------------------------- approvals
class ApprovalList(BaseModel):
    """Recent approval requests, newest first."""

    approvals: list[Approval]

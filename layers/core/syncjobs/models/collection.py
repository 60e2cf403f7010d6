"""Job collections (Netwrix Directory Manager): jobs run one after another, scheduled and notified as one."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from syncjobs.models.job import JOB_ID_PATTERN, ApprovalSettings, SubscriptionTrigger
from syncjobs.models.run import RunStatus, RunType, Trigger


class OnFailure(StrEnum):
    """What a step's failure (any end but success) does to the collection."""

    ABORT = "abort"  # the collection ends failed; later steps do not run
    CONTINUE = "continue"  # the next step runs; the collection ends with errors


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectionStep(_Strict):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    on_failure: OnFailure = OnFailure.ABORT


class CollectionNotification(_Strict):
    """Netwrix's collection notification: recipients and one trigger for them all."""

    recipients: list[EmailStr] = Field(default_factory=list, max_length=50)
    trigger: SubscriptionTrigger = SubscriptionTrigger.ALWAYS

    @field_validator("trigger")
    @classmethod
    def _netwrix_trigger(cls, value: SubscriptionTrigger) -> SubscriptionTrigger:
        if value is SubscriptionTrigger.DEFAULT:
            raise ValueError("a collection notifies on always, records_updated, errors or job_fails")
        return value


class CollectionDefinition(_Strict):
    collection_id: str = Field(pattern=JOB_ID_PATTERN, description="lower-case letters, digits and dashes")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    steps: list[CollectionStep] = Field(min_length=1, max_length=50, description="the jobs, in the order they run")
    notification: CollectionNotification = CollectionNotification()
    approval: ApprovalSettings = ApprovalSettings()

    @model_validator(mode="after")
    def _each_job_once(self) -> CollectionDefinition:
        seen: set[str] = set()
        for i, step in enumerate(self.steps):
            if step.job_id in seen:
                raise ValueError(f"steps.{i}.job_id: job {step.job_id} is already an earlier step")
            seen.add(step.job_id)
        return self

    def to_document(self) -> dict[str, object]:
        return self.model_dump(mode="json")


class StepState(BaseModel):
    """A step of a collection run: not started (no run yet), running, or ended with its run's status."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    on_failure: OnFailure
    run_id: str | None = None
    status: str = "pending"  # pending | a RunStatus value | not_run (an earlier step aborted the collection)
    reason: str | None = None
    totals: dict[str, int] = Field(default_factory=dict)  # outcome -> entities


class CollectionRun(BaseModel):
    model_config = ConfigDict(extra="ignore")

    collection_run_id: str
    collection_id: str
    name: str = ""
    status: RunStatus
    run_type: RunType
    trigger: Trigger
    triggered_by: str
    request_id: str
    created_at: datetime
    ended_at: datetime | None = None
    current: int = 0  # the step running now (len(steps) once all are done)
    steps: list[StepState]
    reason: str | None = None
    stop_requested_by: str | None = None
    preview_of: str | None = None  # the approval request this (simulated) collection run previews
    approval_id: str | None = None  # the approved request this collection run carries out

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for step in self.steps:
            for outcome, n in step.totals.items():
                out[outcome] = out.get(outcome, 0) + n
        return out


class CollectionStartRequest(_Strict):
    collection_id: str
    run_type: RunType = RunType.READ
    trigger: Trigger
    triggered_by: str = Field(min_length=1, max_length=256)
    request_id: str = Field(min_length=1, max_length=256)
    requested_at: datetime
    preview_of: str | None = None
    approval_id: str | None = None


def collection_run_id_for(request: CollectionStartRequest) -> str:
    """The same request always names the same collection run (ids never look like a job run's)."""
    digest = hashlib.sha256(f"{request.collection_id}\n{request.request_id}".encode()).hexdigest()[:10]
    return f"col-{request.requested_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"

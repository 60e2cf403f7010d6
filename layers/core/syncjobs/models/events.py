"""The input start_run accepts: an EventBridge rule's input, a request from the API/CLI, or the next
step of a collection or an approved request (from the advance function)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from syncjobs.models.collection import CollectionStartRequest, collection_run_id_for
from syncjobs.models.job import JOB_ID_PATTERN
from syncjobs.models.run import RunType, StartRequest, Trigger, run_id_for


class StartEvent(BaseModel):
    """`{"job_id": ..., "type": ..., "time": ...}` is all a schedule rule sends (or "collection_id");
    the rest is for API/CLI callers and for the steps of a collection.

    Two deliveries of the same scheduled fire are recognised by the minute it fired in (the event's
    own time, or when it arrived if a rule sends none): rules fire at most once a minute.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    job_id: str | None = Field(default=None, pattern=JOB_ID_PATTERN)
    collection_id: str | None = Field(default=None, pattern=JOB_ID_PATTERN)
    run_type: RunType = Field(default=RunType.READ, alias="type")
    trigger: Trigger = Trigger.SCHEDULE
    triggered_by: str | None = Field(default=None, max_length=256)
    request_id: str | None = Field(default=None, min_length=1, max_length=256)
    time: datetime | None = Field(default=None, description="when the rule fired (the scheduled event's time)")
    collection_run_id: str | None = Field(default=None, max_length=64)
    collection_step: int | None = Field(default=None, ge=0, le=49)
    preview_of: str | None = Field(default=None, max_length=64)
    approval_id: str | None = Field(default=None, max_length=64)
    failed_of: str | None = Field(default=None, max_length=64, description="only the failed entities of this run")

    @model_validator(mode="after")
    def _one_subject(self) -> StartEvent:
        if (self.job_id is None) == (self.collection_id is None):
            raise ValueError("job_id or collection_id: name exactly one of them")
        if self.failed_of is not None and self.collection_id is not None:
            raise ValueError("failed_of: retries the failed entities of one job's run, not of a collection")
        return self

    def to_request(self, now: datetime | None = None) -> StartRequest | CollectionStartRequest:
        fired = (self.time or now or datetime.now(UTC)).astimezone(UTC)
        if self.request_id is None:
            fired = fired.replace(second=0, microsecond=0)
        request_id = self.request_id or f"{self.trigger.value}:{self.run_type.value}:{fired:%Y-%m-%dT%H:%MZ}"
        common = {
            "run_type": self.run_type,
            "trigger": self.trigger,
            "triggered_by": self.triggered_by or ("eventbridge" if self.trigger is Trigger.SCHEDULE else "unknown"),
            "request_id": request_id,
            "requested_at": fired,
            "preview_of": self.preview_of,
            "approval_id": self.approval_id,
        }
        if self.collection_id is not None:
            return CollectionStartRequest(collection_id=self.collection_id, **common)
        return StartRequest(
            job_id=str(self.job_id),
            collection_run_id=self.collection_run_id,
            collection_step=self.collection_step,
            failed_of=self.failed_of,
            **common,
        )

    @classmethod
    def of(cls, request: StartRequest | CollectionStartRequest) -> StartEvent:
        """The event that asks start_run for exactly this request (`to_request` gives it back)."""
        subject = (
            {"collection_id": request.collection_id}
            if isinstance(request, CollectionStartRequest)
            else {
                "job_id": request.job_id,
                "collection_run_id": request.collection_run_id,
                "collection_step": request.collection_step,
                "failed_of": request.failed_of,
            }
        )
        return cls(
            **subject,
            run_type=request.run_type,
            trigger=request.trigger,
            triggered_by=request.triggered_by,
            request_id=request.request_id,
            time=request.requested_at,
            preview_of=request.preview_of,
            approval_id=request.approval_id,
        )

    def payload(self) -> dict[str, Any]:
        """The event as JSON for an asynchronous invoke of start_run."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def job_request(self, now: datetime | None = None) -> StartRequest:
        """The request for a job run (ValueError for a collection's event)."""
        request = self.to_request(now)
        if not isinstance(request, StartRequest):
            raise ValueError("this event starts a collection, not a job")
        return request


def run_id_of(request: StartRequest | CollectionStartRequest) -> str:
    """The id of the run (or collection run) a request names: the same request, the same id."""
    if isinstance(request, CollectionStartRequest):
        return collection_run_id_for(request)
    return run_id_for(request)

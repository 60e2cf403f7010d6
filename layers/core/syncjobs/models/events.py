"""The input start_run accepts: an EventBridge rule's constant input, or a request from the API/CLI."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from syncjobs.models.job import JOB_ID_PATTERN
from syncjobs.models.run import RunType, StartRequest, Trigger


class StartEvent(BaseModel):
    """`{"job_id": ..., "type": ...}` is all a schedule rule needs; the rest is for API/CLI callers.

    A scheduled fire has no id of its own (a constant input carries none), so two deliveries of the
    same fire are recognised by the minute they fired in: rules fire at most once a minute.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    run_type: RunType = Field(default=RunType.READ, alias="type")
    trigger: Trigger = Trigger.SCHEDULE
    triggered_by: str | None = Field(default=None, max_length=256)
    request_id: str | None = Field(default=None, min_length=1, max_length=256)
    time: datetime | None = Field(default=None, description="when the rule fired (an InputTransformer's $.time)")

    def to_request(self, now: datetime | None = None) -> StartRequest:
        fired = (self.time or now or datetime.now(UTC)).astimezone(UTC)
        if self.request_id is None:
            fired = fired.replace(second=0, microsecond=0)
        request_id = self.request_id or f"{self.trigger.value}:{self.run_type.value}:{fired:%Y-%m-%dT%H:%MZ}"
        return StartRequest(
            job_id=self.job_id,
            run_type=self.run_type,
            trigger=self.trigger,
            triggered_by=self.triggered_by or ("eventbridge" if self.trigger is Trigger.SCHEDULE else "unknown"),
            request_id=request_id,
            requested_at=fired,
        )

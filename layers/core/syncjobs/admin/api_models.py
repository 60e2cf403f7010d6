"""Request bodies of the admin API: what its OpenAPI document describes and Powertools validates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from syncjobs.models.job import SubscriptionTrigger
from syncjobs.models.run import RunType


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(_Body):
    type: RunType = RunType.READ


class ScheduleRequest(_Body):
    expression: str = Field(max_length=256, description="rate(...) or cron(...), as EventBridge takes them (UTC)")
    type: RunType = RunType.READ


class SubscribeRequest(_Body):
    trigger: SubscriptionTrigger = SubscriptionTrigger.DEFAULT


class TraceRequest(_Body):
    outcomes: list[str] = Field(min_length=1, max_length=5, description="outcomes whose log traces content once")


_PLACES = {"body", "path", "query", "header", "headers"}


def problems_of(errors: Sequence[Any]) -> list[str]:
    """Validation errors as `field: message` lines (the request part is left out: `type`, not `body.type`)."""
    lines = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if str(part) not in _PLACES]
        message = error.get("msg") or error.get("type", "is invalid")
        lines.append(f"{'.'.join(loc) or '(body)'}: {message}")
    return lines

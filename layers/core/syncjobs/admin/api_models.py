"""Requests to the admin API: the bodies its OpenAPI document describes and Powertools validates, who calls,
the size limit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, ConfigDict, Field

from syncjobs.models.job import SubscriptionTrigger
from syncjobs.models.run import RunType

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(_Body):
    type: RunType = RunType.READ
    failed_of: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="process only the failed entities of this earlier run of the job (it must have ended)",
    )


class ScheduleRequest(_Body):
    expression: str = Field(max_length=256, description="rate(...) or cron(...), as EventBridge Scheduler takes them")
    type: RunType = RunType.READ
    timezone: str = Field(
        default="UTC",
        max_length=64,
        description="the IANA time zone the cron's times are read in (Europe/Berlin), daylight saving included",
    )


class SubscribeRequest(_Body):
    trigger: SubscriptionTrigger = SubscriptionTrigger.DEFAULT


class TraceRequest(_Body):
    outcomes: list[str] = Field(min_length=1, max_length=5, description="outcomes whose log traces content once")


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=128, description="the same key names the same run (a retry)"),
]


_PLACES = {"body", "path", "query", "header", "headers"}


def problems_of(errors: Sequence[Any]) -> list[str]:
    """Validation errors as `field: message` lines (the request part is left out: `type`, not `body.type`)."""
    lines = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if str(part) not in _PLACES]
        message = error.get("msg") or error.get("type", "is invalid")
        lines.append(f"{'.'.join(loc) or '(body)'}: {message}")
    return lines


# A body larger than this is refused (413) before it is parsed. Why this size: a job or collection is
# stored as one DynamoDB item, at most 400 KB, and a definition takes no more room there than in JSON
# (strings count their UTF-8 bytes, map keys and values without quotes); 256 KiB leaves room for the
# item's other attributes and the defaults the definition fills in. A real definition is a few KB.
MAX_BODY_BYTES = 256 * 1024


def body_bytes(event: dict[str, Any]) -> int:
    """The size of an API Gateway proxy event's body as the client sent it (a base64 body decoded)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8", "surrogatepass"))


def too_large(event: dict[str, Any]) -> str | None:
    """Why the request is refused for its size, or None."""
    size = body_bytes(event)
    if size <= MAX_BODY_BYTES:
        return None
    return f"the request body is {size:,} bytes; the admin API takes at most {MAX_BODY_BYTES:,} bytes (256 KiB)"


def new_router() -> APIGatewayRouter:
    """A resource's routes (Powertools' Router is untyped)."""
    return APIGatewayRouter()  # type: ignore[no-untyped-call]


def caller_of(event: APIGatewayProxyEvent) -> str:
    """Who calls: the IAM identity API Gateway authenticated (SigV4)."""
    return event.request_context.identity.user_arn or "unknown IAM caller"


def request_id_of(event: APIGatewayProxyEvent, idempotency_key: str | None) -> str:
    """What names a run request: the caller's Idempotency-Key, else API Gateway's request id (a new run)."""
    return f"api:{idempotency_key or event.request_context.request_id}"

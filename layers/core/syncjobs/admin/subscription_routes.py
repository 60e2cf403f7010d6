"""Admin API routes of a job's subscribers: who gets its mails, and on what trigger."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.openapi.params import Body

from syncjobs.admin import operations
from syncjobs.admin.api_models import SubscribeRequest, new_router
from syncjobs.admin.api_responses import CHANGE, READ, WITH_BODY, SubscriberList, Unsubscribed, documented
from syncjobs.models.job import Subscription

router = new_router()


@router.get("/jobs/<job_id>/subscribers", responses=documented(200, *READ))
def list_subscribers(job_id: str) -> SubscriberList:
    return SubscriberList(subscribers=operations.subscribers(job_id))


@router.put("/jobs/<job_id>/subscribers/<email>", responses=documented(200, *WITH_BODY))
def subscribe(job_id: str, email: str, request: Annotated[SubscribeRequest | None, Body()] = None) -> Subscription:
    """Subscribe a person or a distribution list, with a trigger (default: the job's policy)."""
    trigger = request.trigger.value if request else "default"
    return operations.subscribe(job_id, unquote(email), trigger)


@router.delete("/jobs/<job_id>/subscribers/<email>", responses=documented(200, *CHANGE))
def unsubscribe(job_id: str, email: str) -> Unsubscribed:
    operations.unsubscribe(job_id, unquote(email))
    return Unsubscribed(job_id=job_id, email=unquote(email), subscribed=False)

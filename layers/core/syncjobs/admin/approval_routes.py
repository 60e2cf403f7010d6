"""Admin API routes of approval requests: list, show, approve, reject."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from syncjobs.admin import collections
from syncjobs.admin.api_models import caller_of, new_router
from syncjobs.admin.api_responses import READ, ApprovalList, documented
from syncjobs.models.approval import Approval

router = new_router()

DECIDE = (403, 404, 409, 410, 422)


@router.get("/approvals", responses=documented(200, 422))
def list_approvals(
    status: Annotated[str | None, Query(description="previewing, pending, approved, rejected or expired")] = None,
) -> ApprovalList:
    """Recent approval requests, newest first."""
    return ApprovalList(approvals=collections.list_approvals(status))


@router.get("/approvals/<approval_id>", responses=documented(200, *READ))
def get_approval(approval_id: str) -> Approval:
    return collections.get_approval(approval_id)


@router.post("/approvals/<approval_id>/approve", responses=documented(200, *DECIDE))
def approve(approval_id: str) -> Approval:
    """Approve a pending request as the calling IAM identity: the real run starts."""
    return collections.decide_approval(approval_id, True, caller_of(router.current_event))


@router.post("/approvals/<approval_id>/reject", responses=documented(200, *DECIDE))
def reject(approval_id: str) -> Approval:
    return collections.decide_approval(approval_id, False, caller_of(router.current_event))

"""What an approver's approve or reject link does: GET shows the request and a button, POST decides.

The link names one approver (the token's `who`), so the decision records who made it; a second use,
by anyone, is refused (409), as is a link past the request's expiry (410, and the request expires).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from syncjobs.links import APPROVE, LinkClaim, LinkRefused
from syncjobs.notify.render import render_decision_page
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.errors import NotFound
from syncjobs.workflows.approvals import ApprovalRefused, decide, expire, refusal


@dataclass(frozen=True)
class DecisionPage:
    page: str
    status: int = 200


def follow_decision(claim: LinkClaim, method: str, now: datetime) -> DecisionPage:
    try:
        approval = ApprovalStore().get(claim.run_id)
    except NotFound:
        raise LinkRefused(f"approval request {claim.run_id} does not exist", 404) from None
    if claim.who is None or claim.who.lower() not in {a.lower() for a in approval.approvers}:
        raise LinkRefused("this link was not made for an approver of this request", 403)
    approve = claim.target == APPROVE
    if now >= claim.expires_at:
        expire(approval, now)
        raise LinkRefused(
            f"approval request {approval.approval_id} expired at {claim.expires_at:%Y-%m-%d %H:%M} UTC; "
            "nothing was started",
            410,
        )
    if method in ("GET", "HEAD"):
        if (refused := refusal(approval, now)) is not None:
            raise LinkRefused(str(refused), refused.status)
        return DecisionPage(render_decision_page(approval, approve, done=False, who=claim.who))
    if method != "POST":
        raise LinkRefused("use the button on the page this link opens", 405)
    try:
        decided = decide(approval.approval_id, approve, by=claim.who, via="mail link", now=now)
    except ApprovalRefused as err:
        raise LinkRefused(str(err), err.status) from None
    return DecisionPage(render_decision_page(decided, approve, done=True, who=claim.who))

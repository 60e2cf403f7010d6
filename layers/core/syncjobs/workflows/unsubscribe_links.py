"""A subscriber's unsubscribe link: GET shows what it would do and a button, POST unsubscribes.

The link (syncjobs.links, target UNSUBSCRIBE) names one job and one subscriber; it rides in every
mail about the job's runs, in the body and as List-Unsubscribe (RFC 2369). A mail client's one-click
unsubscribe (RFC 8058) POSTs `List-Unsubscribe=One-Click` to it: whatever the body, a POST
unsubscribes, as `syncjobs unsubscribe JOB EMAIL` does. A GET never does (mail scanners open links).
Unsubscribing twice, or after an admin removed the subscription, says the same: no more mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from syncjobs.links import UNSUBSCRIBE, LinkClaim, LinkRefused
from syncjobs.notify.render import render_unsubscribe_page
from syncjobs.observability import logger
from syncjobs.store.jobs import JobStore

UNSUBSCRIBE_DAYS = 365  # a mail read late must still let its reader out


@dataclass(frozen=True)
class UnsubscribePage:
    page: str
    status: int = 200


def unsubscribe_expiry(now: datetime) -> datetime:
    """When an unsubscribe link made now stops working."""
    return (now + timedelta(days=UNSUBSCRIBE_DAYS)).replace(microsecond=0)


def follow_unsubscribe(claim: LinkClaim, method: str, now: datetime) -> UnsubscribePage:
    if claim.target != UNSUBSCRIBE or claim.who is None:
        raise LinkRefused("this link was not made for a subscriber", 403)
    if now >= claim.expires_at:
        raise LinkRefused(
            f"this link expired at {claim.expires_at:%Y-%m-%d %H:%M} UTC; ask an admin to unsubscribe you", 410
        )
    job_id, email = claim.run_id, claim.who
    if method in ("GET", "HEAD"):
        return UnsubscribePage(render_unsubscribe_page(job_id, email, done=False))
    if method != "POST":
        raise LinkRefused("use the button on the page this link opens", 405)
    JobStore().unsubscribe(job_id, email)
    logger.info("unsubscribed by mail link", extra={"job_id": job_id})
    return UnsubscribePage(render_unsubscribe_page(job_id, email, done=True))

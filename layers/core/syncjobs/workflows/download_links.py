"""The download links in mails, and what a click on one does.

With the links function deployed (LINKS_BASE_URL), a mail link is a signed token (syncjobs.links)
that lives as long as the job's link lifetime, bounded by the log retention; a click presigns the log
for REDIRECT_SECONDS and redirects there. Without it, the mail holds presigned S3 URLs, whose
lifetime is capped at 12 hours: what a Lambda role's temporary credentials can honour at best.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from syncjobs.links import APPROVE, DETAILS, REJECT, UNSUBSCRIBE, LinkRefused, sign, verify
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run
from syncjobs.notify.render import render_run_page
from syncjobs.settings import get_settings
from syncjobs.store.errors import NotFound
from syncjobs.store.notifications import NotificationStore
from syncjobs.store.objects import LogObjects, log_download_name
from syncjobs.store.runs import RunStore
from syncjobs.store.secrets import get_secret
from syncjobs.workflows.decision_links import follow_decision
from syncjobs.workflows.unsubscribe_links import follow_unsubscribe

REDIRECT_SECONDS = 300
PRESIGNED_MAX_SECONDS = 43200


@dataclass(frozen=True)
class MailLink:
    outcome: Outcome
    url: str
    file_name: str


@dataclass(frozen=True)
class MailLinks:
    logs: list[MailLink]
    details: str | None  # the run's details page (a signed link; else DETAILS_BASE_URL's, if set)
    expires_at: datetime


def _signed() -> bool:
    settings = get_settings()
    return bool(settings.links_base_url and settings.link_signing_key_secret)


def _lifetime() -> int:
    """Seconds a link made now works: the job's link lifetime, bounded by the log retention (signed
    links) or by what a role's credentials can honour (presigned S3 URLs)."""
    settings = get_settings()
    limit = settings.log_retention_days * 86400 if _signed() else PRESIGNED_MAX_SECONDS
    return max(60, min(settings.link_lifetime_seconds, limit))


def link_expiry(now: datetime) -> datetime:
    """When links made now stop working."""
    return (now + timedelta(seconds=_lifetime())).replace(microsecond=0)


def mail_links(run: Run, now: datetime) -> MailLinks:
    """A link per non-empty log of the run and to its details page, and when the links stop working."""
    settings = get_settings()
    signed, lifetime, expires_at = _signed(), _lifetime(), link_expiry(now)
    key = get_secret(settings.link_signing_key_secret).encode() if signed else b""
    logs = LogObjects()
    links = []
    for outcome in Outcome:
        log = run.log_keys.get(outcome.value)
        if not log:
            continue
        name = log_download_name(run.job_id, run.run_id, log)
        if signed:
            url = f"{settings.links_base_url}/{sign(key, run.run_id, outcome, expires_at)}"
        else:
            url = logs.presign_download(log, name, lifetime)
        links.append(MailLink(outcome, url, name))
    if signed:
        details: str | None = f"{settings.links_base_url}/{sign(key, run.run_id, DETAILS, expires_at)}"
    else:
        details = f"{settings.details_base_url}/runs/{run.run_id}" if settings.details_base_url else None
    return MailLinks(links, details, expires_at)


def signed_link(target_id: str, target: str, expires_at: datetime, who: str | None = None) -> str | None:
    """A link to the links function for one target (None when no links function is deployed)."""
    settings = get_settings()
    if not _signed():
        return None
    key = get_secret(settings.link_signing_key_secret).encode()
    return f"{settings.links_base_url}/{sign(key, target_id, target, expires_at, who)}"


@dataclass(frozen=True)
class Followed:
    redirect: str | None = None  # a presigned URL of a log
    page: str | None = None  # the run's details page, or an approval's confirmation or outcome
    status: int = 200


def follow_link(token: str, now: datetime | None = None, method: str = "GET") -> Followed:
    """Where a mail link's token leads; LinkRefused with the HTTP status if nowhere.

    A decision link (approve/reject) or an unsubscribe link shows a confirmation page on GET and acts
    on POST only: mail scanners open links, and must not approve or unsubscribe anything by doing so."""
    settings = get_settings()
    moment = now or datetime.now(UTC)
    key = get_secret(settings.link_signing_key_secret).encode()
    claim = verify(key, token, moment, allow_expired=True)
    if claim.target in (APPROVE, REJECT):
        decided = follow_decision(claim, method, moment)
        return Followed(page=decided.page, status=decided.status)
    if claim.target == UNSUBSCRIBE:
        left = follow_unsubscribe(claim, method, moment)
        return Followed(page=left.page, status=left.status)
    if moment >= claim.expires_at:
        raise LinkRefused(f"this link expired at {claim.expires_at:%Y-%m-%d %H:%M} UTC", 410)
    if method not in ("GET", "HEAD"):
        raise LinkRefused("this link only opens a page or a log (use GET)", 405)
    try:
        run = RunStore().get(claim.run_id).run
    except NotFound:
        raise LinkRefused(f"run {claim.run_id} no longer exists", 404) from None
    if claim.target == DETAILS:
        # the page's own log links live as long as the link that opened it
        logs = {o: sign(key, run.run_id, o, claim.expires_at) for o in run.log_keys}
        notes = NotificationStore().for_run(run.run_id)
        expiry = claim.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        return Followed(page=render_run_page(run, notes, logs, expiry))
    log = run.log_keys.get(claim.target)
    if not log:
        raise LinkRefused(f"run {run.run_id} has no {claim.target} log", 404)
    if not LogObjects().exists(log):
        raise LinkRefused(f"the log was deleted after the {settings.log_retention_days}-day log retention", 410)
    return Followed(redirect=presign_briefly(run, log))


def presign_briefly(run: Run, log: str) -> str:
    """One of the run's logs, presigned for REDIRECT_SECONDS: what a click or an admin's download gets."""
    return LogObjects().presign_download(log, log_download_name(run.job_id, run.run_id, log), REDIRECT_SECONDS)

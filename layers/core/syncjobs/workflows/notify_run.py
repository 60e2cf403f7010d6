"""notify: turn a run item's change into at most one mail per (run, kind, recipient)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from syncjobs.models.job import JobDefinition
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run
from syncjobs.notify.message import build
from syncjobs.notify.render import Link, render
from syncjobs.notify.rules import Decision, MailKind, change_of, decide
from syncjobs.observability import logger
from syncjobs.settings import get_settings
from syncjobs.store.jobs import JobStore
from syncjobs.store.mailer import Mailer
from syncjobs.store.notifications import NotificationStore
from syncjobs.store.objects import LogObjects, log_download_name


class MailNotSent(RuntimeError):
    """At least one recipient's mail failed; the stream record must be retried (the rest are deduped)."""


def notify_run_change(old_image: dict[str, Any] | None, new_image: dict[str, Any]) -> list[tuple[str, Decision]]:
    change = change_of(old_image, new_image)
    if change is None:
        return []
    run = Run.model_validate(new_image)
    job = JobDefinition.model_validate(new_image["job"])
    decision = decide(job.notification, run.run_type, change, run.status, run.failure_streak_before)
    if decision.kind is None:
        logger.info("no notification", extra={"run_id": run.run_id, "change": change, "reason": decision.reason})
        return []

    notes, now = NotificationStore(), datetime.now(UTC)
    recipients = JobStore().subscribers(run.job_id)
    outcomes: list[tuple[str, Decision]] = []
    errors: list[str] = []
    for recipient in recipients:
        outcomes.append((recipient, decision))
        if not decision.send:
            notes.record_suppressed(run.run_id, decision.kind.value, recipient, decision.reason, now)
            continue
        if not notes.claim(run.run_id, decision.kind.value, recipient, decision.reason, now):
            logger.info("mail already sent or being sent", extra={"run_id": run.run_id, "kind": decision.kind})
            continue
        try:
            message_id = _send(run, decision.kind, recipient)
        except Exception as err:
            notes.release(run.run_id, decision.kind.value, recipient)
            errors.append(f"{type(err).__name__}: {err}")
            continue
        notes.mark_sent(run.run_id, decision.kind.value, recipient, message_id, datetime.now(UTC))
        logger.info("mail sent", extra={"run_id": run.run_id, "kind": decision.kind, "message_id": message_id})
    if errors:
        raise MailNotSent(f"{len(errors)} of {len(recipients)} mail(s) for run {run.run_id} not sent: {errors[0]}")
    return outcomes


def _send(run: Run, kind: MailKind, recipient: str) -> str:
    settings = get_settings()
    lifetime = settings.link_lifetime_seconds
    expires_at = datetime.now(UTC) + timedelta(seconds=lifetime)
    logs = LogObjects()
    totals = run.totals()
    links = []
    for outcome in Outcome:
        key = run.log_keys.get(outcome.value)
        if key:
            name = log_download_name(run.job_id, run.run_id, key)
            links.append(Link(outcome.value, totals[outcome], logs.presign_download(key, name, lifetime), name))
    details = f"{settings.details_base_url}/runs/{run.run_id}" if settings.details_base_url else None
    mail = render(kind, run, links, details, expires_at.strftime("%Y-%m-%d %H:%M UTC"))
    raw = build(settings.sender_email, recipient, mail, f"{run.run_id}.{kind.value}")
    return Mailer().send_raw(settings.sender_email, [recipient], raw)

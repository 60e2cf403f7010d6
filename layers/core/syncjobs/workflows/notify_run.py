"""notify: turn a run item's change into at most one mail per (run, kind, recipient).

Every decision, sent or not, is recorded on the run with its reason (the run's details show them).
A mail is claimed before it is sent and marked sent after; with the daily cap, the day's slot is
taken by the mail's key (so a retried send keeps it) and the mails held meanwhile are listed in it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from syncjobs.links import APPROVE, UNSUBSCRIBE
from syncjobs.models.approval import ApprovalStatus, deletes_approval_id
from syncjobs.models.job import JobDefinition, NotificationSettings, SubscriptionTrigger
from syncjobs.models.notification import HeldMail
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run
from syncjobs.notify.message import build
from syncjobs.notify.render import AllowLink, Link, RenderedMail, render
from syncjobs.notify.rules import CAP_WINDOW, Change, Decision, MailKind, Transition, cap, change_of, decide
from syncjobs.observability import logger, metrics
from syncjobs.settings import get_settings
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs.store.mailer import Mailer
from syncjobs.store.notifications import MailCap, NotificationStore
from syncjobs.workflows.download_links import mail_links, signed_link
from syncjobs.workflows.unsubscribe_links import unsubscribe_expiry


class MailNotSent(RuntimeError):
    """At least one recipient's mail failed; the stream record must be retried (the rest are deduped)."""


def transition_of(run: Run, change: Change) -> Transition:
    totals = run.totals()
    return Transition(
        change=change,
        run_type=run.run_type,
        status=run.status,
        streak_before=run.failure_streak_before,
        changed_records=totals[Outcome.CREATED] + totals[Outcome.UPDATED] + totals[Outcome.DELETED],
        failed_entities=totals[Outcome.FAILED],
        deletes_held=run.deletes_held,
        quarantine_notice=run.quarantine_notice is not None,
        quarantined_before=run.quarantined_before,
    )


def notify_run_change(old_image: dict[str, Any] | None, new_image: dict[str, Any]) -> list[tuple[str, Decision]]:
    change = change_of(old_image, new_image)
    if change is None:
        return []
    run = Run.model_validate(new_image)
    job = JobDefinition.model_validate(new_image["job"])
    now = datetime.now(UTC)
    subscribers = [(str(s.email), s.trigger) for s in JobStore().subscriptions(run.job_id)]
    return deliver_decisions(
        run.run_id,
        subscribers,
        job.notification,
        transition_of(run, change),
        lambda recipient, decision: deliver_run_mail(run, job, recipient, decision, now),
    )


def deliver_decisions(
    subject_id: str,
    subscribers: list[tuple[str, SubscriptionTrigger]],
    policy: NotificationSettings,
    transition: Transition,
    deliver: Callable[[str, Decision], object],
) -> list[tuple[str, Decision]]:
    """Decide per subscriber (the rules), record each suppressed mail with its reason on `subject_id`
    (a run, a collection run) and deliver the others; MailNotSent if any delivery failed (the stream
    record is retried: what went out is not sent again)."""
    notes, now = NotificationStore(), datetime.now(UTC)
    outcomes: list[tuple[str, Decision]] = []
    errors: list[str] = []
    for recipient, trigger in subscribers:
        for decision in decide(policy, trigger, transition):
            outcomes.append((recipient, decision))
            if not decision.send:
                notes.record_suppressed(subject_id, decision.kind.value, recipient, decision.reason, now)
                continue
            try:
                deliver(recipient, decision)
            except Exception as err:
                errors.append(f"{type(err).__name__}: {err}")
    if errors:
        raise MailNotSent(f"{len(errors)} mail(s) about {subject_id} not sent: {errors[0]}")
    return outcomes


def deliver_run_mail(run: Run, job: JobDefinition, recipient: str, decision: Decision, now: datetime) -> None:
    """Claim, (cap,) send and record one mail about a run; nothing if it was sent or is being sent."""
    notes, kind = NotificationStore(), decision.kind.value
    if not notes.claim(run.run_id, kind, recipient, decision.reason, now):
        logger.info("mail already sent or being sent", extra={"run_id": run.run_id, "kind": kind})
        return
    held: list[HeldMail] = []
    caps = MailCap()
    mail_key = f"{run.run_id}#{kind}"
    if job.notification.max_one_mail_per_day:
        taken = caps.take(run.job_id, recipient, mail_key, now, CAP_WINDOW)
        if taken is None:
            reason = cap(True, caps.last_sent(run.job_id, recipient), now).reason or "held: the day's mail has gone"
            caps.hold(run.job_id, recipient, HeldMail(mail_key, run.run_id, kind, run.status.value, now.isoformat()))
            notes.mark_held(run.run_id, kind, recipient, reason, now)
            logger.info("mail held by the daily cap", extra={"run_id": run.run_id, "kind": kind})
            return
        held = [h for h in taken if h.key != mail_key]
    _send_claimed(run.run_id, kind, recipient, partial(_send, run, decision, recipient, held))
    caps.forget(run.job_id, recipient, [h.key for h in held])


def send_once(
    subject_id: str,
    kind: str,
    recipient: str,
    reason: str,
    mail: Callable[[], RenderedMail],
    subject: str,
    now: datetime | None = None,
) -> bool:
    """Send a mail about `subject_id` (a collection run, an approval request: `subject`) at most once
    per kind and recipient, whatever the stream or the scheduled retry redelivers; False if it was
    sent (or is being sent) before."""
    if not NotificationStore().claim(subject_id, kind, recipient, reason, now or datetime.now(UTC), subject):
        return False
    settings = get_settings()
    sender, name = settings.sender_email, settings.sender_name
    _send_claimed(
        subject_id,
        kind,
        recipient,
        lambda: Mailer().send_raw(
            sender, [recipient], build(sender, recipient, mail(), f"{subject_id}.{kind}", sender_name=name)
        ),
    )
    return True


def _send_claimed(subject_id: str, kind: str, recipient: str, send: Callable[[], str]) -> None:
    """Send a claimed mail: on failure keep it pending (a retry takes it at once: the stream's, or
    when those are spent the scheduled one in notify_retry.py), else mark it sent."""
    notes = NotificationStore()
    try:
        message_id = send()
    except Exception as err:
        notes.keep(subject_id, kind, recipient, f"{type(err).__name__}: {err}", datetime.now(UTC))
        metrics.add_metric(name="MailsNotSent", unit=MetricUnit.Count, value=1)
        raise
    notes.mark_sent(subject_id, kind, recipient, message_id, datetime.now(UTC))
    logger.info("mail sent", extra={"subject_id": subject_id, "kind": kind, "message_id": message_id})


def _allow_link(run: Run, recipient: str) -> AllowLink | None:
    """The recipient's link to allow the run's held deletes (workflows/held_deletes.py), while the
    request is pending; None for a simulate, or without the links function."""
    try:
        approval = ApprovalStore().get(deletes_approval_id(run.job_id, run.run_id, run.created_at))
    except NotFound:
        return None
    if approval.status is not ApprovalStatus.PENDING or approval.expires_at is None:
        return None
    if recipient.lower() not in {a.lower() for a in approval.approvers}:
        return None
    url = signed_link(approval.approval_id, APPROVE, approval.expires_at, recipient)
    if url is None:
        return None
    return AllowLink(url, approval.approval_id, approval.expires_at.strftime("%Y-%m-%d %H:%M UTC"))


def _send(run: Run, decision: Decision, recipient: str, held: list[HeldMail]) -> str:
    settings, now = get_settings(), datetime.now(UTC)
    totals = run.totals()
    made = mail_links(run, now)
    links = [Link(m.outcome.value, totals[m.outcome], m.url, m.file_name) for m in made.logs]
    expiry = made.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    allow = _allow_link(run, recipient) if decision.kind is MailKind.DELETES_HELD else None
    leave = signed_link(run.job_id, UNSUBSCRIBE, unsubscribe_expiry(now), recipient)
    mail = render(
        decision.kind,
        run,
        links,
        made.details,
        expiry,
        why=decision.reason,
        held=held,
        allow=allow,
        unsubscribe_url=leave,
    )
    key = f"{run.run_id}.{decision.kind.value}"
    raw = build(settings.sender_email, recipient, mail, key, sender_name=settings.sender_name, unsubscribe_url=leave)
    return Mailer().send_raw(settings.sender_email, [recipient], raw)

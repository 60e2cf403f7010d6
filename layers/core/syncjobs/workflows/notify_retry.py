"""The scheduled retry of kept mail: a mail whose send failed through all of the stream's retries
(an SES outage longer than a few seconds) stays `pending` (store/notifications.py) and is sent here,
every 15 minutes, for MAIL_KEPT_FOR after it was first claimed; then it is given up, logged and
counted (MailsGivenUp, an alarm).

Exactly once: each send goes through the same claim as the stream's (a conditional update that
accepts a pending mail or a stale claim), so a retry and a late stream record never both send.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from syncjobs.notify.rules import Decision, MailKind
from syncjobs.observability import logger, metrics
from syncjobs.store.notifications import CLAIM_LEASE, NotificationStore, PendingMail
from syncjobs.store.runs import RunStore
from syncjobs.workflows.notify_others import resend_approval_mail, resend_collection_mail
from syncjobs.workflows.notify_run import deliver_run_mail

MAIL_KEPT_FOR = timedelta(hours=24)


def _resend(mail: PendingMail, now: datetime) -> None:
    if mail.subject == "collection_run":
        resend_collection_mail(mail.subject_id, mail.kind, mail.recipient, mail.reason, now)
    elif mail.subject == "approval":
        resend_approval_mail(mail.subject_id, mail.kind, mail.recipient, mail.reason, now)
    else:
        record = RunStore().get(mail.subject_id)
        decision = Decision(MailKind(mail.kind), send=True, reason=mail.reason)
        deliver_run_mail(record.run, record.job, mail.recipient, decision, now)


def retry_pending(now: datetime) -> dict[str, int]:
    """Send every kept mail once more; give up those kept for MAIL_KEPT_FOR. A claim younger than
    the lease belongs to a live sender and is left to it."""
    notes = NotificationStore()
    tally = {"sent": 0, "failed": 0, "given_up": 0, "busy": 0}
    for mail in notes.pending():
        where = {"subject_id": mail.subject_id, "kind": mail.kind, "attempts": mail.attempts}
        if mail.state == "claimed" and now - mail.at < CLAIM_LEASE:
            tally["busy"] += 1
            continue
        if now - mail.pending_since >= MAIL_KEPT_FOR:
            if notes.give_up(mail, now):
                logger.error("mail given up", extra={**where, "since": mail.pending_since, "error": mail.last_error})
                metrics.add_metric(name="MailsGivenUp", unit=MetricUnit.Count, value=1)
                tally["given_up"] += 1
            continue
        try:
            _resend(mail, now)
        except Exception:
            logger.warning("kept mail not sent; tried again later", extra=where, exc_info=True)
            tally["failed"] += 1
            continue
        tally["sent"] += 1
    logger.info("kept mail retried", extra=tally)
    return tally

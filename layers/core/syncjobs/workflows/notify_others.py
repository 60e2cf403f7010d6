"""Mails about collection runs (to the collection's recipients, by its Netwrix trigger) and approval
requests (to the approvers, once the preview is ready). At most one per kind and recipient."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from syncjobs.links import APPROVE, DETAILS, REJECT
from syncjobs.models.approval import Approval, ApprovalStatus
from syncjobs.models.collection import CollectionDefinition, CollectionRun
from syncjobs.models.job import NotificationSettings
from syncjobs.models.run import RunStatus
from syncjobs.notify.render import STATUS_LABELS, Link, RenderedMail, StepLine, render_approval, render_collection
from syncjobs.notify.rules import Change, Decision, Transition
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.collections import CollectionStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows.download_links import link_expiry, mail_links, signed_link
from syncjobs.workflows.notify_run import MailNotSent, deliver_decisions, send_once


def collection_transition(crun: CollectionRun) -> Transition:
    totals = crun.totals()
    return Transition(
        change=Change.FINISHED,
        run_type=crun.run_type,
        status=crun.status,
        changed_records=totals.get("created", 0) + totals.get("updated", 0) + totals.get("deleted", 0),
        failed_entities=totals.get("failed", 0),
    )


def notify_collection_change(old: dict[str, Any] | None, new: dict[str, Any]) -> list[tuple[str, Decision]]:
    crun = CollectionRun.model_validate(new)
    was_final = bool(old and "status" in old and RunStatus(old["status"]).is_final)
    if not crun.status.is_final or crun.status is RunStatus.SKIPPED or was_final or crun.preview_of:
        return []
    definition = CollectionDefinition.model_validate(new["collection"])
    policy = NotificationSettings(notify_run_types=[crun.run_type])  # a collection's recipients asked for it
    trigger, now = definition.notification.trigger, datetime.now(UTC)
    return deliver_decisions(
        crun.collection_run_id,
        [(str(recipient), trigger) for recipient in definition.notification.recipients],
        policy,
        collection_transition(crun),
        lambda recipient, decision: send_once(
            crun.collection_run_id,
            decision.kind.value,
            recipient,
            decision.reason,
            partial(_collection_mail, crun, decision.reason, now),
            "collection_run",
        ),
    )


def _collection_mail(crun: CollectionRun, why: str, now: datetime) -> RenderedMail:
    expires = link_expiry(now)
    lines = []
    for step in crun.steps:
        label = STATUS_LABELS.get(step.status, step.status.replace("_", " "))
        details = signed_link(step.run_id, DETAILS, expires) if step.run_id and step.totals else None
        lines.append(StepLine(step.job_id, step.on_failure.value, label, step.reason, step.totals, details))
    return render_collection(crun, lines, expires.strftime("%Y-%m-%d %H:%M UTC"), why)


def notify_approval_change(old: dict[str, Any] | None, new: dict[str, Any]) -> int:
    """Mail every approver once, when the request's preview is ready."""
    approval = Approval.model_validate(new)
    if approval.status is not ApprovalStatus.PENDING or (old or {}).get("status") == ApprovalStatus.PENDING.value:
        return 0
    if approval.subject_kind == "deletes":
        return 0  # held deletes: the run's "Deletes Held Back" mail carries the allow link
    errors: list[str] = []
    sent = 0
    for approver in approval.approvers:
        try:
            sent += send_once(
                approval.approval_id,
                "approval_request",
                approver,
                "you are an approver of this request",
                partial(_approval_mail, approval, approver),
                "approval",
            )
        except Exception as err:
            errors.append(f"{type(err).__name__}: {err}")
    if errors:
        raise MailNotSent(f"{len(errors)} approval mail(s) for {approval.approval_id}: {errors[0]}")
    return sent


def resend_collection_mail(collection_run_id: str, kind: str, recipient: str, reason: str, now: datetime) -> bool:
    """A kept mail about a collection run, sent again (notify_retry.py); False if it went meanwhile."""
    crun = CollectionStore().get_run(collection_run_id).run
    mail = partial(_collection_mail, crun, reason, now)
    return send_once(collection_run_id, kind, recipient, reason, mail, "collection_run", now)


def resend_approval_mail(approval_id: str, kind: str, recipient: str, reason: str, now: datetime) -> bool:
    """A kept mail to an approver, sent again (notify_retry.py); False if it went meanwhile."""
    approval = ApprovalStore().get(approval_id)
    return send_once(
        approval_id, kind, recipient, reason, partial(_approval_mail, approval, recipient), "approval", now
    )


def _approval_mail(approval: Approval, approver: str) -> RenderedMail:
    assert approval.expires_at is not None
    approve = signed_link(approval.approval_id, APPROVE, approval.expires_at, approver)
    reject = signed_link(approval.approval_id, REJECT, approval.expires_at, approver)
    if approve is None or reject is None:
        raise MailNotSent("approval mails need the links function (LINKS_BASE_URL, LINK_SIGNING_KEY_SECRET)")
    links: list[Link] = []
    details: str | None = None
    if approval.subject_kind == "job":
        preview = RunStore().get(approval.preview_id).run
        made = mail_links(preview, datetime.now(UTC))
        totals = preview.totals()
        links = [Link(m.outcome.value, totals[m.outcome], m.url, m.file_name) for m in made.logs]
        details = made.details
    return render_approval(approval, links, details, approve, reject)

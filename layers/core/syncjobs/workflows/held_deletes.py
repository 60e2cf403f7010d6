"""Deletes a run's threshold held back become a request an admin can allow (Entra's accidental-deletion
prevention): the "Deletes Held Back" mail carries an allow link, and `syncjobs approvals approve`
(the admin API) allows it too. The request reuses the approval machinery: created pending (there is
no preview: the held run is the preview), decided once, expiring.

Exactly those deletes, once: the entities are the ones the run's delete plan recorded when it held
them (never recomputed). Applying is at-least-once (the stream may deliver the approval twice): each
entity is deleted only while the entity state still names the target id it was held with, and the
request then moves approved -> applied, once; a later delivery finds it applied and does nothing.

An entity that came back to the source since it was held is not deleted. It came back if a run of the
job that started after the held run saw it (read it in scope, or failed it with its id known: the
same "seen" the delete plan uses), or if its entity state now names another target id (re-created).
One whose entity state is gone was deleted meanwhile (by a later run) and is counted as already gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from syncjobs.connectors.registry import target_for
from syncjobs.engine.deletes import (
    ALREADY_GONE,
    BACK_IN_SOURCE,
    DISABLED,
    RECREATED,
    disables,
    newer_run_blocks_allow,
    still_to_delete,
)
from syncjobs.engine.outcome_log import LogLine
from syncjobs.models.approval import Approval, ApprovalStatus, deletes_approval_id
from syncjobs.models.run import Run
from syncjobs.observability import logger
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs.store.objects import LogObjects
from syncjobs.store.runs import RunRecord, RunStore
from syncjobs.workflows.finalize import apply_deletes, load_delete_plans


def request_id_for(run: Run) -> str:
    return deletes_approval_id(run.job_id, run.run_id, run.created_at)


def hold_for_allow(run: Run, held: int, now: datetime) -> str:
    """Record the request to allow a run's held deletes (again, for a retried finalize: same id).
    Who may allow: the job's subscribers (the "Deletes Held Back" mail's recipients) and approvers."""
    job = JobStore().get(run.job_id).definition
    who = [str(s.email) for s in JobStore().subscriptions(run.job_id)]
    who += [str(a) for a in job.approval.approvers if str(a) not in who]
    approval = Approval(
        approval_id=request_id_for(run),
        subject_kind="deletes",
        subject_id=run.job_id,
        name=job.name,
        run_type=run.run_type,
        trigger=run.trigger,
        triggered_by=f"the delete threshold of run {run.run_id}",
        request_id=run.run_id,
        requested_at=run.created_at,
        status=ApprovalStatus.PENDING,
        approvers=who,
        preview_id=run.run_id,
        preview_totals={"held_deletes": held},
        pending_since=now,
        expires_at=(now + timedelta(hours=job.approval.expires_after_hours)).replace(microsecond=0),
    )
    ApprovalStore().create(approval)  # False: a retried finalize recorded it before
    logger.info("held deletes await an allow", extra={"approval_id": approval.approval_id, "run_id": run.run_id})
    return approval.approval_id


def _newer_run(record: RunRecord) -> str | None:
    held = record.run
    runs = RunStore().list_for_job(held.job_id, limit=5)  # newest first
    return newer_run_blocks_allow(held.run_id, str(held.created_at), [(r.run_id, str(r.created_at)) for r in runs])


def apply_allowed(approval_id: str) -> str | None:
    """Run the deletes an allowed request names, once. None if they ran before (or it is not allowed)."""
    store = ApprovalStore()
    approval = store.get(approval_id)
    if approval.subject_kind == "deletes" and approval.status is ApprovalStatus.APPLIED:
        _tell_the_run(approval)  # again: a delivery may have died between applying and telling the run
        return None
    if approval.subject_kind != "deletes" or approval.status is not ApprovalStatus.APPROVED:
        return None
    record = RunStore().get(approval.preview_id)
    if record.delete_plan is None:
        raise NotFound(f"run {record.run.run_id} has no delete plan: nothing was held")
    plans = {t: p for t, p in load_delete_plans(LogObjects(), record.delete_plan).items() if p.held_reason}
    job_id = record.run.job_id
    job = JobStore().get(job_id).definition  # the job as it is now: its target, its delete mode
    done: list[LogLine] = []
    kept: list[LogLine] = []
    target = None
    if blocked := _newer_run(record):
        return _record_outcome(approval, record, blocked, 0)
    try:
        for entity_type in [t.value for t in reversed(job.phases) if t.value in plans]:
            provisioned = EntityStateStore().provisioned(job_id, entity_type)
            todo, not_now = still_to_delete(plans[entity_type].pending, provisioned, set())
            kept += [LogLine(entity_type, e, t, None, why) for e, t, why in not_now]
            if todo:
                target = target or target_for(job)
                done += apply_deletes(job_id, entity_type, todo, target, disables(job.deletes.mode, entity_type)).lines
    finally:
        if target is not None:
            target.close()
    applied = sum(1 for x in done if x.reason in ("", DISABLED))
    return _record_outcome(approval, record, _outcome(approval, done, kept), applied)


def _record_outcome(approval: Approval, record: RunRecord, outcome: str, applied: int) -> str | None:
    store = ApprovalStore()
    fields = {"deletes_outcome": outcome, "deletes_applied": applied}
    if not store.transition(approval.approval_id, ApprovalStatus.APPROVED, ApprovalStatus.APPLIED, fields):
        return None  # another delivery applied it meanwhile (and recorded its outcome)
    _tell_the_run(store.get(approval.approval_id))
    logger.info(
        "allowed deletes applied",
        extra={"approval_id": approval.approval_id, "run_id": record.run.run_id, "applied": applied},
    )
    return outcome


def _tell_the_run(approval: Approval) -> None:
    RunStore().note_allowed_deletes(approval.preview_id, approval.deletes_applied, approval.deletes_outcome or "")


def _outcome(approval: Approval, done: list[LogLine], kept: list[LogLine]) -> str:
    deleted = sum(1 for x in done if x.reason == "")
    disabled = sum(1 for x in done if x.reason == DISABLED)
    failed = [x for x in done if x.reason not in ("", DISABLED)]
    counts = {
        "deleted": deleted,
        "disabled": disabled,
        "failed": len(failed),
        "already gone": sum(1 for x in kept if x.reason == ALREADY_GONE),
        "kept (back in the source)": sum(1 for x in kept if x.reason == BACK_IN_SOURCE),
        "kept (provisioned again)": sum(1 for x in kept if x.reason == RECREATED),
    }
    said = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing to do"
    when = f"{approval.decided_at:%Y-%m-%d %H:%M} UTC" if approval.decided_at else "earlier"
    first = f"; the first failure: {failed[0].reason}" if failed else ""
    return (
        f"{approval.held_deletes} held deletes allowed by {approval.decided_by} at {when} "
        f"(via {approval.decided_via}): {said}{first}"
    )[:1000]

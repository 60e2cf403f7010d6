"""Approval before execution: a fire of a job or collection that needs approval runs a simulate
preview instead; once the preview has ended, the approvers are mailed its counts and logs with
approve and reject links (signed, per approver, single-use, expiring); an approval starts the real
run through start_run, a rejection or the expiry ends the request. Every decision records who.

At-least-once: the request's id comes from the fire (a redelivered fire finds it), each status change
is conditional on the one before, and the real run's start is asked for by the advance function from
the stream until it has happened (start_run ignores a run it already started).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from syncjobs.engine.approval_gate import (
    PREVIEW_TYPES,
    ApprovalFacts,
    StepFacts,
    approval_refusal,
    approved_request_id,
    version_key,
    write_refusal,
)
from syncjobs.models.approval import Approval, ApprovalStatus, approval_id_for
from syncjobs.models.collection import CollectionStartRequest
from syncjobs.models.events import StartEvent, run_id_of
from syncjobs.models.job import ApprovalSettings
from syncjobs.models.run import RunType, StartRequest
from syncjobs.observability import logger
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.collections import CollectionStore
from syncjobs.store.errors import Conflict, NotFound
from syncjobs.store.functions import Functions
from syncjobs.store.jobs import JobStore

EXPIRED_BY = "syncjobs (nobody decided in time)"


class ApprovalRefused(Conflict):
    """The request was decided before, or has expired. `status` is the HTTP answer a link gets."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


Request = StartRequest | CollectionStartRequest


def _subject(request: Request) -> tuple[str, str]:
    if isinstance(request, CollectionStartRequest):
        return "collection", request.collection_id
    return "job", request.job_id


def _settings(kind: str, subject_id: str) -> tuple[ApprovalSettings, str]:
    if kind == "collection":
        collection = CollectionStore().get(subject_id).definition
        return collection.approval, collection.name
    job = JobStore().get(subject_id).definition
    return job.approval, job.name


def _needs_approval(request: Request) -> tuple[str, ApprovalSettings, str] | None:
    """(approval request id, the subject's approval settings, its name) when this start needs approval.
    A step of a collection never asks on its own: start_run lets it write only when the collection run
    it names carries an approval covering its job (`write_refused`)."""
    if request.approval_id is not None or request.run_type in PREVIEW_TYPES:
        return None
    if isinstance(request, StartRequest) and request.collection_run_id is not None:
        return None
    kind, subject_id = _subject(request)
    settings, name = _settings(kind, subject_id)
    if not settings.required:
        return None
    return approval_id_for(kind, subject_id, request.request_id, request.requested_at), settings, name


def held_for_approval(request: Request) -> str | None:
    """The id of the approval request this start becomes, or None when it runs at once."""
    needed = _needs_approval(request)
    return needed[0] if needed is not None else None


def gate(request: Request) -> dict[str, Any] | None:
    """None when the request may run now; else what happened instead (a preview, or a refusal)."""
    kind, subject_id = _subject(request)
    if request.approval_id is not None:
        if isinstance(request, StartRequest):
            return None  # start_run's write gate checks the claim and records a refused run with the reason
        reason = approval_refusal(
            _facts(request.approval_id),
            request.approval_id,
            kind,
            subject_id,
            request.run_type,
            request.request_id,
            current_versions(kind, subject_id),
            request.requested_at,
        )
        if reason is None:
            return None
        logger.warning("start refused: not approved", extra={"approval_id": request.approval_id, "why": reason})
        return {"approval_id": request.approval_id, "status": "refused", "reason": reason}
    needed = _needs_approval(request)
    if needed is None:
        return None
    approval_id, settings, name = needed
    return _request_approval(request, approval_id, kind, subject_id, name, settings)


def current_versions(kind: str, subject_id: str) -> dict[str, int]:
    """The versions of the definitions a run of the subject executes: a job's, or a collection's and
    each of its steps' jobs'."""
    if kind == "collection":
        record = CollectionStore().get(subject_id)
        versions = {version_key("collection", subject_id): record.version}
        for step in record.definition.steps:
            versions[version_key("job", step.job_id)] = JobStore().get(step.job_id).version
        return versions
    return {version_key("job", subject_id): JobStore().get(subject_id).version}


def _facts(approval_id: str) -> ApprovalFacts | None:
    try:
        a = ApprovalStore().get(approval_id)
    except NotFound:
        return None
    starts_at = (a.decided_at or a.requested_at) if a.status is ApprovalStatus.APPROVED else None
    return ApprovalFacts(a.approval_id, a.status, a.subject_kind, a.subject_id, a.run_type, a.versions, starts_at)


def _step(request: StartRequest) -> StepFacts | None:
    """The collection run a step's start names, as stored."""
    if request.collection_run_id is None:
        return None
    try:
        crun = CollectionStore().get_run(request.collection_run_id).run
    except NotFound:
        return StepFacts(request.collection_run_id, None, None, None)
    index = request.collection_step
    job_id = crun.steps[index].job_id if index is not None and 0 <= index < len(crun.steps) else None
    carried = _facts(crun.approval_id) if crun.approval_id is not None else None
    active = not crun.status.is_final
    return StepFacts(
        crun.collection_run_id, crun.collection_id, job_id, carried, crun.run_type, active, crun.current, index
    )


def write_refused(request: StartRequest, job_version: int, settings: ApprovalSettings) -> str | None:
    """Why this job run may not write (start_run records it failed with the reason), or None."""
    return write_refusal(
        job_id=request.job_id,
        job_version=job_version,
        job_requires_approval=settings.required,
        run_type=request.run_type,
        request_id=request.request_id,
        approval_id=request.approval_id,
        approval=_facts(request.approval_id) if request.approval_id is not None else None,
        step=_step(request),
        preview_of=request.preview_of,
        requested_at=request.requested_at,
    )


def _request_approval(
    request: Request, approval_id: str, kind: str, subject_id: str, name: str, settings: ApprovalSettings
) -> dict[str, Any]:
    preview = request.model_copy(
        update={
            "run_type": RunType.SIMULATE,
            "request_id": f"{approval_id}#preview",
            "preview_of": approval_id,
            "triggered_by": f"preview for approval {approval_id} ({request.triggered_by})",
        }
    )
    preview_id = run_id_of(preview)
    approval = Approval(
        approval_id=approval_id,
        subject_kind="collection" if kind == "collection" else "job",
        subject_id=subject_id,
        name=name,
        run_type=request.run_type,
        failed_of=request.failed_of if isinstance(request, StartRequest) else None,
        trigger=request.trigger,
        triggered_by=request.triggered_by,
        request_id=request.request_id,
        requested_at=request.requested_at,
        status=ApprovalStatus.PREVIEWING,
        approvers=[str(a) for a in settings.approvers],
        preview_id=preview_id,
        versions=current_versions(kind, subject_id),
    )
    ApprovalStore().create(approval)  # False for a redelivered fire: start the same preview again
    _start_preview(preview)
    logger.info("approval requested", extra={"approval_id": approval_id, "subject": subject_id, "preview": preview_id})
    return {"approval_id": approval_id, "status": ApprovalStatus.PREVIEWING.value, "preview_id": preview_id}


def _start_preview(preview: Request) -> None:
    # imported here: start_run and the collections workflow import this module's callers
    from syncjobs.workflows.collections import start_collection
    from syncjobs.workflows.start_run import start_run

    if isinstance(preview, CollectionStartRequest):
        start_collection(preview, start_run)
    else:
        start_run(preview)


def preview_ended(
    approval_id: str, preview_run_id: str, preview_status: str, totals: dict[str, int], now: datetime
) -> bool:
    """The preview is ready: the request waits for the approvers until it expires. False if done before,
    or if `preview_run_id` is not the request's own preview (a run that only says it previews it)."""
    store = ApprovalStore()
    try:
        approval = store.get(approval_id)
    except NotFound:
        logger.warning("a run claims to preview an unknown approval request", extra={"approval_id": approval_id})
        return False
    if approval.preview_id != preview_run_id:
        logger.warning(
            "a run that is not the request's preview ended: ignored",
            extra={"approval_id": approval_id, "run_id": preview_run_id, "preview_id": approval.preview_id},
        )
        return False
    hours = _settings(approval.subject_kind, approval.subject_id)[0].expires_after_hours
    fields = {
        "preview_status": preview_status,
        "preview_totals": totals,
        "pending_since": now.isoformat(),
        "expires_at": (now + timedelta(hours=hours)).replace(microsecond=0).isoformat(),
    }
    return store.transition(approval_id, ApprovalStatus.PREVIEWING, ApprovalStatus.PENDING, fields)


def decide(approval_id: str, approve: bool, by: str, via: str, now: datetime | None = None) -> Approval:
    """Approve or reject a pending request, once. ApprovalRefused if it was decided or has expired."""
    moment = now or datetime.now(UTC)
    store = ApprovalStore()
    if approve:
        _not_by_requester(store.get(approval_id), by)
    after = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    fields = {"decided_by": by, "decided_at": moment.isoformat(), "decided_via": via}
    if store.transition(approval_id, ApprovalStatus.PENDING, after, fields, unexpired_at=moment):
        logger.info("approval decided", extra={"approval_id": approval_id, "status": after, "via": via})
        return store.get(approval_id)
    approval = store.get(approval_id)  # NotFound for an unknown request
    raise refusal(approval, moment) or ApprovalRefused(f"approval request {approval_id} changed meanwhile", 409)


def principal(identity: str) -> str:
    """Who an identity is, for telling the requester from the approver: an assumed role's ARN without
    its session name (each `aws sts assume-role` names a new session), addresses without case."""
    identity = identity.strip()
    if identity.startswith("arn:") and ":assumed-role/" in identity:
        return identity.rsplit("/", 1)[0]
    return identity.lower() if "@" in identity else identity


def _not_by_requester(approval: Approval, by: str) -> None:
    """ApprovalRefused (403) when the one who asked for the run approves it, unless the subject's
    approval settings allow it (a one-admin team)."""
    if principal(by) != principal(approval.triggered_by) or approval.subject_kind == "deletes":
        return
    if _settings(approval.subject_kind, approval.subject_id)[0].allow_self_approval:
        return
    raise ApprovalRefused(
        f"approval request {approval.approval_id} was asked for by {by}, who cannot approve it too: another "
        f"approver decides (or set approval.allow_self_approval on the {approval.subject_kind})",
        403,
    )


def refusal(approval: Approval, now: datetime) -> ApprovalRefused | None:
    """Why no decision can be made on the request now (one past its time is expired here), or None."""
    due = approval.expires_at is not None and approval.expires_at <= now
    if approval.status is ApprovalStatus.EXPIRED or (approval.status is ApprovalStatus.PENDING and due):
        expire(approval, now)
        expired = f"{approval.expires_at:%Y-%m-%d %H:%M} UTC" if approval.expires_at else "its time"
        return ApprovalRefused(
            f"approval request {approval.approval_id} expired at {expired}; nothing was started", 410
        )
    if approval.status is ApprovalStatus.PENDING:
        return None
    if approval.status is ApprovalStatus.PREVIEWING:
        return ApprovalRefused(f"approval request {approval.approval_id} is still running its preview", 409)
    when = f"{approval.decided_at:%Y-%m-%d %H:%M} UTC" if approval.decided_at else "earlier"
    return ApprovalRefused(
        f"approval request {approval.approval_id} was already {approval.status.value} by {approval.decided_by} "
        f"at {when}; a decision is made once",
        409,
    )


def expire(approval: Approval, now: datetime) -> bool:
    """End a pending request nobody decided in time. False if it was not pending (or not yet due)."""
    if approval.status is not ApprovalStatus.PENDING or not approval.expires_at or approval.expires_at > now:
        return False
    fields = {"decided_by": EXPIRED_BY, "decided_at": now.isoformat(), "decided_via": "expiry"}
    done = ApprovalStore().transition(approval.approval_id, ApprovalStatus.PENDING, ApprovalStatus.EXPIRED, fields)
    if done:
        logger.info("approval expired", extra={"approval_id": approval.approval_id})
    return done


def expire_due(now: datetime | None = None) -> list[str]:
    """Expire every pending request past its time (the admin API does this when listing)."""
    moment = now or datetime.now(UTC)
    return [a.approval_id for a in ApprovalStore().recent(200) if expire(a, moment)]


def start_approved(approval: Approval) -> str:
    """Ask start_run for the approved run (again, if the stream delivers the approval twice)."""
    common: dict[str, Any] = {
        "run_type": approval.run_type,
        "trigger": approval.trigger,
        "triggered_by": f"{approval.triggered_by}; approved by {approval.decided_by}"[:256],
        "request_id": approved_request_id(approval.approval_id),
        "requested_at": approval.decided_at or approval.requested_at,
        "approval_id": approval.approval_id,
    }
    request: Request = (
        CollectionStartRequest(collection_id=approval.subject_id, **common)
        if approval.subject_kind == "collection"
        else StartRequest(job_id=approval.subject_id, failed_of=approval.failed_of, **common)
    )
    run_id = run_id_of(request)
    Functions().start_run_async(StartEvent.of(request).payload())
    ApprovalStore().transition(
        approval.approval_id, ApprovalStatus.APPROVED, ApprovalStatus.APPROVED, {"run_id": run_id}
    )
    logger.info("approved run asked for", extra={"approval_id": approval.approval_id, "run_id": run_id})
    return run_id

"""Whether a run may write: the one gate every path that starts a writing run passes (a job's own
fire, a collection's step, an approved start, an event sent by anyone allowed to invoke start_run).

An approval binds what runs: the subject (job or collection), the run type, the one run it starts
(its request id) and the definition versions its preview was made of. A start event cannot claim a
status by itself: the approval and the collection run it names are read from the store, and the
facts here are what the store holds, never what the event says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from syncjobs.models.approval import ApprovalStatus
from syncjobs.models.run import RunType

WRITE_TYPES = frozenset({RunType.READ, RunType.RESYNC})
PREVIEW_TYPES = frozenset({RunType.SIMULATE, RunType.VALIDATE})  # they never write: no approval needed


def approved_request_id(approval_id: str) -> str:
    """The request id of the one run an approval starts (a second start with it is the same run)."""
    return f"{approval_id}#approved"


def version_key(kind: str, subject_id: str) -> str:
    """The key of a definition's version in an approval's `versions`."""
    return f"{kind}:{subject_id}"


@dataclass(frozen=True)
class ApprovalFacts:
    """An approval request as stored."""

    approval_id: str
    status: ApprovalStatus
    subject_kind: str
    subject_id: str
    run_type: RunType
    versions: Mapping[str, int] = field(default_factory=dict)
    starts_at: datetime | None = None  # the requested_at of the one run it starts (when it was approved)


@dataclass(frozen=True)
class StepFacts:
    """The collection run a step's start names, as stored (None fields: it does not exist)."""

    collection_run_id: str
    collection_id: str | None
    step_job_id: str | None  # the job at the step's index, or None when there is no such step
    approval: ApprovalFacts | None  # the approved request the collection run carries out, if any
    run_type: RunType | None = None  # the collection run's
    active: bool = False  # the collection run has not ended
    current: int | None = None  # the step it is at
    index: int | None = None  # the step the start names


def changed_since(approval: ApprovalFacts, current: Mapping[str, int]) -> str | None:
    """Why the definitions now differ from the ones the approval's preview was made of, or None."""
    for key, version in sorted(current.items()):
        approved = approval.versions.get(key)
        if approved != version:
            kind, _, subject_id = key.partition(":")
            seen = f"version {approved} was previewed" if approved is not None else "it was not previewed"
            return (
                f"{kind} {subject_id} changed since approval request {approval.approval_id} was previewed "
                f"({seen}, version {version} is current); nothing was started: fire it again for a new preview"
            )
    return None


def approval_refusal(
    approval: ApprovalFacts | None,
    approval_id: str,
    kind: str,
    subject_id: str,
    run_type: RunType,
    request_id: str,
    current: Mapping[str, int],
    requested_at: datetime | None = None,
) -> str | None:
    """Why a start claiming `approval_id` may not run, or None when the approval covers exactly it:
    its subject, its run type and its one run (the request id and time that name the run)."""
    if approval is None:
        return f"approval request {approval_id} does not exist"
    if approval.status is not ApprovalStatus.APPROVED:
        return f"approval request {approval_id} is {approval.status.value}, not approved"
    if (approval.subject_kind, approval.subject_id) != (kind, subject_id):
        approved = f"{approval.subject_kind} {approval.subject_id}"
        return f"approval request {approval_id} approves {approved}, not {kind} {subject_id}"
    if approval.run_type is not run_type:
        return f"approval request {approval_id} approves a {approval.run_type.value}, not a {run_type.value}"
    one_run = request_id == approved_request_id(approval_id)
    if not one_run or (approval.starts_at is not None and requested_at != approval.starts_at):
        return f"approval request {approval_id} starts one run only (request {approved_request_id(approval_id)})"
    return changed_since(approval, current)


def write_refusal(
    *,
    job_id: str,
    job_version: int,
    job_requires_approval: bool,
    run_type: RunType,
    request_id: str,
    approval_id: str | None,
    approval: ApprovalFacts | None,
    step: StepFacts | None,
    preview_of: str | None = None,
    requested_at: datetime | None = None,
) -> str | None:
    """Why this start of a job's run may not write, or None when it may.

    `approval`: the stored request `approval_id` names (None: none is named, or it does not exist).
    `step`: the stored collection run a step's start names (None: not a step). `preview_of`: the
    approval request the start says it previews (a preview is a simulate: it never writes)."""
    if run_type not in WRITE_TYPES:
        return None
    if preview_of is not None:
        return f"a preview (of approval request {preview_of}) never writes: a {run_type.value} cannot be one"
    current = {version_key("job", job_id): job_version}
    if approval_id is not None:
        return approval_refusal(approval, approval_id, "job", job_id, run_type, request_id, current, requested_at)
    if step is not None:
        if step.collection_id is None:
            return f"collection run {step.collection_run_id} does not exist"
        if step.step_job_id != job_id:
            return f"collection run {step.collection_run_id} has no step running job {job_id}"
        if not step.active or step.index != step.current or request_id != f"{step.collection_run_id}#step{step.index}":
            return f"collection run {step.collection_run_id} is not at step {step.index} now: its steps start it"
        if step.run_type is not run_type:
            run = step.run_type.value if step.run_type else "another type"
            return f"collection run {step.collection_run_id} is a {run}, not a {run_type.value}"
        if not job_requires_approval:
            return None
        if step.approval is None:
            return (
                f"job {job_id} requires approval, and collection {step.collection_id} runs it without one: "
                "require approval on the collection (its approval covers its jobs) or run the job alone"
            )
        carried = step.approval
        if carried.status is not ApprovalStatus.APPROVED or (carried.subject_kind, carried.subject_id) != (
            "collection",
            step.collection_id,
        ):
            return f"approval request {carried.approval_id} does not approve collection run {step.collection_run_id}"
        return changed_since(carried, current)
    if job_requires_approval:
        return f"job {job_id} requires approval: a {run_type.value} starts only through an approved request"
    return None

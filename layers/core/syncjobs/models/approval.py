"""Approval before execution (Netwrix Directory Manager's workflow approval of a synchronize job), and
the request to allow the deletes a run's delete threshold held back (Entra's accidental deletions)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from syncjobs.models.run import RunType, Trigger


class ApprovalStatus(StrEnum):
    PREVIEWING = "previewing"  # the simulate preview is running
    PENDING = "pending"  # the approvers have the preview and the links
    APPROVED = "approved"  # the real run was started
    REJECTED = "rejected"
    EXPIRED = "expired"  # nobody decided in time
    APPLIED = "applied"  # held deletes: the allowed deletes ran (see `deletes_outcome`)

    @property
    def is_open(self) -> bool:
        return self in {ApprovalStatus.PREVIEWING, ApprovalStatus.PENDING}


SubjectKind = Literal["job", "collection", "deletes"]  # deletes: subject_id is the job, preview_id the run


class Approval(BaseModel):
    model_config = ConfigDict(extra="ignore")

    approval_id: str
    subject_kind: SubjectKind
    subject_id: str
    name: str = ""
    run_type: RunType  # what runs once approved
    failed_of: str | None = None  # what runs once approved is only this run's failed entities
    trigger: Trigger  # what fired the request
    triggered_by: str
    request_id: str
    requested_at: datetime
    status: ApprovalStatus
    approvers: list[str]
    preview_id: str  # the simulate run (or collection run) that previews it
    preview_status: str | None = None
    preview_totals: dict[str, int] = Field(default_factory=dict)
    pending_since: datetime | None = None
    expires_at: datetime | None = None  # set when the preview is ready: approve/reject links die then
    decided_by: str | None = None  # an approver's address, an admin's IAM identity, or "syncjobs (expired)"
    decided_at: datetime | None = None
    decided_via: str | None = None  # mail link | admin API | expiry
    run_id: str | None = None  # the real run (or collection run) an approval started
    # the definition versions the preview was made of ("job:<id>", "collection:<id>"): only they run
    versions: dict[str, int] = Field(default_factory=dict)
    deletes_outcome: str | None = None  # held deletes: what the allowed deletes did ...
    deletes_applied: int = 0  # ... and how many of them were deleted (or disabled)

    @property
    def held_deletes(self) -> int:
        return self.preview_totals.get("held_deletes", 0)

    @property
    def summary(self) -> str:
        """What deciding the request does, in a line ("allow 812 deletes of run X")."""
        if self.subject_kind == "deletes":
            return f"allow {self.held_deletes} deletes of run {self.preview_id}"
        return f"{self.run_type.value} of {self.subject_kind} {self.subject_id}"


def approval_id_for(subject_kind: str, subject_id: str, request_id: str, requested_at: datetime) -> str:
    """The same fire (a redelivered event) always names the same approval request."""
    digest = hashlib.sha256(f"{subject_kind}\n{subject_id}\n{request_id}".encode()).hexdigest()[:10]
    return f"apr-{requested_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


def deletes_approval_id(job_id: str, run_id: str, run_created_at: datetime) -> str:
    """The request to allow one run's held deletes: the same id whoever (a retried finalize, a mail)
    asks for it."""
    return approval_id_for("deletes", job_id, run_id, run_created_at)

"""Admin operations on job collections and approval requests, for the admin API and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from syncjobs.admin.operations import InvalidInput, Started, load_yaml_file, parse_document, request_start
from syncjobs.models.approval import Approval, ApprovalStatus
from syncjobs.models.collection import CollectionDefinition, CollectionRun
from syncjobs.models.run import Run
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.collections import CollectionRecord, CollectionStore
from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs.store.rules import ScheduleRules
from syncjobs.workflows import approvals
from syncjobs.workflows.collections import step_runs, stop_collection_run


def parse_collection(document: Any, what: str = "collection definition") -> CollectionDefinition:
    return parse_document(CollectionDefinition, document, what, "collection")


def load_collection_file(path: Path) -> CollectionDefinition:
    return parse_collection(load_yaml_file(path), str(path))


def apply_collection(definition: CollectionDefinition) -> int:
    """Create or replace a collection; every step must name an existing job."""
    jobs = JobStore()
    problems = []
    for i, step in enumerate(definition.steps):
        try:
            jobs.get(step.job_id)
        except NotFound:
            problems.append(f"steps.{i}.job_id: job {step.job_id} does not exist; apply it first")
    if problems:
        raise InvalidInput("collection definition", problems)
    return CollectionStore().put(definition)


class CollectionSummary(BaseModel):
    """A collection as `collections list` / `collections show` present it (and the admin API sends it)."""

    model_config = ConfigDict(frozen=True)

    collection_id: str
    name: str
    version: int
    steps: list[str]  # "job (on failure)"
    schedule: str | None
    last_status: str | None
    active_run: str | None
    approval_required: bool
    recipients: list[str]
    trigger: str

    @classmethod
    def of(cls, record: CollectionRecord) -> CollectionSummary:
        d = record.definition
        rule = ScheduleRules().get(d.collection_id, "collection")
        return cls(
            collection_id=d.collection_id,
            name=d.name,
            version=record.version,
            steps=[f"{s.job_id} ({s.on_failure.value})" for s in d.steps],
            schedule=rule.expression if rule and rule.enabled else None,
            last_status=record.last_status,
            active_run=record.active_run,
            approval_required=d.approval.required,
            recipients=[str(r) for r in d.notification.recipients],
            trigger=d.notification.trigger.value,
        )


def list_collections() -> list[CollectionSummary]:
    return [CollectionSummary.of(record) for record in CollectionStore().every()]


def show_collection(collection_id: str) -> tuple[CollectionSummary, CollectionDefinition]:
    record = CollectionStore().get(collection_id)
    return CollectionSummary.of(record), record.definition


def delete_collection(collection_id: str) -> None:
    """Delete a collection and its schedule; refused (Conflict) while it runs. Its runs stay."""
    CollectionStore().delete(collection_id, datetime.now(UTC))
    ScheduleRules().delete(collection_id, "collection")


def request_collection_run(
    collection_id: str, run_type: str, triggered_by: str, trigger: str, request_id: str
) -> Started:
    """Run the collection now (asynchronously); the same request id names the same collection run."""
    CollectionStore().get(collection_id)
    return request_start("collection", collection_id, run_type, triggered_by, trigger, request_id)


def list_collection_runs(collection_id: str, limit: int = 50) -> list[CollectionRun]:
    CollectionStore().get(collection_id)
    return CollectionStore().list_runs(collection_id, limit)


def get_collection_run(collection_run_id: str) -> tuple[CollectionRun, list[Run]]:
    """The collection run and the runs of its steps, listed together."""
    crun = CollectionStore().get_run(collection_run_id).run
    return crun, step_runs(crun)


def stop_collection(collection_run_id: str, requested_by: str) -> CollectionRun:
    """Stop a collection run: its running step stops, later steps do not run."""
    return stop_collection_run(collection_run_id, requested_by)


# ---------------------------------------------------------------------- approvals
def list_approvals(status: str | None = None, limit: int = 50) -> list[Approval]:
    """Recent approval requests, newest first (pending ones past their time are expired first)."""
    if status is not None and status not in {s.value for s in ApprovalStatus}:
        choices = ", ".join(s.value for s in ApprovalStatus)
        raise InvalidInput("approval filter", [f"status: must be one of {choices} (got {status!r})"])
    approvals.expire_due()
    found = ApprovalStore().recent(limit)
    return [a for a in found if status is None or a.status.value == status]


def get_approval(approval_id: str) -> Approval:
    approval = ApprovalStore().get(approval_id)
    if approvals.expire(approval, datetime.now(UTC)):
        approval = ApprovalStore().get(approval_id)
    return approval


def decide_approval(approval_id: str, approve: bool, decided_by: str) -> Approval:
    """An admin's decision through the API or CLI (the approvers' mail links do the same)."""
    return approvals.decide(approval_id, approve, by=decided_by, via="admin API")

"""advance: what follows from an item of the jobs table reaching a state, read off its stream.

- a collection step's run has ended -> record it; start the next step or end the collection run;
- an approval's preview (a run or a collection run) has ended -> the request waits for the approvers;
- an approval request was approved -> ask start_run for the real run;
- a request to allow held deletes was approved -> run exactly those deletes (workflows/held_deletes.py).

Each is safe to deliver twice (see the workflows it calls).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from syncjobs.models.approval import Approval, ApprovalStatus
from syncjobs.models.collection import CollectionRun
from syncjobs.models.run import Run, RunStatus
from syncjobs.observability import logger
from syncjobs.workflows.approvals import expire_due, preview_ended, start_approved
from syncjobs.workflows.collections import redrive, step_ended
from syncjobs.workflows.held_deletes import apply_allowed
from syncjobs.workflows.stall_sweep import end_stalled_runs


def _newly_final(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    if not RunStatus(new["status"]).is_final:
        return False
    return old is None or "status" not in old or not RunStatus(old["status"]).is_final


def on_change(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """Act on one changed item; returns what was done (for the logs), None if nothing."""
    item_type = new.get("item_type")
    if item_type == "run" and _newly_final(old, new):
        run = Run.model_validate(new)
        if run.collection_run_id is not None:
            step_ended(run)
            return "collection step ended"
        if run.preview_of is not None:
            preview_ended(run.preview_of, run.run_id, run.status.value, run.totals_by_name(), datetime.now(UTC))
            return "preview ended"
    elif item_type == "collection_run" and _newly_final(old, new):
        crun = CollectionRun.model_validate(new)
        if crun.preview_of is not None:
            preview_ended(crun.preview_of, crun.collection_run_id, crun.status.value, crun.totals(), datetime.now(UTC))
            return "preview ended"
    elif item_type == "approval":
        approval = Approval.model_validate(new)
        if approval.status is ApprovalStatus.APPROVED and approval.subject_kind == "deletes":
            applied = apply_allowed(approval.approval_id)
            return "allowed deletes applied" if applied else "allowed deletes applied before"
        if approval.status is ApprovalStatus.APPROVED and approval.run_id is None:
            start_approved(approval)
            return "approved run asked for"
    return None


def sweep(now: datetime) -> dict[str, list[str]]:
    """What the Sweep schedule does: expire approval requests past their time, move on collection
    runs whose next step was lost, and end runs that stalled (engine/stall.py)."""
    expired = expire_due(now)
    moved = redrive(now)
    stalled = end_stalled_runs(now)
    logger.info(
        "swept", extra={"approvals_expired": expired, "collection_runs_moved": moved, "stalled_runs_ended": stalled}
    )
    return {"expired": expired, "moved": moved, "stalled": stalled}

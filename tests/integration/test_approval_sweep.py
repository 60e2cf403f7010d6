"""The template's Sweep schedule expires approval requests nobody decided in time: the local
scheduler fires the rule SAM would make into the advance function (its clock simulated)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncjobs.models.approval import Approval, ApprovalStatus
from syncjobs.models.run import RunType, Trigger
from syncjobs.store.approvals import ApprovalStore
from syncjobs.workflows.approvals import EXPIRED_BY
from syncjobs_local.pollers import Scheduler


def pending(approval_id: str, expires_at: datetime) -> None:
    store = ApprovalStore()
    store.create(
        Approval(
            approval_id=approval_id,
            subject_kind="job",
            subject_id="j",
            run_type=RunType.READ,
            trigger=Trigger.SCHEDULE,
            triggered_by="eventbridge",
            request_id=approval_id,
            requested_at=expires_at - timedelta(hours=72),
            status=ApprovalStatus.PREVIEWING,
            approvers=["a@example.com"],
            preview_id="p",
        )
    )
    fields = {"expires_at": expires_at.replace(microsecond=0).isoformat()}
    assert store.transition(approval_id, ApprovalStatus.PREVIEWING, ApprovalStatus.PENDING, fields)


def test_the_sweep_expires_only_requests_past_their_time(aws) -> None:
    # Given one request past its time and one still open
    now = datetime.now(UTC)
    pending("apr-late", now - timedelta(minutes=5))
    pending("apr-open", now + timedelta(hours=5))

    # When the sweep's rule fires (every 15 minutes)
    clock = [now]
    scheduler = Scheduler(aws.invoker, clock=lambda: clock[0])
    scheduler.tick()
    clock[0] += timedelta(minutes=15, seconds=1)
    scheduler.tick()
    scheduler.drain()

    # Then the late one is expired, recorded as nobody's decision; the open one waits on
    assert sorted(name for name, _ in scheduler.fired) == ["AdvanceFunctionSweep", "NotifyFunctionMailRetry"]
    late = ApprovalStore().get("apr-late")
    assert (late.status, late.decided_by, late.decided_via) == (ApprovalStatus.EXPIRED, EXPIRED_BY, "expiry")
    assert ApprovalStore().get("apr-open").status is ApprovalStatus.PENDING

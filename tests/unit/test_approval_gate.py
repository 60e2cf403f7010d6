"""The write gate (engine/approval_gate.py): which starts of a job's run may write, as a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncjobs.engine.approval_gate import ApprovalFacts, StepFacts, approved_request_id, write_refusal
from syncjobs.models.approval import ApprovalStatus
from syncjobs.models.run import RunType

JOB = "hr-sync"
APPROVAL = "apr-20261203T080000Z-0123456789"


DECIDED = datetime(2026, 12, 3, 9, 30, 12, 345678, tzinfo=UTC)


def approval(status=ApprovalStatus.APPROVED, kind="job", subject=JOB, run_type=RunType.READ, version=3, starts_at=None):
    return ApprovalFacts(APPROVAL, status, kind, subject, run_type, {f"job:{JOB}": version}, starts_at)


def step(job=JOB, carried=None, collection="nightly", run_type=RunType.READ, active=True, current=0):
    return StepFacts("crun-1", collection, job, carried, run_type, active, current, 0)


STEP = "crun-1#step0"


def refusal(
    *,
    requires=True,
    run_type=RunType.READ,
    request_id="schedule:read:2026-12-03T08:00Z",
    approval_id=None,
    facts=None,
    step_facts=None,
    preview_of=None,
    version=3,
    requested_at=None,
):
    return write_refusal(
        job_id=JOB,
        job_version=version,
        job_requires_approval=requires,
        run_type=run_type,
        request_id=request_id,
        approval_id=approval_id,
        approval=facts,
        step=step_facts,
        preview_of=preview_of,
        requested_at=requested_at,
    )


APPROVED_START = {"approval_id": APPROVAL, "request_id": approved_request_id(APPROVAL)}


@pytest.mark.parametrize(
    ("case", "kwargs", "expected"),
    [
        ("a job without approval runs", {"requires": False}, None),
        ("a simulate never writes", {"run_type": RunType.SIMULATE}, None),
        ("a validate never writes", {"run_type": RunType.VALIDATE}, None),
        ("a plain read of an approval job", {}, "requires approval: a read starts only through an approved request"),
        ("a resync too", {"run_type": RunType.RESYNC}, "requires approval: a resync starts only"),
        ("the approved run", {**APPROVED_START, "facts": approval()}, None),
        ("an approval that does not exist", {**APPROVED_START}, "does not exist"),
        (
            "a pending approval",
            {**APPROVED_START, "facts": approval(ApprovalStatus.PENDING)},
            "is pending, not approved",
        ),
        (
            "another job's approval",
            {**APPROVED_START, "facts": approval(subject="payroll")},
            "approves job payroll, not job hr-sync",
        ),
        (
            "a collection's approval named by a job run",
            {**APPROVED_START, "facts": approval(kind="collection", subject="nightly")},
            "approves collection nightly, not job hr-sync",
        ),
        (
            "a simulate approved, a read asked",
            {**APPROVED_START, "facts": approval(run_type=RunType.SIMULATE)},
            "approves a simulate, not a read",
        ),
        (
            "a second run on one approval",
            {"approval_id": APPROVAL, "request_id": "api:another", "facts": approval()},
            "starts one run only",
        ),
        (
            "the approved request id at another time (another run id)",
            {**APPROVED_START, "facts": approval(starts_at=DECIDED), "requested_at": DECIDED + timedelta(days=1)},
            "starts one run only",
        ),
        (
            "the approved run at its own time",
            {**APPROVED_START, "facts": approval(starts_at=DECIDED), "requested_at": DECIDED},
            None,
        ),
        (
            "the job changed since the preview",
            {**APPROVED_START, "facts": approval(version=2)},
            "job hr-sync changed since approval request",
        ),
        (
            "a read claiming to be a preview",
            {"requires": False, "preview_of": APPROVAL},
            "a preview (of approval request",
        ),
        (
            "a step of a collection without approval",
            {"request_id": STEP, "step_facts": step()},
            "collection nightly runs it without one",
        ),
        (
            "a step of a collection that is not there",
            {"request_id": STEP, "step_facts": step(collection=None)},
            "does not exist",
        ),
        (
            "a step naming another job",
            {"request_id": STEP, "step_facts": step(job="payroll")},
            "has no step running job hr-sync",
        ),
        (
            "a step of an approved collection",
            {"request_id": STEP, "step_facts": step(carried=approval(kind="collection", subject="nightly"))},
            None,
        ),
        (
            "a step whose job changed since the collection's preview",
            {"request_id": STEP, "step_facts": step(carried=approval(kind="collection", subject="nightly", version=2))},
            "changed since approval request",
        ),
        (
            "a step carrying a job's approval, not the collection's",
            {"request_id": STEP, "step_facts": step(carried=approval())},
            "does not approve collection run crun-1",
        ),
        (
            "a step of a collection whose approval was rejected",
            {
                "request_id": STEP,
                "step_facts": step(carried=approval(ApprovalStatus.REJECTED, kind="collection", subject="nightly")),
            },
            "does not approve collection run crun-1",
        ),
        ("a step of a job without approval", {"requires": False, "request_id": STEP, "step_facts": step()}, None),
        (
            "a step started again after its collection ended",
            {
                "request_id": STEP,
                "step_facts": step(carried=approval(kind="collection", subject="nightly"), active=False),
            },
            "is not at step 0 now",
        ),
        (
            "a step named by another request",
            {"request_id": "forged", "step_facts": step(carried=approval(kind="collection", subject="nightly"))},
            "is not at step 0 now",
        ),
        (
            "a resync as a step of a read",
            {
                "run_type": RunType.RESYNC,
                "request_id": STEP,
                "step_facts": step(carried=approval(kind="collection", subject="nightly")),
            },
            "is a read, not a resync",
        ),
    ],
)
def test_the_write_gate(case, kwargs, expected):
    # Given the stored facts of one start; When the gate looks at it; Then it lets it write or says why not
    found = refusal(**kwargs)
    if expected is None:
        assert found is None, case
    else:
        assert found is not None, case
        assert expected in found, (case, found)


ROLE = "arn:aws:sts::123456789012:assumed-role"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (
            "arn:aws:sts::123456789012:assumed-role/Admin/alice-1",
            "arn:aws:sts::123456789012:assumed-role/Admin/alice-2",
            True,
        ),
        ("arn:aws:sts::123456789012:assumed-role/Admin/x", "arn:aws:sts::123456789012:assumed-role/Approver/x", False),
        ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/bob", False),
        ("Alice@Example.com", "alice@example.com", True),
    ],
)
def test_the_requester_is_the_same_principal_whatever_the_session(a, b, same):
    from syncjobs.workflows.approvals import principal

    assert (principal(a) == principal(b)) is same

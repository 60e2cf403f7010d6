"""The ways around approval the first review found, each tried on the local stack and refused:
a collection wrapping an approval job, a start event claiming to be a preview (or a step of a
collection that does not exist), the requester approving their own request, and an approval applied
to a job changed after its preview."""

from __future__ import annotations

import json
from typing import Any

import pytest

from syncjobs.admin import collections, operations
from syncjobs.models.approval import Approval, ApprovalStatus
from syncjobs.models.run import Run, RunStatus, RunType
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.errors import NotFound
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import prepare, wait_for_run
from syncjobs_local.lambda_events import api_event
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import run_recorded, scim_users, wait_until

pytestmark = pytest.mark.e2e

APPROVER = "approver@example.com"
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
APPROVAL = {"required": True, "approvers": [APPROVER]}


def approval_job(stack: LocalStack) -> str:
    return prepare(stack, users=12, bad_rows=False, subscriber=None, approval=APPROVAL).job_id


def start(stack: LocalStack, **event: Any) -> dict[str, Any]:
    """Invoke start_run with a raw event, as any EventBridge rule named syncjobs-* (or anyone allowed
    to invoke it) could send one."""
    return dict(stack.invoke("StartRunFunction", {"trigger": "api", **event}))


def api(stack: LocalStack, method: str, path: str, caller: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    answer = stack.invoke("AdminApiFunction", api_event(method, path, body=body, caller=caller))
    return int(answer["statusCode"]), json.loads(answer["body"] or "{}")


def runs_of(job_id: str, run_type: RunType) -> list[Run]:
    return [r for r in RunStore().list_for_job(job_id) if r.run_type is run_type]


def pending(approval_id: str) -> Approval:
    """The request once its preview has ended (an API start makes it asynchronously)."""
    wait_until(lambda: _status(approval_id) is ApprovalStatus.PENDING, "the preview to end")
    return ApprovalStore().get(approval_id)


def _status(approval_id: str) -> ApprovalStatus | None:
    try:
        return ApprovalStore().get(approval_id).status
    except NotFound:
        return None


def test_a_collection_without_approval_cannot_run_an_approval_job(stack: LocalStack) -> None:
    # Given a job that needs approval, wrapped in a one-step collection that needs none
    job_id = approval_job(stack)
    collections.apply_collection(
        collections.parse_collection({"collection_id": "wrapper", "name": "Wrapper", "steps": [{"job_id": job_id}]})
    )

    # When the collection is run
    started = start(stack, collection_id="wrapper", type="read", request_id="wrap-1")

    # Then its step is refused with the reason, the collection ends failed, and nothing was written
    crun_id = started["collection_run_id"]
    wait_until(lambda: collections.get_collection_run(crun_id)[0].status.is_final, "the collection to end")
    crun, steps = collections.get_collection_run(crun_id)
    assert crun.status is RunStatus.FAILED
    (step,) = steps
    assert step.status is RunStatus.FAILED
    assert f"job {job_id} requires approval, and collection wrapper runs it without one" in (step.reason or "")
    assert scim_users(stack) == {}


def test_a_start_event_cannot_claim_to_be_a_preview_or_a_collection_step(stack: LocalStack) -> None:
    # Given a job that needs approval
    job_id = approval_job(stack)

    # When an event asks for a read that says it previews some approval request
    claimed = start(stack, job_id=job_id, type="read", request_id="forged-preview", preview_of="apr-anything")

    # Then it is an ordinary fire of an approval job: a simulate preview and a request, no read
    assert claimed["status"] == ApprovalStatus.PREVIEWING.value
    request = pending(claimed["approval_id"])
    assert request.run_type is RunType.READ
    assert runs_of(job_id, RunType.READ) == []

    # When an event asks for a read as a step of a collection run that does not exist
    stepped = start(stack, job_id=job_id, type="read", request_id="forged-step", collection_run_id="crun-none")

    # Then start_run records it refused, and the target is untouched
    assert stepped["status"] == RunStatus.FAILED.value
    assert "collection run crun-none does not exist" in stepped["reason"]

    # When an event names an approval request that is not approved (pending) as its approval
    claimed_approval = start(
        stack,
        job_id=job_id,
        type="read",
        request_id=f"{claimed['approval_id']}#approved",
        approval_id=claimed["approval_id"],
    )

    # Then it is refused too, and nothing was ever written
    assert claimed_approval["status"] == RunStatus.FAILED.value
    assert "is pending, not approved" in claimed_approval["reason"]
    assert scim_users(stack) == {}


def test_the_requester_cannot_approve_their_own_request(stack: LocalStack) -> None:
    # Given Alice asks for a run of a job that needs approval, and its preview has ended
    job_id = approval_job(stack)
    status, asked = api(stack, "POST", f"/jobs/{job_id}/runs", ALICE, {"type": "read"})
    assert status == 202
    request = pending(asked["approval_id"])
    assert request.triggered_by == ALICE

    # When Alice approves it herself
    status, refused = api(stack, "POST", f"/approvals/{request.approval_id}/approve", ALICE)

    # Then she is refused, and the request is still pending, nothing written
    assert status == 403, refused
    assert "cannot approve it too" in refused["message"]
    assert ApprovalStore().get(request.approval_id).status is ApprovalStatus.PENDING
    assert scim_users(stack) == {}

    # When Bob approves it, Then the run starts and writes
    status, approved = api(stack, "POST", f"/approvals/{request.approval_id}/approve", BOB)
    assert status == 200, approved
    wait_until(lambda: ApprovalStore().get(request.approval_id).run_id is not None, "the approved run")
    approved_run = str(ApprovalStore().get(request.approval_id).run_id)
    wait_until(lambda: run_recorded(approved_run), "start_run records the approved run")
    run = wait_for_run(approved_run, stack=stack)
    assert run.status is RunStatus.SUCCEEDED
    assert len(scim_users(stack)) == 12


def test_an_approval_does_not_run_a_mapping_changed_after_its_preview(stack: LocalStack) -> None:
    # Given a fire of an approval job previewed with title from the source
    job_id = approval_job(stack)
    fired = start(stack, job_id=job_id, type="read", request_id="fire-1")
    request = pending(fired["approval_id"])

    # When the mapping is changed to give everyone another title, and then the request is approved
    document = operations.show_job(job_id)[1].to_document()
    document["mapping"]["users"]["title"] = "{{ 'Domain Admin' }}"
    operations.apply_job(operations.parse_job(document))
    status, approved = api(stack, "POST", f"/approvals/{request.approval_id}/approve", BOB)
    assert status == 200, approved

    # Then the approved run is refused, saying the job changed since its preview, and nothing is written
    wait_until(lambda: ApprovalStore().get(request.approval_id).run_id is not None, "the approved run's start")
    run_id = str(ApprovalStore().get(request.approval_id).run_id)
    wait_until(lambda: run_recorded(run_id), "the approved run's record")
    run = RunStore().get(run_id).run
    assert run.status is RunStatus.FAILED
    assert f"job {job_id} changed since approval request {request.approval_id} was previewed" in (run.reason or "")
    assert scim_users(stack) == {}

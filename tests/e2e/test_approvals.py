"""Approval before execution on the local stack: a scheduled job that needs approval runs a simulate
preview instead, mails its approvers the preview with approve/reject links, and only the approve
link (followed over HTTP) starts the real run; a link works once; an expired request or link is
refused; a reject ends the request."""

from __future__ import annotations

import email
import email.policy
import re
import time
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest

from syncjobs.admin import collections, operations
from syncjobs.links import APPROVE, sign
from syncjobs.models.approval import Approval, ApprovalStatus
from syncjobs.models.run import Run, RunStatus, RunType, Trigger
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows.approvals import EXPIRED_BY, expire_due
from syncjobs_local.demo import prepare, wait_for_run
from syncjobs_local.pollers import Scheduler
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import scim_users

pytestmark = pytest.mark.e2e

APPROVER, DEPUTY = "approver@example.com", "deputy@example.com"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def wait_for_approval(stack: LocalStack, status: ApprovalStatus, count: int, timeout_s: float = 60) -> Approval:
    """The newest request once `count` requests exist and the newest has `status`."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert stack.poller_errors() == []
        found = ApprovalStore().recent()
        if len(found) >= count and found[0].status is status:
            return found[0]
        assert time.monotonic() < deadline, f"no {status} request: {[(a.approval_id, a.status) for a in found]}"
        time.sleep(0.2)


def approval_mail(stack: LocalStack, recipient: str, approval_id: str, timeout_s: float = 30) -> str:
    """The plain text of the approval mail to `recipient` about `approval_id`."""
    assert stack.outbox is not None
    deadline = time.monotonic() + timeout_s
    while True:
        for path in stack.outbox.written:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            text = str(body.get_content())
            if str(message["To"]) == recipient and approval_id in text:
                assert str(message["Subject"]).startswith("[syncjobs] ")
                assert ": Approval Needed (read of job " in str(message["Subject"])
                return text
        assert time.monotonic() < deadline, f"no approval mail to {recipient}"
        time.sleep(0.2)


def decision_links(text: str) -> tuple[str, str]:
    approve = re.search(r"^Approve \(starts the read now\):\n +(\S+)$", text, re.MULTILINE)
    reject = re.search(r"^Reject:\n +(\S+)$", text, re.MULTILINE)
    assert approve is not None
    assert reject is not None
    return approve.group(1), reject.group(1)


def real_runs(job_id: str) -> list[Run]:
    return [r for r in RunStore().list_for_job(job_id) if r.run_type is RunType.READ]


def test_an_approval_job_fired_by_the_scheduler_runs_only_once_approved(stack: LocalStack) -> None:
    # Given an hourly job that needs approval by one of two approvers
    job_id = prepare(
        stack,
        users=10,
        bad_rows=False,
        subscriber=None,
        approval={"required": True, "approvers": [APPROVER, DEPUTY], "expires_after_hours": 24},
    ).job_id
    operations.set_schedule(job_id, "rate(1 hour)")
    now = [T0]
    scheduler = Scheduler(stack.invoker, clock=lambda: now[0])
    scheduler.tick()
    before = scim_users(stack)

    # When the scheduler fires it
    now[0] = T0 + timedelta(hours=1)
    scheduler.tick()
    scheduler.drain()
    first = wait_for_approval(stack, ApprovalStatus.PENDING, 1)

    # Then a simulate preview ran, the target is unchanged, and no real run started
    preview = RunStore().get(first.preview_id).run
    assert (preview.run_type, preview.status, preview.preview_of) == (
        RunType.SIMULATE,
        RunStatus.SUCCEEDED,
        first.approval_id,
    )
    assert first.preview_totals["created"] == 10
    assert (first.trigger, first.run_type) == (Trigger.SCHEDULE, RunType.READ)
    assert scim_users(stack) == before == {}
    assert real_runs(job_id) == []

    # And each approver got the preview's counts, its logs and their own approve/reject links
    text = approval_mail(stack, APPROVER, first.approval_id)
    assert re.search(r"^  created +10$", text, re.MULTILINE)
    assert "Preview details: " in text
    approve_url, _ = decision_links(text)
    deputy_approve, deputy_reject = decision_links(approval_mail(stack, DEPUTY, first.approval_id))
    assert approve_url != deputy_approve

    # When the approver follows the approve link over HTTP: a page with a button, then the button
    page = httpx.get(approve_url)
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert ApprovalStore().get(first.approval_id).status is ApprovalStatus.PENDING  # opening decides nothing
    decided = httpx.post(approve_url)

    # Then the decision is recorded with who made it, and the real run starts and provisions
    assert decided.status_code == 200
    assert f"Approved by {APPROVER}" in decided.text
    approved = ApprovalStore().get(first.approval_id)
    assert (approved.status, approved.decided_by, approved.decided_via) == (
        ApprovalStatus.APPROVED,
        APPROVER,
        "mail link",
    )
    deadline = time.monotonic() + 30
    while not real_runs(job_id) or ApprovalStore().get(first.approval_id).run_id is None:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    (run,) = real_runs(job_id)
    run = wait_for_run(run.run_id, stack=stack)
    assert (run.status, run.approval_id, run.trigger) == (RunStatus.SUCCEEDED, first.approval_id, Trigger.SCHEDULE)
    assert f"approved by {APPROVER}" in run.triggered_by
    assert ApprovalStore().get(first.approval_id).run_id == run.run_id
    assert len(scim_users(stack)) == 10

    # And a second use of a link, the same or the deputy's, is refused; nothing runs again
    again = httpx.post(approve_url)
    assert again.status_code == 409
    assert f"already approved by {APPROVER}" in again.text
    assert httpx.post(deputy_reject).status_code == 409
    assert httpx.get(deputy_approve).status_code == 409
    stack.replay_streams(times=1)
    assert len(real_runs(job_id)) == 1
    listed = {a.approval_id: a for a in collections.list_approvals()}
    assert listed[first.approval_id].run_id == run.run_id

    # When the next fire's request is left undecided past its expiry
    now[0] = T0 + timedelta(hours=2)
    scheduler.tick()
    scheduler.drain()
    second = wait_for_approval(stack, ApprovalStatus.PENDING, 2)
    late_approve, _ = decision_links(approval_mail(stack, APPROVER, second.approval_id))
    # a link signed to expire before now is refused, and leaves the request as it is
    key = boto3.client("secretsmanager").get_secret_value(SecretId=stack.resources.name("LinkSigningKey"))
    past = datetime.now(UTC) - timedelta(minutes=1)
    forged = stack.function_urls["LinksFunction"].url + sign(
        key["SecretString"].encode(), second.approval_id, APPROVE, past, APPROVER
    )
    expired_link = httpx.post(forged)
    assert expired_link.status_code == 410
    assert "expired" in expired_link.text
    assert ApprovalStore().get(second.approval_id).status is ApprovalStatus.PENDING
    # the request's own time passes (simulated): it expires, recorded as nobody's decision
    assert second.expires_at is not None
    assert expire_due(now=second.expires_at + timedelta(seconds=1)) == [second.approval_id]
    expired = ApprovalStore().get(second.approval_id)
    assert (expired.status, expired.decided_by, expired.decided_via) == (ApprovalStatus.EXPIRED, EXPIRED_BY, "expiry")

    # Then its approve link is refused and nothing runs
    refused = httpx.post(late_approve)
    assert refused.status_code == 410
    assert httpx.get(late_approve).status_code == 410
    assert len(real_runs(job_id)) == 1

    # When the third fire's request is rejected by the deputy
    now[0] = T0 + timedelta(hours=3)
    scheduler.tick()
    scheduler.drain()
    third = wait_for_approval(stack, ApprovalStatus.PENDING, 3)
    _, reject_third = decision_links(approval_mail(stack, DEPUTY, third.approval_id))
    assert "Reject the request" in httpx.get(reject_third).text
    rejected_page = httpx.post(reject_third)

    # Then the request ends rejected by the deputy, and no run starts
    assert rejected_page.status_code == 200
    rejected = ApprovalStore().get(third.approval_id)
    assert (rejected.status, rejected.decided_by) == (ApprovalStatus.REJECTED, DEPUTY)
    time.sleep(1.5)
    stack.replay_streams(times=1)
    assert len(real_runs(job_id)) == 1
    assert len(scim_users(stack)) == 10

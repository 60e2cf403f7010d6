"""Job collections on the local stack: three jobs run one after another, the second fails; with
"abort" the collection stops there, with "continue" the third runs. Scheduled as one rule, mailed
as one by the collection's trigger, every stream record delivered again without a second run or mail."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncjobs.admin import collections, operations
from syncjobs.models.collection import CollectionRun
from syncjobs.models.run import RunStatus, Trigger
from syncjobs.store.collections import CollectionStore
from syncjobs.store.errors import NotFound
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import SECRET_NAME, prepare
from syncjobs_local.pollers import Scheduler
from syncjobs_local.stack import LocalStack
from tests.e2e.test_notifications import mails

pytestmark = pytest.mark.e2e

OPS = "ops-team@example.com"
JOBS = ("coll-a", "coll-b", "coll-c")


def three_jobs(stack: LocalStack) -> None:
    """coll-a and coll-c each provision 10 users into their own tenant; coll-b's export is missing."""
    assert stack.scim is not None
    for job_id in JOBS:
        target = {
            "type": "scim",
            "name": f"App {job_id}",
            "base_url": stack.scim.tenant_url(job_id),
            "token_secret": SECRET_NAME,
        }
        prepared = prepare(
            stack, users=10, key=f"exports/{job_id}.csv", subscriber=None, bad_rows=False, job_id=job_id, target=target
        )
        if job_id == "coll-b":
            source = {**prepared.document["source"], "key": "exports/no-such-export.csv"}
            operations.apply_job(operations.parse_job({**prepared.document, "source": source}))


def apply_collection(on_failure: str, trigger: str) -> None:
    collections.apply_collection(
        collections.parse_collection(
            {
                "collection_id": "nightly",
                "name": "Nightly provisioning",
                "steps": [{"job_id": j, "on_failure": on_failure} for j in JOBS],
                "notification": {"recipients": [OPS], "trigger": trigger},
            }
        )
    )


def wait_for_collection_run(stack: LocalStack, timeout_s: float = 120) -> CollectionRun:
    deadline = time.monotonic() + timeout_s
    while True:
        assert stack.poller_errors() == []
        runs = CollectionStore().list_runs("nightly")
        if runs and runs[0].status.is_final:
            return runs[0]
        assert time.monotonic() < deadline, f"collection run not final: {runs[:1]}"
        time.sleep(0.2)


def settled_mails(stack: LocalStack) -> list[tuple[str, str]]:
    time.sleep(1.5)  # the notifier and the outbox poll
    return mails(stack)


def api(stack: LocalStack, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(stack.admin_api_url + path, timeout=30) as answer:
        return dict(json.loads(answer.read()))


def runs_per_job() -> dict[str, int]:
    return {job_id: len(RunStore().list_for_job(job_id)) for job_id in JOBS}


def test_a_scheduled_collection_aborts_after_a_failed_step_and_mails_once(stack: LocalStack) -> None:
    # Given three jobs, the second of which fails, in a collection that aborts on failure,
    # scheduled hourly, mailing its recipient when the collection fails
    three_jobs(stack)
    apply_collection("abort", "job_fails")
    operations.set_schedule("nightly", "rate(1 hour)", kind="collection")
    now = [datetime(2026, 11, 23, 8, 0, tzinfo=UTC)]
    scheduler = Scheduler(stack.invoker, clock=lambda: now[0])
    scheduler.tick()

    # When the schedule fires
    now[0] += timedelta(hours=1)
    scheduler.tick()
    scheduler.drain()
    crun = wait_for_collection_run(stack)

    # Then step 1 ran, step 2 failed, step 3 never ran, and the collection failed, saying why
    assert crun.trigger is Trigger.SCHEDULE
    assert crun.created_at == now[0]
    assert [s.status for s in crun.steps] == ["succeeded", "failed", "not_run"]
    assert crun.status is RunStatus.FAILED
    assert crun.reason is not None
    assert crun.reason.startswith("aborted: step 2 (coll-b) failed: source.key: the export s3://")
    assert "/exports/no-such-export.csv does not exist; step 3 did not run" in crun.reason
    assert crun.reason.endswith("; step 3 did not run")
    assert crun.steps[0].totals["created"] == 10
    assert runs_per_job() == {"coll-a": 1, "coll-b": 1, "coll-c": 0}
    (step_a,) = RunStore().list_for_job("coll-a")
    assert step_a.trigger is Trigger.COLLECTION
    assert (step_a.collection_run_id, step_a.collection_step) == (crun.collection_run_id, 0)

    # And the runs are listed together through the admin API
    listed = api(stack, f"/collection-runs/{crun.collection_run_id}")
    assert [r["job_id"] for r in listed["runs"]] == ["coll-a", "coll-b"]
    assert [r["status"] for r in listed["runs"]] == ["succeeded", "failed"]

    # And one "failed" mail went to the recipient, even with every stream record delivered twice more
    failed = (OPS, "Job Collection Failed")
    assert settled_mails(stack) == [failed]
    stack.replay_streams(times=2)
    assert settled_mails(stack) == [failed]
    assert runs_per_job() == {"coll-a": 1, "coll-b": 1, "coll-c": 0}
    assert len(CollectionStore().list_runs("nightly")) == 1
    assert stack.outbox is not None
    text = stack.outbox.written[0].read_text()
    assert "coll-b" in text
    assert "not_run" not in text  # steps are labelled in words


@pytest.mark.parametrize(("trigger", "mailed"), [("errors", True), ("job_fails", False), ("always", True)])
def test_a_collection_that_continues_runs_step_three_and_mails_by_its_trigger(
    stack: LocalStack, trigger: str, mailed: bool
) -> None:
    # Given the same three jobs in a collection that continues after a failed step
    three_jobs(stack)
    apply_collection("continue", trigger)

    # When an admin runs it through the API
    crun_id = collections.request_collection_run("nightly", "read", "ada", "api", "req-1").run_id
    crun = wait_for_collection_run(stack)

    # Then all three steps ran and the collection finished with errors
    assert crun.collection_run_id == crun_id
    assert [s.status for s in crun.steps] == ["succeeded", "failed", "succeeded"]
    assert crun.status is RunStatus.FINISHED_WITH_ERRORS
    assert crun.steps[2].totals["created"] == 10
    assert runs_per_job() == {"coll-a": 1, "coll-b": 1, "coll-c": 1}
    (step_c,) = RunStore().list_for_job("coll-c")
    (step_b,) = RunStore().list_for_job("coll-b")
    assert step_b.ended_at is not None
    assert step_c.created_at >= step_b.ended_at  # one after another

    # And the recipient is mailed per the trigger: errors occurred, the collection did not fail
    expected = [(OPS, "Job Collection Finished with Error")] if mailed else []
    assert settled_mails(stack) == expected
    stack.replay_streams(times=1)
    assert settled_mails(stack) == expected
    assert runs_per_job() == {"coll-a": 1, "coll-b": 1, "coll-c": 1}


def test_a_collection_that_needs_approval_previews_every_step_and_runs_once_approved(stack: LocalStack) -> None:
    # Given a two-job collection that needs approval
    three_jobs(stack)
    collections.apply_collection(
        collections.parse_collection(
            {
                "collection_id": "nightly",
                "name": "Nightly provisioning",
                "steps": [{"job_id": "coll-a"}, {"job_id": "coll-c"}],
                "approval": {"required": True, "approvers": [OPS]},
            }
        )
    )

    # When an admin runs it
    started = collections.request_collection_run("nightly", "read", "ada", "api", "req-approval")

    # Then it previews both steps as simulate runs, writes nothing, and waits for the approver
    assert started.run_id is None
    assert started.approval_id is not None
    deadline = time.monotonic() + 60
    while True:
        try:
            approval = collections.get_approval(started.approval_id)
        except NotFound:  # start_run (asynchronous) has not recorded it yet
            approval = None
        if approval is not None and approval.status.value == "pending":
            break
        assert time.monotonic() < deadline, approval
        time.sleep(0.2)
    preview = CollectionStore().get_run(approval.preview_id).run
    assert [s.status for s in preview.steps] == ["succeeded", "succeeded"]
    assert approval.preview_totals["created"] == 20
    assert {r.run_type.value for j in ("coll-a", "coll-c") for r in RunStore().list_for_job(j)} == {"simulate"}

    # When the approver approves it through the API
    decided = collections.decide_approval(started.approval_id, True, "arn:aws:iam::123456789012:user/ada")

    # Then the collection runs for real, marked with the request
    assert decided.decided_by == "arn:aws:iam::123456789012:user/ada"
    deadline = time.monotonic() + 120
    while True:
        real = [r for r in CollectionStore().list_runs("nightly") if r.preview_of is None]
        if real and real[0].status.is_final:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert (real[0].status, real[0].approval_id) == (RunStatus.SUCCEEDED, started.approval_id)
    assert real[0].totals()["created"] == 20

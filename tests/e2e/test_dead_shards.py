"""A shard that raises on every receive: SQS moves its message to the dead-letter queue after its last
receive, run_shard (reading that queue too) counts it as a dead part with the error its attempts
recorded, and the run ends with the reason: lock released, no deletes, one mail to a `job_fails`
subscriber, and the next fire runs."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from syncjobs.admin import operations
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.models.run import Run, RunStatus
from syncjobs.store.jobs import JobStore
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import prepare, start, wait_for_run
from syncjobs_local.pollers import Scheduler
from syncjobs_local.stack import LocalStack
from tests.e2e.fault_kit import Poison
from tests.e2e.helpers import log_rows, outbox_settled, rewrite_export, scim_users, wait_until

pytestmark = pytest.mark.e2e

ON_CALL = "on-call@example.com"
POISONED = "00001"


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> Iterator[Poison]:
    poison = Poison(POISONED)
    with poison.applied(monkeypatch):
        yield poison


def mails_to(stack: LocalStack, recipient: str) -> list[str]:
    assert stack.outbox is not None
    subjects = []
    for path in stack.outbox.written:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["To"]) == recipient:
            subjects.append(str(message["Subject"]))
    return subjects


def mail_settled(run: Run) -> bool:
    records = operations.run_notifications(run.run_id)
    return bool(records) and all(n.state not in {"claimed", "pending"} for n in records)


def test_a_shard_failing_on_every_receive_ends_its_run_with_the_reason(stack, poison):
    # Given a job of 3 shards, a job_fails subscriber, and one shard that raises on every receive
    prepared = prepare(stack, users=30, bad_rows=False, shard_size=10, subscriber=None)
    operations.subscribe(prepared.job_id, ON_CALL, "job_fails")

    # When it runs
    run = wait_for_run(start(stack, prepared.job_id), timeout_s=120)

    # Then the run ends with the reason, naming the shard, its attempts and the error
    assert run.status is RunStatus.FAILED
    assert run.reason is not None
    assert f"shard {POISONED} could not be processed in 5 attempts" in run.reason
    assert Poison.REASON in run.reason
    # And the other shards' users were provisioned, nothing deleted, and the lock is released
    assert run.totals()["created"] == 20
    assert len(scim_users(stack)) == 20
    assert JobStore().get(prepared.job_id).active_run is None
    # And exactly one mail went to the job_fails subscriber
    wait_until(lambda: mails_to(stack, ON_CALL), "the mail to the job_fails subscriber")
    wait_until(lambda: mail_settled(run), "the notifier's decisions")
    outbox_settled(stack)
    assert len(mails_to(stack, ON_CALL)) == 1

    # When the shard can be read again and the schedule fires next
    operations.set_schedule(prepared.job_id, "rate(1 minute)")
    now = [datetime.now(UTC)]
    scheduler = Scheduler(stack.invoker, clock=lambda: now[0])
    scheduler.tick()
    now[0] += timedelta(minutes=1, seconds=1)
    poison.armed = False
    scheduler.tick()
    scheduler.drain()

    # Then it runs, and succeeds
    (fired,) = [r for r in RunStore().list_for_job(prepared.job_id) if r.run_id != run.run_id]
    assert fired.trigger.value == "schedule"
    assert wait_for_run(fired.run_id, timeout_s=120).status is RunStatus.SUCCEEDED


def test_a_delete_batch_failing_on_every_receive_fails_its_deletes_with_the_reason(stack, monkeypatch):
    # Given 30 users provisioned, and 25 that leave the export (more than finalize deletes itself)
    prepared = prepare(stack, users=30, bad_rows=False, shard_size=10, subscriber=None, deletes={"max_percent": 90})
    assert wait_for_run(start(stack, prepared.job_id), timeout_s=120).totals()["created"] == 30
    gone = {f"E{i:06d}" for i in range(1, 26)}
    rewrite_export(prepared.bucket, prepared.key, lambda rows: [r for r in rows if r[0] not in gone])

    # When every delete call raises (a bug, not an answer of the target)
    def broken(*_: object) -> None:
        raise RuntimeError("delete exploded (injected)")

    monkeypatch.setattr(ScimTargetConnector, "delete", broken)
    run = wait_for_run(start(stack, prepared.job_id), timeout_s=180)

    # Then the batch is dead-lettered and counted: each of its deletes failed with the reason, none lost
    assert run.status is RunStatus.FAILED
    assert run.reason is not None
    assert "could not be processed in 5 attempts" in run.reason
    assert "delete exploded (injected)" in run.reason
    assert (run.totals()["failed"], run.totals()["deleted"], run.totals()["skipped"]) == (25, 0, 5)
    failed = log_rows(stack, run.log_keys["failed"])
    assert sorted(r["entity_id"] for r in failed) == sorted(gone)
    assert all(r["reason"].startswith("delete not made: delete batch") for r in failed)
    # And the users are still in the target, still managed by the job: the next full read plans them again
    assert len(scim_users(stack)) == 30
    assert JobStore().get(prepared.job_id).active_run is None

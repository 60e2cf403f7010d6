"""Deletes on the local stack: after a complete full read only, held back by the threshold, or off."""

import email
import email.policy

import boto3
import pytest

from syncjobs.engine.deletes import DISABLED
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs_local.demo import prepare, start, wait_for_mail, wait_for_run
from tests.e2e.helpers import log_rows, rewrite_export, scim_users

pytestmark = pytest.mark.e2e

GONE = {f"E{i:06d}" for i in range(5, 200, 20)}  # ten users leave the source


def without_gone(rows):
    return [r for r in rows if r[0] not in GONE]


def run_twice(stack, **job):
    """Given 200 users provisioned, when ten leave the export and the job runs again: the second run."""
    prepared = prepare(stack, users=200, bad_rows=False, shard_size=50, **job)
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert first.totals()[Outcome.CREATED] == 200
    rewrite_export(prepared.bucket, prepared.key, without_gone)
    return prepared, wait_for_run(start(stack, prepared.job_id), stack=stack)


def provisioned_ids(stack, job_id):
    table = stack.resources.name("EntityStateTable")
    items = boto3.client("dynamodb").query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": f"{job_id}#users"}}
    )["Items"]
    return {i["sk"]["S"] for i in items}


def test_entities_that_left_the_source_are_deleted_after_a_full_read(stack):
    prepared, run = run_twice(stack)
    totals = run.totals()
    assert run.status is RunStatus.SUCCEEDED
    assert (totals[Outcome.DELETED], totals[Outcome.SKIPPED], totals[Outcome.CREATED]) == (10, 190, 0)
    assert {r["entity_id"] for r in log_rows(stack, run.log_keys["deleted"])} == GONE
    users = scim_users(stack)
    assert len(users) == 190
    assert not GONE & set(users)
    assert provisioned_ids(stack, prepared.job_id) == set(users)


def test_a_delete_threshold_holds_every_delete_back_as_failed(stack):
    _, run = run_twice(stack, deletes={"max_count": 5})
    totals = run.totals()
    assert run.status is RunStatus.FINISHED_WITH_ERRORS
    assert (totals[Outcome.DELETED], totals[Outcome.FAILED], run.deletes_held) == (0, 10, 10)
    failed = log_rows(stack, run.log_keys["failed"])
    assert {r["entity_id"] for r in failed} == GONE
    assert all(r["reason"].startswith("delete held back: 10 pending deletes exceed") for r in failed)
    assert len(scim_users(stack)) == 200
    # and the subscriber is told, besides the finished-with-error mail, that deletes were held back
    subjects = sorted(
        str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"]).split(".")[0]
        for p in wait_for_mail(stack, 2)
    )
    assert subjects == ["Provisioning Deletes Held Back", "Provisioning Finished with Error"]
    held = next(p for p in stack.outbox.written if "Deletes Held" in p.read_text(errors="replace"))
    assert "The delete threshold held 10 delete(s) back" in held.read_text(errors="replace")


def test_upsert_only_never_deletes(stack):
    _, run = run_twice(stack, deletes={"enabled": False})
    assert run.status is RunStatus.SUCCEEDED
    assert run.totals()[Outcome.DELETED] == 0
    assert "upsert only" in run.deletes_note
    assert len(scim_users(stack)) == 200


def test_out_of_scope_users_are_deprovisioned_while_another_row_is_unreadable(stack):
    # Given 40 users provisioned by a job that scopes out contractors
    prepared = prepare(stack, users=40, bad_rows=False, shard_size=10, scope="{{ department != 'Contractors' }}")
    assert wait_for_run(start(stack, prepared.job_id), stack=stack).totals()[Outcome.CREATED] == 40
    contractors, unreadable = {"E000003", "E000017", "E000031"}, "E000022"

    def change(rows):
        for row in rows:
            if row[0] in contractors:
                row[5] = "Contractors"
        return [["", *row[1:]] if row[0] == unreadable else row for row in rows]

    # When three users become contractors and one user's row loses its id (unreadable)
    rewrite_export(prepared.bucket, prepared.key, change)
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)
    # Then the contractors, read and out of scope, are deleted; the unreadable row's user is kept
    assert run.totals()[Outcome.DELETED] == 3
    assert {r["entity_id"] for r in log_rows(stack, run.log_keys["deleted"])} == contractors
    assert "1 source row(s) could not be read" in run.deletes_note
    users = scim_users(stack)
    assert not contractors & set(users)
    assert unreadable in users
    assert len(users) == 37
    assert provisioned_ids(stack, prepared.job_id) == set(users)


def test_disable_mode_keeps_users_inactive_in_the_target(stack):
    # Given 40 users provisioned by a job whose deletes disable
    prepared = prepare(stack, users=40, bad_rows=False, shard_size=10, deletes={"mode": "disable"})
    assert wait_for_run(start(stack, prepared.job_id), stack=stack).totals()[Outcome.CREATED] == 40
    gone = {"E000004", "E000019", "E000033"}
    # When three leave the export
    rewrite_export(prepared.bucket, prepared.key, lambda rows: [r for r in rows if r[0] not in gone])
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)
    # Then they are counted and logged as deleted, reason disabled ...
    assert run.status is RunStatus.SUCCEEDED
    assert run.totals()[Outcome.DELETED] == 3
    deleted = log_rows(stack, run.log_keys["deleted"])
    assert {r["entity_id"] for r in deleted} == gone
    assert {r["reason"] for r in deleted} == {DISABLED}
    # ... and stay in the target with active false (read back over HTTP), no longer managed by the job
    users = scim_users(stack)
    assert len(users) == 40
    assert {e for e, u in users.items() if u.get("active") is False} >= gone
    assert all(users[e]["active"] is False for e in gone)
    assert not gone & provisioned_ids(stack, prepared.job_id)

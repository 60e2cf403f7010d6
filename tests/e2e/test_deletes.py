"""Deletes on the local stack: only with proof an entity is gone, held back by the threshold (on by
default) until an admin allows exactly those, disabled instead of deleted, or off."""

import email
import email.policy
import re

import boto3
import httpx
import pytest

from syncjobs.admin import collections
from syncjobs.engine.deletes import DELETE_BATCH_SIZE, DISABLED
from syncjobs.models.approval import ApprovalStatus
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows.held_deletes import request_id_for
from syncjobs_local.demo import SUBSCRIBER, prepare, start, wait_for_mail, wait_for_run
from tests.e2e.helpers import log_rows, outbox_settled, rewrite_export, scim_users, wait_until
from tests.e2e.test_cli import cli

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
        str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"]).rsplit("): ", 1)[-1]
        for p in wait_for_mail(stack, 2)
    )
    assert subjects == ["Deletes Held Back", "Finished with Error"]
    held = next(p for p in stack.outbox.written if "Deletes Held" in p.read_text(errors="replace"))
    assert "The delete threshold held 10 deletes back" in held.read_text(errors="replace")


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


HELD = {f"E{i:06d}" for i in range(1, 21) if i % 5 in (1, 2, 3)}  # 12 of 20 users: 60%


def hold_sixty_percent(stack, **job):
    """Given 20 users provisioned, when 12 leave the export (60%): the run that holds their deletes, and
    the rows that left."""
    prepared = prepare(stack, users=20, bad_rows=False, shard_size=5, **job)
    assert wait_for_run(start(stack, prepared.job_id), stack=stack).totals()[Outcome.CREATED] == 20
    left: dict[str, list[str]] = {}

    def leave(rows):
        left.update((r[0], r) for r in rows if r[0] in HELD)
        return [r for r in rows if r[0] not in HELD]

    rewrite_export(prepared.bucket, prepared.key, leave)
    return prepared, wait_for_run(start(stack, prepared.job_id), stack=stack), left


def held_mail_text(stack, run_id):
    """The plain text of the "Deletes Held Back" mail about the run."""
    found: list[str] = []

    def sent() -> bool:
        for path in stack.outbox.written:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            text = str(message.get_body(preferencelist=("plain",)).get_content())
            if str(message["Subject"]).endswith("): Deletes Held Back") and run_id in text:
                found.append(text)
                return True
        return False

    wait_until(sent, "the Deletes Held Back mail is written")
    return found[0]


def applied(approval_id):
    """The request once its allowed deletes ran and the held run was told (in that order)."""

    def done() -> bool:
        approval = ApprovalStore().get(approval_id)
        told = RunStore().get(approval.preview_id).run.deletes_note == approval.deletes_outcome
        return approval.status is ApprovalStatus.APPLIED and told

    wait_until(done, f"the allowed deletes of {approval_id} ran and its run was told")
    return ApprovalStore().get(approval_id)


def test_sixty_percent_deletes_are_held_by_default_and_the_mail_link_allows_exactly_those_once(stack):
    # Given a job with no delete settings, whose full read finds 12 of its 20 users gone
    prepared, run, left = hold_sixty_percent(stack)
    # Then all 12 deletes are held back by the default threshold, and nothing is deleted
    assert run.status is RunStatus.FINISHED_WITH_ERRORS
    assert (run.totals()[Outcome.DELETED], run.deletes_held) == (0, 12)
    assert "above the threshold of 30% (the default)" in run.deletes_note
    assert len(scim_users(stack)) == 20
    # And the held deletes are a pending request to allow them, named in the mail with its link
    request = request_id_for(run)
    held = ApprovalStore().get(request)
    assert (held.status, held.subject_kind, held.held_deletes) == (ApprovalStatus.PENDING, "deletes", 12)
    assert held.summary == f"allow 12 deletes of run {run.run_id}"
    text = held_mail_text(stack, run.run_id)
    link = re.search(r"^  Allow 12 deletes: (\S+)$", text, re.MULTILINE)
    assert link is not None
    assert f"syncjobs approvals approve {request}" in text

    # When one of them comes back to the source and the job runs again (its deletes are held again)
    back = sorted(HELD)[0]
    rewrite_export(prepared.bucket, prepared.key, lambda rows: [*rows, left[back]])
    again = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert again.deletes_held == 11
    # And the subscriber follows the first mail's allow link: a page with a button, then the button
    page = httpx.get(link.group(1))
    assert page.status_code == 200
    assert "Allow 12 deletes" in page.text
    assert ApprovalStore().get(request).status is ApprovalStatus.PENDING  # opening allows nothing
    assert httpx.post(link.group(1)).status_code == 200
    # Then nothing is deleted: a newer run read the source since, and its own plan decides
    stale = applied(request)
    assert stale.decided_by == SUBSCRIBER
    assert stale.deletes_outcome.startswith(f"not applied: run {again.run_id} of this job started after")
    assert len(scim_users(stack)) == 20

    # When an admin allows the newer run's request
    newer = request_id_for(again)
    collections.decide_approval(newer, True, "admin")
    # Then exactly its held deletes ran, and the user back in the source stays
    done = applied(newer)
    assert "11 deleted" in done.deletes_outcome
    users = scim_users(stack)
    assert set(users) == {f"E{i:06d}" for i in range(1, 21)} - HELD | {back}
    assert provisioned_ids(stack, prepared.job_id) == set(users)
    # And the run says so
    allowed_run = RunStore().get(again.run_id).run
    assert allowed_run.deletes_allowed == 11
    assert allowed_run.deletes_note == done.deletes_outcome

    # When the first link is used again, and the stream delivers the allow again
    assert httpx.post(link.group(1)).status_code == 409
    stack.replay_streams(times=1)
    outbox_settled(stack)
    # Then nothing more happened: deleted once
    assert ApprovalStore().get(newer).deletes_outcome == done.deletes_outcome
    assert RunStore().get(again.run_id).run.deletes_allowed == 11
    assert set(scim_users(stack)) == set(users)


def test_held_deletes_allowed_through_the_cli_run_once(stack):
    # Given 12 of 20 users' deletes held back by the default threshold
    _, run, _ = hold_sixty_percent(stack)
    request = request_id_for(run)
    # When an admin lists the requests and allows this one from the terminal
    listed = cli(stack, "approvals", "list", "--status", "pending")
    assert f"allow 12 deletes of run {run.run_id}" in listed.stdout
    allowed = cli(stack, "approvals", "approve", request)
    assert allowed.returncode == 0, allowed.stderr
    # Then exactly those 12 are deleted
    assert "12 deleted" in applied(request).deletes_outcome
    users = scim_users(stack)
    assert set(users) == {f"E{i:06d}" for i in range(1, 21)} - HELD
    # And allowing twice is refused, and a second delivery deletes nothing more
    twice = cli(stack, "approvals", "approve", request)
    assert twice.returncode != 0
    assert "already approved" in twice.stderr + twice.stdout or "already applied" in twice.stderr + twice.stdout
    stack.replay_streams(times=1)
    outbox_settled(stack)
    assert RunStore().get(run.run_id).run.deletes_allowed == 12
    assert set(scim_users(stack)) == set(users)


def test_many_deletes_are_made_by_delete_batches_each_entity_once(stack):
    # Given 300 users provisioned, when 150 leave the export (a threshold that allows it)
    prepared = prepare(stack, users=300, bad_rows=False, shard_size=100, deletes={"max_count": 1000, "max_percent": 60})
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert first.totals()[Outcome.CREATED] == 300
    gone = {f"E{i:06d}" for i in range(1, 301, 2)}
    rewrite_export(prepared.bucket, prepared.key, lambda rows: [r for r in rows if r[0] not in gone])
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)
    # Then the deletes are made by batches of 100 (not by finalize), and every one is counted and logged once
    assert run.deletes_done == -(-len(gone) // DELETE_BATCH_SIZE) == 2
    totals = run.totals()
    assert run.status is RunStatus.SUCCEEDED
    assert (totals[Outcome.DELETED], totals[Outcome.SKIPPED], totals[Outcome.FAILED]) == (150, 150, 0)
    assert sorted(r["entity_id"] for r in log_rows(stack, run.log_keys["deleted"])) == sorted(gone)
    users = scim_users(stack)
    assert len(users) == 150
    assert not gone & set(users)
    assert provisioned_ids(stack, prepared.job_id) == set(users)

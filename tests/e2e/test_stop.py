"""Stop on the local stack: every shard stops within a batch, the run ends stopped with the logs of
what was done, its mail says who stopped it, and the job is free to run again."""

import email
import email.policy
import time

import pytest

from syncjobs.admin import operations
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs.store.errors import Conflict
from syncjobs_local.demo import prepare, start, wait_for_mail, wait_for_run
from tests.e2e.helpers import log_rows, scim_users

pytestmark = pytest.mark.e2e


def test_a_stopped_run_ends_stopped_with_the_logs_of_what_was_done(stack):
    # Given a run of 1,500 users under way
    prepared = prepare(stack, users=1500, bad_rows=False, shard_size=100)
    run_id = start(stack, prepared.job_id)
    deadline = time.monotonic() + 120
    while sum(operations.get_run(run_id).totals().values()) < 100:
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.05)

    # When an admin stops it
    assert operations.stop_run(run_id, "ada@example.com").status is RunStatus.STOPPING
    run = wait_for_run(run_id, stack=stack)

    # Then it ends stopped, having done part of the work, and every count matches the target and the logs
    assert run.status is RunStatus.STOPPED
    created = run.totals()[Outcome.CREATED]
    assert 100 <= created < 1500
    assert sum(run.totals().values()) == created
    time.sleep(1.5)  # nothing is written after the run ended
    assert len(scim_users(stack)) == created
    assert len(log_rows(stack, run.log_keys["created"])) == created
    assert "stopped" in run.deletes_note
    # And the subscriber's mail says who stopped the run, in its subject and its heading
    (mail,) = wait_for_mail(stack, 1)
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    assert str(message["Subject"]).endswith("): Stopped by ada@example.com")
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().startswith("Provisioning Stopped by ada@example.com at ")
    with pytest.raises(Conflict, match="already over"):
        operations.stop_run(run_id, "ada@example.com")

    # And the job can run again, picking up where it stopped
    again = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert again.status is RunStatus.SUCCEEDED
    assert again.totals()[Outcome.CREATED] == 1500 - created
    assert len(scim_users(stack)) == 1500

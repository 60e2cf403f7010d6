"""Delta reads on the local stack: only rows modified since the last successful run, never deletes,
and a full read forced after N delta reads."""

import pytest

from syncjobs.models.outcome import Outcome
from syncjobs.models.run import ReadMode
from syncjobs_local.demo import prepare, start, wait_for_run
from tests.e2e.helpers import log_rows, rewrite_export, scim_users

pytestmark = pytest.mark.e2e

MODIFIED = {"E000007", "E000150", "E000299"}
REMOVED = "E000100"


def test_delta_reads_pick_only_modified_rows(stack):
    prepared = prepare(stack, users=300, bad_rows=False, shard_size=100, delta={"enabled": True, "full_read_every": 2})
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert first.read_mode is ReadMode.FULL
    assert first.totals()[Outcome.CREATED] == 300

    # Given three rows modified after the watermark and one row removed
    def change(rows):
        for row in rows:
            if row[0] in MODIFIED:
                row[4], row[7] = "Promoted", "2026-11-21T09:00:00Z"
        return [r for r in rows if r[0] != REMOVED]

    rewrite_export(prepared.bucket, prepared.key, change)

    # When the job runs, it is a delta read of exactly the modified rows, and it deletes nothing
    second = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert second.read_mode is ReadMode.DELTA
    assert {o: n for o, n in second.totals().items() if n} == {Outcome.UPDATED: 3}
    assert {r["entity_id"] for r in log_rows(stack, second.log_keys["updated"])} == MODIFIED
    assert "delta read never deletes" in second.deletes_note
    users = scim_users(stack)
    assert len(users) == 300
    assert {u["title"] for eid, u in users.items() if eid in MODIFIED} == {"Promoted"}

    # And a second delta read finds nothing new
    third = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert third.read_mode is ReadMode.DELTA
    assert sum(third.totals().values()) == 0

    # And after two delta reads the next read is full again, and it deletes the removed user
    fourth = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert fourth.read_mode is ReadMode.FULL
    assert {o: n for o, n in fourth.totals().items() if n} == {Outcome.SKIPPED: 299, Outcome.DELETED: 1}
    assert REMOVED not in scim_users(stack)

"""Content tracing: personal data in the logs only when an admin asks, and only for the next run."""

import json

import pytest

from syncjobs.admin import operations
from syncjobs.store.jobs import JobStore
from syncjobs_local.demo import prepare, start, wait_for_run
from tests.e2e.helpers import log_rows, rewrite_export

pytestmark = pytest.mark.e2e


def test_content_is_traced_for_the_next_run_only(stack):
    prepared = prepare(stack, users=20, bad_rows=False, shard_size=50)

    # Given an admin asks for the content of created entities in the next run
    operations.trace_next_run(prepared.job_id, ["created", "updated"])

    # When it runs, the created log carries each entity's mapped attributes
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)
    rows = log_rows(stack, first.log_keys["created"])
    assert len(rows) == 20
    content = json.loads(rows[0]["content"])
    assert content["userName"] == prepared.export.valid[rows[0]["entity_id"]]["email"]
    assert JobStore().get(prepared.job_id).trace_once == []

    # And the run after it is back to ids only
    rewrite_export(prepared.bucket, prepared.key, lambda rs: [[*r[:4], "Changed", *r[5:]] for r in rs])
    second = wait_for_run(start(stack, prepared.job_id), stack=stack)
    updated = log_rows(stack, second.log_keys["updated"])
    assert len(updated) == 20
    assert {r["content"] for r in updated} == {""}


@pytest.mark.parametrize(("outcomes", "problem"), [(["deleted"], "'deleted' cannot be traced"), ([], "at least one")])
def test_deleted_entities_never_carry_content(aws, outcomes, problem):
    job_id = prepare(aws, users=1).job_id
    with pytest.raises(operations.InvalidInput, match=problem):
        operations.trace_next_run(job_id, outcomes)

"""simulate, validate and resync on the local stack (the 10,000-user version is in test_ten_thousand)."""

import json

import pytest

from syncjobs.admin import operations
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs_local.demo import prepare, start, wait_for_run
from tests.e2e.helpers import log_rows, scim_users

pytestmark = pytest.mark.e2e


def outcomes(run):
    return {o: n for o, n in run.totals().items() if n}


def test_simulate_and_validate_leave_the_target_untouched_and_resync_writes_all(stack):
    prepared = prepare(stack, users=120, bad_rows=False, shard_size=50)
    simulated = wait_for_run(start(stack, prepared.job_id, run_type="simulate"), stack=stack)
    assert outcomes(simulated) == {Outcome.CREATED: 120}
    assert scim_users(stack) == {}
    assert all(r["reason"] == "simulated create" for r in log_rows(stack, simulated.log_keys["created"]))

    wait_for_run(start(stack, prepared.job_id), stack=stack)
    before = json.dumps(scim_users(stack), sort_keys=True)
    assert outcomes(wait_for_run(start(stack, prepared.job_id, run_type="simulate"), stack=stack)) == {
        Outcome.UPDATED: 120
    }
    validated = wait_for_run(start(stack, prepared.job_id, run_type="validate"), stack=stack)
    assert outcomes(validated) == {Outcome.SKIPPED: 120}
    assert json.dumps(scim_users(stack), sort_keys=True) == before

    resync = wait_for_run(start(stack, prepared.job_id, run_type="resync"), stack=stack)
    assert outcomes(resync) == {Outcome.UPDATED: 120}


def test_validate_reports_what_the_target_schema_would_refuse(stack):
    prepared = prepare(stack, users=30, bad_rows=False, shard_size=50)
    document = prepared.document
    document["mapping"]["users"] |= {"nickname2": "{{ first_name }}", "active": "{{ status }}"}
    operations.apply_job(operations.parse_job(document))
    run = wait_for_run(start(stack, prepared.job_id, run_type="validate"), stack=stack)
    assert run.status is RunStatus.FINISHED_WITH_ERRORS
    assert outcomes(run) == {Outcome.FAILED: 30}
    reasons = {r["reason"] for r in log_rows(stack, run.log_keys["failed"])}
    assert reasons == {
        "schema: active: must be of SCIM type boolean, got str; nickname2: is not an attribute of the target's schema"
    }
    assert scim_users(stack) == {}

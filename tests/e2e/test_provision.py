"""Provision on demand: `syncjobs provision JOB --id ID` against the local stack's admin API, which has
the run_shard function provision the entity as a small run (Entra's "Provision on demand")."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.models.run import RunStatus, StartRequest, Trigger
from syncjobs.store.jobs import JobStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows.finalize import fail_run
from syncjobs.workflows.start_run import new_run
from syncjobs_local.demo import SECRET_NAME, prepare
from tests.e2e.helpers import scim_groups, scim_users
from tests.e2e.test_cli import cli
from tests.e2e.test_scim_source import GROUP_SCHEMA, USER_SCHEMA

pytestmark = pytest.mark.e2e


def _provision(stack, job_id: str, entity_id: str, *options: str):
    return cli(stack, "provision", job_id, "--id", entity_id, *options, timeout=60)


def test_provision_on_demand_shows_each_step_writes_the_user_and_records_a_run(stack):
    # Given a job over an export whose user is not in the target yet
    prepared = prepare(stack, users=30, bad_rows=False, subscriber=None)
    entity_id = sorted(prepared.export.valid)[3]
    assert entity_id not in scim_users(stack)

    # When an admin provisions that one user
    done = _provision(stack, prepared.job_id, entity_id)

    # Then every step is printed, the user is in the target, and no credential is shown
    assert done.returncode == 0, done.stderr
    steps = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ") and line.split()]
    assert steps[:1] == ["read"]
    for step in ("scope", "mapping", "state", "diff", "target", "outcome"):
        assert step in steps, done.stdout
    assert "no stored state" in done.stdout
    assert re.search(r"target +POST \S*/Users -> 201", done.stdout), done.stdout
    assert "outcome  created" in done.stdout
    assert stack.scim is not None
    assert stack.scim.token not in done.stdout + done.stderr
    assert "Bearer" not in done.stdout
    assert "Authorization" not in done.stdout
    user = scim_users(stack)[entity_id]
    assert user["userName"] == prepared.export.valid[entity_id]["email"]

    # And it is a run of the job like any other: trigger provision, succeeded, its lock released, its log kept
    run_id = done.stdout.strip().splitlines()[-1].split()[1]
    run = operations.get_run(run_id)
    assert (run.trigger, run.status) == (Trigger.PROVISION, RunStatus.SUCCEEDED)
    assert run.totals_by_name()["created"] == 1
    assert JobStore().get(prepared.job_id).active_run is None
    log = cli(stack, "logs", "get", run_id, "--outcome", "created")
    assert log.returncode == 0, log.stderr
    assert entity_id in log.stdout
    listed = cli(stack, "runs", "list", prepared.job_id, "--output", "json")
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout


def test_a_second_provision_of_an_unchanged_user_says_unchanged_and_writes_nothing(stack):
    # Given a user provisioned on demand
    prepared = prepare(stack, users=10, bad_rows=False, subscriber=None)
    entity_id = sorted(prepared.export.valid)[0]
    assert _provision(stack, prepared.job_id, entity_id).returncode == 0

    # When it is provisioned again (json output)
    again = _provision(stack, prepared.job_id, entity_id, "--output", "json")

    # Then the stored state is shown, the diff and the outcome say unchanged, and the target saw no call
    assert again.returncode == 0, again.stderr
    answer = json.loads(again.stdout)
    by_step = {s["step"]: s for s in answer["steps"]}
    assert (answer["outcome"], answer["reason"]) == ("skipped", "unchanged")
    assert by_step["diff"]["summary"].startswith("unchanged")
    assert by_step["state"]["detail"]["target_id"] == answer["target_id"]
    assert by_step["target"]["summary"] == "no call to the target"
    assert operations.get_run(answer["run_id"]).status is RunStatus.SUCCEEDED


def test_a_provision_while_a_run_holds_the_job_lock_is_refused_naming_that_run(stack):
    # Given a job whose lock a run holds (created as start_run creates it, before it plans)
    prepared = prepare(stack, users=5, bad_rows=False, subscriber=None)
    job = JobStore().get(prepared.job_id).definition
    request = StartRequest(
        job_id=prepared.job_id,
        trigger=Trigger.CLI,
        triggered_by="test",
        request_id=str(uuid.uuid4()),
        requested_at=datetime.now(UTC),
    )
    holder = new_run(request, job)
    RunStore().create_locked(holder, job)
    entity_id = sorted(prepared.export.valid)[0]
    try:
        # When an admin provisions a user of that job
        refused = _provision(stack, prepared.job_id, entity_id)

        # Then it is refused with the reason naming the active run, and nothing was written
        assert refused.returncode != 0
        assert f"active run {holder.run_id}" in refused.stderr
        assert entity_id not in scim_users(stack)
        assert JobStore().get(prepared.job_id).active_run == holder.run_id
    finally:
        fail_run(RunStore().get(holder.run_id), "test over")


def test_provisioning_an_id_not_in_the_source_is_a_clear_error(stack):
    # Given a job and an id its export does not have
    prepared = prepare(stack, users=5, bad_rows=False, subscriber=None)

    # When it is provisioned
    missing = _provision(stack, prepared.job_id, "E999999")

    # Then the error names the id and the job, and no run was recorded
    assert missing.returncode != 0
    assert f"users E999999 is not in the source of job {prepared.job_id}" in missing.stderr
    assert JobStore().get(prepared.job_id).active_run is None
    assert not RunStore().list_for_job(prepared.job_id)


def test_a_job_that_requires_approval_for_writes_refuses_a_provision_with_the_reason(stack):
    # Given a job whose writes start only through an approved request
    approval = {"required": True, "approvers": ["approver@example.com"]}
    prepared = prepare(stack, users=5, bad_rows=False, subscriber=None, approval=approval)
    entity_id = sorted(prepared.export.valid)[0]

    # When a user of it is provisioned on demand
    refused = _provision(stack, prepared.job_id, entity_id)

    # Then it is refused with the approval gate's reason, and nothing ran or was written
    assert refused.returncode != 0
    assert f"job {prepared.job_id} requires approval" in refused.stderr
    assert "not approved one entity at a time" in refused.stderr
    assert entity_id not in scim_users(stack)
    assert not RunStore().list_for_job(prepared.job_id)


def test_a_scim_source_is_asked_for_the_one_id_and_a_group_gets_its_provisioned_members(stack):
    # Given a SCIM service as the source with two users and a group of both
    source_url = stack.scim.tenant_url(f"source-{uuid.uuid4().hex[:8]}")
    http = httpx.Client(base_url=source_url, headers={"Authorization": f"Bearer {stack.scim.token}"})
    ids = []
    for name in ("ada", "grace"):
        user = {"schemas": [USER_SCHEMA], "userName": f"{name}@source.example.com", "displayName": name}
        ids.append(http.post("/Users", json=user).json()["id"])
    group = {"schemas": [GROUP_SCHEMA], "displayName": "Pioneers", "members": [{"value": i} for i in ids]}
    group_id = http.post("/Groups", json=group).json()["id"]
    prepared = prepare(stack, users=1, bad_rows=False, subscriber=None)  # the target and its token secret
    document = {
        **prepared.document,
        "job_id": "scim-on-demand",
        "source": {"type": "scim", "name": "Source", "base_url": source_url, "token_secret": SECRET_NAME},
        "entity_types": ["users", "groups"],
        "mapping": {
            "users": {"userName": "{{ userName }}", "externalId": "{{ id }}", "displayName": "{{ displayName }}"},
            "groups": {"displayName": "{{ displayName }}"},
        },
    }
    operations.apply_job(operations.parse_job(document))

    # When the first user, then the group are provisioned on demand, and an unknown id is asked for
    user = _provision(stack, "scim-on-demand", ids[0])
    grouped = _provision(stack, "scim-on-demand", group_id, "--entity-type", "groups", "--output", "json")
    missing = _provision(stack, "scim-on-demand", "no-such-id")

    # Then the user is in the target; the group holds the one member this job provisioned, the other is named
    assert user.returncode == 0, user.stderr
    assert scim_users(stack)[ids[0]]["userName"] == "ada@source.example.com"
    assert grouped.returncode == 0, grouped.stderr
    answer = json.loads(grouped.stdout)
    assert answer["outcome"] == "created"
    assert f"1 member(s) left out, not provisioned by this job: {ids[1]}" in answer["reason"]
    target_group = scim_groups(stack)[group_id]
    assert [m["value"] for m in target_group.get("members", [])] == [scim_users(stack)[ids[0]]["id"]]
    assert missing.returncode != 0
    assert "users no-such-id is not in the source of job scim-on-demand" in missing.stderr

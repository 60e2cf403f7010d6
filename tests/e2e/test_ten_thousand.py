"""The engine's main scenario on the local stack, at 10,000 users: an initial read; 1% changed, 0.5%
removed, 0.5% added and a second read with exactly those outcomes, checked against the SCIM server's
own listing; a delta read of only the modified rows; simulate and validate leaving the target
byte-for-byte unchanged; a resync updating everyone. Five groups ride along: read after the users,
their members the users' ids in the target, and a membership change carried over."""

import json

import boto3
import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import ReadMode, RunStatus
from syncjobs_local.demo import prepare, start, wait_for_run
from syncjobs_local.sample_data import groups_export, write_groups
from tests.e2e.helpers import log_rows, rewrite_export, scim_groups, scim_users

pytestmark = [pytest.mark.e2e, pytest.mark.large, pytest.mark.timeout(2400)]  # six 10k runs: 8-10 min

N = 10_000
CHANGED = {f"E{i:06d}" for i in range(3, N, 100)}  # 100 = 1%
REMOVED = {f"E{i:06d}" for i in range(7, N, 200)}  # 50 = 0.5%
ADDED = {f"N{i:06d}" for i in range(50)}  # 50 = 0.5%
DELTA = {f"E{i:06d}" for i in range(11, N, 500)}  # 20, modified after the second read


GROUPS_KEY = "exports/groups.csv"


def outcomes(run, entity_type="users"):
    return {Outcome(o): n for o, n in run.counts[entity_type].items() if n}


def listing(stack) -> str:
    return json.dumps([scim_users(stack), scim_groups(stack)], sort_keys=True)


def assert_members(stack, members: dict[str, list[str]]) -> None:
    users, groups = scim_users(stack), scim_groups(stack)
    assert set(groups) == set(members)
    for gid, ids in members.items():
        assert {m["value"] for m in groups[gid].get("members") or []} == {users[e]["id"] for e in ids if e in users}


def test_ten_thousand_users_through_every_kind_of_run(stack):
    prepared = prepare(stack, users=N, bad_rows=False, shard_size=500)
    job = prepared.job_id
    groups = groups_export(prepared.export.valid)
    names = {gid: gid for gid in groups.members}
    boto3.client("s3").put_object(Bucket=prepared.bucket, Key=GROUPS_KEY, Body=write_groups(names, groups.members))
    groups_file = {"key": GROUPS_KEY, "id_column": "group_id", "members_column": "members"}
    document = {
        **prepared.document,
        "entity_types": ["users", "groups"],
        "mapping": {**prepared.document["mapping"], "groups": {"displayName": "{{ name }}"}},
        "source": {**prepared.document["source"], "groups": {**groups_file, "modified_column": "modified_at"}},
    }
    operations.apply_job(operations.parse_job(document))

    # initial read
    first = wait_for_run(start(stack, job), timeout_s=900, stack=stack)
    assert outcomes(first) == {Outcome.CREATED: N}
    assert outcomes(first, "groups") == {Outcome.CREATED: 5}
    assert len(scim_users(stack)) == N
    assert_members(stack, groups.members)

    # 1% changed, 0.5% removed, 0.5% added
    def change(rows):
        kept = [r for r in rows if r[0] not in REMOVED]
        for r in kept:
            if r[0] in CHANGED:
                r[4], r[7] = "Changed", "2026-11-21T10:00:00Z"
        kept += [
            [a, f"{a.lower()}@example.com", "New", "Hire", "Clerk", "Sales", "active", "2026-11-21T10:00:00Z"]
            for a in sorted(ADDED)
        ]
        return kept

    rewrite_export(prepared.bucket, prepared.key, change)
    kept = {gid: [e for e in ids if e not in REMOVED] for gid, ids in groups.members.items()}
    boto3.client("s3").put_object(Bucket=prepared.bucket, Key=GROUPS_KEY, Body=write_groups(names, kept))
    second = wait_for_run(start(stack, job), timeout_s=900, stack=stack)
    assert outcomes(second) == {
        Outcome.CREATED: 50,
        Outcome.UPDATED: 100,
        Outcome.DELETED: 50,
        Outcome.SKIPPED: N - 150,
    }
    for outcome, ids in ((Outcome.CREATED, ADDED), (Outcome.UPDATED, CHANGED), (Outcome.DELETED, REMOVED)):
        rows = log_rows(stack, second.log_keys[outcome.value])
        assert {r["entity_id"] for r in rows if r["entity_type"] == "users"} == ids
    users = scim_users(stack)
    assert set(users) == ({f"E{i:06d}" for i in range(1, N + 1)} - REMOVED) | ADDED
    assert {users[e]["title"] for e in CHANGED - REMOVED} == {"Changed"}
    shrunk = sum(1 for gid in kept if kept[gid] != groups.members[gid])
    expected_groups = {Outcome.UPDATED: shrunk, Outcome.SKIPPED: 5 - shrunk}
    assert outcomes(second, "groups") == {o: n for o, n in expected_groups.items() if n}
    assert_members(stack, kept)

    # delta read: only the rows modified after the second read's watermark
    operations.apply_job(operations.parse_job({**document, "delta": {"enabled": True}}))

    def touch(rows):
        for r in rows:
            if r[0] in DELTA:
                r[4], r[7] = "Delta", "2026-11-21T12:00:00Z"
        return rows

    rewrite_export(prepared.bucket, prepared.key, touch)
    delta = wait_for_run(start(stack, job), timeout_s=900, stack=stack)
    assert delta.read_mode is ReadMode.DELTA
    assert outcomes(delta) == {Outcome.UPDATED: len(DELTA - REMOVED)}
    assert outcomes(delta, "groups") == {}  # no group modified since the last read

    # simulate and validate: counts and logs of what would happen, the target untouched
    before = listing(stack)
    simulated = wait_for_run(start(stack, job, run_type="simulate"), timeout_s=900, stack=stack)
    assert outcomes(simulated) == {Outcome.UPDATED: N}
    assert outcomes(simulated, "groups") == {Outcome.UPDATED: 5}
    validated = wait_for_run(start(stack, job, run_type="validate"), timeout_s=900, stack=stack)
    assert outcomes(validated) == {Outcome.SKIPPED: N}
    assert outcomes(validated, "groups") == {Outcome.SKIPPED: 5}
    assert validated.status is RunStatus.SUCCEEDED
    assert listing(stack) == before

    # resync writes everyone: drift made in the target behind the job's back is repaired
    before_users = json.loads(before)[0]
    drifted = sorted(set(before_users) - REMOVED)[:25]
    with httpx.Client(base_url=stack.scim.url, headers={"Authorization": f"Bearer {stack.scim.token}"}) as http:
        for employee_id in drifted:
            user = before_users[employee_id]
            patch = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "title", "value": "Drifted"}],
            }
            assert http.patch(f"/Users/{user['id']}", json=patch).status_code in (200, 204)
    assert {scim_users(stack)[e]["title"] for e in drifted} == {"Drifted"}
    resync = wait_for_run(start(stack, job, run_type="resync"), timeout_s=900, stack=stack)
    assert outcomes(resync) == {Outcome.UPDATED: N}
    assert outcomes(resync, "groups") == {Outcome.UPDATED: 5}
    assert len(log_rows(stack, resync.log_keys["updated"])) == N + 5
    assert listing(stack) != before
    after = scim_users(stack)
    assert {e: after[e]["title"] for e in drifted} == {e: before_users[e]["title"] for e in drifted}
    assert_members(stack, kept)

"""Groups on the local stack: read after the users, members resolved to the users' target ids, and
membership changes and removed groups carried to the target on the next read."""

import boto3
import pytest

from syncjobs.models.outcome import Outcome
from syncjobs_local.demo import prepare, start, wait_for_run
from syncjobs_local.sample_data import UNKNOWN_MEMBER, groups_export, write_groups
from tests.e2e.helpers import apply_with_groups, log_rows, scim_groups, scim_users

pytestmark = pytest.mark.e2e

GROUPS_KEY = "exports/groups.csv"


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {outcome: n for outcome, n in counts.items() if n}


def assert_members_match(stack, listed: dict[str, list[str]]) -> None:
    users, groups = scim_users(stack), scim_groups(stack)
    assert set(groups) == set(listed)
    for gid, members in listed.items():
        expected = {users[e]["id"] for e in members if e in users}
        assert {m["value"] for m in groups[gid].get("members") or []} == expected, gid


def test_groups_land_after_the_users_with_their_members_as_target_ids(stack):
    # Given 200 users and five groups (one listing an id that is no user) in two CSV exports
    prepared = prepare(stack, users=200, bad_rows=False, shard_size=50)
    sample = groups_export(prepared.export.valid)
    apply_with_groups(prepared, sample.data, GROUPS_KEY)

    # When the job runs
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then every user and group is created, and each group's members are its users' ids in the target
    assert nonzero(first.counts["users"]) == {"created": 200}
    assert nonzero(first.counts["groups"]) == {"created": 5}
    assert [p.entity_type.value for p in first.phases] == ["users", "groups"]
    assert_members_match(stack, sample.members)
    managers = next(r for r in log_rows(stack, first.log_keys["created"]) if r["entity_id"] == "G-MANAGERS")
    assert managers["entity_type"] == "groups"
    assert managers["reason"] == f"1 member(s) left out, not provisioned by this job: {UNKNOWN_MEMBER}"

    # Given one user moved from R&D to Finance, and the People group dropped from the export
    members = {gid: list(m) for gid, m in sample.members.items() if gid != "G-PEOPLE"}
    moved = members["G-RD"].pop()
    members["G-FINANCE"].append(moved)
    names = {"G-RD": "Department R&D", "G-FINANCE": "Department Finance", "G-SALES": "Department Sales"}
    names["G-MANAGERS"] = "Managers"
    boto3.client("s3").put_object(Bucket=prepared.bucket, Key=GROUPS_KEY, Body=write_groups(names, members))

    # When the job runs again
    second = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then the two changed groups are updated, the dropped one deleted, the users untouched
    assert nonzero(second.counts["users"]) == {"skipped": 200}
    assert nonzero(second.counts["groups"]) == {"updated": 2, "deleted": 1, "skipped": 2}
    assert {r["entity_id"] for r in log_rows(stack, second.log_keys["updated"])} == {"G-RD", "G-FINANCE"}
    assert [r["entity_id"] for r in log_rows(stack, second.log_keys["deleted"])] == ["G-PEOPLE"]
    assert_members_match(stack, members)
    assert second.totals()[Outcome.FAILED] == 0

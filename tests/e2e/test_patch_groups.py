"""Groups as SCIM peers take them: a target that keeps members only from PATCH (members in POST/PUT never
reach it) ends with exactly the members of each group, also after members are added and removed in the
source; a target that silently drops members makes those groups fail with the reason, not succeed."""

from __future__ import annotations

import boto3
import pytest

from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run, RunStatus
from syncjobs_local.demo import Prepared, allow_destination, prepare, start, wait_for_run
from syncjobs_local.peer import Behaviour, PeerProxy
from syncjobs_local.sample_data import write_groups
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import apply_with_groups, log_rows, scim_groups, scim_users

pytestmark = pytest.mark.e2e

GROUPS_KEY = "exports/groups.csv"
SIZES = {"G-ALL": 300, "G-BIG": 150, "G-MID": 60, "G-SMALL": 12, "G-TINY": 7}


def groups_job(stack: LocalStack, peer: PeerProxy, users: int, chunk: int) -> tuple[Prepared, dict[str, list[str]]]:
    """A users-and-groups job whose target is the peer: five groups of SIZES members each (the first
    `size` users), `chunk` members a PATCH request."""
    assert stack.scim is not None
    prepared = prepare(stack, users=users, bad_rows=False, shard_size=100)
    prepared.document["target"]["base_url"] = f"{peer.url}/{stack.scim.tenant}/v2"
    allow_destination(f"{peer.url}/")  # the secret may go to the proxy too
    prepared.document["target"]["member_chunk_size"] = chunk
    ids = sorted(prepared.export.valid)
    members = {gid: ids[:size] for gid, size in SIZES.items()}
    apply_with_groups(prepared, write_groups(names(members), members), GROUPS_KEY)
    return prepared, members


def names(members: dict[str, list[str]]) -> dict[str, str]:
    return {gid: f"Group {gid}" for gid in members}


def members_in_target(stack: LocalStack) -> dict[str, list[str]]:
    """Each group's members, from the SCIM server's own listing (not through syncjobs or the peer), as
    the source ids (externalId) of the users they name."""
    source_of = {user["id"]: external_id for external_id, user in scim_users(stack).items()}
    return {
        gid: sorted(source_of.get(m["value"], m["value"]) for m in group.get("members") or [])
        for gid, group in scim_groups(stack).items()
    }


def nonzero(run: Run, entity_type: str) -> dict[str, int]:
    return {outcome: n for outcome, n in run.counts[entity_type].items() if n}


def test_a_peer_that_takes_members_only_through_patch_holds_exactly_each_groups_members(stack, peer):
    # Given a peer that keeps no members sent in POST/PUT, and five groups of up to 300 of 320 users,
    # 40 members a PATCH request
    prepared, members = groups_job(stack, peer, users=320, chunk=40)
    peer.behaviour = Behaviour(members_only_via_patch=True)

    # When the job runs
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then every group is created and holds exactly its members in the target's own listing
    assert first.status is RunStatus.SUCCEEDED
    assert nonzero(first, "groups") == {"created": 5}
    assert members_in_target(stack) == {gid: sorted(m) for gid, m in members.items()}

    # Given members removed from and added to groups in the source
    ids = sorted(prepared.export.valid)
    changed = dict(members)
    changed["G-ALL"] = ids[50:300]  # 50 removed
    changed["G-MID"] = ids[:40] + ids[200:260]  # 20 removed, 60 added
    changed["G-TINY"] = ids[300:320]  # all 7 replaced by 20 others
    boto3.client("s3").put_object(Bucket=prepared.bucket, Key=GROUPS_KEY, Body=write_groups(names(changed), changed))

    # When the job runs again
    second = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then the three changed groups are updated and every group holds exactly its new members
    assert second.status is RunStatus.SUCCEEDED
    assert nonzero(second, "groups") == {"updated": 3, "skipped": 2}
    assert {r["entity_id"] for r in log_rows(stack, second.log_keys["updated"])} == {"G-ALL", "G-MID", "G-TINY"}
    assert members_in_target(stack) == {gid: sorted(m) for gid, m in changed.items()}


def test_a_peer_that_drops_members_yields_failed_groups_naming_the_missing_members(stack, peer):
    # Given a peer that silently drops every 7th member added, and five groups of at least 7 members
    prepared, members = groups_job(stack, peer, users=300, chunk=100)
    peer.behaviour = Behaviour(drops_members=7)

    # When the job runs
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then the users are created, every group fails with the reason naming what the target did not keep,
    # and the run does not claim success
    assert nonzero(run, "users") == {"created": 300}
    assert run.counts["groups"][Outcome.FAILED.value] == 5
    assert run.status is RunStatus.FINISHED_WITH_ERRORS
    reasons = {r["entity_id"]: r["reason"] for r in log_rows(stack, run.log_keys["failed"])}
    assert set(reasons) == set(members)
    users = scim_users(stack)
    dropped = {e for e, user in users.items() if user["id"] in set(peer.members_dropped)}
    held = members_in_target(stack)
    for gid, reason in reasons.items():
        missing = set(members[gid]) - set(held[gid])
        assert missing, gid
        assert missing <= dropped, gid
        assert reason.startswith(f"target did not keep the members written: {len(missing)} missing ("), reason
        assert min(users[e]["id"] for e in missing) in reason

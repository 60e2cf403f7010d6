"""Accounts syncjobs owns: an existing target account is taken over only when it carries this entity's
mark (externalId) and no other entity of the job owns it; a lookup the target cannot answer reliably
never leads to an adoption or a removal. Each conflict is a failed entity naming it, nothing overwritten."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run, RunStatus
from syncjobs_local.demo import Prepared, allow_destination, prepare, start, wait_for_run
from syncjobs_local.peer import Behaviour, PeerProxy
from syncjobs_local.sample_data import groups_export
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import apply_with_groups, log_rows, rewrite_export, scim_groups, scim_users

pytestmark = pytest.mark.e2e

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def behind(stack: LocalStack, peer: PeerProxy, **job: Any) -> Prepared:
    """A 20-user job whose target is the peer in front of the SCIM server."""
    assert stack.scim is not None
    prepared = prepare(stack, users=20, bad_rows=False, **job)
    prepared.document["target"]["base_url"] = f"{peer.url}/{stack.scim.tenant}/v2"
    allow_destination(f"{peer.url}/")  # the secret may go to the proxy too
    operations.apply_job(operations.parse_job(prepared.document))
    return prepared


def by_hand(stack: LocalStack, peer: PeerProxy, endpoint: str, resource: dict[str, Any]) -> dict[str, Any]:
    """An account (or group) an admin made in the target, straight in the SCIM server."""
    assert stack.scim is not None
    schema = USER if endpoint == "Users" else GROUP
    return peer.create_directly(
        f"/{stack.scim.tenant}/v2/{endpoint}", {"schemas": [schema], **resource}, stack.scim.token
    )


def in_target(stack: LocalStack, endpoint: str, target_id: str) -> dict[str, Any]:
    assert stack.scim is not None
    headers = {"Authorization": f"Bearer {stack.scim.token}"}
    return dict(httpx.get(f"{stack.scim.url}/{endpoint}/{target_id}", headers=headers).json())


def failed(stack: LocalStack, run: Run) -> dict[str, str]:
    """entity id -> reason, of the run's failed entities."""
    return {r["entity_id"]: r["reason"] for r in log_rows(stack, run.log_keys["failed"])}


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def test_a_hand_made_admin_matching_a_source_row_is_never_overwritten_nor_deleted(stack, peer):
    # Given a break-glass admin made by hand (no externalId) whose userName is row E000003's
    prepared = behind(stack, peer)
    mail = prepared.export.valid["E000003"]["email"]
    admin = by_hand(stack, peer, "Users", {"userName": mail, "displayName": "Break-glass admin", "title": "root"})

    # When the job runs
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then E000003 fails naming the conflict, the admin is untouched, the other 19 are created
    assert first.status is RunStatus.FINISHED_WITH_ERRORS
    assert (first.totals()[Outcome.CREATED], first.totals()[Outcome.FAILED]) == (19, 1)
    assert failed(stack, first) == {
        "E000003": f"existing account {admin['id']} matching userName has no externalId (not created by "
        "syncjobs); not taken over unless target.adopt_unmarked is true"
    }
    assert without_meta(in_target(stack, "Users", admin["id"])) == without_meta(admin)

    # When row E000003 leaves the export and the job runs again
    rewrite_export(prepared.bucket, prepared.key, lambda rows: [r for r in rows if r[0] != "E000003"])
    second = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then nothing is deleted: the admin was never this job's
    assert second.status is RunStatus.SUCCEEDED, second.reason
    assert (second.totals()[Outcome.DELETED], second.totals()[Outcome.SKIPPED]) == (0, 19)
    assert without_meta(in_target(stack, "Users", admin["id"])) == without_meta(admin)


def test_two_source_rows_with_one_userName_never_share_an_account(stack, peer):
    # Given rows E000004 and E000005 whose e-mails differ only in case (the mapping lower-cases userName)
    prepared = behind(stack, peer)
    mail = prepared.export.valid["E000004"]["email"]

    def same_mail(rows: list[list[str]]) -> list[list[str]]:
        return [[r[0], mail.upper(), *r[2:]] if r[0] == "E000005" else r for r in rows]

    rewrite_export(prepared.bucket, prepared.key, same_mail)

    # When the job runs
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then the first row (E000004) owns the account; the second fails naming the account and its owner
    users = scim_users(stack)
    assert users["E000004"]["userName"] == mail
    assert "E000005" not in users
    assert failed(stack, run) == {
        "E000005": f"existing account {users['E000004']['id']} matching userName is owned by entity E000004 of this job"
    }
    assert (run.totals()[Outcome.CREATED], run.totals()[Outcome.FAILED]) == (19, 1)

    # When the job runs again: the owner is now known from the entity state, not from this run
    again = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then the second row fails the same way, and the owner's account is left as it was
    assert failed(stack, again) == failed(stack, run)
    assert (again.totals()[Outcome.SKIPPED], again.totals()[Outcome.FAILED]) == (19, 1)
    assert scim_users(stack)["E000004"] == users["E000004"]


def test_a_lookup_that_returns_two_accounts_adopts_none_and_overwrites_none(stack, peer):
    # Given a peer whose `userName eq` also matches e-mail addresses, a job that may take over unmarked
    # accounts, and two hand-made accounts that this lookup returns for row E000006's userName
    prepared = behind(stack, peer)
    document = prepared.document
    document["target"]["adopt_unmarked"] = True
    operations.apply_job(operations.parse_job(document))
    peer.behaviour = Behaviour(user_name_matches_emails=True)
    mail = prepared.export.valid["E000006"]["email"]
    named = by_hand(stack, peer, "Users", {"userName": mail, "displayName": "Hand-made"})
    alias = by_hand(stack, peer, "Users", {"userName": "admin-6", "emails": [{"value": mail}]})

    # When the job runs
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then E000006 fails naming the unreliable lookup, and neither account is touched
    assert failed(stack, run) == {
        "E000006": "lookup by userName returned 1 of 2 resource(s) with another userName: the target ignores "
        "or misapplies filter, so nothing was adopted or removed"
    }
    assert without_meta(in_target(stack, "Users", named["id"])) == without_meta(named)
    assert without_meta(in_target(stack, "Users", alias["id"])) == without_meta(alias)
    assert (run.totals()[Outcome.CREATED], run.totals()[Outcome.FAILED]) == (19, 1)


def test_a_target_that_ignores_filter_loses_no_groups_to_a_group_create(stack, peer):
    # Given a peer that ignores `filter`, four groups made by hand, and a job over users and groups
    prepared = behind(stack, peer)
    sample = groups_export(prepared.export.valid)
    apply_with_groups(prepared, sample.data)
    peer.behaviour = Behaviour(ignore_filter=True)
    hand_made = [by_hand(stack, peer, "Groups", {"displayName": f"Team {n}", "externalId": f"X{n}"}) for n in range(4)]

    # When the job runs
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then the users are created, every group fails naming the unreliable lookup, and the hand-made
    # groups are all still there, untouched: none removed as a "duplicate", none adopted
    assert run.counts["users"][Outcome.CREATED.value] == 20
    reasons = {e: r for e, r in failed(stack, run).items() if e.startswith("G-")}
    assert set(reasons) == set(sample.members)
    assert all(
        r.startswith("lookup by externalId returned 4 of 4 resource(s) with another externalId")
        for r in reasons.values()
    )
    groups = scim_groups(stack)
    assert set(groups) == {g["externalId"] for g in hand_made}
    for group in hand_made:
        assert without_meta(groups[group["externalId"]]) == without_meta(group)

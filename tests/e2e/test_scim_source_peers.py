"""A SCIM source as real services behave, read in several shards through the peer proxy: each read is
either exact (the 3 users removed from the source are deleted, nothing else) or incomplete with the
reason in the run, and deletes nothing. Never a delete of a user still in the source."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.models.run import Run, RunStatus
from syncjobs_local.demo import SECRET_NAME, allow_destination, prepare, start, wait_for_run
from syncjobs_local.peer import Behaviour, PeerProxy
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import log_rows, scim_users

pytestmark = pytest.mark.e2e

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
EXACT = {
    "as specified": Behaviour(),
    "filter refused": Behaviour(filter_refused=True),
    "filter answered empty": Behaviour(filter_empty=True),
    "filter ignored": Behaviour(ignore_filter=True),
    "sort ignored": Behaviour(sort_ignored=True),
    "no ServiceProviderConfig": Behaviour(spc="missing"),
    "declares neither filter nor sort": Behaviour(spc="bare"),
    "declares filter and sort it cannot do": Behaviour(spc="declares", filter_empty=True, sort_ignored=True),
}
INCOMPLETE = {
    "short totalResults": (Behaviour(short_total=20), "totalResults 20"),
    "itemsPerPage wrong": (Behaviour(items_per_page_wrong=True), "itemsPerPage"),
}


@pytest.fixture
def source_peer(stack: LocalStack) -> Iterator[PeerProxy]:
    assert stack.scim is not None
    proxy = PeerProxy(f"http://127.0.0.1:{stack.scim.port}", Behaviour()).start()
    yield proxy
    proxy.stop()


def provisioned_source(stack: LocalStack, peer: PeerProxy) -> tuple[httpx.Client, list[str]]:
    """30 users in a source tenant, a job reading it through `peer` (pages of 4, shards of 10) into the
    target, and a first run that created them all (the peer as specified)."""
    assert stack.scim is not None
    tenant = f"source-{uuid.uuid4().hex[:8]}"
    http = httpx.Client(base_url=stack.scim.tenant_url(tenant), headers={"Authorization": f"Bearer {stack.scim.token}"})
    ids = []
    for i in range(30):
        user = {"schemas": [USER_SCHEMA], "userName": f"peer{i}@source.example.com", "active": True}
        response = http.post("/Users", json=user)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    prepared = prepare(stack, users=1, bad_rows=False)
    allow_destination(f"{peer.url}/")  # the secret may go to the proxy in front of the source too
    document = dict(prepared.document)
    document.update(
        job_id="scim-peer-source",
        source={"type": "scim", "base_url": f"{peer.url}/{tenant}/v2", "token_secret": SECRET_NAME, "page_size": 4},
        entity_types=["users"],
        mapping={"users": {"userName": "{{ userName }}", "externalId": "{{ id }}", "active": "{{ active }}"}},
        shard_size=10,
    )
    operations.apply_job(operations.parse_job(document))
    first = wait_for_run(start(stack, "scim-peer-source"), stack=stack)
    assert first.counts["users"]["created"] == 30, first
    return http, ids


def removed_three(http: httpx.Client, ids: list[str]) -> list[str]:
    gone = [ids[2], ids[15], ids[29]]  # one in each shard
    for source_id in gone:
        assert http.delete(f"/Users/{source_id}").status_code == 204
    return gone


@pytest.mark.parametrize("behaviour", EXACT.values(), ids=EXACT.keys())
def test_a_source_peer_read_in_shards_deletes_exactly_the_users_it_no_longer_holds(stack, source_peer, behaviour):
    # Given 30 users provisioned from a SCIM source, 3 of them then removed from the source
    http, ids = provisioned_source(stack, source_peer)
    gone = removed_three(http, ids)

    # When the source answers as this peer does, and the job runs a full read in 3 shards
    source_peer.behaviour = behaviour
    run = wait_for_run(start(stack, "scim-peer-source"), stack=stack)

    # Then the read is exact: the 3 are deleted, every other user is still in the target
    assert run.status is RunStatus.SUCCEEDED, (run.reason, run.deletes_note, run.failures)
    assert run.counts["users"]["deleted"] == 3
    assert run.counts["users"]["failed"] == 0
    assert {r["entity_id"] for r in log_rows(stack, run.log_keys["deleted"])} == set(gone)
    in_target = {k for k in scim_users(stack) if k in set(ids)}
    assert in_target == set(ids) - set(gone)


@pytest.mark.parametrize(("behaviour", "why"), INCOMPLETE.values(), ids=INCOMPLETE.keys())
def test_a_source_peer_whose_pages_do_not_add_up_makes_the_read_incomplete_and_deletes_nothing(
    stack, source_peer, behaviour, why
):
    # Given 30 users provisioned from a SCIM source, 3 of them then removed from the source
    http, ids = provisioned_source(stack, source_peer)
    removed_three(http, ids)

    # When the source's pages do not add up, and the job runs a full read in 3 shards
    source_peer.behaviour = behaviour
    run = wait_for_run(start(stack, "scim-peer-source"), stack=stack)

    # Then nothing is deleted, and the run says its read is incomplete and why
    assert_incomplete(run, why)
    assert {k for k in scim_users(stack) if k in set(ids)} == set(ids)


def assert_incomplete(run: Run, why: str) -> None:
    assert run.status is RunStatus.FINISHED_WITH_ERRORS, run.status
    assert run.counts["users"]["deleted"] == 0
    assert run.deletes_note is not None
    assert "not complete (first: read incomplete: shard" in run.deletes_note
    assert why in run.deletes_note
    reasons = [f.reason for f in run.failures]
    assert any(r.startswith("read incomplete: shard") and why in r for r in reasons), reasons

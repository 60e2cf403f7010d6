"""Two deliveries of one groups shard creating the same group at the same moment: one group remains."""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.models.job import RetryPolicy, ScimTarget
from tests.e2e.helpers import scim_groups

pytestmark = pytest.mark.e2e


class BothPostTogether(httpx.HTTPTransport):
    """Holds each POST until the other racer has searched and is about to POST too."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__()
        self._barrier = barrier

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self._barrier.wait(timeout=10)
        return super().handle_request(request)


def test_racing_creates_of_one_group_leave_one_group_that_both_report(aws):
    # Given two workers that both found no group with externalId G1 and both create it at once
    barrier = threading.Barrier(2)
    config = ScimTarget(type="scim", base_url=aws.scim.url)
    headers_token = aws.scim.token
    group = {"displayName": "Finance", "externalId": "G1", "members": []}

    def create(_: int) -> str:
        target = ScimTargetConnector(config, headers_token, RetryPolicy(), transport=BothPostTogether(barrier))
        try:
            return target.create("groups", group).target_id
        finally:
            target.close()

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(create, range(2)))

    # Then both report the same group, and the target holds exactly one
    assert ids[0] == ids[1]
    listed = httpx.get(
        f"{aws.scim.url}/Groups",
        params={"filter": 'externalId eq "G1"'},
        headers={"Authorization": f"Bearer {headers_token}"},
    ).json()
    assert listed["totalResults"] == 1
    assert scim_groups(aws)["G1"]["id"] == ids[0]


def test_a_duplicate_left_by_a_lost_answer_is_removed_and_the_oldest_kept(aws):
    # Given two groups with one externalId: a racer's POST whose answer was lost left the younger one
    headers = {"Authorization": f"Bearer {aws.scim.token}"}
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales", "externalId": "G2"}
    oldest = httpx.post(f"{aws.scim.url}/Groups", json=body, headers=headers).json()["id"]
    httpx.post(f"{aws.scim.url}/Groups", json=body, headers=headers)

    # When the group is written
    target = ScimTargetConnector(ScimTarget(type="scim", base_url=aws.scim.url), aws.scim.token, RetryPolicy())
    written = target.create("groups", {"displayName": "Sales", "externalId": "G2", "members": []})
    target.close()

    # Then the oldest is adopted and the younger removed
    assert (written.target_id, written.adopted) == (oldest, True)
    listed = httpx.get(f"{aws.scim.url}/Groups", params={"filter": 'externalId eq "G2"'}, headers=headers).json()
    assert [g["id"] for g in listed["Resources"]] == [oldest]

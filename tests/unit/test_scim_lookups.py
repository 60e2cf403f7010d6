"""ScimTargetConnector's lookups are trusted only when every resource returned matches what was asked:
userName case-insensitively (RFC 7643 caseExact=false), externalId exactly."""

import json
from typing import Any

import httpx
import pytest

from syncjobs.connectors.base import Claim, TargetError
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.models.job import RetryPolicy, ScimTarget


class Peer:
    """A SCIM target holding `existing`: POST answers 409 (users) or 201 (groups), a search answers
    `existing` whatever the filter; what it was asked to write is recorded."""

    def __init__(self, existing: list[dict[str, Any]]) -> None:
        self.existing = existing
        self.writes: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"totalResults": len(self.existing), "Resources": self.existing})
        self.writes.append((request.method, request.url.path))
        if request.method == "POST" and request.url.path.endswith("/Users"):
            return httpx.Response(409, json={"detail": "uniqueness"})
        if request.method == "POST":
            return httpx.Response(201, json={"id": "new", **json.loads(request.content)})
        return httpx.Response(200, json={})


def connector(peer: Peer) -> ScimTargetConnector:
    config = ScimTarget(type="scim", base_url="https://scim.example.test/v2")
    return ScimTargetConnector(config, None, RetryPolicy(retries=0), transport=httpx.MockTransport(peer))


def test_given_a_userName_in_another_case_then_the_account_marked_ours_is_adopted():
    # Given an account whose userName differs only in case and whose externalId is E1's
    peer = Peer([{"id": "t1", "userName": "Alice@Example.com", "externalId": "E1"}])
    # When E1 is created and meets a 409
    written = connector(peer).create("users", {"userName": "alice@example.com", "externalId": "E1"}, Claim("E1"))
    # Then that account is adopted and written
    assert (written.target_id, written.adopted) == ("t1", True)
    assert written.reason == "matched existing account t1 (externalId E1)"
    assert peer.writes == [("POST", "/v2/Users"), ("PUT", "/v2/Users/t1")]


@pytest.mark.parametrize(
    ("entity_type", "resource", "existing"),
    [
        ("users", {"userName": "a@x", "externalId": "E1"}, [{"id": "t1", "userName": "b@x", "externalId": "E1"}]),
        ("users", {"userName": "a@x", "externalId": "E1"}, [{"id": "t1", "externalId": "E1"}]),  # no userName
        ("groups", {"displayName": "Finance", "externalId": "G1"}, [{"id": "g1", "externalId": "g1"}]),
    ],
)
def test_given_a_search_answer_that_does_not_match_then_nothing_is_adopted_or_removed(entity_type, resource, existing):
    # Given a target whose search answers resources that do not carry the value asked for
    peer = Peer(existing)
    # When the entity is created, Then it fails naming the unreliable lookup, and nothing else is written
    with pytest.raises(TargetError, match="the target ignores or misapplies filter"):
        connector(peer).create(entity_type, resource, Claim(resource["externalId"]))
    assert all(method == "POST" for method, _ in peer.writes)

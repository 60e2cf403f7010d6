"""ScimTargetConnector writes a group's members only through PATCH, in chunks, starting from what the
target holds, and checks what the target kept: a target that drops members, or members deleted in the
target, make the group fail with the reason instead of a silent success."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from syncjobs.connectors.base import Claim, TargetEntityGone, TargetError
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.models.job import RetryPolicy, ScimTarget

_REMOVE = re.compile(r'^members\[value eq "(.*)"\]$')


class GroupPeer:
    """A SCIM target that keeps group members only from PATCH (members in POST/PUT are ignored), as
    RFC 7644 allows. `drop_every`: every n-th member added is silently not kept. `refuse_unknown`: an add
    naming a user the target does not hold is answered 400 (else it is kept, as scim2-server does)."""

    def __init__(self, users: set[str], drop_every: int = 0, refuse_unknown: bool = False) -> None:
        self.users = set(users)
        self.groups: dict[str, dict[str, Any]] = {}
        self.drop_every = drop_every
        self.refuse_unknown = refuse_unknown
        self.added = 0
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path.removeprefix("/v2")
        self.calls.append((request.method, path, body))
        if path.startswith("/Users/"):
            return httpx.Response(200 if path[7:] in self.users else 404, json={"id": path[7:]})
        if request.method == "POST":
            gid = f"g{len(self.groups) + 1}"
            self.groups[gid] = {**{k: v for k, v in body.items() if k != "members"}, "id": gid, "members": []}
            return httpx.Response(201, json=self.groups[gid])
        if request.method == "GET" and path == "/Groups":
            wanted = request.url.params.get("filter", "").split('"')[1]
            found = [g for g in self.groups.values() if g.get("externalId") == wanted]
            return httpx.Response(200, json={"totalResults": len(found), "Resources": found})
        group = self.groups.get(path.removeprefix("/Groups/"))
        if group is None:
            return httpx.Response(404, json={"detail": "no such group"})
        if request.method == "GET":
            return httpx.Response(200, json={"id": group["id"], "members": group["members"]})
        return self._patch(group, body["Operations"])

    def _patch(self, group: dict[str, Any], operations: list[dict[str, Any]]) -> httpx.Response:
        for op in operations:
            if op["op"] == "replace":
                group.update(op["value"])
            elif op["op"] == "remove":
                gone = _REMOVE.match(op["path"]).group(1)  # type: ignore[union-attr]
                group["members"] = [m for m in group["members"] if m["value"] != gone]
            else:
                values = [m["value"] for m in op["value"]]
                if self.refuse_unknown and any(v not in self.users for v in values):
                    return httpx.Response(400, json={"detail": "unknown member"})
                for value in values:
                    self.added += 1
                    held = {m["value"] for m in group["members"]}
                    if value not in held and not (self.drop_every and self.added % self.drop_every == 0):
                        group["members"].append({"value": value})
        return httpx.Response(204)

    def members(self, gid: str) -> list[str]:
        return sorted(m["value"] for m in self.groups[gid]["members"])

    def patches(self) -> list[dict[str, Any]]:
        return [body for method, _, body in self.calls if method == "PATCH"]


def connector(peer: GroupPeer, chunk: int = 100) -> ScimTargetConnector:
    config = ScimTarget(type="scim", base_url="https://scim.example.test/v2", member_chunk_size=chunk)
    return ScimTargetConnector(config, None, RetryPolicy(retries=0), transport=httpx.MockTransport(peer))


def group(external_id: str, members: list[str]) -> dict[str, Any]:
    return {"displayName": external_id, "externalId": external_id, "members": [{"value": m} for m in members]}


USERS = [f"u{n:03}" for n in range(250)]


def test_a_create_posts_the_group_without_members_then_patches_them_in_chunks():
    # Given a target that keeps members only from PATCH, and a group of 250 members, 100 a request
    peer = GroupPeer(set(USERS))

    # When the group is created
    written = connector(peer).create("groups", group("G1", USERS), Claim("G1"))

    # Then the POST carried no members, three add requests carried 100, 100 and 50, and the target holds all
    [post] = [body for method, _, body in peer.calls if method == "POST"]
    assert "members" not in post
    assert [len(p["Operations"][0]["value"]) for p in peer.patches()] == [100, 100, 50]
    assert peer.members(written.target_id) == USERS


def test_an_update_patches_only_the_difference_and_leaves_kept_members_alone():
    # Given a group holding u000..u009
    peer = GroupPeer(set(USERS))
    target = connector(peer, chunk=3)
    gid = target.create("groups", group("G1", USERS[:10]), Claim("G1")).target_id
    peer.calls.clear()

    # When it is updated to u005..u014 with a new name
    changed = {**group("G1", USERS[5:15]), "displayName": "renamed"}
    target.update("groups", gid, changed)

    # Then the name is replaced without a PUT, five members removed and five added, 3 a request
    assert all(method != "PUT" for method, _, _ in peer.calls)
    assert peer.groups[gid]["displayName"] == "renamed"
    operations = [p["Operations"] for p in peer.patches()]
    assert operations[0] == [{"op": "replace", "value": {"displayName": "renamed", "externalId": "G1"}}]
    removed = [op["path"] for ops in operations[1:] for op in ops if op["op"] == "remove"]
    added = [v["value"] for ops in operations[1:] for op in ops if op["op"] == "add" for v in op["value"]]
    assert removed == [f'members[value eq "{m}"]' for m in USERS[:5]]
    assert added == USERS[10:15]
    assert max(len(ops) for ops in operations[1:]) <= 3
    assert peer.members(gid) == USERS[5:15]


def test_an_unchanged_membership_sends_no_member_patch():
    peer = GroupPeer(set(USERS))
    target = connector(peer)
    gid = target.create("groups", group("G1", USERS[:4]), Claim("G1")).target_id
    peer.calls.clear()

    target.update("groups", gid, group("G1", USERS[:4]))

    assert [p["Operations"][0]["op"] for p in peer.patches()] == ["replace"]


def test_a_create_retried_after_a_kill_finds_the_group_and_ends_with_exact_members():
    # Given a group created with part of its members before the worker was killed (no entity state)
    peer = GroupPeer(set(USERS))
    target = connector(peer, chunk=10)
    gid = target.create("groups", group("G1", USERS[:15]), Claim("G1")).target_id
    peer.groups[gid]["members"].append({"value": "stale"})

    # When the retried shard creates it again with its full membership
    written = target.create("groups", group("G1", USERS[:30]), Claim("G1"))

    # Then the group found by externalId is adopted and holds exactly the members wanted, once each
    assert (written.target_id, written.adopted) == (gid, True)
    assert len(peer.groups) == 1
    assert peer.members(gid) == USERS[:30]


def test_a_target_that_drops_members_fails_the_group_naming_them():
    # Given a target that silently keeps only 6 of every 7 members added
    peer = GroupPeer(set(USERS), drop_every=7)

    # When a group of 20 is created
    with pytest.raises(TargetError) as failed:
        connector(peer).create("groups", group("G1", USERS[:20]), Claim("G1"))

    # Then the write fails naming the two members the target did not keep
    assert failed.value.reason == "target did not keep the members written: 2 missing (u006, u013)"


def test_a_member_deleted_in_the_target_is_not_sent_again_and_the_group_fails_naming_it():
    # Given a target that refuses an add naming a user it does not hold, and u003 deleted there
    peer = GroupPeer(set(USERS) - {"u003"}, refuse_unknown=True)

    # When a group of five including u003 is created
    with pytest.raises(TargetError) as failed:
        connector(peer).create("groups", group("G1", USERS[:5]), Claim("G1"))

    # Then the other four are written, u003 is named and sent once only
    assert peer.members("g1") == ["u000", "u001", "u002", "u004"]
    assert failed.value.reason.startswith("1 member(s) no longer exist in the target: u003 (")
    sent = [v["value"] for p in peer.patches() for op in p["Operations"] for v in op.get("value", [])]
    assert sent.count("u003") == 1


def test_a_member_deleted_in_a_target_that_accepts_it_is_named_when_it_is_not_kept():
    # Given a target that accepts any add (scim2-server does) but a user deleted there is not kept
    peer = GroupPeer(set(USERS) - {"u001"}, drop_every=2)

    with pytest.raises(TargetError) as failed:
        connector(peer).create("groups", group("G1", USERS[:2]), Claim("G1"))

    # Then u001 is reported gone, not "dropped"
    assert failed.value.reason.startswith("1 member(s) no longer exist in the target: u001 (")


def test_an_update_of_a_group_gone_from_the_target_says_so():
    peer = GroupPeer(set(USERS))
    with pytest.raises(TargetEntityGone):
        connector(peer).update("groups", "nope", group("G1", USERS[:2]))

"""Writing a group's members to a SCIM target through PATCH, and checking what the target kept.

The decisions (what to add and remove, in which requests, why a result is wrong) are the pure functions
of scim_members; this module makes the calls. A group's write is idempotent: adding a member the group
already holds or removing one it does not hold changes nothing, and every write starts from what the
target holds now, so a retry or a re-run after a killed worker ends with exactly the members wanted.
"""

from __future__ import annotations

import httpx

from syncjobs.connectors.base import TargetError
from syncjobs.connectors.scim_http import ScimClient
from syncjobs.connectors.scim_members import (
    add_operation,
    chunked,
    gone_reason,
    member_diff,
    member_ids,
    member_patches,
    mismatch_reason,
    patch_body,
)

_ADD_REFUSED = (400, 404)  # what a target answers to an add naming a user it does not hold


class GroupMembers:
    def __init__(self, client: ScimClient, chunk_size: int) -> None:
        self._client = client
        self._size = chunk_size

    def held(self, group_id: str) -> list[str]:
        """The member ids the target holds for the group (GET /Groups/{id}?attributes=members)."""
        answer = self._client.get_json(f"/Groups/{group_id}", {"attributes": "members"}, "read group members")
        return member_ids(answer.get("members"))

    def write(self, group_id: str, wanted: list[str], held: list[str] | None = None) -> None:
        """Make the group's members exactly `wanted`: PATCH remove and add only the difference with what
        the target holds (`held`, read when None), in requests of at most the chunk size, then verify.

        Raises TargetError when the target did not keep what was written (naming the members missing or
        unexpected), or when members no longer exist in the target (they are not sent; the rest is)."""
        path = f"/Groups/{group_id}"
        current = self.held(group_id) if held is None else held
        add, remove = member_diff(wanted, current)
        if not add and not remove:
            return
        last: httpx.Response | None = None
        for body in member_patches([], remove, self._size):
            last = self._client.request("PATCH", path, body)
            # a 400 may be a remove of a member already removed (by an earlier attempt): the check decides
            if last.status_code != 400:
                self._client.checked(last, "removing group members")
        gone: list[str] = []
        for chunk in chunked(add, self._size):
            last = self._add(path, chunk, gone)
        kept = self._kept(group_id, last)
        expected = [m for m in wanted if m not in gone]
        missing, _ = member_diff(expected, kept)
        gone += [m for m in missing if self._gone(m)]  # a member deleted in the target is not "dropped"
        reason = mismatch_reason([m for m in expected if m not in gone], kept)
        if gone:
            raise TargetError("; ".join(x for x in (gone_reason(gone), reason) if x))
        if reason:
            raise TargetError(reason)

    def _add(self, path: str, chunk: list[str], gone: list[str]) -> httpx.Response:
        """PATCH add `chunk`. When the target refuses it (400/404), the members it no longer holds are
        found (GET /Users/{id}), added to `gone` and left out, and the rest is sent again."""
        response = self._client.request("PATCH", path, patch_body([add_operation(chunk)]))
        if response.status_code not in _ADD_REFUSED:
            return self._client.checked(response, "adding group members")
        dead = [m for m in chunk if self._gone(m)]
        if not dead:
            raise self._client.error(response, "adding group members")
        gone += dead
        rest = [m for m in chunk if m not in dead]
        if not rest:
            return response
        again = self._client.request("PATCH", path, patch_body([add_operation(rest)]))
        return self._client.checked(again, "adding group members")

    def _kept(self, group_id: str, last: httpx.Response | None) -> list[str]:
        """What the group holds after the writes: the last PATCH's answer if it shows the members (RFC 7644
        3.5.2: 200 with the resource), else a GET of them."""
        if last is not None and last.status_code == 200:
            try:
                answer = last.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict) and "members" in answer:
                return member_ids(answer["members"])
        return self.held(group_id)

    def _gone(self, user_id: str) -> bool:
        """Whether the target no longer holds the user (GET /Users/{id} answers 404)."""
        response = self._client.request("GET", f"/Users/{user_id}", None, params={"attributes": "id"})
        if response.status_code == 404:
            return True
        self._client.checked(response, "reading a group member")
        return False

"""SCIM 2.0 (RFC 7643/7644) service providers as targets.

Exactly once in the target: a worker may die after the target created an entity and before the entity
state recorded it, so the retried shard creates it again. For users, the target refuses that with 409
(userName is unique): find the user by userName and adopt it. Group displayNames are not unique, so
a group is looked up by its externalId before it is created. Every entity syncjobs writes carries
externalId (RFC 7643: "an identifier for the resource as defined by the provisioning client"): the
source id unless the mapping sets it; that mark, and the job's entity state, decide whether an entity
found may be adopted (engine.adoption). A lookup is trusted only if every resource it returns really
matches: a target that ignores or misapplies `filter` never leads to an adoption or a removal.

Groups are written as peers take them (RFC 7644 3.5.2): their attributes by POST (create) or PATCH
replace (update, adoption: a PUT without members would empty the group on servers that honour it), never
with members; the members by PATCH add/remove of the difference, in chunks, verified afterwards
(scim_group_members).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from syncjobs.connectors.base import Claim, TargetEntityGone, TargetError, Written
from syncjobs.connectors.scim_group_members import GroupMembers
from syncjobs.connectors.scim_http import ENDPOINTS, Probe, ScimClient, WritePace, quoted, scim_detail
from syncjobs.connectors.scim_members import member_ids, patch_body
from syncjobs.deadline import Budget
from syncjobs.engine.adoption import Adopt, Candidate, decide_adoption
from syncjobs.engine.mapping import schemas_of
from syncjobs.engine.schema_check import declared_extensions
from syncjobs.models.job import RetryPolicy, ScimTarget

_DECLARED = ("/ResourceTypes", "/Schemas")  # what a target declares its resources to be


class ScimTargetConnector:
    def __init__(
        self,
        config: ScimTarget,
        token: str | None,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
        pace: WritePace | None = None,
        max_pause_s: float | None = None,
    ) -> None:
        """Thread-safe: a shard writes several entities at once through one connector. `pace` and
        `max_pause_s`: see ScimClient."""
        self.name = config.name
        self._adopt_unmarked = config.adopt_unmarked
        self._client = ScimClient(
            config.base_url, token, config.timeout_seconds, retry, sleep, transport, budget, pace, max_pause_s
        )
        self._members = GroupMembers(self._client, config.member_chunk_size)

    def close(self) -> None:
        self._client.close()

    def pace_writes(self, pace: WritePace | None, max_pause_s: float | None) -> None:
        """From now on, write at the job's pace and hand a Retry-After longer than `max_pause_s` to the
        queue (see ScimClient)."""
        self._client.pace_writes(pace, max_pause_s)

    def probe(self) -> Probe:
        """Whether the service takes the credentials (see ScimClient.probe)."""
        return self._client.probe()

    # ------------------------------------------------------------------ protocol
    def create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None = None) -> Written:
        if entity_type != "groups":
            return self._create(entity_type, resource, claim)
        attributes, wanted = _split_members(resource)
        written = self._create(entity_type, attributes, claim)
        # a group this call created holds no members yet; one adopted holds what it holds
        self._members.write(written.target_id, wanted, None if written.adopted else [])
        return written

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written:
        _, schema, _ = ENDPOINTS[entity_type]
        attributes, wanted = _split_members(resource) if entity_type == "groups" else (resource, [])
        response = self._write_attributes(
            entity_type, target_id, {"schemas": schemas_of(schema, attributes), **attributes}
        )
        if response.status_code == 404:
            raise TargetEntityGone(f"{entity_type} {target_id} no longer exists in the target", status=404)
        self._client.checked(response, "update")
        if entity_type == "groups":
            self._members.write(target_id, wanted)
        return Written(target_id)

    def schema(self, entity_type: str) -> dict[str, Any]:
        """The target's own schema for the entity type (GET /Schemas/{urn}, RFC 7643 section 7)."""
        _, urn, _ = ENDPOINTS[entity_type]
        return dict(self._client.checked(self._client.request("GET", f"/Schemas/{urn}", None), "read schema").json())

    def schema_extensions(self, entity_type: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
        """The schema extensions the target declares for the entity type and those it requires (GET
        /ResourceTypes and /Schemas, RFC 7644 section 4; see schema_check.declared_extensions)."""
        _, urn, _ = ENDPOINTS[entity_type]
        listed = [self._client.checked(self._client.request("GET", p, None), "read schemas").json() for p in _DECLARED]
        return declared_extensions(urn, *(answer.get("Resources", []) for answer in listed))

    def delete(self, entity_type: str, target_id: str) -> None:
        path, _, _ = ENDPOINTS[entity_type]
        response = self._client.request("DELETE", f"{path}/{target_id}", None)
        if response.status_code in (200, 204, 404):  # 404: already gone, which is what a delete wants
            return
        raise self._client.error(response, "delete")

    def disable(self, entity_type: str, target_id: str) -> None:
        """Entra's soft delete: the entity stays in the target with `active: false` (RFC 7644 3.5.2,
        PATCH op replace, path active). A 404 (already gone) is as good."""
        path, _, _ = ENDPOINTS[entity_type]
        body = patch_body([{"op": "replace", "path": "active", "value": False}])
        response = self._client.request("PATCH", f"{path}/{target_id}", body)
        if response.status_code in (200, 204, 404):
            return
        raise self._client.error(response, "disable")

    # ------------------------------------------------------------------ HTTP
    def _create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None) -> Written:
        path, schema, key = ENDPOINTS[entity_type]
        body = {"schemas": schemas_of(schema, resource), **resource}
        claim = claim or Claim(str(resource.get("externalId", "")))
        if entity_type == "groups" and resource.get(key):
            return self._create_unless_found(entity_type, str(resource[key]), body, claim)
        response = self._client.request("POST", path, body)
        if response.status_code == 201:
            return Written(str(response.json()["id"]))
        if response.status_code == 409:
            found = self._search(path, key, str(resource.get(key, "")))
            if not found:
                raise TargetError(f"409 conflict on create and no {key} match: {scim_detail(response)}", status=409)
            return self._adopt(entity_type, found, body, claim)
        raise self._client.error(response, "create")

    def _write_attributes(self, entity_type: str, target_id: str, body: dict[str, Any]) -> httpx.Response:
        """Overwrite an existing entity's attributes: PUT for users; PATCH replace for groups, which
        leaves their members alone (attributes a mapping no longer sets stay in the group)."""
        path, _, _ = ENDPOINTS[entity_type]
        if entity_type != "groups":
            return self._client.request("PUT", f"{path}/{target_id}", {**body, "id": target_id})
        value = {k: v for k, v in body.items() if k not in ("schemas", "id", "members")}
        return self._client.request("PATCH", f"{path}/{target_id}", patch_body([{"op": "replace", "value": value}]))

    def _create_unless_found(self, entity_type: str, value: str, body: dict[str, Any], claim: Claim) -> Written:
        """Create an entity whose key the target does not keep unique, at most once.

        Before every attempt, look for it: a POST that timed out or failed with a 5xx may have been
        applied (a blind retry would create it twice). After a create, look again: two deliveries of
        one shard running at once may both have created it. Whoever sees more than one keeps the oldest
        (by meta.created, then id) and removes the others. That is safe for every racer: a racer only
        ever reports the oldest it saw, and nothing created later can become older."""
        path, _, key = ENDPOINTS[entity_type]
        last: TargetError | None = None
        last_response: httpx.Response | None = None
        for attempt in range(self._client.attempts):
            if attempt:
                self._client.pause(last_response)
            existing = self._oldest(path, key, value)
            if existing is not None:
                return self._adopt(entity_type, [existing], body, claim)
            try:
                response = self._client.request("POST", path, body, retry=False)
            except TargetError as err:
                last, last_response = err, None
                continue
            if response.status_code == 201:
                created = str(response.json()["id"])
                oldest = self._oldest(path, key, value)
                if oldest is None or str(oldest["id"]) == created:
                    return Written(created)
                return self._adopt(entity_type, [oldest], body, claim)
            last, last_response = self._client.error(response, "create"), response
            if not last.retryable:
                raise last
        assert last is not None
        raise last

    def _oldest(self, path: str, key: str, value: str) -> dict[str, Any] | None:
        """The oldest entity whose `key` (externalId) is `value`; younger duplicates are removed. Only
        entities that really carry the value are ranked or removed, whatever the target answered."""
        ours = [r for r in self._search(path, key, value) if r.get(key) == value]
        ranked = sorted(ours, key=lambda r: (str(r.get("meta", {}).get("created", "")), str(r["id"])))
        for duplicate in ranked[1:]:
            removed = self._client.request("DELETE", f"{path}/{duplicate['id']}", None)
            if removed.status_code not in (200, 204, 404):  # 404: another racer removed it
                raise self._client.error(removed, f"removing duplicate {duplicate['id']} of {ranked[0]['id']}")
        return ranked[0] if ranked else None

    def _adopt(self, entity_type: str, found: list[dict[str, Any]], body: dict[str, Any], claim: Claim) -> Written:
        """Take over the one entity found if engine.adoption allows it, else fail naming the conflict."""
        _, _, key = ENDPOINTS[entity_type]
        candidates = [Candidate(str(r["id"]), str(r.get("externalId") or "")) for r in found]
        owners = {c.target_id: owner for c in candidates if (owner := claim.owner_of(c.target_id)) is not None}
        decision = decide_adoption(
            candidates,
            entity_id=claim.entity_id,
            marker=str(body.get("externalId") or claim.entity_id),
            owners=owners,
            adopt_unmarked=self._adopt_unmarked,
            key=key,
            noun="account" if entity_type == "users" else "group",
        )
        if not isinstance(decision, Adopt):
            raise TargetError(decision.reason, status=409)
        existing = decision.target_id
        self._client.checked(self._write_attributes(entity_type, existing, body), "update")
        return Written(existing, adopted=True, reason=decision.reason)

    def _search(self, path: str, key: str, value: str) -> list[dict[str, Any]]:
        """The resources whose `key` equals `value`, if the target's answer to the filter can be trusted:
        every resource it returns must carry that value (userName compared case-insensitively, RFC 7643
        caseExact=false; externalId exactly). A target that ignores or misapplies `filter` fails the entity."""
        attributes = ",".join(dict.fromkeys(("id", "meta", "externalId", key)))
        params = {"filter": f"{key} eq {quoted(value)}", "attributes": attributes}
        found = [dict(r) for r in self._client.get_json(path, params, "search").get("Resources") or []]
        unrelated = sum(1 for r in found if not _carries(r, key, value))
        if unrelated:
            raise TargetError(
                f"lookup by {key} returned {unrelated} of {len(found)} resource(s) with another {key}: "
                "the target ignores or misapplies filter, so nothing was adopted or removed"
            )
        return found


def _carries(resource: dict[str, Any], key: str, value: str) -> bool:
    held = resource.get(key)
    if not isinstance(held, str) or "id" not in resource:
        return False
    return held.casefold() == value.casefold() if key == "userName" else held == value


def _split_members(group: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A group's attributes without `members`, and its member ids (written by PATCH, not in POST/PUT)."""
    return {k: v for k, v in group.items() if k != "members"}, member_ids(group.get("members"))

"""SCIM 2.0 (RFC 7643/7644) service providers as targets.

Exactly once in the target: a worker may die after the target created an entity and before the entity
state recorded it, so the retried shard creates it again. For users, the target refuses that with 409
(userName is unique): find the user by userName and adopt it. Group displayNames are not unique, so
a group carries the source's id as its externalId (RFC 7643: "an identifier for the resource as
defined by the provisioning client") and is looked up by it before it is created.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from syncjobs.connectors.base import TargetEntityGone, TargetError, Written
from syncjobs.connectors.scim_http import ENDPOINTS, Probe, ScimClient, quoted, scim_detail
from syncjobs.deadline import Budget
from syncjobs.models.job import RetryPolicy, ScimTarget

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class ScimTargetConnector:
    def __init__(
        self,
        config: ScimTarget,
        token: str | None,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.name = config.name
        self._client = ScimClient(config.base_url, token, config.timeout_seconds, retry, sleep, transport, budget)

    def close(self) -> None:
        self._client.close()

    def probe(self) -> Probe:
        """Whether the service takes the credentials (see ScimClient.probe)."""
        return self._client.probe()

    # ------------------------------------------------------------------ protocol
    def create(self, entity_type: str, resource: dict[str, Any]) -> Written:
        path, schema, key = ENDPOINTS[entity_type]
        body = {"schemas": [schema], **resource}
        if entity_type == "groups" and resource.get(key):
            return self._create_unless_found(path, key, str(resource[key]), body)
        response = self._client.request("POST", path, body)
        if response.status_code == 201:
            return Written(str(response.json()["id"]))
        if response.status_code == 409:
            existing = self._find(path, key, str(resource.get(key, "")))
            if existing is None:
                raise TargetError(f"409 conflict on create and no {key} match: {scim_detail(response)}", status=409)
            return self._adopt(path, existing, body)
        raise self._client.error(response, "create")

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written:
        path, schema, _ = ENDPOINTS[entity_type]
        response = self._client.request(
            "PUT", f"{path}/{target_id}", {"schemas": [schema], "id": target_id, **resource}
        )
        if response.status_code == 404:
            raise TargetEntityGone(f"{entity_type} {target_id} no longer exists in the target", status=404)
        self._client.checked(response, "update")
        return Written(target_id)

    def schema(self, entity_type: str) -> dict[str, Any]:
        """The target's own schema for the entity type (GET /Schemas/{urn}, RFC 7643 section 7)."""
        _, urn, _ = ENDPOINTS[entity_type]
        return dict(self._client.checked(self._client.request("GET", f"/Schemas/{urn}", None), "read schema").json())

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
        body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]}
        response = self._client.request("PATCH", f"{path}/{target_id}", body)
        if response.status_code in (200, 204, 404):
            return
        raise self._client.error(response, "disable")

    # ------------------------------------------------------------------ HTTP
    def _create_unless_found(self, path: str, key: str, value: str, body: dict[str, Any]) -> Written:
        """Create an entity whose key the target does not keep unique, at most once.

        Before every attempt, look for it: a POST that timed out or failed with a 5xx may have been
        applied (a blind retry would create it twice). After a create, look again: two deliveries of
        one shard running at once may both have created it. Whoever sees more than one keeps the oldest
        (by meta.created, then id) and removes the others. That is safe for every racer: a racer only
        ever reports the oldest it saw, and nothing created later can become older."""
        last: TargetError | None = None
        last_response: httpx.Response | None = None
        for attempt in range(self._client.attempts):
            if attempt:
                self._client.pause(last_response)
            existing = self._oldest(path, key, value)
            if existing is not None:
                return self._adopt(path, existing, body)
            try:
                response = self._client.request("POST", path, body, retry=False)
            except TargetError as err:
                last, last_response = err, None
                continue
            if response.status_code == 201:
                created = str(response.json()["id"])
                oldest = self._oldest(path, key, value) or created
                return Written(created) if oldest == created else self._adopt(path, oldest, body)
            last, last_response = self._client.error(response, "create"), response
            if not last.retryable:
                raise last
        assert last is not None
        raise last

    def _oldest(self, path: str, key: str, value: str) -> str | None:
        """The oldest entity with this key; any younger duplicates are removed."""
        params = {"filter": f"{key} eq {quoted(value)}", "attributes": "id,meta"}
        found = self._client.get_json(path, params, "search").get("Resources") or []
        ranked = sorted((str(r.get("meta", {}).get("created", "")), str(r["id"])) for r in found)
        for _, duplicate in ranked[1:]:
            removed = self._client.request("DELETE", f"{path}/{duplicate}", None)
            if removed.status_code not in (200, 204, 404):  # 404: another racer removed it
                raise self._client.error(removed, f"removing duplicate {duplicate} of {ranked[0][1]}")
        return ranked[0][1] if ranked else None

    def _adopt(self, path: str, existing: str, body: dict[str, Any]) -> Written:
        self._client.checked(self._client.request("PUT", f"{path}/{existing}", {**body, "id": existing}), "update")
        return Written(existing, adopted=True)

    def _find(self, path: str, key: str, value: str) -> str | None:
        found = self._client.get_json(path, {"filter": f"{key} eq {quoted(value)}", "attributes": "id"}, "search")
        resources = found.get("Resources") or []
        return str(resources[0]["id"]) if resources else None

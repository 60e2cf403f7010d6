"""SCIM 2.0 (RFC 7643/7644) service providers as targets, over HTTP with a bearer token.

Retries 429 (honouring Retry-After), 5xx and timeouts per the job's retry policy. A 409 on create
means the entity already exists (e.g. a worker died after creating it, before recording it): find it
by its unique key and adopt it, so a retried shard never creates a user twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from syncjobs.connectors.base import TargetEntityGone, TargetError, Written
from syncjobs.models.job import RetryPolicy, ScimTarget

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
_ENDPOINTS = {"users": ("/Users", USER_SCHEMA, "userName"), "groups": ("/Groups", GROUP_SCHEMA, "displayName")}
_MAX_RETRY_AFTER = 120.0


def _scim_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("scimType") or ""
        return str(detail)[:300]
    return ""


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return default


class ScimTargetConnector:
    def __init__(
        self,
        config: ScimTarget,
        token: str | None,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = config.name
        self._retry = retry
        self._sleep = sleep
        headers = {"Accept": "application/scim+json", "Content-Type": "application/scim+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout_seconds, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ protocol
    def create(self, entity_type: str, resource: dict[str, Any]) -> Written:
        path, schema, key = _ENDPOINTS[entity_type]
        body = {"schemas": [schema], **resource}
        response = self._request("POST", path, body)
        if response.status_code == 201:
            return Written(str(response.json()["id"]))
        if response.status_code == 409:
            existing = self._find(path, key, str(resource.get(key, "")))
            if existing is None:
                raise TargetError(f"409 conflict on create and no {key} match: {_scim_detail(response)}", status=409)
            self._checked(self._request("PUT", f"{path}/{existing}", {**body, "id": existing}), "update")
            return Written(existing, adopted=True)
        raise self._error(response, "create")

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written:
        path, schema, _ = _ENDPOINTS[entity_type]
        response = self._request("PUT", f"{path}/{target_id}", {"schemas": [schema], "id": target_id, **resource})
        if response.status_code == 404:
            raise TargetEntityGone(f"{entity_type} {target_id} no longer exists in the target", status=404)
        self._checked(response, "update")
        return Written(target_id)

    def schema(self, entity_type: str) -> dict[str, Any]:
        """The target's own schema for the entity type (GET /Schemas/{urn}, RFC 7643 section 7)."""
        _, urn, _ = _ENDPOINTS[entity_type]
        return dict(self._checked(self._request("GET", f"/Schemas/{urn}", None), "read schema").json())

    def delete(self, entity_type: str, target_id: str) -> None:
        path, _, _ = _ENDPOINTS[entity_type]
        response = self._request("DELETE", f"{path}/{target_id}", None)
        if response.status_code in (200, 204, 404):  # 404: already gone, which is what a delete wants
            return
        raise self._error(response, "delete")

    # ------------------------------------------------------------------ HTTP
    def _find(self, path: str, key: str, value: str) -> str | None:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        response = self._checked(
            self._request("GET", path, None, params={"filter": f'{key} eq "{escaped}"', "attributes": "id"}), "search"
        )
        resources = response.json().get("Resources") or []
        return str(resources[0]["id"]) if resources else None

    def _checked(self, response: httpx.Response, action: str) -> httpx.Response:
        if response.status_code >= 400:
            raise self._error(response, action)
        return response

    @staticmethod
    def _error(response: httpx.Response, action: str) -> TargetError:
        status = response.status_code
        return TargetError(
            f"{action} failed: HTTP {status} {_scim_detail(response)}".rstrip(),
            retryable=status == 429 or status >= 500,
            status=status,
        )

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        attempts = self._retry.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.request(method, path, json=body, params=params)
            except httpx.TimeoutException as err:
                if attempt == attempts:
                    raise TargetError(f"{method} {path} timed out after {attempts} attempts", retryable=True) from err
                self._sleep(self._retry.delay_seconds)
                continue
            except httpx.TransportError as err:
                if attempt == attempts:
                    raise TargetError(f"{method} {path}: {type(err).__name__}: {err}", retryable=True) from err
                self._sleep(self._retry.delay_seconds)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if attempt == attempts:
                    return response
                self._sleep(
                    _retry_after(response, self._retry.delay_seconds)
                    if response.status_code == 429
                    else self._retry.delay_seconds
                )
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

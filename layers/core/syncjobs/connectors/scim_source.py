"""SCIM 2.0 services as a source of users and groups.

Planning lists every id (`attributes=id`, sorted by id, paged) and cuts the id space into ranges of
`shard_size` ids; a shard reads `id gt <after> and id le <until>`, sorted by id, page by page. Ranges,
not page offsets: an entity created or removed while the run reads shifts no other entity out of its
shard, so a full read never misses an entity (which would look like a delete). The first shard has no
lower bound and the last no upper bound, so ids created after planning are read too.

A delta read adds `meta.lastModified gt <watermark>` to the filter: the service sends only what changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from syncjobs.connectors.base import SourceRecord, SourceRowError, TargetError
from syncjobs.connectors.scim_http import ENDPOINTS, Probe, ScimClient, quoted
from syncjobs.deadline import Budget
from syncjobs.models.job import RetryPolicy, ScimSource
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import ShardSpec


class ScimSourceError(ValueError):
    """The source cannot be listed at all (unreachable, refused, not a SCIM listing)."""


class ScimSourceConnector:
    def __init__(
        self,
        config: ScimSource,
        entity_type: EntityType,
        token: str | None,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.name = config.display_name
        self._config = config
        self._entity_type = entity_type
        self._path = ENDPOINTS[entity_type.value][0]
        self._client = ScimClient(config.base_url, token, config.timeout_seconds, retry, sleep, transport, budget)

    def close(self) -> None:
        self._client.close()

    def probe(self) -> Probe:
        """Whether the service takes the credentials (see ScimClient.probe)."""
        return self._client.probe()

    def plan(self, shard_size: int) -> list[ShardSpec]:
        ids = [str(resource["id"]) for resource in self._list(None, "id")]
        bounds = [ids[i - 1] for i in range(shard_size, len(ids), shard_size)]  # last id of each shard but the last
        shards = []
        for index in range((len(ids) + shard_size - 1) // shard_size):
            shards.append(
                ShardSpec(
                    shard_id=f"{index:05d}",
                    entity_type=self._entity_type,
                    start=index * shard_size,
                    end=min((index + 1) * shard_size, len(ids)),
                    first_row=index * shard_size + 1,
                    after=bounds[index - 1] if index > 0 else None,
                    until=bounds[index] if index < len(bounds) else None,
                )
            )
        return shards

    def read(self, shard: ShardSpec, since: str | None = None) -> Iterator[SourceRecord | SourceRowError]:
        clauses = []
        if shard.after is not None:
            clauses.append(f"id gt {quoted(shard.after)}")
        if shard.until is not None:
            clauses.append(f"id le {quoted(shard.until)}")
        if since is not None:
            clauses.append(f"meta.lastModified gt {quoted(since)}")
        row = shard.first_row - 1
        for resource in self._list(" and ".join(clauses) or None, None):
            row += 1
            yield self._record(row, resource)

    def rest(self, shard: ShardSpec, last_row: int, last_id: str | None) -> ShardSpec:
        """The ids after `last_id` in the shard's range (the listing is sorted by id); without an id
        to resume from, the whole range again (what was done is recognised from the entity state)."""
        if last_id is None:
            return shard
        return shard.model_copy(update={"after": last_id, "first_row": last_row + 1})

    def _record(self, row: int, resource: dict[str, Any]) -> SourceRecord | SourceRowError:
        entity_id = str(resource.get("id") or "")
        if not entity_id:
            return SourceRowError(row, f"row {row}", "resource has no id")
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        modified = meta.get("lastModified") if meta else None
        members = None
        if self._entity_type is EntityType.GROUPS:
            members = tuple(
                str(m["value"])
                for m in resource.get("members") or []
                if isinstance(m, dict) and m.get("value") and m.get("type", "User") == "User"
            )
        return SourceRecord(row, entity_id, resource, str(modified) if modified else None, members)

    def _list(self, filter_: str | None, attributes: str | None) -> Iterator[dict[str, Any]]:
        """Every resource the filter matches, sorted by id, `page_size` a request (RFC 7644 3.4.2.4)."""
        start, page_size = 1, self._config.page_size
        while True:
            params = {"sortBy": "id", "startIndex": str(start), "count": str(page_size)}
            if filter_:
                params["filter"] = filter_
            if attributes:
                params["attributes"] = attributes
            try:
                page = self._client.get_json(self._path, params, f"listing {self._path}")
            except (TargetError, ValueError) as err:  # refused, or not a JSON listing
                raise ScimSourceError(f"{self.name}{self._path}: {err}") from err
            resources = page.get("Resources") or []
            yield from resources
            total = int(page.get("totalResults", 0))
            start += len(resources)
            if not resources or start > total:
                return

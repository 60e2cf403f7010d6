"""SCIM 2.0 services as a source of users and groups.

Planning reads /ServiceProviderConfig, lists every id (`attributes=id`, sorted by id, page by page until
an empty page: `totalResults` alone is never trusted to stop) and cuts the listing into shards of
`shard_size` entities. How a shard is read depends on what the service can do (connectors/scim_paging.py):

- id ranges, when filter and sort are declared and a probe shows both work: a shard reads
  `id gt <after> and id le <until>`, sorted by id. An entity created or removed while the run reads
  shifts no other entity out of its shard. The first shard has no lower bound and the last no upper
  bound, so ids created after planning are read too. A delta read adds `meta.lastModified gt <watermark>`.
- offsets otherwise: startIndex/count pages without a filter (a delta read is filtered by the engine).

Each shard's pages are reconciled with what planning listed (counts, `totalResults`, `itemsPerPage`,
ids in range, sorted, not twice, the shard's boundaries); a mismatch ends the shard with one
unreadable row ("read incomplete: ...") so the run deletes nothing it has not proven gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from syncjobs.connectors import scim_paging
from syncjobs.connectors.base import SourceRecord, SourceRowError, TargetError
from syncjobs.connectors.scim_http import ENDPOINTS, Probe, ScimClient, quoted
from syncjobs.connectors.scim_paging import ID_RANGE, OFFSET, Page
from syncjobs.deadline import Budget
from syncjobs.models.job import RetryPolicy, ScimSource
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import ShardSpec, shard_id


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
        pages, resources = self._listing()
        ids = [str(r.get("id") or "") for r in resources]
        problems = scim_paging.listing_problems(pages)
        if "" in ids:
            problems.append(f"resource without an id at position {ids.index('') + 1}")
        declaration = self._declared()
        probed = self._probe(pages) if declaration.filter and declaration.sort else None
        paging, _why = scim_paging.choose_paging(declaration, probed)
        plan_problem = "when planning: " + "; ".join(problems[:3]) if problems else None
        count = max((len(ids) + shard_size - 1) // shard_size, 1 if plan_problem else 0)
        shards = []
        for index in range(count):
            start, end = index * shard_size, min((index + 1) * shard_size, len(ids))
            shards.append(
                ShardSpec(
                    shard_id=shard_id(index),
                    entity_type=self._entity_type,
                    start=start,
                    end=end,
                    first_row=start + 1,
                    after=ids[start - 1] if index > 0 and paging == ID_RANGE else None,
                    until=ids[end - 1] if index < count - 1 and paging == ID_RANGE else None,
                    paging=paging,
                    listed_total=len(ids),
                    opening_id=ids[start] if start < end else None,
                    closing_id=ids[end - 1] if start < end else None,
                    plan_problem=plan_problem if index == 0 else None,
                )
            )
        return shards

    def read(self, shard: ShardSpec, since: str | None = None) -> Iterator[SourceRecord | SourceRowError]:
        row = shard.first_row - 1
        pages: list[Page] = []
        reading = (
            self._read_by_offset(shard, pages) if shard.paging == OFFSET else self._read_by_id(shard, since, pages)
        )
        for resource in reading:
            row += 1
            yield self._record(row, resource)
        if shard.paging is None:  # planned before reconciliation existed: read as it was then
            return
        if shard.paging == OFFSET:
            last_shard = shard.listed_total is None or shard.end >= shard.listed_total
            problems = scim_paging.offset_problems(
                pages,
                shard.end - shard.start,
                shard.listed_total,
                shard.opening_id,
                shard.closing_id,
                shard.after,
                last_shard,
            )
        else:
            planned = None if since is not None else shard.end - shard.start
            problems = scim_paging.id_range_problems(pages, shard.after, shard.until, planned)
        if shard.plan_problem:
            problems.insert(0, shard.plan_problem)
        reason = scim_paging.incomplete_reason(problems, shard.shard_id)
        if reason is not None:
            yield SourceRowError(row + 1, f"shard {shard.shard_id}", reason, id_known=False)

    def read_one(self, entity_id: str) -> SourceRecord | SourceRowError | None:
        """One entity by its id (GET {endpoint}/{id}), as `read` gives it at row 1; None when the service
        answers 404 (provision on demand: workflows/provision.py)."""
        path = f"{self._path}/{quote(entity_id, safe='')}"
        response = self._client.request("GET", path, None)
        if response.status_code == 404:
            return None
        try:
            resource = self._client.checked(response, f"reading {path}").json()
        except (TargetError, ValueError) as err:
            raise ScimSourceError(f"{self.name}{path}: {err}") from err
        if not isinstance(resource, dict):
            raise ScimSourceError(f"{self.name}{path}: the answer is not a resource")
        return self._record(1, resource)

    def rest(self, shard: ShardSpec, last_row: int, last_id: str | None) -> ShardSpec:
        """What follows the entity read last. By id: the ids after `last_id` in the shard's range (the
        listing is sorted by id). By offset: the offsets after it, read from `last_id` on, which must
        still be where it was. Without an id to resume from, the whole shard again (what was done is
        recognised from the entity state). `start` moves on too, so the rest expects what is left."""
        if last_id is None:
            return shard
        done = max(last_row - shard.first_row + 1, 0)
        start = min(shard.start + done, shard.end)
        return shard.model_copy(update={"after": last_id, "first_row": last_row + 1, "start": start})

    def _read_by_id(self, shard: ShardSpec, since: str | None, pages: list[Page]) -> Iterator[dict[str, Any]]:
        clauses = []
        if shard.after is not None:
            clauses.append(f"id gt {quoted(shard.after)}")
        if shard.until is not None:
            clauses.append(f"id le {quoted(shard.until)}")
        if since is not None:
            clauses.append(f"meta.lastModified gt {quoted(since)}")
        filter_ = " and ".join(clauses) or None
        start, seen = 1, set[str]()
        while True:
            page, resources = self._page(filter_, None, start, self._config.page_size)
            if not resources or _repeats(pages, page, seen):
                return
            yield from resources
            start += len(resources)

    def _read_by_offset(self, shard: ShardSpec, pages: list[Page]) -> Iterator[dict[str, Any]]:
        """The shard's offsets (after its anchor, `after`, when a continuation), without a filter; the
        last shard reads on to an empty page (entities created since planning)."""
        anchored = shard.after is not None
        start = shard.start + (0 if anchored else 1)  # startIndex is 1-based: the anchor is at `start`
        wanted = shard.end - shard.start + (1 if anchored else 0)
        last_shard = shard.listed_total is None or shard.end >= shard.listed_total
        got, seen = 0, set[str]()
        while last_shard or got < wanted:
            count = self._config.page_size if last_shard else min(self._config.page_size, wanted - got)
            page, resources = self._page(None, None, start, count)
            if not resources or _repeats(pages, page, seen):
                return
            if anchored and got == 0:
                resources = resources[1:]  # the previous part's last entity, already done
            got += len(page.ids)
            yield from resources
            start += len(page.ids)

    def _listing(self) -> tuple[list[Page], list[dict[str, Any]]]:
        """Every id, sorted by id, page by page until an empty page."""
        pages: list[Page] = []
        resources: list[dict[str, Any]] = []
        start, seen = 1, set[str]()
        while True:
            page, found = self._page(None, "id", start, self._config.page_size)
            if not found or _repeats(pages, page, seen):
                return pages, resources
            resources += found
            start += len(found)

    def _declared(self) -> scim_paging.Declared:
        """What /ServiceProviderConfig declares; a service without one (or with garbage) declares nothing."""
        try:
            body = self._client.get_json("/ServiceProviderConfig", {}, "reading /ServiceProviderConfig")
        except (TargetError, ValueError, TypeError):
            return scim_paging.Declared()
        return scim_paging.declared(body)

    def _probe(self, pages: list[Page]) -> str | None:
        """Whether id filters answer exactly what the listing says they must (scim_paging.probe_problem)."""
        first = pages[0].ids if pages else ()
        pivot = scim_paging.pivot_of(first)
        if pivot is None:
            return "nothing listed to probe with"
        answers: list[tuple[str, ...] | None] = []
        for op in ("le", "gt"):
            try:
                page, _ = self._page(f"id {op} {quoted(pivot)}", "id", 1, self._config.page_size)
            except ScimSourceError:
                answers.append(None)
                continue
            answers.append(page.ids)
        return scim_paging.probe_problem(first, len(pages) == 1, answers[0], answers[1])

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

    def _page(
        self, filter_: str | None, attributes: str | None, start: int, count: int
    ) -> tuple[Page, list[dict[str, Any]]]:
        """One page of the listing, sorted by id (RFC 7644 3.4.2.4), and what it says about itself."""
        params = {"sortBy": "id", "startIndex": str(start), "count": str(count)}
        if filter_:
            params["filter"] = filter_
        if attributes:
            params["attributes"] = attributes
        try:
            body = self._client.get_json(self._path, params, f"listing {self._path}")
        except (TargetError, ValueError, TypeError) as err:  # refused, or not a JSON listing
            raise ScimSourceError(f"{self.name}{self._path}: {err}") from err
        found = body.get("Resources") or []
        if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
            raise ScimSourceError(f"{self.name}{self._path}: Resources is not a list of resources")
        ids = tuple(str(r.get("id") or "") for r in found)
        return Page(start, ids, _count(body.get("totalResults")), _count(body.get("itemsPerPage"))), found


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _repeats(pages: list[Page], page: Page, seen: set[str]) -> bool:
    """A page that holds only ids listed already (`seen`, which it adds to): a service that ignores
    startIndex. Stop, or it would be listed forever; page_problems names the ids listed twice."""
    pages.append(page)
    repeated = bool(seen) and all(i in seen for i in page.ids)
    seen.update(page.ids)
    return repeated

"""ScimSourceConnector against an in-memory SCIM service: it pages by id range only where filters are
proven, by offset otherwise; a shard cut by its deadline resumes where it stopped in both; a read that
does not add up ends with one unreadable row naming why."""

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.connectors.scim_paging import ID_RANGE, OFFSET
from syncjobs.connectors.scim_source import ScimSourceConnector, ScimSourceError
from syncjobs.models.job import RetryPolicy, ScimSource
from syncjobs.models.outcome import EntityType

_CLAUSE = re.compile(r'^id (gt|le) "([^"]*)"$')


class Service:
    """A SCIM service holding users `u000`..: filters `id gt/le` joined by `and`, sorts by id, pages
    by startIndex/count. `filter_empty`: a filter answers nothing; `declares`: its
    /ServiceProviderConfig declares filter and sort; `short_total`: totalResults at most this."""

    def __init__(self, n: int, filter_empty: bool = False, declares: bool = True, short_total: int | None = None):
        self.ids = [f"u{i:03d}" for i in range(n)]
        self.filter_empty, self.declares, self.short_total = filter_empty, declares, short_total

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ServiceProviderConfig"):
            supported = {"supported": self.declares}
            return httpx.Response(200, json={"filter": supported, "sort": supported})
        query = dict(parse_qsl(request.url.query.decode()))
        found = sorted(self.ids)
        if query.get("filter"):
            if self.filter_empty:
                found = []
            for clause in query["filter"].split(" and "):
                if match := _CLAUSE.match(clause):
                    op, value = match.groups()
                    found = [i for i in found if (i > value if op == "gt" else i <= value)]
        start, count = int(query.get("startIndex", 1)), int(query.get("count", 100))
        page = found[start - 1 : start - 1 + count]
        total = len(found) if self.short_total is None else min(len(found), self.short_total)
        resources: list[dict[str, Any]] = [{"id": i, "userName": f"{i}@example.test"} for i in page]
        body = {"totalResults": total, "itemsPerPage": len(page), "startIndex": start, "Resources": resources}
        return httpx.Response(200, content=json.dumps(body))


def connector(service: Service) -> ScimSourceConnector:
    config = ScimSource(type="scim", base_url="https://source.example.test/v2", page_size=4)
    return ScimSourceConnector(
        config, EntityType.USERS, None, RetryPolicy(retries=0), transport=httpx.MockTransport(service)
    )


def read_ids(records: list[SourceRecord | SourceRowError]) -> list[str]:
    return [r.entity_id for r in records if isinstance(r, SourceRecord)]


def errors(records: list[SourceRecord | SourceRowError]) -> list[str]:
    return [r.reason for r in records if isinstance(r, SourceRowError)]


@pytest.mark.parametrize(
    ("service", "paging"),
    [(Service(23), ID_RANGE), (Service(23, filter_empty=True), OFFSET), (Service(23, declares=False), OFFSET)],
)
def test_a_full_read_reads_every_entity_once_whichever_paging_is_proven(service, paging):
    # Given a source of 23 users, When it is planned in shards of 10 and every shard is read
    source = connector(service)
    shards = source.plan(10)
    records = [r for shard in shards for r in source.read(shard)]

    # Then the paging is the one the service proved, and every user is read once, nothing unreadable
    assert {s.paging for s in shards} == {paging}
    assert [s.end - s.start for s in shards] == [10, 10, 3]
    assert sorted(read_ids(records)) == service.ids
    assert errors(records) == []


def test_a_filter_answered_with_nothing_in_a_shard_planned_by_id_range_makes_the_read_incomplete():
    # Given shards planned by id range, When the service then answers filters with nothing
    service = Service(23)
    source = connector(service)
    shards = source.plan(10)
    service.filter_empty = True
    records = list(source.read(shards[1]))

    # Then the shard ends with one unreadable row naming what did not add up
    assert read_ids(records) == []
    assert errors(records) == ["read incomplete: shard 00001: 0 read of 10 listed when planning"]
    assert isinstance(records[-1], SourceRowError)
    assert records[-1].id_known is False


def test_a_short_totalResults_makes_every_shard_of_the_read_incomplete():
    # Given a service reporting totalResults 8 of 23
    source = connector(Service(23, short_total=8, declares=False))

    # When it is planned and read
    shards = source.plan(10)
    per_shard = [errors(list(source.read(shard))) for shard in shards]

    # Then planning saw the listing did not add up, and so does every shard
    assert "when planning: totalResults 8 but 23 listed" in per_shard[0][0]
    assert all(len(e) == 1 and "totalResults 8 at startIndex" in e[0] for e in per_shard)


@pytest.mark.parametrize("service", [Service(23), Service(23, filter_empty=True)], ids=["id-range", "offset"])
def test_a_shard_cut_by_its_deadline_resumes_after_the_last_entity_done(service):
    # Given the middle shard of a read, of which an invocation finished 4 entities before its time ran out
    source = connector(service)
    shard = source.plan(10)[1]
    first = list(source.read(shard))[:4]
    last = first[-1]

    # When the rest is read
    rest = source.rest(shard, last.row, last.entity_id)
    second = list(source.read(rest))

    # Then the two parts read the shard's 10 entities once each, rows numbered on, nothing unreadable
    assert read_ids(first) + read_ids(second) == service.ids[10:20]
    assert [r.row for r in first + second] == list(range(11, 21))
    assert errors(second) == []


@pytest.mark.parametrize("service", [Service(23), Service(23, filter_empty=True)], ids=["id-range", "offset"])
def test_an_entity_removed_before_the_rest_is_read_makes_the_rest_incomplete_not_silent(service):
    # Given a shard cut after 4 entities, When an entity of its rest is removed before the rest is read
    source = connector(service)
    shard = source.plan(10)[1]
    last = list(source.read(shard))[3]
    rest = source.rest(shard, last.row, last.entity_id)
    service.ids.remove("u016")

    # Then the rest reads what is there and says it is incomplete
    records = list(source.read(rest))
    assert "u016" not in read_ids(records)
    assert len(errors(records)) == 1
    assert errors(records)[0].startswith("read incomplete: shard 00001:")


class StartIndexIgnored(Service):
    """A service that answers page 1 whatever startIndex asks."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = dict(parse_qsl(request.url.query.decode()), startIndex="1")
        return super().__call__(httpx.Request(request.method, request.url.copy_with(params=query)))


def test_a_service_that_ignores_startIndex_is_not_listed_forever_and_its_read_is_incomplete():
    # Given a service answering page 1 to every startIndex, When it is planned and read
    source = connector(StartIndexIgnored(23, declares=False))
    shards = source.plan(10)
    records = list(source.read(shards[0]))

    # Then planning stops at the repeated page, and the read names the ids listed twice
    assert len(errors(records)) == 1
    assert 'id "u000" listed twice (startIndex 5)' in errors(records)[0]


def _by_id(status: int, body: object) -> ScimSourceConnector:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.raw_path.decode() == "/v2/Users/a%2Fb"  # the id is one path segment
        return httpx.Response(status, json=body)

    config = ScimSource(type="scim", base_url="https://source.example.test/v2")
    return ScimSourceConnector(
        config, EntityType.USERS, None, RetryPolicy(retries=0), transport=httpx.MockTransport(answer)
    )


def test_read_one_gets_the_entity_by_its_id_as_a_read_gives_it():
    found = _by_id(200, {"id": "a/b", "userName": "ab@example.test"}).read_one("a/b")
    assert isinstance(found, SourceRecord)
    assert (found.entity_id, found.row, found.attributes["userName"]) == ("a/b", 1, "ab@example.test")


def test_read_one_of_an_id_the_service_does_not_have_is_none():
    assert _by_id(404, {"detail": "not found"}).read_one("a/b") is None


@pytest.mark.parametrize(("status", "body"), [(500, {"detail": "down"}), (200, ["not", "a", "resource"])])
def test_read_one_refused_or_garbled_is_a_source_error_naming_the_path(status, body):
    with pytest.raises(ScimSourceError, match="/Users/a%2Fb"):
        _by_id(status, body).read_one("a/b")

"""How a SCIM source is paged and when its pages add up (connectors/scim_paging.py): id ranges only
when declared and proven by a probe; any mismatch between planning and reading is a reason."""

import pytest

from syncjobs.connectors.scim_paging import (
    ID_RANGE,
    OFFSET,
    Declared,
    Page,
    choose_paging,
    declared,
    id_range_problems,
    incomplete_reason,
    listing_problems,
    offset_problems,
    probe_problem,
)

IDS = tuple(f"id{i:02d}" for i in range(10))


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"filter": {"supported": True, "maxResults": 50}, "sort": {"supported": True}}, Declared(True, True, 50)),
        ({"filter": {"supported": True}, "sort": {"supported": False}}, Declared(True, False, None)),
        ({"filter": {"supported": "true"}, "sort": {"supported": 1}}, Declared()),  # not booleans
        ({"filter": {"supported": True, "maxResults": True}, "sort": []}, Declared(True, False, None)),
        ({"filter": {"supported": True, "maxResults": -3}}, Declared(True, False, None)),
        ({"filter": "yes", "sort": None}, Declared()),
        ([], Declared()),
        ("<html>", Declared()),
        (None, Declared()),
    ],
)
def test_declared_reads_only_well_formed_declarations(config, expected):
    assert declared(config) == expected


@pytest.mark.parametrize(
    ("first", "whole", "at_most", "above", "problem"),
    [
        (IDS[:6], False, IDS[:3], IDS[3:9], None),  # page 1 of many: gt goes on past it
        (IDS[:6], True, IDS[:3], IDS[3:6], None),  # the whole listing
        (IDS[:1], True, IDS[:1], (), None),
        ((), True, (), (), "nothing listed to probe with"),
        (IDS[:6][::-1], False, IDS[:3], IDS[3:9], "not in id order"),  # sortBy ignored
        (IDS[:6], False, None, IDS[3:9], "refused"),  # 400 invalidFilter
        (IDS[:6], False, (), (), 'id le "id02" answered 0'),  # 200 with nothing
        (IDS[:6], False, IDS[:6], IDS[:6], 'id le "id02" answered 6'),  # filter ignored
        (IDS[:6], True, IDS[:3], IDS[3:5], 'id gt "id02" answered 2'),
        (IDS[:6], False, IDS[:3], IDS[3:9][::-1], 'id gt "id02" did not answer'),  # filtered, not sorted
        (IDS[:6], False, IDS[:3], (IDS[3], IDS[5]), 'id gt "id02" did not answer'),
    ],
)
def test_the_probe_proves_id_filters_or_names_what_failed(first, whole, at_most, above, problem):
    found = probe_problem(first, whole, at_most, above)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    ("declaration", "problem", "paging", "why"),
    [
        (Declared(True, True), None, ID_RANGE, "probed"),
        (Declared(True, True), "an id filter was refused", OFFSET, "probe failed: an id filter was refused"),
        (Declared(True, False), None, OFFSET, "does not declare sort"),
        (Declared(False, False), None, OFFSET, "does not declare filter and sort"),
    ],
)
def test_id_ranges_are_chosen_only_when_declared_and_proven(declaration, problem, paging, why):
    chosen, reason = choose_paging(declaration, problem)
    assert chosen == paging
    assert why in reason


def pages(*ids_per_page, total=None, items=None):
    out, start = [], 1
    for ids in ids_per_page:
        out.append(Page(start, tuple(ids), total, len(ids) if items is None else items))
        start += len(ids)
    return out


@pytest.mark.parametrize(
    ("listing", "problems"),
    [
        (pages(IDS[:5], IDS[5:], total=10), []),
        (pages(IDS[:5], IDS[5:], total=None), []),
        (pages(IDS[:5], IDS[5:], total=4), ["totalResults 4 but 10 listed"]),  # short totalResults
        ([Page(1, IDS[:5], 10, 5), Page(6, IDS[5:], 12, 5)], ["totalResults changed from 10 to 12 at startIndex 6"]),
        ([Page(1, IDS[:5], 10, 6), Page(6, IDS[5:], 10, 5)], ["itemsPerPage 6 but 5 resource(s) at startIndex 1"]),
        ([Page(1, IDS[:5], 10, 5), Page(6, IDS[4:9], 10, 5)], ['id "id04" listed twice (startIndex 6)']),
    ],
)
def test_a_listing_adds_up_or_says_what_does_not(listing, problems):
    found = listing_problems(listing)
    assert found[: len(problems)] == problems
    if not problems:
        assert found == []


@pytest.mark.parametrize(
    ("read", "after", "until", "planned", "problem"),
    [
        (pages(IDS[3:6], IDS[6:8], total=5), "id02", "id07", 5, None),
        (pages(IDS[3:8], total=5), "id02", "id07", None, None),  # delta: no planned count
        (pages(IDS[3:9], total=6), "id02", None, 5, None),  # last shard: an id created since planning
        (pages(total=0), "id02", "id07", 5, "0 read of 5 listed"),  # filter answered 200 with nothing
        (pages(IDS[3:6], total=5), "id02", "id07", 5, "3 read of 5 listed"),
        (pages(IDS, total=10), "id02", "id07", 5, 'id "id00" outside the shard'),  # filter ignored
        (pages(IDS[3:8][::-1], total=5), "id02", "id07", 5, "ids not sorted (startIndex 2)"),
        (pages(IDS[6:8], IDS[3:6], total=5), "id02", "id07", 5, "ids not sorted (startIndex 3)"),
        (pages(IDS[3:8], total=200), "id02", "id07", 5, "totalResults 200 but 5 read"),
        (pages(IDS[3:8], total=5, items=4), "id02", "id07", 5, "itemsPerPage 4 but 5"),
    ],
)
def test_an_id_range_shard_adds_up_or_says_what_does_not(read, after, until, planned, problem):
    found = id_range_problems(read, after, until, planned)
    if problem is None:
        assert found == []
    else:
        assert any(problem in p for p in found), found


@pytest.mark.parametrize(
    ("read", "expected", "opening", "closing", "anchor", "last", "problem"),
    [
        (pages(IDS[0:3], IDS[3:5], total=10), 5, "id00", "id04", None, False, None),
        (pages(IDS[5:10], total=10), 5, "id05", "id09", None, True, None),
        (pages(IDS[5:10], ("id99",), total=11), 5, "id05", "id09", None, True, "totalResults 11 at startIndex 1"),
        (pages(IDS[1:5], total=10), 3, None, "id04", "id01", False, None),  # a continuation: anchor, then the rest
        (pages(IDS[2:5], total=10), 3, None, "id04", "id01", False, 'the entity before this part is no longer "id01"'),
        (pages(IDS[1:6], total=10), 5, "id00", "id04", None, False, 'the shard opens with "id01"'),  # one removed
        (pages(IDS[0:5], total=10), 5, "id00", "id05", None, False, 'closes with "id04", planning listed "id05"'),
        (pages(IDS[0:3], total=10), 5, "id00", "id04", None, False, "3 read of 5 listed"),
        (pages(IDS[0:6], total=10), 5, "id00", "id04", None, False, "6 read of 5 listed"),
        (pages(IDS[0:5], total=4), 5, "id00", "id04", None, False, "totalResults 4 at startIndex 1, 10 listed"),
        (pages(IDS[0:5], total=10, items=6), 5, "id00", "id04", None, False, "itemsPerPage 6 but 5"),
        (pages(IDS[0:5][::-1], total=10), 5, "id04", "id00", None, False, None),  # another stable order is fine
    ],
)
def test_an_offset_shard_adds_up_or_says_what_does_not(read, expected, opening, closing, anchor, last, problem):
    found = offset_problems(read, expected, 10, opening, closing, anchor, last)
    if problem is None:
        assert found == []
    else:
        assert any(problem in p for p in found), found


def test_the_reason_names_the_shard_and_at_most_three_mismatches():
    assert incomplete_reason([], "00001") is None
    reason = incomplete_reason(["a", "b", "c", "d", "e"], "00001")
    assert reason == "read incomplete: shard 00001: a; b; c; and 2 more"

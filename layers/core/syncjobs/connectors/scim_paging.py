"""How a SCIM source is paged, and whether what it answered adds up: pure decisions, no HTTP.

A full read deletes every entity it did not see, so a read that missed entities must never pass for
complete. Real services answer in ways that silently drop entities: a filter they cannot apply
answered 200 with nothing, `sortBy` ignored, a short `totalResults`, an `itemsPerPage` that does not
match the page. So:

- id ranges (`id gt X and id le Y`, sorted by id) are used only when /ServiceProviderConfig declares
  filter and sort AND a probe shows both work (`probe_problem`); otherwise the source is paged by
  offset (startIndex/count, no filter), which every service supports;
- every shard's pages are reconciled with what planning listed (`id_range_problems`,
  `offset_problems`): any mismatch is a reason the read is incomplete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ID_RANGE = "id-range"
OFFSET = "offset"


@dataclass(frozen=True)
class Declared:
    """What a service's /ServiceProviderConfig declares (RFC 7643 section 5); nothing when unreadable."""

    filter: bool = False
    sort: bool = False
    max_results: int | None = None


def declared(config: Any) -> Declared:
    """The declarations of a /ServiceProviderConfig body; anything malformed counts as not declared."""
    if not isinstance(config, dict):
        return Declared()
    filter_ = _section(config, "filter")
    sort = _section(config, "sort")
    max_results = filter_.get("maxResults")
    valid_max = isinstance(max_results, int) and not isinstance(max_results, bool) and max_results > 0
    return Declared(
        filter=filter_.get("supported") is True,
        sort=sort.get("supported") is True,
        max_results=max_results if valid_max else None,
    )


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Page:
    """One page of a listing as the service answered it: the startIndex asked for, the ids of its
    resources in order, and its `totalResults` and `itemsPerPage` (None: not given)."""

    start_index: int
    ids: tuple[str, ...]
    total: int | None = None
    items_per_page: int | None = None


def pivot_of(first_page: Sequence[str]) -> str | None:
    """The id the probe filters on: one from the middle of the first page (None: nothing listed)."""
    return first_page[(len(first_page) - 1) // 2] if first_page else None


def probe_problem(
    first_page: Sequence[str], whole: bool, at_most: Sequence[str] | None, above: Sequence[str] | None
) -> str | None:
    """Why id ranges cannot be trusted, or None when the probe proves them.

    `first_page`: page 1 of the listing sorted by id (`whole`: it is all there is). `at_most` / `above`: page 1 of
    `id le "<pivot>"` / `id gt "<pivot>"` (sorted by id), None when refused. Since page 1 holds the
    smallest ids, `id le pivot` must be exactly its ids up to the pivot, and `id gt pivot` must begin
    with the rest of it, in order."""
    pivot = pivot_of(first_page)
    if pivot is None:
        return "nothing listed to probe with"
    if list(first_page) != sorted(set(first_page)):
        return "the listing sorted by id is not in id order"
    if at_most is None or above is None:
        return "an id filter was refused"
    cut = first_page.index(pivot) + 1
    expected_at_most, rest = list(first_page[:cut]), list(first_page[cut:])
    if list(at_most) != expected_at_most:
        return f'filter id le "{pivot}" answered {len(at_most)} resource(s), expected {len(expected_at_most)}'
    if whole and list(above) != rest:
        return f'filter id gt "{pivot}" answered {len(above)} resource(s), expected {len(rest)}'
    if list(above[: len(rest)]) != rest or list(above) != sorted(set(above)) or any(i <= pivot for i in above):
        return f'filter id gt "{pivot}" did not answer the ids after it, in order'
    return None


def choose_paging(declaration: Declared, problem: str | None) -> tuple[str, str]:
    """(paging, why): id ranges only when filter and sort are declared and the probe proved them."""
    if not declaration.filter or not declaration.sort:
        missing = [name for name, ok in (("filter", declaration.filter), ("sort", declaration.sort)) if not ok]
        return OFFSET, f"/ServiceProviderConfig does not declare {' and '.join(missing)}"
    if problem is not None:
        return OFFSET, f"id-range probe failed: {problem}"
    return ID_RANGE, "filter and sort declared and probed"


def page_problems(pages: Sequence[Page]) -> list[str]:
    """What does not add up inside the pages themselves: totalResults that changes from page to page,
    an itemsPerPage that is not the number of resources on the page, an id listed twice."""
    problems = []
    totals = {p.total for p in pages if p.total is not None}
    if len(totals) > 1:
        changed = next(p for p in pages if p.total != pages[0].total)
        problems.append(
            f"totalResults changed from {pages[0].total} to {changed.total} at startIndex {changed.start_index}"
        )
    for page in pages:
        if page.items_per_page is not None and page.items_per_page != len(page.ids):
            problems.append(
                f"itemsPerPage {page.items_per_page} but {len(page.ids)} resource(s) at startIndex {page.start_index}"
            )
            break
    seen: set[str] = set()
    for page in pages:
        twice = next((i for i in page.ids if i in seen), None)
        if twice is not None:
            problems.append(f'id "{twice}" listed twice (startIndex {page.start_index})')
            break
        seen.update(page.ids)
    return problems


def listing_problems(pages: Sequence[Page]) -> list[str]:
    """A whole listing (read until an empty page): its pages, and totalResults against what was listed."""
    problems = page_problems(pages)
    listed = sum(len(p.ids) for p in pages)
    total = next((p.total for p in pages if p.total is not None), None)
    if total is not None and total != listed:
        problems.append(f"totalResults {total} but {listed} listed")
    return problems


def id_range_problems(pages: Sequence[Page], after: str | None, until: str | None, planned: int | None) -> list[str]:
    """One shard read by `id gt after and id le until` (sorted by id) until an empty page.

    `planned`: how many ids planning listed in the range (None: a delta read, whose filter reads only
    what changed). Fewer read than planned is a miss (an entity removed since planning looks the same:
    the next full read proves it gone); more is ids created since, which may fall in any range."""
    problems = page_problems(pages)
    ids = [i for p in pages for i in p.ids]
    for page in pages:
        outside = next(
            (i for i in page.ids if (after is not None and i <= after) or (until is not None and i > until)), None
        )
        if outside is not None:
            problems.append(f'id "{outside}" outside the shard\'s range (startIndex {page.start_index})')
            break
    unsorted = _first_unsorted(pages)
    if unsorted is not None:
        problems.append(f"ids not sorted (startIndex {unsorted})")
    if planned is not None and len(ids) < planned:
        problems.append(f"{len(ids)} read of {planned} listed when planning")
    total = next((p.total for p in pages if p.total is not None), None)
    if total is not None and total != len(ids):
        problems.append(f"totalResults {total} but {len(ids)} read")
    return problems


def _first_unsorted(pages: Sequence[Page]) -> int | None:
    """The startIndex of the first id that is not greater than the one before it (None: sorted)."""
    previous: str | None = None
    for page in pages:
        for position, entity_id in enumerate(page.ids):
            if previous is not None and entity_id <= previous:
                return page.start_index + position
            previous = entity_id
    return None


def offset_problems(
    pages: Sequence[Page],
    expected: int,
    listed_total: int | None,
    opening_id: str | None,
    closing_id: str | None,
    anchor: str | None,
    last_shard: bool,
) -> list[str]:
    """One shard read by offset: `expected` resources (all to the end for the last shard), after
    `anchor` when set (a continuation re-reads the previous part's last entity, which must still be
    there). Planning listed `listed_total` entities in all, `opening_id` first and `closing_id` last in
    this shard: anything moved (an entity created or removed since) shifts the offsets, so the
    boundaries must be where planning saw them, or an entity may have slipped into another shard."""
    problems = page_problems(pages)
    ids = [i for p in pages for i in p.ids]
    if anchor is not None:
        if not ids or ids[0] != anchor:
            problems.append(f'the entity before this part is no longer "{anchor}" (startIndex {pages[0].start_index})')
        ids = ids[1:]
    if listed_total is not None:
        for page in pages:
            if page.total is not None and page.total != listed_total:
                problems.append(
                    f"totalResults {page.total} at startIndex {page.start_index}, {listed_total} listed when planning"
                )
                break
    if len(ids) < expected or (not last_shard and len(ids) > expected):
        problems.append(f"{len(ids)} read of {expected} listed when planning")
    if anchor is None and opening_id is not None and ids and ids[0] != opening_id:
        problems.append(f'the shard opens with "{ids[0]}", planning listed "{opening_id}"')
    if closing_id is not None and 0 < expected <= len(ids) and ids[expected - 1] != closing_id:
        problems.append(f'the shard closes with "{ids[expected - 1]}", planning listed "{closing_id}"')
    return problems


def incomplete_reason(problems: Sequence[str], shard_id: str) -> str | None:
    """The reason a shard's read is incomplete (None: it added up): the first few mismatches."""
    if not problems:
        return None
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return f"read incomplete: shard {shard_id}: {shown}"

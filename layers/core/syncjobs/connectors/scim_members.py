"""Group membership as SCIM peers take it: PATCH add/remove operations in chunks, then a check of what
the peer kept.

RFC 7644 (section 3.5.2) lets a service take membership changes only through PATCH, and widely used ones
do (members in POST/PUT are ignored, or PUT is refused); several cap a request at 100 membership changes.
So a group's members are never sent inside POST/PUT: the difference between the members wanted and the
members the target holds is sent as PATCH requests of at most `size` changes each, and what the target
then holds is compared with what was wanted (`mismatch_reason`).

Removes use a value filter in the path (`members[value eq "id"]`), one operation per member: servers
(scim2-server among them) refuse a remove that carries a value list. Adds carry the member values.

Pure: ids in, request bodies and reasons out. Reasons name target ids only, never personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from syncjobs.connectors.scim_http import quoted

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_NAMED_IDS = 5  # member ids named in a reason; the rest are counted


def member_ids(members: Iterable[Any] | None) -> list[str]:
    """The member ids of a SCIM `members` attribute (`[{"value": id, ...}]`), in order, each once;
    entries without a value are ignored."""
    seen: dict[str, None] = {}
    for member in members or ():
        if isinstance(member, dict) and member.get("value") not in (None, ""):
            seen.setdefault(str(member["value"]), None)
    return list(seen)


def member_diff(wanted: Iterable[str], current: Iterable[str]) -> tuple[list[str], list[str]]:
    """(add, remove): the wanted ids the target does not hold, and the held ids not wanted; each sorted,
    each id once, so the same sets always give the same requests."""
    want, held = set(wanted), set(current)
    return sorted(want - held), sorted(held - want)


def chunked(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    """`ids` in consecutive lists of at most `size` (>= 1)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, not {size}")
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def remove_operations(ids: Iterable[str]) -> list[dict[str, Any]]:
    return [{"op": "remove", "path": f"members[value eq {quoted(member)}]"} for member in ids]


def add_operation(ids: Sequence[str]) -> dict[str, Any]:
    return {"op": "add", "path": "members", "value": [{"value": member} for member in ids]}


def patch_body(operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": operations}


def member_patches(add: Sequence[str], remove: Sequence[str], size: int) -> list[dict[str, Any]]:
    """PatchOp bodies carrying at most `size` membership changes each: the removes first (a group never
    holds more members than wanted plus the old ones), then the adds."""
    bodies = [patch_body(remove_operations(chunk)) for chunk in chunked(remove, size)]
    bodies += [patch_body([add_operation(chunk)]) for chunk in chunked(add, size)]
    return bodies


def named(ids: Sequence[str], limit: int = MAX_NAMED_IDS) -> str:
    """At most `limit` ids, then how many more: "a, b, c and 4 more"."""
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def mismatch_reason(wanted: Iterable[str], got: Iterable[str]) -> str:
    """Why the members the target holds (`got`) are not the members written (`wanted`); "" when they are
    the same set."""
    missing, unexpected = member_diff(wanted, got)
    if not missing and not unexpected:
        return ""
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({named(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({named(unexpected)})")
    return "target did not keep the members written: " + ", ".join(parts)


def gone_reason(gone: Sequence[str]) -> str:
    """Why a group failed when members it lists no longer exist in the target (deleted out of band)."""
    return (
        f"{len(gone)} member(s) no longer exist in the target: {named(sorted(gone))} "
        "(deleted there; the other members were written)"
    )

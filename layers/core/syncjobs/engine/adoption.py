"""Whether an existing target entity may be taken over (adopted) by a source entity that is being created.

Adoption exists for exactly-once writes: a worker may die after the target created an entity and before
the entity state recorded it, so the retried shard creates it again, the target refuses with 409, and the
entity it holds is ours. But a 409 (or a lookup) also finds entities syncjobs never created, or created
for another source entity; taking those over overwrites them, and deletes them when their source row
goes. So an entity is adopted only when it is marked as ours (its externalId is the value syncjobs
writes: the source id unless the mapping sets externalId), or it is unmarked and the job opts in
(`target.adopt_unmarked`), and no other entity of this job owns it (entity state).

Reasons name target ids, source entity ids and attribute names only: never personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """An entity a verified lookup found in the target."""

    target_id: str
    external_id: str  # "" when the entity has none


@dataclass(frozen=True, slots=True)
class Adopt:
    target_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Conflict:
    reason: str


def decide_adoption(
    candidates: Sequence[Candidate],
    *,
    entity_id: str,
    marker: str,
    owners: Mapping[str, str],
    adopt_unmarked: bool,
    key: str,
    noun: str = "account",
) -> Adopt | Conflict:
    """Adopt the one candidate that is ours, or name the conflict.

    `entity_id`: the source entity being created; `marker`: the externalId syncjobs writes for it;
    `owners`: target id -> the entity of this job whose state holds it; `key`: the attribute the
    lookup matched on (userName, externalId)."""
    if not candidates:
        return Conflict(f"no existing {noun} matches {key}")
    if len(candidates) > 1:
        ids = ", ".join(sorted(c.target_id for c in candidates))
        return Conflict(f"{len(candidates)} existing {noun}s match {key} ({ids}): ambiguous, none adopted")
    found = candidates[0]
    owner = owners.get(found.target_id)
    if owner is not None and owner != entity_id:
        return Conflict(f"existing {noun} {found.target_id} matching {key} is owned by entity {owner} of this job")
    if found.external_id:
        if found.external_id == marker:
            return Adopt(found.target_id, f"matched existing {noun} {found.target_id} (externalId {marker})")
        return Conflict(
            f"existing {noun} {found.target_id} matching {key} is marked for another source entity "
            f"(externalId {found.external_id})"
        )
    if adopt_unmarked:
        return Adopt(
            found.target_id, f"matched existing {noun} {found.target_id} (externalId empty; target.adopt_unmarked)"
        )
    return Conflict(
        f"existing {noun} {found.target_id} matching {key} has no externalId (not created by syncjobs); "
        "not taken over unless target.adopt_unmarked is true"
    )

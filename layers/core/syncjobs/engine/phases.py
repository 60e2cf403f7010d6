"""Phases of a run: the shards of each entity type, processed one entity type after another.

Users come before groups so that a group's members can be resolved to the target ids of the users
the same run provisioned. Shard ids are numbered across phases (users 00000.., then groups), so one
set of counted shard ids tells which phases are complete.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from syncjobs.models.outcome import EntityType
from syncjobs.models.run import Phase, ShardSpec, shard_id


def number_phases(planned: Sequence[tuple[EntityType, Sequence[ShardSpec]]]) -> tuple[list[Phase], list[ShardSpec]]:
    """The phases, and every shard renumbered so that ids run on across phases in order."""
    phases: list[Phase] = []
    shards: list[ShardSpec] = []
    for entity_type, specs in planned:
        first = len(shards)
        phases.append(Phase(entity_type=entity_type, first=first, count=len(specs)))
        shards += [
            spec.model_copy(update={"shard_id": shard_id(first + i), "entity_type": entity_type})
            for i, spec in enumerate(specs)
        ]
    return phases, shards


def due_phases(phases: Sequence[Phase], shards_done: int, queued: Collection[str]) -> list[Phase]:
    """The phases to queue now: not queued yet, and every earlier phase's shards all counted.

    Shards are numbered on through the phases, and a phase's shards are sent only once every earlier
    phase is counted, so a phase is counted whole exactly when `shards_done` reaches its last shard."""
    due = []
    for phase in phases:
        if phase.entity_type.value not in queued:
            due.append(phase)
        if shards_done < phase.first + phase.count:
            break  # the phases after this one wait for it
    return due

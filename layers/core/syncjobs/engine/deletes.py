"""Which provisioned entities a run deletes: those it no longer saw, if the read was complete.

SAP: deletes only after a successful full read; a delete threshold holds every delete back (they are
recorded as failed with the reason). Entra: the same "accidental deletions" threshold, in count or
percent. An entity out of scope is not "seen", so it is deleted like one that left the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from syncjobs.models.job import DeletePolicy
from syncjobs.models.run import ReadMode, RunType

DELETING_TYPES = frozenset({RunType.READ, RunType.RESYNC, RunType.SIMULATE})


@dataclass(frozen=True)
class DeletePlan:
    pending: list[tuple[str, str]] = field(default_factory=list)  # (entity_id, target_id), sorted
    held_reason: str | None = None  # set: delete none, record each as failed with this reason
    skipped_reason: str | None = None  # set: no deletes were considered at all

    @property
    def deletes(self) -> list[tuple[str, str]]:
        return [] if self.held_reason else self.pending


def why_no_deletes(
    run_type: RunType,
    read_mode: ReadMode,
    policy: DeletePolicy,
    unreadable_rows: int,
    stopped: bool,
    dead_parts: int = 0,
) -> str | None:
    if run_type not in DELETING_TYPES:
        return f"{run_type.value} runs never delete"
    if not policy.enabled:
        return "deletes are off for this job (upsert only)"
    if read_mode is not ReadMode.FULL:
        return "a delta read never deletes"
    if stopped:
        return "the run was stopped before it read everything"
    if unreadable_rows:
        return f"{unreadable_rows} source row(s) could not be read, so the read is not complete"
    if dead_parts:
        return f"{dead_parts} shard part(s) could not be processed, so the read is not complete"
    return None


def plan_deletes(provisioned: dict[str, str], seen: set[str], policy: DeletePolicy) -> DeletePlan:
    """`provisioned`: entity id -> target id from the entity state; `seen`: ids this run read."""
    pending = sorted((entity_id, target_id) for entity_id, target_id in provisioned.items() if entity_id not in seen)
    if not pending:
        return DeletePlan()
    if policy.max_count is not None and len(pending) > policy.max_count:
        return DeletePlan(
            pending, f"delete held back: {len(pending)} pending deletes exceed the threshold of {policy.max_count}"
        )
    if policy.max_percent is not None and provisioned:
        percent = 100.0 * len(pending) / len(provisioned)
        if percent > policy.max_percent:
            return DeletePlan(
                pending,
                f"delete held back: {len(pending)} pending deletes are {percent:.1f}% of "
                f"{len(provisioned)} provisioned entities, above the threshold of "
                f"{policy.max_percent:g}%",
            )
    return DeletePlan(pending)

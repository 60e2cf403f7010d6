"""Which provisioned entities a run deletes: those it no longer saw, if the read was complete.

SAP: deletes only after a successful full read; a delete threshold holds every delete back (they are
recorded as failed with the reason). Entra: the same "accidental deletions" threshold, in count or
percent, on by default. An entity out of scope is not "seen", so it is deleted like one that left the
source; and since it was read, that is proof even when other rows could not be read: a read with
unreadable rows deletes only entities read and out of scope (an unreadable row's entity is never
deleted: nothing proves it is gone).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from syncjobs.models.job import DeleteMode, DeletePolicy
from syncjobs.models.run import ReadMode, RunType

DELETING_TYPES = frozenset({RunType.READ, RunType.RESYNC, RunType.SIMULATE})
FAILED_OF_NO_DELETES = "a retry of an earlier run's failed entities reads only those, so it never deletes"
DISABLED = "disabled: kept in the target with active false"  # a deleted entity's reason in disable mode


def disables(mode: DeleteMode, entity_type: str) -> bool:
    """Whether a delete of this entity type sets `active: false` instead (users only: a SCIM group
    has no `active`, so in disable mode groups are still deleted)."""
    return mode is DeleteMode.DISABLE and entity_type == "users"


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
    stopped: bool,
    dead_parts: int = 0,
) -> str | None:
    """Why a run deletes nothing at all (of one entity type), or None. Unreadable rows are not such a
    reason: see `partial_read`."""
    if run_type not in DELETING_TYPES:
        return f"{run_type.value} runs never delete"
    if not policy.enabled:
        return "deletes are off for this job (upsert only)"
    if read_mode is ReadMode.FAILED_OF:
        return FAILED_OF_NO_DELETES
    if read_mode is not ReadMode.FULL:
        return "a delta read never deletes"
    if stopped:
        return "the run was stopped before it read everything"
    if dead_parts:
        return f"{dead_parts} shard part(s) could not be processed, so the read is not complete"
    return None


def partial_read(unreadable_rows: int, reasons: Sequence[str] = ()) -> str | None:
    """The note for a read with unreadable rows (its only deletes are entities read and out of scope),
    naming the first reason (a SCIM source's "read incomplete: ..." says what did not add up)."""
    if not unreadable_rows:
        return None
    first = f" (first: {reasons[0]})" if reasons else ""
    return (
        f"{unreadable_rows} source row(s) could not be read, so the read is not complete{first}: "
        "only entities read and out of scope were considered for deletes"
    )


def plan_deletes(
    provisioned: dict[str, str], seen: set[str], policy: DeletePolicy, proven_gone: set[str] | None = None
) -> DeletePlan:
    """`provisioned`: entity id -> target id from the entity state; `seen`: ids this run read (in
    scope, or failed with a known id). `proven_gone`: None when the read was complete (every entity
    not seen is gone); else the only ids that may go (read and out of scope: the read was partial)."""
    pending = sorted(
        (entity_id, target_id)
        for entity_id, target_id in provisioned.items()
        if entity_id not in seen and (proven_gone is None or entity_id in proven_gone)
    )
    if not pending:
        return DeletePlan()
    if policy.max_count is not None and len(pending) > policy.max_count:
        return DeletePlan(
            pending,
            f"delete held back: {len(pending)} pending deletes exceed the threshold of {policy.max_count}"
            f"{_default(policy, 'max_count')}",
        )
    if policy.max_percent is not None and provisioned:
        percent = 100.0 * len(pending) / len(provisioned)
        if percent > policy.max_percent:
            return DeletePlan(
                pending,
                f"delete held back: {len(pending)} pending deletes are {percent:.1f}% of "
                f"{len(provisioned)} provisioned entities, above the threshold of "
                f"{policy.max_percent:g}%{_default(policy, 'max_percent')}",
            )
    return DeletePlan(pending)


def _default(policy: DeletePolicy, name: str) -> str:
    """Say when a limit is the default one (a stored job is re-read with every field set, so equal
    to the default is what can be told)."""
    return " (the default)" if getattr(policy, name) == DeletePolicy.model_fields[name].default else ""


BACK_IN_SOURCE = "kept: back in the source since its delete was held"
RECREATED = "kept: provisioned again (another target id) since its delete was held"
ALREADY_GONE = "already gone: deleted since its delete was held"


def newer_run_blocks_allow(held_run_id: str, held_created_at: str, runs: list[tuple[str, str]]) -> str | None:
    """Why an allow of a run's held deletes may not run any more, or None. `runs`: (run id, created at)
    of the job's runs. Once a newer run has started, what the held run read is no longer proof that an
    entity left the source (the newer run may be reading it right now, or may be a delta read that never
    looks at unchanged rows): the newer run's own delete plan decides, so the allow deletes nothing."""
    newer = sorted((created, run_id) for run_id, created in runs if run_id != held_run_id and created > held_created_at)
    if not newer:
        return None
    return (
        f"not applied: run {newer[-1][1]} of this job started after the held run; "
        "its own delete plan decides what leaves the target"
    )


def still_to_delete(
    held: list[tuple[str, str]], provisioned: dict[str, str], seen_since: set[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Of the deletes a threshold held back (entity id, target id, as recorded when held), the ones an
    allow may still run, and the others with why not. `provisioned`: the entity state now;
    `seen_since`: ids runs of the job that started after the held run saw."""
    todo: list[tuple[str, str]] = []
    kept: list[tuple[str, str, str]] = []
    for entity_id, target_id in held:
        now_id = provisioned.get(entity_id)
        if now_id is None:
            kept.append((entity_id, target_id, ALREADY_GONE))
        elif now_id != target_id:
            kept.append((entity_id, target_id, RECREATED))
        elif entity_id in seen_since:
            kept.append((entity_id, target_id, BACK_IN_SOURCE))
        else:
            todo.append((entity_id, target_id))
    return todo, kept


# A run's deletes are made by finalize itself up to this many; more are fanned out through the shard
# queue in batches (workflows/delete_batch.py), groups' batches before users' (a group goes before its
# members do), so that no invocation makes more target calls than fit its Timeout however many entities
# leave the source at once.
INLINE_MAX_DELETES = 20
DELETE_BATCH_SIZE = 100


@dataclass(frozen=True)
class DeleteBatch:
    """A slice of one entity type's pending deletes in the run's delete plan. `index` counts the run's
    batches from 0 in the order they are made."""

    index: int
    entity_type: str
    start: int
    end: int


def fans_out(plans: Mapping[str, DeletePlan], run_type: RunType) -> bool:
    """Whether the plan's deletes go to delete batches (else finalize makes them). Decided by the claimed
    plan alone, so that every finalizer of the run decides the same. A simulate run writes nothing."""
    if run_type is RunType.SIMULATE:
        return False
    return sum(len(plan.deletes) for plan in plans.values()) > INLINE_MAX_DELETES


def delete_batches(plans: Mapping[str, DeletePlan], order: Sequence[str], size: int | None = None) -> list[DeleteBatch]:
    """The batches of a fanned-out plan, entity type by entity type in `order`, `size` deletes each (none:
    DELETE_BATCH_SIZE)."""
    size = size or DELETE_BATCH_SIZE
    batches: list[DeleteBatch] = []
    for entity_type in order:
        plan = plans.get(entity_type)
        deletes = plan.deletes if plan is not None else []
        for start in range(0, len(deletes), size):
            batches.append(DeleteBatch(len(batches), entity_type, start, min(start + size, len(deletes))))
    return batches


def due_delete_batches(batches: Sequence[DeleteBatch], done: int, queued: Collection[str]) -> list[DeleteBatch]:
    """The batches to queue now: those of each entity type not queued yet whose earlier types' batches
    are all counted (`done`: batches counted whole). Batches are counted in order of type only, so the
    earlier types are complete exactly when `done` reaches the end of their batches."""
    due: list[DeleteBatch] = []
    for entity_type in dict.fromkeys(b.entity_type for b in batches):
        of_type = [b for b in batches if b.entity_type == entity_type]
        if entity_type not in queued:
            due += of_type
        if done <= of_type[-1].index:
            break  # later types wait for this one
    return due

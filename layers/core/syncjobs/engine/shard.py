"""Process one shard: scope -> map -> diff -> apply, every entity ending in exactly one outcome.

Pure of AWS: the caller passes the records, a state lookup and the target, and gets back the log
lines, the counts and the entity-state changes to persist. Nothing is persisted here, so a shard
that dies half-way leaves no partial accounting behind (see workflows.run_shard).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from syncjobs.connectors.base import SourceRecord, SourceRowError, Target, TargetEntityGone, TargetError
from syncjobs.engine.diff import Action, decide, entity_hash
from syncjobs.engine.mapping import CompiledMapping, MappingError
from syncjobs.engine.outcome_log import LogLine
from syncjobs.models.outcome import OUTCOMES, Outcome
from syncjobs.models.run import FailureSample, RunType
from syncjobs.models.state import EntityState

MAX_FAILURE_SAMPLES = 10
REQUIRED_ATTRIBUTES = {"users": ("userName",), "groups": ("displayName",)}


@dataclass
class ShardResult:
    entity_type: str
    lines: dict[Outcome, list[LogLine]] = field(default_factory=lambda: {o: [] for o in OUTCOMES})
    state_changes: list[EntityState] = field(default_factory=list)
    failures: list[FailureSample] = field(default_factory=list)
    first_failed_at: datetime | None = None
    seen: list[str] = field(default_factory=list)  # ids read (for deletes after a full read)
    unreadable: int = 0  # rows whose id could not be read

    def counts(self) -> dict[str, dict[str, int]]:
        return {self.entity_type: {outcome.value: len(lines) for outcome, lines in self.lines.items()}}

    def add(self, outcome: Outcome, line: LogLine) -> None:
        self.lines[outcome].append(line)
        if outcome is Outcome.FAILED:
            if self.first_failed_at is None:
                self.first_failed_at = datetime.now(UTC)
            if len(self.failures) < MAX_FAILURE_SAMPLES:
                self.failures.append(
                    FailureSample(entity_type=line.entity_type, entity_id=line.entity_id, reason=line.reason)
                )


def compile_mapping(mapping: dict[str, str], scope: str | None, entity_type: str) -> CompiledMapping:
    return CompiledMapping(mapping, scope, REQUIRED_ATTRIBUTES.get(entity_type, ()))


def process_shard(
    run_id: str,
    entity_type: str,
    run_type: RunType,
    mapping: CompiledMapping,
    records: Iterable[SourceRecord | SourceRowError],
    lookup_state: Callable[[list[str]], dict[str, EntityState]],
    target: Target | None,
) -> ShardResult:
    result = ShardResult(entity_type)
    batch = list(records)
    states = lookup_state([r.entity_id for r in batch if isinstance(r, SourceRecord)])
    writes_target = run_type in {RunType.READ, RunType.RESYNC}
    seen: dict[str, int] = {}

    for record in batch:

        def line(
            reason: str,
            target_id: str = "",
            content: dict[str, object] | None = None,
            rec: SourceRecord | SourceRowError = record,
        ) -> LogLine:
            return LogLine(entity_type, rec.entity_id, target_id, rec.row, reason, content)

        if isinstance(record, SourceRowError):
            result.add(Outcome.FAILED, line(record.reason))
            if record.id_known:
                result.seen.append(record.entity_id)
            else:
                result.unreadable += 1
            continue
        if record.entity_id in seen:
            result.add(Outcome.FAILED, line(f"duplicate id: row {seen[record.entity_id]} has the same id"))
            continue
        seen[record.entity_id] = record.row
        stored = states.get(record.entity_id)
        try:
            in_scope = mapping.in_scope(record.attributes)
        except MappingError as err:
            result.seen.append(record.entity_id)  # unknown scope: never a reason to delete
            result.add(Outcome.FAILED, line(f"scope filter failed: {err}"))
            continue
        if not in_scope:
            # not "seen": an entity that left the scope is deprovisioned like one that left the source
            result.add(Outcome.SKIPPED, line("out of scope", stored.target_id if stored else ""))
            continue
        result.seen.append(record.entity_id)
        try:
            resource = mapping.apply(record.attributes)
        except MappingError as err:
            result.add(Outcome.FAILED, line(f"mapping failed: {err}"))
            continue

        new_hash = entity_hash(resource)
        if stored is not None and stored.run_id == run_id and stored.hash == new_hash and stored.outcome:
            # This run already wrote the entity (an earlier attempt at this shard died before it was
            # counted): count what that attempt did, without writing again.
            result.add(Outcome(stored.outcome), line("", stored.target_id, resource))
            continue
        action = decide(stored.hash if stored else None, new_hash, always_write=run_type is RunType.RESYNC)
        if action is Action.SKIP:
            result.add(Outcome.SKIPPED, line("unchanged", stored.target_id if stored else "", resource))
            continue
        if run_type is RunType.VALIDATE:
            result.add(
                Outcome.SKIPPED, line(f"valid: would {action.value}", stored.target_id if stored else "", resource)
            )
            continue
        if not writes_target or target is None:  # simulate: what a resync would do
            outcome = Outcome.CREATED if action is Action.CREATE else Outcome.UPDATED
            result.add(outcome, line(f"simulated {action.value}", stored.target_id if stored else "", resource))
            continue
        try:
            if action is Action.UPDATE and stored is not None:
                try:
                    written = target.update(entity_type, stored.target_id, resource)
                    outcome = Outcome.UPDATED
                except TargetEntityGone:
                    written = target.create(entity_type, resource)
                    outcome = Outcome.CREATED
            else:
                written = target.create(entity_type, resource)
                outcome = Outcome.CREATED
        except TargetError as err:
            result.add(Outcome.FAILED, line(err.reason, stored.target_id if stored else "", resource))
            continue
        reason = "adopted existing target entity" if written.adopted else ""
        result.add(outcome, line(reason, written.target_id, resource))
        result.state_changes.append(EntityState(record.entity_id, written.target_id, new_hash, run_id, outcome.value))
    return result

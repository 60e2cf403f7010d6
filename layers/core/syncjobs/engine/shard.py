"""Process one shard: scope -> map -> diff -> apply, every entity ending in exactly one outcome.

Pure of AWS: the caller passes the records, a state lookup and the target, and gets back the log
lines, the counts and the entity-state changes to persist. Nothing is persisted here, so a shard
that dies half-way leaves no partial accounting behind (see workflows.run_shard).
"""

from __future__ import annotations

import contextvars
import functools
import gc
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncjobs.connectors.base import Claim, SourceRecord, SourceRowError, Target, TargetEntityGone, TargetError
from syncjobs.deadline import Budget, OutOfTime
from syncjobs.engine.diff import Action, decide, entity_hash
from syncjobs.engine.mapping import CompiledMapping, MappingError
from syncjobs.engine.outcome_log import LogLine
from syncjobs.models.outcome import OUTCOMES, Outcome
from syncjobs.models.run import FailureSample, RunType
from syncjobs.models.state import EntityState

MAX_FAILURE_SAMPLES = 10
WINDOW_PER_WRITER = 2  # entities decided ahead of the oldest one not yet accounted, per concurrent writer
OUT_OF_SCOPE = "out of scope"
REQUIRED_ATTRIBUTES = {"users": ("userName",), "groups": ("displayName",)}


MAX_UNREADABLE_REASONS = 3  # per shard part, for the run's note on why its read is not complete


@dataclass
class ShardResult:
    entity_type: str
    lines: dict[Outcome, list[LogLine]] = field(default_factory=lambda: {o: [] for o in OUTCOMES})
    state_changes: list[EntityState] = field(default_factory=list)
    failures: list[FailureSample] = field(default_factory=list)
    first_failed_at: datetime | None = None
    seen: list[str] = field(default_factory=list)  # ids read (for deletes after a full read)
    unreadable: int = 0  # rows whose id could not be read
    unreadable_reasons: list[str] = field(default_factory=list)  # why, for the first few of them
    out_of_scope: list[str] = field(default_factory=list)  # ids read and out of scope: proof they may go
    stopped: bool = False  # a stop request cut the shard short
    cut: bool = False  # the invocation's time ran out: the records after `last_row` are for a continuation
    resume_after_s: float = 0.0  # how long the target asked to be left alone (Retry-After) when it was cut
    last_row: int | None = None  # the last record processed (its row), where a continuation resumes
    last_id: str | None = None  # the last entity processed that had an id

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


# While a shard runs, the cyclic garbage collector runs after this many new container objects instead of
# CPython's 700. A shard makes about ten per entity (its record, mapped resource, log line, state) and keeps
# most of them until the shard ends, so at 700 the collector runs every 70 entities, and its older
# generations, full collections walking the whole heap, every few hundred: a third of the engine's time.
# Garbage in cycles still goes, only later: at most this many objects' worth of it waits (a few MB).
SHARD_GC_THRESHOLD = 50_000


class _SpacedCollections:
    """Raises the collector's first threshold to SHARD_GC_THRESHOLD while any shard of the process runs
    and puts back what it was when the last one ends (shards of the local stack run in threads of one
    process, and the threshold is the process's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved: tuple[int, int, int] | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._saved = gc.get_threshold()
                if 0 < self._saved[0] < SHARD_GC_THRESHOLD:  # 0: collection is off, leave it so
                    gc.set_threshold(SHARD_GC_THRESHOLD, *self._saved[1:])
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0 and self._saved is not None:
                    gc.set_threshold(*self._saved)
                    self._saved = None


collections_spaced = _SpacedCollections()


def compile_mapping(mapping: dict[str, str], scope: str | None, entity_type: str) -> CompiledMapping:
    return CompiledMapping(mapping, scope, REQUIRED_ATTRIBUTES.get(entity_type, ()))


@dataclass(frozen=True, slots=True)
class _Context:
    run_id: str
    entity_type: str
    run_type: RunType
    mapping: CompiledMapping
    target: Target | None
    schema_problems: Callable[[dict[str, Any]], list[str]] | None
    member_targets: dict[str, str] | None  # groups: member user's source id -> its target id
    owners: _Owners
    immediate: bool  # one writer: an entity is written when it is decided (no write handed back to a pool)


class _Owners:
    """Which entity of this job owns a target id: what this shard has written so far (not yet in the
    entity state), else the entity state, asked per target id (only an adoption asks) and remembered."""

    def __init__(self, lookup: Callable[[str], str | None] | None, concurrent: bool = True) -> None:
        self._lookup = lookup
        self._stored: dict[str, str | None] = {}
        self._lock = threading.Lock()  # concurrent writes of one shard adopt and record through it
        self._concurrent = concurrent  # False: one writer, nothing to lock against
        self.written: dict[str, str] = {}  # target id -> entity id, by this shard

    def __call__(self, target_id: str) -> str | None:
        with self._lock:
            if target_id in self.written:
                return self.written[target_id]
            if target_id not in self._stored:
                self._stored[target_id] = self._lookup(target_id) if self._lookup is not None else None
            return self._stored[target_id]

    def record(self, target_id: str, entity_id: str) -> None:
        """A write of this shard gave `entity_id` the target id (recorded when the write ends, not when
        it is counted: a concurrent write meeting that target id must know whose it is)."""
        if not self._concurrent:
            self.written[target_id] = entity_id
            return
        with self._lock:
            self.written[target_id] = entity_id


def marked(resource: dict[str, Any], entity_id: str) -> dict[str, Any]:
    """A user as syncjobs writes it: externalId is the source id unless the mapping sets it, so that
    an account found later (after a 409) can be told to be ours (see engine.adoption)."""
    if resource.get("externalId"):
        return resource
    return {**resource, "externalId": entity_id}


MAX_NAMED_MISSING_MEMBERS = 5


def with_members(
    resource: dict[str, Any], record: SourceRecord, member_targets: dict[str, str]
) -> tuple[dict[str, Any], str]:
    """A group as the target gets it: its members as the target ids of the users this job provisioned
    (sorted, so the hash changes only when the membership does), and the source id as externalId.
    Members not (yet) provisioned are left out and named in the note; when they are provisioned, the
    group's hash changes and the next run updates it."""
    listed = record.members or ()
    resolved = sorted({member_targets[m] for m in listed if m in member_targets})
    missing = [m for m in listed if m not in member_targets]
    grouped = {**resource, "members": [{"value": target_id, "type": "User"} for target_id in resolved]}
    grouped.setdefault("externalId", record.entity_id)
    if not missing:
        return grouped, ""
    shown = ", ".join(missing[:MAX_NAMED_MISSING_MEMBERS])
    if len(missing) > MAX_NAMED_MISSING_MEMBERS:
        shown += f" and {len(missing) - MAX_NAMED_MISSING_MEMBERS} more"
    return grouped, f"{len(missing)} member(s) left out, not provisioned by this job: {shown}"


def process_shard(
    run_id: str,
    entity_type: str,
    run_type: RunType,
    mapping: CompiledMapping,
    records: Iterable[SourceRecord | SourceRowError],
    lookup_state: Callable[[list[str]], dict[str, EntityState]],
    target: Target | None,
    should_stop: Callable[[], bool] | None = None,
    stop_check_seconds: float = 1.0,
    schema_problems: Callable[[dict[str, Any]], list[str]] | None = None,
    lookup_members: Callable[[list[str]], dict[str, str]] | None = None,
    budget: Budget | None = None,
    lookup_owners: Callable[[str], str | None] | None = None,
    concurrency: int = 1,
) -> ShardResult:
    """`should_stop` is asked at most every `stop_check_seconds`; once it says yes, the records not
    yet processed are left alone (not counted, not logged): the shard ends with what it did.
    `lookup_members` (groups) maps member users' source ids to their target ids, all at once.
    `budget`: when the invocation's time runs out (before an entity, or inside one: its calls raise
    OutOfTime), the shard is `cut` after the last entity it finished; that entity's outcome and
    everything before it are in the result, nothing after it.
    `lookup_owners`: the entity of this job whose entity state holds a target id (None: no entity), asked
    only when the target finds an existing entity to adopt.
    `concurrency`: target writes of up to this many entities at once (the target must be thread-safe).
    Entities are still decided and accounted in row order; a cut keeps the contiguous prefix of finished
    entities: a write that finished after the first unfinished one is not counted (the continuation
    writes it again, adopting what it had created)."""
    result = ShardResult(entity_type)
    budget = budget or Budget.unlimited()
    next_check = time.monotonic() + stop_check_seconds
    try:
        batch = list(records)
    except OutOfTime as err:  # a source that could not even be read in time: all of it is for the rest
        result.cut, result.resume_after_s = True, err.resume_after_s
        return result
    states = lookup_state([r.entity_id for r in batch if isinstance(r, SourceRecord)])
    member_targets = None
    if lookup_members is not None:
        member_targets = lookup_members([m for r in batch if isinstance(r, SourceRecord) for m in r.members or ()])
    writes = run_type in {RunType.READ, RunType.RESYNC}
    target_or_none = target if writes else None
    writers = max(1, concurrency) if target_or_none is not None else 1
    owners = _Owners(lookup_owners, concurrent=writers > 1)
    context = _Context(
        run_id, entity_type, run_type, mapping, target_or_none, schema_problems, member_targets, owners, writers == 1
    )
    first_row: dict[str, int] = {}
    pending: deque[_Entry] = deque()  # entries not yet accounted, in row order (none is a bare decision)
    pool = ThreadPoolExecutor(writers, thread_name_prefix="shard-write") if writers > 1 else None
    left = budget.left
    try:
        with collections_spaced():
            for record in batch:
                if should_stop is not None and time.monotonic() >= next_check:
                    next_check = time.monotonic() + stop_check_seconds
                    if should_stop():
                        result.stopped = True
                        break
                if left() <= 0:
                    result.cut = True
                    break
                entry = _decide(context, record, states, first_row, pool)
                if isinstance(entry, tuple):  # decided (and written) here
                    if not pending:  # and nothing before it under way: accounted at once
                        _account_decided(result, record, entry)
                        continue
                    entry = _Entry(record, decided=entry)  # in row order, after the writes before it
                elif pool is None:  # one writer: nothing is under way, an entry is accounted at once
                    if not _account(result, entry):
                        return result
                    continue
                pending.append(entry)
                # account in row order what is finished; keep at most a window of entities ahead
                while pending and (pending[0].done() or len(pending) > WINDOW_PER_WRITER * writers):
                    if not _account(result, pending.popleft()):
                        return result
            while pending:  # what is under way when the records end (or a stop, or the budget) is awaited
                if not _account(result, pending.popleft()):
                    return result
    finally:
        for entry in pending:  # after a cut: not started is not done; what runs ends, uncounted
            if entry.future is not None:
                entry.future.cancel()
        if pool is not None:
            pool.shutdown(wait=True)
    return result


_ALWAYS_WRITE = frozenset({RunType.RESYNC, RunType.SIMULATE})
_VALUES = {outcome: outcome.value for outcome in Outcome}  # an enum's .value is a slow property
# The members the per-entity path compares with, read once: in Python 3.11 reading a member off its enum
# class goes through the hook of EnumType.__getattr__ (and is not specialized), every time.
_CREATED, _UPDATED, _SKIPPED, _FAILED = Outcome.CREATED, Outcome.UPDATED, Outcome.SKIPPED, Outcome.FAILED
_SKIP, _UPDATE, _VALIDATE = Action.SKIP, Action.UPDATE, RunType.VALIDATE
_CREATE_ACTION = Action.CREATE
# A named tuple (LogLine, EntityState) built with all its fields, without the Python-level __new__ a
# named tuple's class call runs (per entity, that call was most of the tuple's cost).
_new_tuple = tuple.__new__


class _Entry:
    """A record on its way to its outcome, unless it is a decision accounted at once (the bare _Decided
    tuple): a row error, a duplicate (the row of the first), one that ran out of time (`late`), one whose
    target write in the pool ends later (`future`), or a decision waiting for the writes before it
    (`decided`). Nothing per entity is a Future: a Future (its lock and condition) cost as much as the
    mapping, and with one writer every decision is known at once."""

    __slots__ = ("decided", "duplicate_of", "future", "late", "record")

    def __init__(
        self,
        record: SourceRecord | SourceRowError,
        duplicate_of: int | None = None,
        future: Future[_Decided] | None = None,
        late: OutOfTime | None = None,
        decided: _Decided | None = None,
    ) -> None:
        self.record = record
        self.duplicate_of = duplicate_of
        self.future = future
        self.late = late
        self.decided = decided

    def done(self) -> bool:
        return self.future is None or self.future.done()


def _decide(
    ctx: _Context,
    record: SourceRecord | SourceRowError,
    states: dict[str, EntityState],
    first_row: dict[str, int],
    pool: ThreadPoolExecutor | None,
) -> _Decided | _Entry:
    """Scope, map and diff one record here, in row order; its target write, if any, goes to the pool
    (none: it is written here, before the next record). The decision, when known here; else an entry."""
    if isinstance(record, SourceRowError):
        return _Entry(record)
    entity_id = record.entity_id
    if entity_id in first_row:
        return _Entry(record, first_row[entity_id])
    first_row[entity_id] = record.row
    try:
        decided = _process(ctx, record, states.get(entity_id))
        if callable(decided):
            if pool is not None:
                # in the invocation's context (a writer thread starts with none): what it logs and calls
                # is the invocation's (the local stand-in's IAM check knows the caller by it)
                return _Entry(record, future=pool.submit(contextvars.copy_context().run, decided))
            decided = decided()
    except OutOfTime as err:
        return _Entry(record, late=err)
    return decided


def _account(result: ShardResult, entry: _Entry) -> bool:
    """Add one finished entry's outcome to the result (in row order). False: it did not finish in
    time, the result is cut before it (nothing of it, nor of anything after it, is counted)."""
    record = entry.record
    try:
        if entry.late is not None:
            raise entry.late
        if entry.future is not None:
            _account_decided(result, record, entry.future.result())
            return True
        if entry.decided is not None:
            _account_decided(result, record, entry.decided)
            return True
    except OutOfTime as err:  # nothing of this entity is counted: the continuation does it again
        result.cut, result.resume_after_s = True, err.resume_after_s
        return False
    entity_type = result.entity_type
    result.last_row = record.row
    if isinstance(record, SourceRowError):
        result.add(Outcome.FAILED, LogLine(entity_type, record.entity_id, "", record.row, record.reason))
        if record.id_known:
            result.seen.append(record.entity_id)
        else:
            result.unreadable += 1
            if len(result.unreadable_reasons) < MAX_UNREADABLE_REASONS:
                result.unreadable_reasons.append(record.reason)
        return True
    if entry.duplicate_of is not None:
        reason = f"duplicate id: row {entry.duplicate_of} has the same id"
        result.add(Outcome.FAILED, LogLine(entity_type, record.entity_id, "", record.row, reason))
        return True
    raise AssertionError("an entry is a write, a row error or a duplicate")


def _account_decided(result: ShardResult, record: SourceRecord | SourceRowError, decided: _Decided) -> None:
    """Add an entity's decision (mapped and diffed, and written if it had to be) to the result."""
    entity_id = record.entity_id
    row = record.row
    result.last_row = row
    result.last_id = entity_id
    outcome, reason, target_id, resource, seen, change = decided
    line = _new_tuple(LogLine, (result.entity_type, entity_id, target_id, row, reason, resource))
    if outcome is _FAILED:
        result.add(outcome, line)
    else:  # what add does for any other outcome
        result.lines[outcome].append(line)
    if seen:
        result.seen.append(entity_id)
    elif outcome is _SKIPPED and reason == OUT_OF_SCOPE:
        result.out_of_scope.append(entity_id)
    if change is not None:
        result.state_changes.append(change)


_Decided = tuple[Outcome, str, str, dict[str, Any] | None, bool, EntityState | None]
_Write = Callable[[], _Decided]  # a decision that needs the target: its write, which returns the outcome


def _process(ctx: _Context, record: SourceRecord, stored: EntityState | None) -> _Decided | _Write:
    """One entity: (outcome, reason, target id, mapped content, seen, entity-state change), or the
    write that will tell it."""
    known_id = stored.target_id if stored else ""
    if ctx.mapping.has_scope:
        try:
            in_scope = ctx.mapping.in_scope(record.attributes)
        except MappingError as err:  # unknown scope: "seen", never a reason to delete
            return Outcome.FAILED, f"scope filter failed: {err}", known_id, None, True, None
        if not in_scope:  # not "seen": one that left the scope is deprovisioned like one that left the source
            return Outcome.SKIPPED, OUT_OF_SCOPE, known_id, None, False, None
    try:
        resource, json_plain = ctx.mapping.apply_json(record.attributes)
    except MappingError as err:
        return Outcome.FAILED, f"mapping failed: {err}", known_id, None, True, None
    if ctx.entity_type == "users" and not resource.get("externalId"):  # else marked() keeps it as it is
        resource = marked(resource, record.entity_id)  # a str added: still plain JSON
    if ctx.member_targets is None:
        return _apply(ctx, record, stored, resource, json_plain)
    resource, note = with_members(resource, record, ctx.member_targets)  # lists of dicts of str added
    applied = _apply(ctx, record, stored, resource, json_plain)
    if not note:
        return applied
    if callable(applied):
        write = applied
        return lambda: _noted(write(), note)
    return _noted(applied, note)


def _noted(decided: _Decided, note: str) -> _Decided:
    outcome, reason, target_id, content, seen, change = decided
    return outcome, "; ".join(x for x in (reason, note) if x), target_id, content, seen, change


def _apply(
    ctx: _Context, record: SourceRecord, stored: EntityState | None, resource: dict[str, Any], json_plain: bool
) -> _Decided | _Write:
    """Diff a mapped entity with its state: the outcome, or the write the run type asks for. `json_plain`:
    the mapping knows the resource holds nothing but what orjson writes as json.dumps does (diff.entity_hash)."""
    known_id = stored.target_id if stored else ""
    new_hash = entity_hash(resource, json_plain)
    if stored is not None and stored.run_id == ctx.run_id and stored.hash == new_hash and stored.outcome:
        # This run already wrote the entity (an earlier attempt at this shard died before it was
        # counted): count what that attempt did, without writing again.
        return Outcome(stored.outcome), "", known_id, resource, True, None
    # simulate shows what a resync would do, so it writes (in its logs) everything a resync writes
    if stored is None:  # what decide says of an entity without state, without the call
        action = _CREATE_ACTION
    else:
        action = decide(stored.hash, new_hash, always_write=ctx.run_type in _ALWAYS_WRITE)
    if action is _SKIP and ctx.run_type is not _VALIDATE:
        return _SKIPPED, "unchanged", known_id, resource, True, None
    if ctx.run_type is _VALIDATE:
        problems = ctx.schema_problems(resource) if ctx.schema_problems else []
        if problems:
            return Outcome.FAILED, "schema: " + "; ".join(problems), known_id, resource, True, None
        return Outcome.SKIPPED, f"valid: would {action.value}", known_id, resource, True, None
    if ctx.target is None:  # simulate: what a resync would do
        outcome = Outcome.CREATED if action is Action.CREATE else Outcome.UPDATED
        return outcome, f"simulated {action.value}", known_id, resource, True, None
    if ctx.immediate:  # one writer: written now, no partial to call back
        return _write(ctx, record, stored, resource, action, new_hash)
    return functools.partial(_write, ctx, record, stored, resource, action, new_hash)  # no closure cells


def _write(
    ctx: _Context,
    record: SourceRecord,
    stored: EntityState | None,
    resource: dict[str, Any],
    action: Action,
    new_hash: str,
) -> _Decided:
    """Write one entity to the target (in a writer thread when the shard writes concurrently)."""
    assert ctx.target is not None
    known_id = stored.target_id if stored else ""
    claim = Claim(record.entity_id, ctx.owners)
    try:
        if action is _UPDATE and stored is not None:
            try:
                written = ctx.target.update(ctx.entity_type, stored.target_id, resource)
                outcome = _UPDATED
            except TargetEntityGone:
                written = ctx.target.create(ctx.entity_type, resource, claim)
                outcome = _CREATED
        else:
            written = ctx.target.create(ctx.entity_type, resource, claim)
            outcome = _CREATED
    except TargetError as err:
        return Outcome.FAILED, err.reason, known_id, resource, True, None
    reason = (written.reason or "matched existing target entity") if written.adopted else ""
    target_id = written.target_id
    entity_id = record.entity_id
    change = _new_tuple(EntityState, (entity_id, target_id, new_hash, ctx.run_id, _VALUES[outcome]))
    if ctx.immediate:  # one writer: no lock to take
        ctx.owners.written[target_id] = entity_id
    else:
        ctx.owners.record(target_id, entity_id)
    return outcome, reason, target_id, resource, True, change

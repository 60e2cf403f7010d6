"""finalize: deletes, merged logs, final status, lock release. Runs when the last shard is counted.

Safe to run twice: the delete plan is written to S3 before any delete and reused by a retry (a
target entity already deleted answers 404, which counts as deleted), the merged logs are rewritten
identically, and the final-status write is conditional on the run still being active.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from syncjobs.connectors.base import TargetError
from syncjobs.connectors.registry import target_for
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.deadline import Budget, OutOfTime
from syncjobs.engine import failed_of
from syncjobs.engine.deletes import (
    DISABLED,
    DeletePlan,
    delete_batches,
    disables,
    due_delete_batches,
    fans_out,
    partial_read,
    plan_deletes,
    why_no_deletes,
)
from syncjobs.engine.delta import newer
from syncjobs.engine.finalize import dead_reason, final_status, first_failures
from syncjobs.engine.outcome_log import LogLine, encode
from syncjobs.engine.quarantine import AfterRun, after_run, failed_outright, outright_reason
from syncjobs.engine.run_metrics import run_metrics
from syncjobs.models.outcome import OUTCOMES, EntityType, Outcome
from syncjobs.models.run import (
    DeleteBatchMessage,
    FailureSample,
    ReadMode,
    RunStatus,
    RunType,
    shard_id,
    shard_order,
    total_by_outcome,
)
from syncjobs.observability import emit, logger
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.jobs import JobRecord, JobStore
from syncjobs.store.log_merges import LogMerges
from syncjobs.store.objects import LogObjects, part_key, run_key_prefix
from syncjobs.store.queue import ShardQueue
from syncjobs.store.runs import Closing, RunRecord, RunStore
from syncjobs.workflows.log_merge import LOGS, SWEPT, Manifests, merge_logs

MANIFEST = "manifest.json"
SEEN = "seen.txt"
OUT_OF_SCOPE = "out-of-scope.txt"  # ids read and out of scope: deletable even after a partial read
DELETES_QUEUED = "deletes:"  # queued_phases: the delete batches of an entity type are queued
_NO_MANIFEST = b'{"outcomes": [], "failures": []}'  # a counted part whose manifest is gone (expired logs)


@dataclass
class _Extra:
    """Outcomes finalize itself produces (deletes), added to the shards' logs and counts."""

    lines: dict[Outcome, list[LogLine]] = field(default_factory=lambda: {o: [] for o in OUTCOMES})
    held: int = 0
    notes: list[str] = field(default_factory=list)
    fanned_out: tuple[str, dict[str, DeletePlan]] | None = None  # (plan key, plans): delete batches make them

    def counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for outcome, lines in self.lines.items():
            for line in lines:
                per_type = counts.setdefault(line.entity_type, {})
                per_type[outcome.value] = per_type.get(outcome.value, 0) + 1
        return counts

    def failures(self) -> list[FailureSample]:
        return [
            FailureSample(entity_type=x.entity_type, entity_id=x.entity_id, reason=x.reason)
            for x in self.lines[Outcome.FAILED]
        ]

    def note(self, entity_type: str, text: str, only_type: bool) -> None:
        self.notes.append(text if only_type else f"{entity_type}: {text}")


def finalize_run(run_id: str, budget: Budget | None = None) -> RunStatus | None:
    """End the run. OutOfTime when `budget` ran out while merging the logs: the merge's progress is
    saved (store/log_merges.py) and calling this again goes on from there, the deletes not made again."""
    runs, logs = RunStore(), LogObjects()
    record = runs.get(run_id)
    run = record.run
    if run.status.is_final:
        return None

    if record.delete_plan is not None and not _batches_made(record, record.delete_plan):
        return None  # fanned-out deletes under way: the last batch counted finalizes the run
    manifests = _manifests(record, logs)
    extra = _begun_merge(record, manifests, logs)
    if extra is None:
        return None  # the deletes went to delete batches: the last one counted finalizes the run
    log_keys = merge_logs(record, manifests, _tails(record, extra), logs, budget or Budget.unlimited())
    failures = _failures(manifests, extra)
    dead = [str(m["dead"]) for _, _, m in manifests if m.get("dead")]
    status = final_status(run, added_failed=len(extra.lines[Outcome.FAILED]), dead_parts=len(dead))
    job_record = JobStore().get(run.job_id)
    watermarks = dict(job_record.watermarks)  # a type this run saw no modified time for keeps its own
    for _, _, manifest in manifests:
        if newest := newer(watermarks.get(_type_of(manifest)), manifest.get("watermark")):
            watermarks[_type_of(manifest)] = newest
    closing = Closing(
        status=status,
        log_keys=log_keys,
        failures=failures,
        ended_at=datetime.now(UTC),
        streak_before=job_record.failure_streak,
        reason=dead_reason(dead),
        added_counts=extra.counts(),
        watermarks=watermarks,
        deletes_held=extra.held,
        deletes_note="; ".join(extra.notes) or None,
    )
    return _finish(record, closing, job_record)


def _manifests(record: RunRecord, logs: LogObjects) -> Manifests:
    """The manifest of each counted part, in reading order."""
    parts = RunStore().counted_parts(record)
    counted = [(part, parts[part]) for part in sorted(parts, key=_in_order)]
    bodies = logs.get_many(
        [part_key(record.run.run_id, part, attempt, MANIFEST) for part, attempt in counted], missing=_NO_MANIFEST
    )
    return [(part, attempt, json.loads(body)) for (part, attempt), body in zip(counted, bodies, strict=True)]


def _begun_merge(record: RunRecord, manifests: Manifests, logs: LogObjects) -> _Extra | None:
    """Finalize's own lines (deletes made or held), made once: the first finalize of the run makes the
    deletes, saves the lines and begins the log merge with them; a later call (the merge handed on,
    or a retry) reads them back instead, so that every part of every log agrees on them. None while the
    plan's deletes are being made by delete batches (they are queued when due)."""
    run = record.run
    merges = LogMerges()
    begun = merges.get(run.run_id, LOGS)
    if begun is not None:
        return _load_extra(logs, begun.extras)
    extra = _deletes(record, manifests, logs)
    if extra.fanned_out is not None and not _batches_made(record, *extra.fanned_out):
        return None
    if extra.held and run.run_type is not RunType.SIMULATE:
        from syncjobs.workflows.held_deletes import hold_for_allow  # it builds on this module

        request = hold_for_allow(run, extra.held, datetime.now(UTC))
        extra.notes.append(f"allow them with the link in the mail or: syncjobs approvals approve {request}")
    key = f"{run_key_prefix(run.run_id)}finalize-{uuid.uuid4().hex[:12]}.json"
    logs.put(key, _dump_extra(extra))
    winner = merges.begin(run.run_id, LOGS, key)
    return extra if winner.extras == key else _load_extra(logs, winner.extras)


def _dump_extra(extra: _Extra) -> bytes:
    lines = {
        outcome.value: [[x.entity_type, x.entity_id, x.target_id, x.row, x.reason, x.content] for x in lines]
        for outcome, lines in extra.lines.items()
    }
    return json.dumps({"lines": lines, "held": extra.held, "notes": extra.notes}, default=str).encode()


def _load_extra(logs: LogObjects, key: str) -> _Extra:
    saved = json.loads(logs.get(key))
    lines = {o: [LogLine(*x) for x in saved["lines"].get(o.value, [])] for o in OUTCOMES}
    return _Extra(lines=lines, held=int(saved["held"]), notes=list(saved["notes"]))


def _tails(record: RunRecord, extra: _Extra) -> dict[Outcome, bytes]:
    """What each merged log ends with: finalize's own lines of that outcome."""
    job = record.job
    return {o: encode(extra.lines[o], getattr(job.trace, o.value), job.log_format) for o in OUTCOMES}


def _failures(manifests: Manifests, extra: _Extra) -> list[FailureSample]:
    samples = [[FailureSample.model_validate(f) for f in m["failures"]] for _, _, m in manifests]
    return first_failures([*samples, extra.failures()])


def end_stalled(record: RunRecord, status: RunStatus, reason: str, now: datetime) -> bool:
    """End a run the sweep found stalled (engine/stall.py): merge the logs of what was counted, make no
    deletes (the read is not complete), set `status` with the reason and release the lock. Only if
    the run has not moved since `record` was read; False if it has (or has ended meanwhile)."""
    logs = LogObjects()
    manifests = _manifests(record, logs)
    extra = _Extra()
    extra.notes.append("no deletes: the run did not read everything")
    job_record = JobStore().get(record.run.job_id)
    # a merge of its own per look at the run: a run that moved since an earlier sweep has more parts
    name = f"{SWEPT}@{record.progress_at or ''}"
    LogMerges().begin(record.run.run_id, name, "")
    closing = Closing(
        status=status,
        log_keys=merge_logs(record, manifests, _tails(record, extra), logs, Budget.unlimited(), name),
        failures=_failures(manifests, extra),
        ended_at=now,
        streak_before=job_record.failure_streak,
        reason=reason,
        deletes_note="; ".join(extra.notes) or None,
        unmoved_since=record.progress_at or "",
    )
    return _finish(record, closing, job_record) is not None


def _deletes(record: RunRecord, manifests: Manifests, logs: LogObjects) -> _Extra:
    """Deletes per entity type, groups before users (a group is gone before its members are)."""
    run, job = record.run, record.job
    extra = _Extra()
    if run.read_mode is ReadMode.FAILED_OF and run.status is not RunStatus.STOPPING:
        _not_in_source(record, manifests, logs, extra)
    only_type = len(job.phases) == 1
    why_not: dict[str, str] = {}
    partial: set[str] = set()  # types with unreadable rows: only entities read and out of scope may go
    types = [t.value for t in job.phases]
    for type_name in types:
        of_type = [m for _, _, m in manifests if _type_of(m) == type_name and not m.get("deletes")]
        dead = sum(1 for m in of_type if m.get("dead"))
        # a stop after the plan was claimed leaves it standing: the read it was made from was complete
        stopped = run.status is RunStatus.STOPPING and record.delete_plan is None
        reason = why_no_deletes(run.run_type, run.read_mode, job.deletes, stopped, dead)
        if reason is not None:
            why_not[type_name] = reason
        elif note := partial_read(
            sum(m.get("unreadable", 0) for m in of_type), [r for m in of_type for r in m.get("unreadable_reasons", [])]
        ):
            partial.add(type_name)
            extra.note(type_name, note, only_type)
    if len(why_not) == len(job.phases) and len(set(why_not.values())) == 1:
        extra.notes.append(next(iter(why_not.values())))  # one reason for every type: say it once
        return extra
    for type_name, reason in why_not.items():
        extra.note(type_name, reason, only_type)

    plan_key, plans = _delete_plans(record, [t for t in types if t not in why_not], partial, manifests, logs)
    if fans_out(plans, run.run_type):
        extra.fanned_out = (plan_key, plans)
    target = None
    try:
        for entity_type in _delete_order(record):
            plan = plans.get(entity_type)
            if plan is None:
                continue
            if plan.held_reason:
                extra.held += len(plan.pending)
                extra.note(entity_type, plan.held_reason, only_type)
                extra.lines[Outcome.FAILED] += [
                    LogLine(entity_type, e, t, None, plan.held_reason) for e, t in plan.pending
                ]
                continue
            if not plan.deletes or extra.fanned_out is not None:
                continue  # nothing to delete, or the delete batches made the deletes
            disabling = disables(job.deletes.mode, entity_type)
            if run.run_type is RunType.SIMULATE:
                simulated = f"simulated {DISABLED if disabling else 'delete'}"
                extra.lines[Outcome.DELETED] += [LogLine(entity_type, e, t, None, simulated) for e, t in plan.deletes]
                continue
            target = target or target_for(job)
            for line in apply_deletes(job.job_id, entity_type, plan.deletes, target, disabling).lines:
                extra.lines[delete_outcome(line)].append(line)
    finally:
        if target is not None:
            target.close()
    return extra


def _not_in_source(record: RunRecord, manifests: Manifests, logs: LogObjects, extra: _Extra) -> None:
    """A retry of failed entities (engine/failed_of.py): a line for each id its read did not meet."""
    if any(m.get("dead") for _, _, m in manifests):
        return  # the read is not complete: an id not met may be in a part that could not be processed
    wanted = failed_of.load(logs.get(failed_of.ids_key(record.run.run_id)))
    read = {
        t: seen_ids(record, logs, t, SEEN, manifests) | seen_ids(record, logs, t, OUT_OF_SCOPE, manifests)
        for t in wanted
    }
    for entity_type, entity_id in failed_of.not_in_source(wanted, read):
        extra.lines[Outcome.SKIPPED].append(LogLine(entity_type, entity_id, "", None, failed_of.NOT_IN_SOURCE))


@dataclass
class DeletesMade:
    """What `apply_deletes` made: a line per entity it got to, in order, and when it stopped early because
    the target asked to be left alone longer than the time left, for how long (its Retry-After)."""

    lines: list[LogLine] = field(default_factory=list)
    resume_after_s: float = 0.0


def apply_deletes(
    job_id: str,
    entity_type: str,
    deletes: list[tuple[str, str]],
    target: ScimTargetConnector,
    disabling: bool,
    budget: Budget | None = None,
) -> DeletesMade:
    """Delete (or disable) each entity in the target and forget it in the entity state: a disabled
    user stays in the target, no longer managed by this job. A line per entity: reason "" (deleted),
    DISABLED, or why it failed. `budget`: stop before the invocation's time runs out; the lines are then
    those of the first deletes only (the caller hands the rest on)."""
    made = DeletesMade()
    done: list[str] = []
    budget = budget or Budget.unlimited()
    for entity_id, target_id in deletes:
        if budget.left() <= 0:
            break
        try:
            if disabling:
                target.disable(entity_type, target_id)
            else:
                target.delete(entity_type, target_id)
        except OutOfTime as err:  # not made: the rest, this one included, is for a continuation
            made.resume_after_s = err.resume_after_s
            break
        except TargetError as err:
            verb = "disable" if disabling else "delete"
            made.lines.append(LogLine(entity_type, entity_id, target_id, None, f"{verb} failed: {err.reason}"))
            continue
        made.lines.append(LogLine(entity_type, entity_id, target_id, None, DISABLED if disabling else ""))
        done.append(entity_id)
    EntityStateStore().delete_many(job_id, entity_type, done)
    return made


def delete_outcome(line: LogLine) -> Outcome:
    """A line of `apply_deletes` as an outcome: deleted (or disabled), else failed."""
    return Outcome.DELETED if line.reason in ("", DISABLED) else Outcome.FAILED


def _in_order(part: str) -> tuple[int, int]:
    """Parts in the order they were read: shards by number (99999 before 100000), each shard then its
    continuations 1, 2, ... 10 (not 1, 10, 2)."""
    shard, _, number = part.partition(".")
    return shard_order(shard), int(number or 0)


def _type_of(manifest: dict[str, Any]) -> str:
    return str(manifest.get("entity_type", EntityType.USERS.value))


def seen_ids(
    record: RunRecord, logs: LogObjects, entity_type: str, name: str = SEEN, manifests: Manifests | None = None
) -> set[str]:
    """The ids the counted parts of one entity type listed in `name` (SEEN or OUT_OF_SCOPE)."""
    flag = "seen" if name == SEEN else "out_of_scope"
    ids: set[str] = set()
    lists = logs.get_many(
        [
            part_key(record.run.run_id, shard_id, attempt, name)
            for shard_id, attempt, manifest in (_manifests(record, logs) if manifests is None else manifests)
            if manifest.get(flag) and _type_of(manifest) == entity_type
        ]
    )
    for listed in lists:
        ids.update(x for x in listed.decode().split("\n") if x)
    return ids


def _delete_plans(
    record: RunRecord, entity_types: list[str], partial: set[str], manifests: Manifests, logs: LogObjects
) -> tuple[str, dict[str, DeletePlan]]:
    """The plans, computed once: a retried or concurrent finalize must delete exactly the same entities,
    and one computing its plan after another finalizer's deletes would find nothing left to delete.
    Each computation is written under its own key; the first one claimed on the run item is the plan
    (and the record of what a threshold held back, which an admin's allow later deletes)."""
    run_id, job = record.run.run_id, record.job
    key = record.delete_plan
    if key is None:
        plans: dict[str, DeletePlan] = {}
        for entity_type in entity_types:
            seen = seen_ids(record, logs, entity_type, SEEN, manifests)
            gone = seen_ids(record, logs, entity_type, OUT_OF_SCOPE, manifests) if entity_type in partial else None
            provisioned = EntityStateStore().provisioned(job.job_id, entity_type)
            plans[entity_type] = plan_deletes(provisioned, seen, job.deletes, gone)
        key = f"{run_key_prefix(run_id)}deletes-{uuid.uuid4().hex[:12]}.json"
        body = {t: {"pending": p.pending, "held_reason": p.held_reason} for t, p in plans.items()}
        logs.put(key, json.dumps(body).encode())
        winner = RunStore().claim_delete_plan(run_id, key)
        if winner == key:
            return key, plans
        key = winner
    return key, load_delete_plans(logs, key)


def _batches_made(record: RunRecord, plan_key: str, plans: dict[str, DeletePlan] | None = None) -> bool:
    """Whether a claimed plan's deletes are all made: none to fan out, or every delete batch counted.
    Until then, queue the batches now due (groups' first, users' once those are counted); sending a
    batch twice (two finalizers at once) is harmless, the part is counted once."""
    run = record.run
    plans = plans if plans is not None else load_delete_plans(LogObjects(), plan_key)
    if not fans_out(plans, run.run_type):
        return True
    batches = delete_batches(plans, _delete_order(record))
    queued = {name.removeprefix(DELETES_QUEUED) for name in record.queued_phases if name.startswith(DELETES_QUEUED)}
    due = due_delete_batches(batches, run.deletes_done, queued)
    first = run.shards_total or 0  # batches are numbered on after the shards
    for entity_type in dict.fromkeys(b.entity_type for b in due):
        of_type = [b for b in due if b.entity_type == entity_type]
        ShardQueue().send(
            [
                DeleteBatchMessage(
                    run_id=run.run_id,
                    job_id=run.job_id,
                    entity_type=EntityType(entity_type),
                    plan_key=plan_key,
                    shard_id=shard_id(first + b.index),
                    start=b.start,
                    end=b.end,
                ).model_dump_json()
                for b in of_type
            ]
        )
        RunStore().mark_phase_queued(run.run_id, DELETES_QUEUED + entity_type)
        logger.info(
            "delete batches queued", extra={"run_id": run.run_id, "entity_type": entity_type, "batches": len(of_type)}
        )
    return run.deletes_done >= len(batches)


def _delete_order(record: RunRecord) -> list[str]:
    """Entity types in the order their deletes are made: groups before users (a group is gone before its members)."""
    return [t.value for t in reversed(record.job.phases)]


def load_delete_plans(logs: LogObjects, key: str) -> dict[str, DeletePlan]:
    saved = json.loads(logs.get(key))
    return {t: DeletePlan([(e, i) for e, i in p["pending"]], p["held_reason"]) for t, p in saved.items()}


def fail_run(record: RunRecord, reason: str) -> None:
    """A run that failed outright (bad source, bad credentials, ...), with the reason."""
    job_record = JobStore().get(record.run.job_id)
    closing = Closing(RunStatus.FAILED, {}, [], datetime.now(UTC), job_record.failure_streak, reason)
    _finish(record, closing, job_record)


def _with_quarantine(record: RunRecord, closing: Closing, job_record: JobRecord) -> Closing:
    """The closing with the job's quarantine bookkeeping after this run (syncjobs.engine.quarantine)."""
    settings, run = record.job.quarantine, record.run
    if not settings.enabled:
        return replace(closing, quarantine=AfterRun(0, None, False))
    added = total_by_outcome(closing.added_counts)  # the deletes finalize made or held
    totals = {outcome: n + added[outcome] for outcome, n in run.totals().items()}
    first = closing.failures[0].reason if closing.failures else None
    after = after_run(
        job_record.quarantine,
        job_record.outright_streak,
        closing.status,
        failed_outright(closing.status, totals),
        outright_reason(closing.status, closing.reason, first),
        settings.after_failures,
        run.created_at,
    )
    return replace(closing, quarantine=after, quarantined_before=job_record.quarantine is not None)


def _finish(record: RunRecord, closing: Closing, job_record: JobRecord) -> RunStatus | None:
    closing = _with_quarantine(record, closing, job_record)
    done = RunStore().finish(record, closing)
    run = record.run
    if done:
        added = total_by_outcome(closing.added_counts)
        totals = {outcome: n + added[outcome] for outcome, n in run.totals().items()}
        emit(run_metrics(closing.status, totals, run.started_at or run.created_at, closing.ended_at))
    logger.info(
        "run finished" if done else "run already finished",
        extra={
            "run_id": run.run_id,
            "job_id": run.job_id,
            "status": closing.status,
            "logs": sorted(closing.log_keys),
            "deletes_note": closing.deletes_note,
            "quarantine_notice": bool(closing.quarantine and closing.quarantine.notice),
        },
    )
    return closing.status if done else None

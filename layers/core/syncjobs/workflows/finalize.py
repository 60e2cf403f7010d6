"""finalize: deletes, merged logs, final status, lock release. Runs when the last shard is counted.

Safe to run twice: the delete plan is written to S3 before any delete and reused by a retry (a
target entity already deleted answers 404, which counts as deleted), the merged logs are rewritten
identically, and the final-status write is conditional on the run still being active.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from syncjobs.connectors.base import TargetError
from syncjobs.connectors.registry import target_for
from syncjobs.engine.deletes import DeletePlan, plan_deletes, why_no_deletes
from syncjobs.engine.delta import newer
from syncjobs.engine.finalize import final_status, first_failures
from syncjobs.engine.outcome_log import LogLine, encode, header
from syncjobs.models.outcome import OUTCOMES, EntityType, Outcome
from syncjobs.models.run import FailureSample, RunStatus, RunType
from syncjobs.observability import logger
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs.store.objects import LogObjects, log_download_name, log_key, part_key, run_key_prefix
from syncjobs.store.runs import Closing, RunRecord, RunStore

MANIFEST = "manifest.json"
SEEN = "seen.txt"


@dataclass
class _Extra:
    """Outcomes finalize itself produces (deletes), added to the shards' logs and counts."""

    lines: dict[Outcome, list[LogLine]] = field(default_factory=lambda: {o: [] for o in OUTCOMES})
    held: int = 0
    note: str | None = None

    def counts(self, entity_type: str) -> dict[str, dict[str, int]]:
        return {entity_type: {o.value: len(lines) for o, lines in self.lines.items() if lines}}

    def failures(self) -> list[FailureSample]:
        return [
            FailureSample(entity_type=x.entity_type, entity_id=x.entity_id, reason=x.reason)
            for x in self.lines[Outcome.FAILED]
        ]


def finalize_run(run_id: str) -> RunStatus | None:
    runs, logs = RunStore(), LogObjects()
    record = runs.get(run_id)
    run, job = record.run, record.job
    if run.status.is_final:
        return None

    manifests = []
    for shard_id in sorted(record.parts):
        attempt = record.parts[shard_id]
        try:
            manifest = json.loads(logs.get(part_key(run_id, shard_id, attempt, MANIFEST)))
        except NotFound:
            manifest = {"outcomes": [], "failures": []}
        manifests.append((shard_id, attempt, manifest))

    extra = _deletes(record, manifests, logs)

    fmt = job.log_format
    log_keys: dict[str, str] = {}
    for outcome in OUTCOMES:
        parts = [
            logs.get(part_key(run_id, shard_id, attempt, f"{outcome.value}.{fmt}"))
            for shard_id, attempt, manifest in manifests
            if outcome.value in manifest["outcomes"]
        ]
        parts.append(encode(extra.lines[outcome], getattr(job.trace, outcome.value), fmt))
        data = b"".join(parts)
        if not data:
            continue
        key = log_key(run_id, outcome.value, fmt)
        logs.put(key, header(fmt) + data, log_download_name(run.job_id, run_id, key))
        log_keys[outcome.value] = key

    samples = [[FailureSample.model_validate(f) for f in m["failures"]] for _, _, m in manifests]
    failures = first_failures([*samples, extra.failures()])
    added = extra.counts(EntityType.USERS.value)
    status = final_status(run, added_failed=added[EntityType.USERS.value].get(Outcome.FAILED.value, 0))
    watermark = None
    for _, _, manifest in manifests:
        watermark = newer(watermark, manifest.get("watermark"))
    closing = Closing(
        status=status,
        log_keys=log_keys,
        failures=failures,
        ended_at=datetime.now(UTC),
        streak_before=_streak(record),
        added_counts=added,
        watermark=watermark,
        deletes_held=extra.held,
        deletes_note=extra.note,
    )
    return _finish(record, closing)


def _deletes(record: RunRecord, manifests: list[tuple[str, str, dict[str, Any]]], logs: LogObjects) -> _Extra:
    run, job = record.run, record.job
    extra = _Extra()
    entity_type = EntityType.USERS.value
    unreadable = sum(m.get("unreadable", 0) for _, _, m in manifests)
    why_not = why_no_deletes(run.run_type, run.read_mode, job.deletes, unreadable, run.status is RunStatus.STOPPING)
    if why_not is not None:
        extra.note = why_not
        return extra

    plan = _delete_plan(record, manifests, logs)
    if plan.held_reason:
        extra.held = len(plan.pending)
        extra.note = plan.held_reason
        extra.lines[Outcome.FAILED] = [LogLine(entity_type, e, t, None, plan.held_reason) for e, t in plan.pending]
        return extra
    if not plan.deletes:
        return extra
    if run.run_type is RunType.SIMULATE:
        extra.lines[Outcome.DELETED] = [LogLine(entity_type, e, t, None, "simulated delete") for e, t in plan.deletes]
        return extra

    target = target_for(job)
    deleted: list[str] = []
    try:
        for entity_id, target_id in plan.deletes:
            try:
                target.delete(entity_type, target_id)
            except TargetError as err:
                extra.lines[Outcome.FAILED].append(
                    LogLine(entity_type, entity_id, target_id, None, f"delete failed: {err.reason}")
                )
                continue
            extra.lines[Outcome.DELETED].append(LogLine(entity_type, entity_id, target_id, None, ""))
            deleted.append(entity_id)
    finally:
        target.close()
    EntityStateStore().delete_many(job.job_id, entity_type, deleted)
    return extra


def _delete_plan(record: RunRecord, manifests: list[tuple[str, str, dict[str, Any]]], logs: LogObjects) -> DeletePlan:
    """The plan, computed once: a retried or concurrent finalize must delete exactly the same entities,
    and one computing its plan after another finalizer's deletes would find nothing left to delete.
    Each plan is written under its own key; the first one claimed on the run item is the plan."""
    run_id, job = record.run.run_id, record.job
    key = record.delete_plan
    if key is None:
        seen: set[str] = set()
        for shard_id, attempt, manifest in manifests:
            if manifest.get("seen"):
                seen.update(logs.get(part_key(run_id, shard_id, attempt, SEEN)).decode().split("\n"))
        provisioned = EntityStateStore().provisioned(job.job_id, EntityType.USERS.value)
        plan = plan_deletes(provisioned, seen, job.deletes)
        key = f"{run_key_prefix(run_id)}deletes-{uuid.uuid4().hex[:12]}.json"
        logs.put(key, json.dumps({"pending": plan.pending, "held_reason": plan.held_reason}).encode())
        winner = RunStore().claim_delete_plan(run_id, key)
        if winner == key:
            return plan
        key = winner
    saved = json.loads(logs.get(key))
    return DeletePlan([(e, t) for e, t in saved["pending"]], saved["held_reason"])


def _streak(record: RunRecord) -> int:
    return JobStore().get(record.run.job_id).failure_streak


def fail_run(record: RunRecord, reason: str) -> None:
    """A run that failed outright (bad source, bad credentials, ...), with the reason."""
    _finish(record, Closing(RunStatus.FAILED, {}, [], datetime.now(UTC), _streak(record), reason))


def _finish(record: RunRecord, closing: Closing) -> RunStatus | None:
    done = RunStore().finish(record, closing)
    run = record.run
    logger.info(
        "run finished" if done else "run already finished",
        extra={
            "run_id": run.run_id,
            "job_id": run.job_id,
            "status": closing.status,
            "logs": sorted(closing.log_keys),
            "deletes_note": closing.deletes_note,
        },
    )
    return closing.status if done else None

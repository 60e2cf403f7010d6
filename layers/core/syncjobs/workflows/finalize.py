"""finalize: merge each outcome's parts into one downloadable log, set the final status, unlock.

Runs when the last shard is counted; safe to run twice (the final-status write is conditional and
the merged logs are rewritten identically).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from syncjobs.engine.finalize import final_status, first_failures
from syncjobs.engine.outcome_log import header
from syncjobs.models.outcome import OUTCOMES
from syncjobs.models.run import FailureSample, RunStatus
from syncjobs.observability import logger
from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs.store.objects import LogObjects, log_key, part_key
from syncjobs.store.runs import Closing, RunRecord, RunStore

MANIFEST = "manifest.json"


def download_name(job_id: str, run_id: str, outcome: str, ext: str) -> str:
    return f"{job_id}-{run_id}-{outcome}.{ext}"


def finalize_run(run_id: str) -> RunStatus | None:
    runs, logs = RunStore(), LogObjects()
    record = runs.get(run_id)
    run = record.run
    if run.status.is_final:
        return None
    fmt = record.job.log_format

    manifests = []
    for shard_id in sorted(record.parts):
        attempt = record.parts[shard_id]
        try:
            manifest = json.loads(logs.get(part_key(run_id, shard_id, attempt, MANIFEST)))
        except NotFound:
            manifest = {"outcomes": [], "failures": []}
        manifests.append((shard_id, attempt, manifest))

    log_keys: dict[str, str] = {}
    for outcome in OUTCOMES:
        parts = [
            logs.get(part_key(run_id, shard_id, attempt, f"{outcome.value}.{fmt}"))
            for shard_id, attempt, manifest in manifests
            if outcome.value in manifest["outcomes"]
        ]
        if not parts:
            continue
        key = log_key(run_id, outcome.value, fmt)
        logs.put(key, header(fmt) + b"".join(parts), download_name(run.job_id, run_id, outcome.value, fmt))
        log_keys[outcome.value] = key

    failures = first_failures([FailureSample.model_validate(f) for f in m["failures"]] for _, _, m in manifests)
    status = final_status(run)
    return _finish(record, status, log_keys, failures, reason=None)


def fail_run(record: RunRecord, reason: str) -> None:
    """A run that failed outright (bad source, bad credentials, ...), with the reason."""
    _finish(record, RunStatus.FAILED, {}, [], reason)


def _finish(
    record: RunRecord, status: RunStatus, log_keys: dict[str, str], failures: list[FailureSample], reason: str | None
) -> RunStatus | None:
    streak_before = JobStore().get(record.run.job_id).failure_streak
    closing = Closing(status, log_keys, failures, datetime.now(UTC), streak_before, reason)
    done = RunStore().finish(record, closing)
    run = record.run
    logger.info(
        "run finished" if done else "run already finished",
        extra={"run_id": run.run_id, "job_id": run.job_id, "status": status, "logs": sorted(log_keys)},
    )
    return status if done else None

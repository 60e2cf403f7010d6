"""The sweep's part for runs that stall: every job holding its run lock, checked against
engine/stall.py; a stalled run is ended (failed, or stopped when it was stopping) with the reason,
its lock released, and its subscribers told by the stream like for any other ended run."""

from __future__ import annotations

from datetime import datetime, timedelta

from aws_lambda_powertools.metrics import MetricUnit

from syncjobs.engine.stall import stalled
from syncjobs.models.run import RunStatus
from syncjobs.observability import logger, metrics
from syncjobs.settings import get_settings
from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows.finalize import end_stalled


def end_stalled_runs(now: datetime) -> list[str]:
    """End every stalled run; returns their ids. A run that moved since it was read is left alone."""
    stall_after = timedelta(minutes=get_settings().stall_minutes)
    runs, ended = RunStore(), []
    for job_id, run_id in JobStore().locked_runs():
        try:
            record = runs.get(run_id)
        except NotFound:
            logger.warning("a job's lock names a run that does not exist", extra={"job_id": job_id, "run_id": run_id})
            continue
        stall = stalled(record.run, now, stall_after)
        if stall is None:
            continue
        if not end_stalled(record, stall.status, stall.reason, now):
            logger.info("stalled run moved or ended meanwhile", extra={"run_id": run_id, "job_id": job_id})
            continue
        logger.warning(
            "stalled run ended", extra={"run_id": run_id, "job_id": job_id, "status": stall.status, "why": stall.reason}
        )
        if stall.status is RunStatus.FAILED:
            metrics.add_metric(name="RunsEndedBySweep", unit=MetricUnit.Count, value=1)
        ended.append(run_id)
    return ended

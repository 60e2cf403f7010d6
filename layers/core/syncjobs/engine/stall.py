"""When the sweep ends a run that no longer moves.

Every trigger of a run is at-least-once, but a run can still stall: its shards dead-lettered, its
start_run died after taking the lock, its finalizer never ran. The run item's `progress_at` moves on
create, start and every counted shard or part; a run whose progress_at has not moved for the set
time is ended `failed` with the reason, so its lock is released and its subscribers are told. A
`stopping` run only waits for the shards in flight to notice the stop: once nothing has moved for
STOP_GRACE it ends `stopped`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from syncjobs.models.run import Run, RunStatus

STOP_GRACE = timedelta(minutes=2)  # longer than a shard needs to see the stop and count what it did


@dataclass(frozen=True)
class Stall:
    """How the sweep ends a stalled run."""

    status: RunStatus
    reason: str


def last_progress(run: Run) -> datetime:
    """When the run last moved (runs from before progress_at existed: when they started or were made)."""
    return run.progress_at or run.started_at or run.created_at


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _counted(run: Run) -> str:
    if run.shards_total is None:
        return "no shards were planned"
    return f"{run.shards_done} of {run.shards_total} shards counted"


def stalled(run: Run, now: datetime, stall_after: timedelta, stop_grace: timedelta = STOP_GRACE) -> Stall | None:
    """The end of `run` if it has stalled at `now`, else None."""
    if not run.status.is_active:
        return None
    quiet_since = last_progress(run)
    if run.status is RunStatus.STOPPING:
        quiet_since = max(quiet_since, run.stop_requested_at or quiet_since)
        if now - quiet_since >= stop_grace:
            return Stall(RunStatus.STOPPED, f"stopped; nothing left in flight: {_counted(run)}")
        return None
    idle = now - quiet_since
    if idle >= stall_after:
        return Stall(RunStatus.FAILED, f"no progress for {_minutes(idle)} minutes; {_counted(run)}")
    return None

"""The sweep's decision: which active runs have stalled, and how each one ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncjobs.engine.stall import Stall, stalled
from syncjobs.models.run import Run, RunStatus

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
STALL = timedelta(minutes=30)


def run(status: RunStatus, progress: timedelta | None, shards: tuple[int, int] | None = (1, 4), **extra) -> Run:
    fields = {
        "run_id": "r1",
        "job_id": "j1",
        "status": status,
        "run_type": "read",
        "trigger": "api",
        "triggered_by": "admin",
        "request_id": "q",
        "created_at": T0 - timedelta(hours=1),
        "progress_at": None if progress is None else T0 - progress,
        **extra,
    }
    if shards is not None:
        fields["shards_done"], fields["shards_total"] = shards
    return Run.model_validate(fields)


FAILED = RunStatus.FAILED


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # running, moved 29 minutes ago: not yet
        (run(RunStatus.RUNNING, timedelta(minutes=29)), None),
        # running, quiet for exactly the stall time: ended failed, saying how much was counted
        (
            run(RunStatus.RUNNING, timedelta(minutes=30)),
            Stall(FAILED, "no progress for 30 minutes; 1 of 4 shards counted"),
        ),
        (
            run(RunStatus.RUNNING, timedelta(hours=3)),
            Stall(FAILED, "no progress for 180 minutes; 1 of 4 shards counted"),
        ),
        # queued (start_run died after the lock): no shards planned
        (
            run(RunStatus.QUEUED, timedelta(minutes=45), shards=None),
            Stall(FAILED, "no progress for 45 minutes; no shards were planned"),
        ),
        # a run from before progress_at: its start time counts
        (run(RunStatus.RUNNING, None, started_at=T0 - timedelta(minutes=10)), None),
        (
            run(RunStatus.RUNNING, None, started_at=T0 - timedelta(minutes=40)),
            Stall(FAILED, "no progress for 40 minutes; 1 of 4 shards counted"),
        ),
        # stopping: a short grace after the stop or the last progress, whichever is later
        (run(RunStatus.STOPPING, timedelta(minutes=10), stop_requested_at=T0 - timedelta(minutes=1)), None),
        (
            run(RunStatus.STOPPING, timedelta(minutes=10), stop_requested_at=T0 - timedelta(minutes=2)),
            Stall(RunStatus.STOPPED, "stopped; nothing left in flight: 1 of 4 shards counted"),
        ),
        (run(RunStatus.STOPPING, timedelta(minutes=1), stop_requested_at=T0 - timedelta(minutes=5)), None),
        # over already: never touched
        (run(RunStatus.SUCCEEDED, timedelta(days=2)), None),
        (run(RunStatus.FAILED, timedelta(days=2)), None),
        (run(RunStatus.SKIPPED, timedelta(days=2)), None),
    ],
)
def test_stalled(given, expected):
    assert stalled(given, T0, STALL) == expected

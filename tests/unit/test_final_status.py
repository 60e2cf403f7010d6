"""How a run ends: its final status from what it counted, what finalize added, and dead shard parts."""

from datetime import UTC, datetime

import pytest

from syncjobs.engine.finalize import dead_reason, final_status
from syncjobs.models.run import Run, RunStatus, RunType, Trigger


def run(created: int = 0, failed: int = 0, status: RunStatus = RunStatus.RUNNING) -> Run:
    return Run(
        run_id="r",
        job_id="j",
        status=status,
        run_type=RunType.READ,
        trigger=Trigger.SCHEDULE,
        triggered_by="eventbridge",
        request_id="x",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        counts={"users": {"created": created, "updated": 0, "deleted": 0, "skipped": 0, "failed": failed}},
    )


@pytest.mark.parametrize(
    ("counted", "added_failed", "dead", "expected"),
    [
        (run(created=5), 0, 0, RunStatus.SUCCEEDED),
        (run(created=5, failed=1), 0, 0, RunStatus.FINISHED_WITH_ERRORS),
        (run(created=5), 2, 0, RunStatus.FINISHED_WITH_ERRORS),  # failed deletes
        (run(created=5), 0, 1, RunStatus.FAILED),  # a shard died: part of the source was never read
        (run(), 0, 3, RunStatus.FAILED),
        (run(created=5, status=RunStatus.STOPPING), 0, 1, RunStatus.STOPPED),
    ],
)
def test_final_status(counted, added_failed, dead, expected):
    assert final_status(counted, added_failed, dead) is expected


def test_the_reason_for_dead_parts_quotes_the_first_and_counts_them():
    assert dead_reason([]) is None
    assert dead_reason(["shard 00002 could not be processed"]) == "shard 00002 could not be processed"
    assert dead_reason(["a", "b"]) == "2 shard parts could not be processed; the first: a"

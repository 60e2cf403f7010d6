"""The metrics a run publishes when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syncjobs.engine.run_metrics import RunMetric, run_metrics
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def by_name(metrics: list[RunMetric]) -> dict[str, tuple[str, float]]:
    return {m.name: (m.unit, m.value) for m in metrics}


def test_a_finished_run_counts_its_outcomes_duration_and_throughput():
    totals = {Outcome.CREATED: 80, Outcome.UPDATED: 10, Outcome.SKIPPED: 6, Outcome.FAILED: 4}
    got = by_name(run_metrics(RunStatus.FINISHED_WITH_ERRORS, totals, T0, T0 + timedelta(seconds=40)))
    assert got == {
        "RunsFinishedWithErrors": ("Count", 1),
        "EntitiesCreated": ("Count", 80),
        "EntitiesUpdated": ("Count", 10),
        "EntitiesDeleted": ("Count", 0),
        "EntitiesSkipped": ("Count", 6),
        "EntitiesFailed": ("Count", 4),
        "RunDuration": ("Seconds", 40.0),
        "EntitiesPerSecond": ("Count/Second", 2.5),
    }


def test_a_run_that_failed_at_once_has_no_throughput():
    got = by_name(run_metrics(RunStatus.FAILED, {}, T0, T0))
    assert got["RunsFailed"] == ("Count", 1)
    assert got["RunDuration"] == ("Seconds", 0.0)
    assert "EntitiesPerSecond" not in got
    assert got["EntitiesCreated"] == ("Count", 0)


def test_a_clock_running_backwards_never_gives_a_negative_duration():
    got = by_name(run_metrics(RunStatus.SUCCEEDED, {Outcome.CREATED: 1}, T0, T0 - timedelta(seconds=5)))
    assert got["RunDuration"] == ("Seconds", 0.0)
    assert got["RunsSucceeded"] == ("Count", 1)

"""Quarantine of a job that keeps failing outright (Microsoft Entra provisioning's quarantine).

Pure rules, no I/O:
- A run *failed outright* when it failed as a whole (bad source, planning failed) or when every
  entity it processed failed (bad target credentials: every call refused), as Entra counts "most
  calls fail". A run with some failed entities among successes did not.
- After `after_failures` such runs in a row (default 5) the job is quarantined: its scheduled fires
  are skipped, except one attempt after a growing back-off (6 h, 12 h, then every 24 h), each timed
  from the fire of the attempt before.
- One mail when the quarantine begins, another only when an attempt fails for another reason.
- A successful run, or an admin's restart, clears it. Runs that are neither (some entities failed,
  stopped) keep the job where it is; they break a streak that has not reached the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from syncjobs.models.outcome import Outcome
from syncjobs.models.quarantine import Quarantine
from syncjobs.models.run import RunStatus

BACKOFF = (timedelta(hours=6), timedelta(hours=12), timedelta(hours=24))


@dataclass(frozen=True)
class AfterRun:
    """The job's quarantine bookkeeping after a run, and whether to mail about it."""

    streak: int  # runs in a row that failed outright
    quarantine: Quarantine | None
    notice: bool  # the quarantine began, or its reason changed: mail the subscribers


def failed_outright(status: RunStatus, totals: dict[Outcome, int]) -> bool:
    """Did the run fail as a whole? `status` is its final status, `totals` its entities per outcome."""
    if status is RunStatus.FAILED:
        return True
    if status is not RunStatus.FINISHED_WITH_ERRORS:
        return False
    succeeded = sum(n for outcome, n in totals.items() if outcome is not Outcome.FAILED)
    return totals.get(Outcome.FAILED, 0) > 0 and succeeded == 0


def outright_reason(status: RunStatus, run_reason: str | None, first_failure: str | None) -> str:
    """Why the run failed outright, worded the same from run to run (so a change of reason is real)."""
    if status is RunStatus.FAILED:
        return run_reason or "the run failed"
    return f"every entity failed: {first_failure}" if first_failure else "every entity failed"


def after_run(
    current: Quarantine | None,
    streak_before: int,
    status: RunStatus,
    outright: bool,
    reason: str,
    after_failures: int,
    fired_at: datetime,
) -> AfterRun:
    """The quarantine state once a run fired at `fired_at` has ended with `status`."""
    if status is RunStatus.SUCCEEDED:
        return AfterRun(0, None, False)
    if not outright:
        return AfterRun(0, current, False)
    streak = streak_before + 1
    if current is not None:
        attempts = current.attempts + 1
        delay = BACKOFF[min(attempts, len(BACKOFF) - 1)]
        changed = reason != current.reason
        update = {"attempts": attempts, "reason": reason, "next_attempt_at": fired_at + delay}
        updated = current.model_copy(update=update)
        return AfterRun(streak, updated, changed)
    if streak >= after_failures:
        return AfterRun(streak, Quarantine(since=fired_at, reason=reason, next_attempt_at=fired_at + BACKOFF[0]), True)
    return AfterRun(streak, None, False)


def skip_reason(quarantine: Quarantine | None, fired_at: datetime) -> str | None:
    """Why a scheduled fire at `fired_at` is skipped, or None when it may run (not quarantined, or due)."""
    if quarantine is None or fired_at >= quarantine.next_attempt_at:
        return None
    return (
        f"quarantined since {quarantine.since:%Y-%m-%d %H:%M} UTC ({quarantine.reason}); "
        f"scheduled fires are skipped until {quarantine.next_attempt_at:%Y-%m-%d %H:%M} UTC"
    )

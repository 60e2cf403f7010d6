"""Quarantine rules (Entra): when a job goes into quarantine, when its scheduled fires are skipped,
when the subscribers hear of it, and what clears it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syncjobs.engine.quarantine import after_run, failed_outright, outright_reason, skip_reason
from syncjobs.models.job import NotificationSettings, SubscriptionTrigger
from syncjobs.models.quarantine import Quarantine
from syncjobs.models.run import Run, RunStatus, RunType, Trigger
from syncjobs.notify.rules import Change, MailKind, Transition, decide

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
FWE, FAILED, OK, STOPPED = (
    RunStatus.FINISHED_WITH_ERRORS,
    RunStatus.FAILED,
    RunStatus.SUCCEEDED,
    RunStatus.STOPPED,
)


def run(failed: int = 0, created: int = 0, skipped: int = 0, reason: str | None = None) -> Run:
    return Run(
        run_id="r",
        job_id="j",
        status=RunStatus.RUNNING,
        run_type=RunType.READ,
        trigger=Trigger.SCHEDULE,
        triggered_by="eventbridge",
        request_id="x",
        created_at=T0,
        reason=reason,
        counts={"users": {"created": created, "updated": 0, "deleted": 0, "skipped": skipped, "failed": failed}},
    )


@pytest.mark.parametrize(
    ("counted", "status", "expected"),
    [
        (run(reason="planning failed: no such key"), FAILED, True),  # failed as a whole
        (run(failed=20), FWE, True),  # every entity failed (bad credentials)
        (run(failed=19, skipped=1), FWE, False),  # one entity fine: the target answers
        (run(failed=1, created=5), FWE, False),
        (run(created=5), OK, False),
        (run(failed=3), STOPPED, False),  # an admin stopped it
    ],
)
def test_what_counts_as_failing_outright(counted: Run, status: RunStatus, expected: bool) -> None:
    assert failed_outright(status, counted.totals()) is expected


def test_the_reason_is_the_runs_own_or_the_first_failure() -> None:
    assert outright_reason(FAILED, "planning failed: x", None) == "planning failed: x"
    assert outright_reason(FWE, None, "HTTP 401") == "every entity failed: HTTP 401"


def quarantined(reason: str = "every entity failed: HTTP 401", attempts: int = 0, at: datetime = T0) -> Quarantine:
    return Quarantine(since=T0, reason=reason, attempts=attempts, next_attempt_at=at)


# (current, streak before, status, outright, reason) -> (streak, quarantined?, next attempt, notice)
R = "every entity failed: HTTP 401"
ROWS = [
    # the first four outright failures only count
    (None, 0, FWE, True, R, 1, None, False),
    (None, 3, FAILED, True, R, 4, None, False),
    # the fifth quarantines, first attempt 6 h after its fire, and mails
    (None, 4, FWE, True, R, 5, T0 + 6 * H, True),
    # a partial failure or a stop breaks a streak below the threshold
    (None, 4, FWE, False, R, 0, None, False),
    (None, 4, STOPPED, False, R, 0, None, False),
    # a success clears everything
    (None, 4, OK, False, R, 0, None, False),
    (quarantined(), 7, OK, False, R, 0, None, False),
    # an attempt that fails again: 12 h, then 24 h, then every 24 h; no mail for the same reason
    (quarantined(attempts=0), 5, FWE, True, R, 6, T0 + 12 * H, False),
    (quarantined(attempts=1), 6, FWE, True, R, 7, T0 + 24 * H, False),
    (quarantined(attempts=5), 10, FWE, True, R, 11, T0 + 24 * H, False),
    # ... but a mail when it fails for another reason
    (quarantined(), 5, FAILED, True, "planning failed: gone", 6, T0 + 12 * H, True),
    # a partial failure while quarantined keeps the quarantine as it was
    (quarantined(attempts=1, at=T0 + 12 * H), 6, FWE, False, R, 0, T0 + 12 * H, False),
]


@pytest.mark.parametrize(("current", "before", "status", "outright", "reason", "streak", "next_at", "notice"), ROWS)
def test_quarantine_after_a_run(
    current: Quarantine | None,
    before: int,
    status: RunStatus,
    outright: bool,
    reason: str,
    streak: int,
    next_at: datetime | None,
    notice: bool,
) -> None:
    after = after_run(current, before, status, outright, reason, after_failures=5, fired_at=T0)
    assert after.streak == streak
    assert (after.quarantine.next_attempt_at if after.quarantine else None) == next_at
    assert after.notice is notice
    if after.quarantine is not None and current is not None:
        assert after.quarantine.since == current.since  # an attempt does not restart the quarantine


def test_a_threshold_of_two_quarantines_at_the_second() -> None:
    assert after_run(None, 1, FAILED, True, "x", after_failures=2, fired_at=T0).quarantine is not None


@pytest.mark.parametrize(
    ("fired_at", "skipped"),
    [(T0 + 1 * H, True), (T0 + 6 * H - timedelta(seconds=1), True), (T0 + 6 * H, False), (T0 + 30 * H, False)],
)
def test_scheduled_fires_are_skipped_until_the_next_attempt(fired_at: datetime, skipped: bool) -> None:
    reason = skip_reason(quarantined(at=T0 + 6 * H), fired_at)
    assert (reason is not None) is skipped
    if reason:
        assert "skipped until 2026-11-21 14:00 UTC" in reason
    assert skip_reason(None, fired_at) is None


@pytest.mark.parametrize(
    ("trigger", "sent"),
    [
        (SubscriptionTrigger.DEFAULT, True),
        (SubscriptionTrigger.ALWAYS, True),
        (SubscriptionTrigger.ERRORS, True),
        (SubscriptionTrigger.JOB_FAILS, True),
        (SubscriptionTrigger.RECORDS_UPDATED, False),
    ],
)
def test_the_quarantine_mail_goes_to_every_subscriber_but_records_updated(
    trigger: SubscriptionTrigger, sent: bool
) -> None:
    t = Transition(Change.FINISHED, RunType.VALIDATE, FWE, streak_before=4, failed_entities=20, quarantine_notice=True)
    decisions = {d.kind: d for d in decide(NotificationSettings(), trigger, t)}
    assert decisions[MailKind.QUARANTINED].send is sent  # even for a run type that does not notify


def test_while_quarantined_failed_runs_are_not_reported_again() -> None:
    policy = NotificationSettings(repeat_on_failure=True)
    t = Transition(Change.FINISHED, RunType.READ, FWE, streak_before=6, failed_entities=20, quarantined_before=True)
    (decision,) = decide(policy, SubscriptionTrigger.DEFAULT, t)
    assert (decision.kind, decision.send) == (MailKind.FINISHED_WITH_ERROR, False)
    assert "quarantined" in decision.reason

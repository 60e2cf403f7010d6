"""Notification rules as truth tables, from the seeds: SAP's job notification properties (000, and
REFERENCE.md "SAP IPS property semantics"), Netwrix's per-job triggers (003), Entra's daily cap and
delete-threshold mail (001, REFERENCE.md "Entra")."""

from datetime import UTC, datetime, timedelta

import pytest

from syncjobs.models.job import NotificationSettings as S
from syncjobs.models.job import SubscriptionTrigger as Tr
from syncjobs.models.run import RunStatus as St
from syncjobs.models.run import RunType as T
from syncjobs.notify.rules import Change, MailKind, Transition, cap, change_of, decide

FWE, FAILED, STOPPED, OK, RUNNING = St.FINISHED_WITH_ERRORS, St.FAILED, St.STOPPED, St.SUCCEEDED, St.RUNNING
DEFAULT, IGNORE2, REPEAT = S(), S(ignored_consecutive_failures=2), S(repeat_on_failure=True)
SKIP = S(skip_intermediate_notifications=True)
FIN, FIRST = Change.FINISHED, Change.FIRST_FAILURE
RWE, FINE, SUCC, HELD = (
    MailKind.RUNNING_WITH_ERROR,
    MailKind.FINISHED_WITH_ERROR,
    MailKind.SUCCESS,
    MailKind.DELETES_HELD,
)


def t(change=FIN, status=FWE, streak=0, run_type=T.READ, changed=0, failed=0, held=0) -> Transition:
    return Transition(change, run_type, status, streak, changed, failed, held)


# (policy, transition, expected decisions as (kind, send)) for a subscriber on the job's default policy
SAP_TABLE = [
    # "Running with Error": one per run after its first failed entity; skip_intermediate turns it off
    ("running with error", DEFAULT, t(FIRST, RUNNING, failed=1), [(RWE, True)]),
    ("running with error, skip intermediate", SKIP, t(FIRST, RUNNING, failed=1), [(RWE, False)]),
    ("running with error, during a streak", DEFAULT, t(FIRST, RUNNING, streak=3, failed=1), [(RWE, True)]),
    # "Finished with Error": finished with failed entities, failed outright, or stopped
    ("first failed run", DEFAULT, t(status=FWE, failed=2), [(FINE, True)]),
    ("failed outright", DEFAULT, t(status=FAILED), [(FINE, True)]),
    ("manually terminated", DEFAULT, t(status=STOPPED), [(FINE, True)]),
    ("second failed run: silence", DEFAULT, t(status=FAILED, streak=1), [(FINE, False)]),
    ("tenth failed run: silence", DEFAULT, t(status=FWE, streak=9), [(FINE, False)]),
    # ignored_consecutive_failures = 2: runs 1 and 2 silent, run 3 reported, then silence
    ("ignore 2: run 1", IGNORE2, t(streak=0), [(FINE, False)]),
    ("ignore 2: run 2", IGNORE2, t(streak=1), [(FINE, False)]),
    ("ignore 2: run 3", IGNORE2, t(streak=2), [(FINE, True)]),
    ("ignore 2: run 4", IGNORE2, t(streak=3), [(FINE, False)]),
    # repeat_on_failure: every failed run, and it overrides ignored_consecutive_failures
    ("repeat: run 1", REPEAT, t(streak=0), [(FINE, True)]),
    ("repeat: run 6", REPEAT, t(streak=5), [(FINE, True)]),
    ("repeat overrides ignore", S(repeat_on_failure=True, ignored_consecutive_failures=3), t(), [(FINE, True)]),
    # "Success": only the first success after a reported failure streak
    ("ordinary success", DEFAULT, t(status=OK), [(SUCC, False)]),
    ("recovery", DEFAULT, t(status=OK, streak=3), [(SUCC, True)]),
    ("recovery after ignored failures only", IGNORE2, t(status=OK, streak=2), [(SUCC, False)]),
    ("recovery after a reported failure", IGNORE2, t(status=OK, streak=3), [(SUCC, True)]),
    ("recovery with repeat", REPEAT, t(status=OK, streak=1), [(SUCC, True)]),
    # only read and resync jobs notify (by default)
    ("simulate", DEFAULT, t(run_type=T.SIMULATE), [(FINE, False)]),
    ("validate", DEFAULT, t(FIRST, RUNNING, run_type=T.VALIDATE), [(RWE, False)]),
    ("resync", DEFAULT, t(run_type=T.RESYNC), [(FINE, True)]),
    ("simulate, opted in", S(notify_run_types=[T.SIMULATE]), t(run_type=T.SIMULATE), [(FINE, True)]),
    ("read, opted out", S(notify_run_types=[T.RESYNC]), t(), [(FINE, False)]),
    # the delete threshold held deletes back (Entra): its own mail, whatever the streak
    ("deletes held", DEFAULT, t(failed=40, held=40), [(FINE, True), (HELD, True)]),
    ("deletes held in a streak", DEFAULT, t(failed=40, held=40, streak=4), [(FINE, False), (HELD, True)]),
]


@pytest.mark.parametrize(("name", "policy", "transition", "expected"), SAP_TABLE, ids=[r[0] for r in SAP_TABLE])
def test_default_policy_truth_table(name, policy, transition, expected):
    decisions = decide(policy, Tr.DEFAULT, transition)
    assert [(d.kind, d.send) for d in decisions] == expected
    assert all(d.reason for d in decisions)


# Netwrix triggers, judged on the finished run alone; SAP's streak suppression does not apply
NETWRIX_TABLE = [
    # trigger, transition, expected
    (Tr.ALWAYS, t(status=OK), [(SUCC, True)]),
    (Tr.ALWAYS, t(status=OK, streak=0, changed=0), [(SUCC, True)]),
    (Tr.ALWAYS, t(status=FWE, streak=5, failed=1), [(FINE, True)]),
    (Tr.ALWAYS, t(FIRST, RUNNING, failed=1), [(RWE, False)]),
    (Tr.RECORDS_UPDATED, t(status=OK, changed=3), [(SUCC, True)]),
    (Tr.RECORDS_UPDATED, t(status=OK, changed=0), [(SUCC, False)]),
    (Tr.RECORDS_UPDATED, t(status=FWE, changed=1, failed=1), [(FINE, True)]),
    (Tr.RECORDS_UPDATED, t(status=FAILED, changed=0), [(FINE, False)]),
    (Tr.RECORDS_UPDATED, t(status=FWE, changed=0, failed=9, held=9), [(FINE, False), (HELD, False)]),
    (Tr.ERRORS, t(status=OK), [(SUCC, False)]),
    (Tr.ERRORS, t(status=FWE, failed=2, streak=7), [(FINE, True)]),
    (Tr.ERRORS, t(status=FAILED), [(FINE, True)]),
    (Tr.ERRORS, t(status=STOPPED), [(FINE, False)]),
    (Tr.ERRORS, t(FIRST, RUNNING, failed=1), [(RWE, False)]),
    (Tr.ERRORS, t(status=FWE, failed=9, held=9), [(FINE, True), (HELD, True)]),
    (Tr.JOB_FAILS, t(status=FAILED, streak=3), [(FINE, True)]),
    (Tr.JOB_FAILS, t(status=FWE, failed=5), [(FINE, False)]),
    (Tr.JOB_FAILS, t(status=STOPPED), [(FINE, False)]),
    (Tr.JOB_FAILS, t(status=OK, streak=2), [(SUCC, False)]),
    (Tr.JOB_FAILS, t(status=FWE, failed=9, held=9), [(FINE, False), (HELD, False)]),
    (Tr.ALWAYS, t(status=OK, run_type=T.VALIDATE), [(SUCC, False)]),  # run types still apply
]


@pytest.mark.parametrize(("trigger", "transition", "expected"), NETWRIX_TABLE)
def test_netwrix_triggers_truth_table(trigger, transition, expected):
    for policy in (DEFAULT, IGNORE2, REPEAT, SKIP):  # the job's SAP properties do not change a trigger
        decisions = decide(policy, trigger, transition)
        assert [(d.kind, d.send) for d in decisions] == expected
        assert all(d.reason.startswith(("trigger", "the delete", "validate")) for d in decisions)


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("enabled", "last_sent", "send"),
    [
        (False, NOW - timedelta(minutes=1), True),  # no cap
        (True, None, True),  # nothing sent yet
        (True, NOW - timedelta(hours=23, minutes=59), False),
        (True, NOW - timedelta(hours=24), True),
        (True, NOW - timedelta(days=3), True),
    ],
)
def test_daily_cap(enabled, last_sent, send):
    check = cap(enabled, last_sent, NOW)
    assert check.send is send
    if not send:
        assert "one mail per 24 hours" in check.reason
        assert "after 2026-11-21 12:01 UTC" in check.reason


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ({"status": "running"}, {"status": "finished_with_errors"}, Change.FINISHED),
        (None, {"status": "succeeded"}, Change.FINISHED),
        ({"status": "succeeded"}, {"status": "succeeded"}, None),  # a duplicate or no-op MODIFY
        ({"status": "queued"}, {"status": "skipped"}, None),
        ({"status": "running"}, {"status": "running", "first_failure_at": "t"}, Change.FIRST_FAILURE),
        ({"status": "running", "first_failure_at": "t"}, {"status": "running", "first_failure_at": "t"}, None),
        ({"status": "stopping"}, {"status": "stopped"}, Change.FINISHED),
    ],
)
def test_stream_images_to_changes(old, new, change):
    assert change_of(old, new) is change

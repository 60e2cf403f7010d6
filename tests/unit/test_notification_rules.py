"""Notification rules (SAP semantics) as a truth table. Issue 4 extends it to per-subscription triggers."""

import pytest

from syncjobs.models.job import NotificationSettings as S
from syncjobs.models.run import RunStatus as St
from syncjobs.models.run import RunType as T
from syncjobs.notify.rules import Change, MailKind, change_of, decide

FWE, FAILED, STOPPED, OK = St.FINISHED_WITH_ERRORS, St.FAILED, St.STOPPED, St.SUCCEEDED
DEFAULT, IGNORE2, REPEAT = S(), S(ignored_consecutive_failures=2), S(repeat_on_failure=True)
FIN, FIRST = Change.FINISHED, Change.FIRST_FAILURE


@pytest.mark.parametrize(
    ("settings", "run_type", "change", "status", "streak_before", "kind", "send"),
    [
        # running with error: once per run, unless skipped
        (DEFAULT, T.READ, FIRST, St.RUNNING, 0, MailKind.RUNNING_WITH_ERROR, True),
        (S(skip_intermediate_notifications=True), T.READ, FIRST, St.RUNNING, 0, MailKind.RUNNING_WITH_ERROR, False),
        # default: the first failed run of a streak is reported, then silence
        (DEFAULT, T.READ, FIN, FWE, 0, MailKind.FINISHED_WITH_ERROR, True),
        (DEFAULT, T.READ, FIN, FAILED, 1, MailKind.FINISHED_WITH_ERROR, False),
        (DEFAULT, T.RESYNC, FIN, STOPPED, 0, MailKind.FINISHED_WITH_ERROR, True),
        # ignored_consecutive_failures=2: runs 1, 2 silent, run 3 reported, run 4 silent
        (IGNORE2, T.READ, FIN, FWE, 0, MailKind.FINISHED_WITH_ERROR, False),
        (IGNORE2, T.READ, FIN, FWE, 1, MailKind.FINISHED_WITH_ERROR, False),
        (IGNORE2, T.READ, FIN, FWE, 2, MailKind.FINISHED_WITH_ERROR, True),
        (IGNORE2, T.READ, FIN, FWE, 3, MailKind.FINISHED_WITH_ERROR, False),
        # repeat_on_failure: every failed run, overriding ignored failures
        (REPEAT, T.READ, FIN, FWE, 5, MailKind.FINISHED_WITH_ERROR, True),
        (
            S(repeat_on_failure=True, ignored_consecutive_failures=3),
            T.READ,
            FIN,
            FWE,
            0,
            MailKind.FINISHED_WITH_ERROR,
            True,
        ),
        # success: only the first after a reported failure streak
        (DEFAULT, T.READ, FIN, OK, 0, MailKind.SUCCESS, False),
        (DEFAULT, T.READ, FIN, OK, 3, MailKind.SUCCESS, True),
        (IGNORE2, T.READ, FIN, OK, 2, MailKind.SUCCESS, False),
        (IGNORE2, T.READ, FIN, OK, 3, MailKind.SUCCESS, True),
        # only read and resync notify
        (DEFAULT, T.SIMULATE, FIN, FWE, 0, None, False),
        (DEFAULT, T.VALIDATE, FIRST, St.RUNNING, 0, None, False),
    ],
)
def test_truth_table(settings, run_type, change, status, streak_before, kind, send):
    decision = decide(settings, run_type, change, status, streak_before)
    assert (decision.kind, decision.send) == (kind, send)
    assert decision.reason


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ({"status": "running"}, {"status": "finished_with_errors"}, Change.FINISHED),
        (None, {"status": "succeeded"}, Change.FINISHED),
        ({"status": "succeeded"}, {"status": "succeeded"}, None),  # a duplicate or no-op MODIFY
        ({"status": "queued"}, {"status": "skipped"}, None),
        ({"status": "running"}, {"status": "running", "first_failure_at": "t"}, Change.FIRST_FAILURE),
        ({"status": "running", "first_failure_at": "t"}, {"status": "running", "first_failure_at": "t"}, None),
    ],
)
def test_stream_images_to_changes(old, new, change):
    assert change_of(old, new) is change

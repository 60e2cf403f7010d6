"""Every kind of mail as its reader gets it: headers, subject and text part, against committed snapshots.

Each test renders one mail kind from fixed inputs (a fixed clock, fixed ids, links signed with a fixed
key, the reason the notification rules give) and compares it to tests/unit/snapshots/mail-<kind>.txt.
A difference fails the test with a unified diff. When a change to a mail is meant, write the
snapshots anew and review them in the diff of the commit:

    UPDATE_SNAPSHOTS=1 PYTHONPATH=... .venv/bin/python -m pytest -q tests/unit/test_mail_snapshots.py

The HTML part is not snapshotted (its markup is checked in test_mail_render.py). docs/evidence holds
screenshots of it for these same mails (headless Chromium, Debian's `chromium`), made anew with:

    PYTHONPATH=... .venv/bin/python -m tests.unit.test_mail_snapshots docs/evidence
"""

from __future__ import annotations

import difflib
import email
import email.policy
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncjobs.links import APPROVE, DETAILS, REJECT, UNSUBSCRIBE, sign
from syncjobs.models.approval import Approval
from syncjobs.models.collection import CollectionRun
from syncjobs.models.job import NotificationSettings, SubscriptionTrigger
from syncjobs.models.quarantine import Quarantine
from syncjobs.models.run import FailureSample, Run, RunStatus, RunType
from syncjobs.notify.message import build
from syncjobs.notify.render import (
    AllowLink,
    Link,
    RenderedMail,
    StepLine,
    render,
    render_approval,
    render_collection,
)
from syncjobs.notify.rules import Change, MailKind, Transition, decide

SNAPSHOTS = Path(__file__).parent / "snapshots"
HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "List-Unsubscribe", "List-Unsubscribe-Post")
KEY = b"snapshot-key" * 4
BASE = "https://links.example.com"
SENDER, RECIPIENT = "noreply@example.com", "ops@example.com"
NOW = datetime(2026, 11, 21, 12, 7, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=12)
RUN_ID = "20261121T120000Z-3f9a1c2b7d"


def link(target_id: str, target: str, expires: datetime = EXPIRES, who: str | None = None) -> str:
    return f"{BASE}/{sign(KEY, target_id, target, expires, who)}"


def a_run(**changes: object) -> Run:
    values: dict[str, object] = {
        "run_id": RUN_ID,
        "job_id": "hr-to-scim",
        "status": "succeeded",
        "run_type": "read",
        "trigger": "schedule",
        "triggered_by": "eventbridge:hr-to-scim-nightly",
        "request_id": "fire-2026-11-21T12:00",
        "created_at": datetime(2026, 11, 21, 12, tzinfo=UTC),
        "started_at": datetime(2026, 11, 21, 12, 0, 2, tzinfo=UTC),
        "ended_at": datetime(2026, 11, 21, 12, 6, 41, tzinfo=UTC),
        "counts": {
            "users": {"created": 1, "updated": 12, "deleted": 0, "skipped": 1180, "failed": 0},
            "groups": {"created": 0, "updated": 2, "deleted": 0, "skipped": 40, "failed": 0},
        },
        "job_name": "HR to SCIM",
        "source_name": "s3://acme-hr-exports/nightly/hr.csv",
        "target_name": "Example SCIM",
    }
    return Run.model_validate({**values, **changes})


FAILURES = [
    FailureSample(entity_type="users", entity_id="E1042", reason="target answered 400: userName must be unique"),
    FailureSample(entity_type="users", entity_id="E1077", reason="mapping: emails[0].value: column 'mail' is empty"),
]
WITH_ERRORS = {
    "status": "finished_with_errors",
    "counts": {"users": {"created": 1, "updated": 12, "deleted": 0, "skipped": 1178, "failed": 2}},
    "failures": FAILURES,
    "first_failure_at": datetime(2026, 11, 21, 12, 1, tzinfo=UTC),
    "log_keys": {"created": "runs/x/created.csv", "updated": "runs/x/updated.csv", "failed": "runs/x/failed.csv"},
}


def why(
    kind: MailKind,
    run: Run,
    change: Change = Change.FINISHED,
    streak_before: int = 0,
    policy: NotificationSettings | None = None,
) -> str:
    """The reason the notification rules give a default subscription for this mail."""
    totals = run.totals_by_name()
    transition = Transition(
        change=change,
        run_type=run.run_type,
        status=run.status,
        streak_before=streak_before,
        changed_records=totals["created"] + totals["updated"] + totals["deleted"],
        failed_entities=totals["failed"],
        deletes_held=run.deletes_held,
        quarantine_notice=run.quarantine_notice is not None,
    )
    policy = policy or NotificationSettings(ignored_consecutive_failures=0)
    (decision,) = [d for d in decide(policy, SubscriptionTrigger.DEFAULT, transition) if d.kind is kind]
    assert decision.send, decision.reason
    return decision.reason


def run_mail(kind: MailKind, run: Run, **extra: object) -> bytes:
    """A mail about a run, as notify_run sends it: log links, details, unsubscribe, the rule's reason."""
    totals = run.totals_by_name()
    links = [Link(o, totals[o], link(run.run_id, o), f"hr-to-scim-{run.run_id}-{o}.csv") for o in run.log_keys]
    leave = link(run.job_id, UNSUBSCRIBE, NOW + timedelta(days=365), RECIPIENT)
    reason = str(extra.pop("why", "") or why(kind, run))
    mail = render(
        kind,
        run,
        links,
        link(run.run_id, DETAILS),
        f"{EXPIRES:%Y-%m-%d %H:%M} UTC",
        why=reason,
        unsubscribe_url=leave,
        **extra,  # type: ignore[arg-type]
    )
    return build(SENDER, RECIPIENT, mail, f"{run.run_id}.{kind.value}", unsubscribe_url=leave, now=NOW)


def other_mail(mail: RenderedMail, key: str) -> bytes:
    return build(SENDER, RECIPIENT, mail, key, now=NOW)


def as_read(raw: bytes) -> str:
    """What a person's mail client shows: the headers (decoded) and the text part."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    lines = [f"{name}: {message[name]}" for name in HEADERS if message[name] is not None]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    return "\n".join(lines) + "\n\n" + text.get_content()


_evidence: dict[str, bytes] | None = None  # set by __main__: the mails are collected, not compared


def matches_snapshot(name: str, raw: bytes) -> None:
    if _evidence is not None:
        _evidence[name] = raw
        return
    actual = as_read(raw)
    path = SNAPSHOTS / f"mail-{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 to write it, then review it")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True), f"{path.name} (committed)", "rendered"
        )
        pytest.fail(f"mail {name} differs from its snapshot (UPDATE_SNAPSHOTS=1 if meant):\n{''.join(diff)}")


def test_a_success_after_a_reported_failure():
    run = a_run()
    matches_snapshot("success", run_mail(MailKind.SUCCESS, run, why=why(MailKind.SUCCESS, run, streak_before=1)))


def test_a_run_still_running_with_its_first_failed_entity():
    run = a_run(**{**WITH_ERRORS, "status": "running", "ended_at": None, "log_keys": {}})
    reason = why(MailKind.RUNNING_WITH_ERROR, run, Change.FIRST_FAILURE)
    matches_snapshot("running-with-error", run_mail(MailKind.RUNNING_WITH_ERROR, run, why=reason))


def test_a_run_finished_with_one_failed_entity():
    counts = {"users": {"created": 1, "updated": 12, "deleted": 0, "skipped": 1179, "failed": 1}}
    run = a_run(**{**WITH_ERRORS, "counts": counts, "failures": FAILURES[:1]})
    matches_snapshot("finished-with-error", run_mail(MailKind.FINISHED_WITH_ERROR, run))


def test_a_run_that_failed_outright():
    run = a_run(
        status="failed",
        counts={"users": {"created": 0, "updated": 0, "deleted": 0, "skipped": 0, "failed": 0}},
        reason="source.key: the export s3://acme-hr-exports/nightly/hr.csv does not exist",
    )
    matches_snapshot("failed", run_mail(MailKind.FINISHED_WITH_ERROR, run))


def test_a_validate_run_counts_valid_and_invalid_entities_not_skipped_and_failed():
    run = a_run(
        **{
            **WITH_ERRORS,
            "run_type": "validate",
            "counts": {
                "users": {"created": 0, "updated": 0, "deleted": 0, "skipped": 502, "failed": 2},
                "groups": {"created": 0, "updated": 0, "deleted": 0, "skipped": 40, "failed": 0},
            },
            "log_keys": {"skipped": "runs/x/skipped.csv", "failed": "runs/x/failed.csv"},
        }
    )
    notifies_validate = NotificationSettings(notify_run_types=[RunType.READ, RunType.VALIDATE])
    reason = why(MailKind.FINISHED_WITH_ERROR, run, policy=notifies_validate)
    matches_snapshot("validate", run_mail(MailKind.FINISHED_WITH_ERROR, run, why=reason))


def test_a_run_an_admin_stopped_says_who_and_when():
    run = a_run(
        status="stopped",
        stop_requested_by="alice@example.com",
        stop_requested_at=datetime(2026, 11, 21, 12, 3, 10, tzinfo=UTC),
        reason="stopped: 6 of 12 shards counted",
        counts={"users": {"created": 1, "updated": 4, "deleted": 0, "skipped": 590, "failed": 0}},
        trigger="cli",
        triggered_by="arn:aws:iam::111122223333:user/alice",
    )
    matches_snapshot("stopped", run_mail(MailKind.FINISHED_WITH_ERROR, run))


def test_deletes_held_back_with_the_link_to_allow_them():
    run = a_run(
        status="finished_with_errors",
        deletes_held=1,
        counts={"users": {"created": 0, "updated": 3, "deleted": 0, "skipped": 1189, "failed": 1}},
        deletes_note="the delete threshold (max 0 deletes per run) held 1 delete back",
        log_keys={"failed": "runs/x/failed.csv"},
    )
    request_id = "apr-deletes-hr-to-scim-20261121T120000Z"
    allow_expires = NOW + timedelta(days=2)
    allow = AllowLink(
        link(request_id, APPROVE, allow_expires, RECIPIENT), request_id, f"{allow_expires:%Y-%m-%d %H:%M} UTC"
    )
    matches_snapshot("deletes-held", run_mail(MailKind.DELETES_HELD, run, allow=allow))


def test_a_quarantined_job():
    notice = Quarantine(
        since=datetime(2026, 11, 21, 12, 6, 41, tzinfo=UTC),
        reason="5 runs in a row failed outright: target answered 401 to every call",
        next_attempt_at=datetime(2026, 11, 21, 18, 0, tzinfo=UTC),
    )
    run = a_run(
        status="finished_with_errors",
        counts={"users": {"created": 0, "updated": 0, "deleted": 0, "skipped": 0, "failed": 1193}},
        quarantine_notice=notice,
        failures=[FailureSample(entity_type="users", entity_id="E1001", reason="target answered 401")],
        log_keys={"failed": "runs/x/failed.csv"},
    )
    matches_snapshot("quarantined", run_mail(MailKind.QUARANTINED, run))


def test_a_collection_that_failed():
    crun = CollectionRun.model_validate(
        {
            "collection_run_id": "20261121T020000Z-c0ffee1234",
            "collection_id": "nightly",
            "name": "Nightly provisioning",
            "reason": "step 1 (hr-to-scim) failed: abort",
            "created_at": datetime(2026, 11, 21, 2, tzinfo=UTC),
            "ended_at": datetime(2026, 11, 21, 2, 9, 12, tzinfo=UTC),
            "status": "failed",
            "run_type": "read",
            "trigger": "schedule",
            "triggered_by": "eventbridge:nightly",
            "request_id": "fire",
            "steps": [
                {
                    "job_id": "hr-to-scim",
                    "on_failure": "abort",
                    "run_id": RUN_ID,
                    "status": "failed",
                    "reason": "target answered 401 to every call",
                    "totals": {"failed": 1193},
                },
                {
                    "job_id": "groups-to-scim",
                    "on_failure": "continue",
                    "status": "not_run",
                    "reason": "an earlier step aborted the collection",
                },
            ],
        }
    )
    steps = [
        StepLine(
            "hr-to-scim",
            "abort",
            "Failed",
            "target answered 401 to every call",
            {"failed": 1193},
            link(RUN_ID, DETAILS),
        ),
        StepLine("groups-to-scim", "continue", "Not run", "an earlier step aborted the collection", {}, None),
    ]
    mail = render_collection(crun, steps, f"{EXPIRES:%Y-%m-%d %H:%M} UTC", "trigger errors: the run failed")
    matches_snapshot("collection-failed", other_mail(mail, f"{crun.collection_run_id}.finished_with_error"))


def test_an_approval_request():
    approval = Approval.model_validate(
        {
            "approval_id": "apr-job-hr-to-scim-20261121T120000Z",
            "subject_kind": "job",
            "subject_id": "hr-to-scim",
            "name": "HR to SCIM",
            "run_type": RunType.RESYNC,
            "trigger": "cli",
            "triggered_by": "arn:aws:iam::111122223333:user/bob",
            "request_id": "r",
            "requested_at": datetime(2026, 11, 21, 12, tzinfo=UTC),
            "status": "pending",
            "approvers": ["ops@example.com", "carol@example.com"],
            "preview_id": RUN_ID,
            "preview_status": RunStatus.SUCCEEDED.value,
            "preview_totals": {"created": 1, "updated": 12, "deleted": 3, "skipped": 1177, "failed": 0},
            "expires_at": datetime(2026, 11, 23, 12, tzinfo=UTC),
        }
    )
    expires = approval.expires_at
    assert expires is not None
    links = [Link("deleted", 3, link(RUN_ID, "deleted"), f"hr-to-scim-{RUN_ID}-deleted.csv")]
    mail = render_approval(
        approval,
        links,
        link(RUN_ID, DETAILS),
        link(approval.approval_id, APPROVE, expires, RECIPIENT),
        link(approval.approval_id, REJECT, expires, RECIPIENT),
    )
    matches_snapshot("approval-needed", other_mail(mail, f"{approval.approval_id}.approval_request"))


def test_two_jobs_on_one_export_send_different_subjects():
    # Given two jobs that read the same export into two targets
    first = as_read(run_mail(MailKind.FINISHED_WITH_ERROR, a_run(**WITH_ERRORS)))
    second = as_read(
        run_mail(MailKind.FINISHED_WITH_ERROR, a_run(**WITH_ERRORS, job_id="hr-to-crm", job_name="HR to CRM"))
    )
    # Then their subjects differ by the job's name, and both name the export by its file
    subject = next(line for line in first.splitlines() if line.startswith("Subject: "))
    other = next(line for line in second.splitlines() if line.startswith("Subject: "))
    assert subject == "Subject: [syncjobs] HR to SCIM (hr.csv → Example SCIM): Finished with Error"
    assert other == "Subject: [syncjobs] HR to CRM (hr.csv → Example SCIM): Finished with Error"


def test_a_named_source_keeps_its_name_in_the_subject():
    run = a_run(**WITH_ERRORS, source_name="Workday export")
    assert "Subject: [syncjobs] HR to SCIM (Workday export → Example SCIM): Finished with Error" in as_read(
        run_mail(MailKind.FINISHED_WITH_ERROR, run)
    )


def test_a_mail_that_differs_from_its_snapshot_fails_with_a_diff(tmp_path, monkeypatch):
    # Given a committed snapshot that says another subject
    monkeypatch.setattr(sys.modules[__name__], "SNAPSHOTS", tmp_path)
    monkeypatch.delenv("UPDATE_SNAPSHOTS", raising=False)
    raw = run_mail(MailKind.FINISHED_WITH_ERROR, a_run(**WITH_ERRORS))
    (tmp_path / "mail-x.txt").write_text(as_read(raw).replace(": Finished with Error", ": Success", 1))
    # When the mail is compared, Then the test fails and shows the lines that differ
    with pytest.raises(pytest.fail.Exception) as failed:
        matches_snapshot("x", raw)
    assert "-Subject: [syncjobs] HR to SCIM (hr.csv → Example SCIM): Success" in str(failed.value)
    assert "+Subject: [syncjobs] HR to SCIM (hr.csv → Example SCIM): Finished with Error" in str(failed.value)


EVIDENCE = ("finished-with-error", "stopped", "quarantined", "collection-failed", "approval-needed", "deletes-held")

if __name__ == "__main__":  # the screenshots in docs/evidence: each mail's HTML part and a PNG of it
    from syncjobs_local.mail_preview import save

    _evidence = {}
    for test in [f for n, f in sorted(globals().items()) if n.startswith("test_") and not f.__code__.co_argcount]:
        test()
    out = Path(sys.argv[1])
    for name in EVIDENCE:
        eml = out / f"mail-{name}.eml"
        eml.write_bytes(_evidence[name])
        print(*save(eml, out / f"mail-{name}"), sep="\n")
        eml.unlink()
